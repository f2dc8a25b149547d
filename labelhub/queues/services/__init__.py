"""Changes to the queues: filling them, leasing entries to annotators, and the annotation flow.

One module per job — :mod:`.filling`, :mod:`.leasing`, :mod:`.annotating`, :mod:`.expiry` and
their :mod:`.errors` — re-exported here, so callers keep writing ``services.submit_annotation``.
What may be served lives with the reads, in :mod:`labelhub.queues.selectors`.

The invariants every function here keeps, in the database where it can:
- an entry never has more live leases + completed annotations than ``required_annotations``
  (``QueueEntry.leased_count`` + a check constraint);
- nobody is served an item they already labelled (non-retracted), hold, skipped or flagged;
- a lease is live until it is completed, released, skipped, flagged or expired — exactly once.
"""

from labelhub.queues.services.annotating import (
    MAX_TIME_SPENT,
    check_time_spent,
    flag,
    release_lease,
    release_leases,
    release_leases_of_paused,
    renew_lease,
    skip,
    submit_annotation,
    undo_last_submit,
)
from labelhub.queues.services.errors import AnnotatorPaused, LeaseNotVisible, QueueError
from labelhub.queues.services.expiry import ExpiredLease, expire_leases
from labelhub.queues.services.filling import (
    DEFAULT_FILL_SIZE,
    enqueue_items,
    fill_queue,
    free_slots,
    is_exhausted,
    nothing_left_recently,
    project_exhausted,
    projects_at_work,
    remember_nothing_left,
    reprioritise,
    requeue_items,
    top_up_queue,
)
from labelhub.queues.services.leasing import (
    MAX_PREFETCH,
    lease_next_item,
    lease_next_items,
    serving_project,
    with_serve_gate,
)

__all__ = [
    "DEFAULT_FILL_SIZE",
    "MAX_PREFETCH",
    "MAX_TIME_SPENT",
    "AnnotatorPaused",
    "ExpiredLease",
    "LeaseNotVisible",
    "QueueError",
    "check_time_spent",
    "enqueue_items",
    "expire_leases",
    "fill_queue",
    "flag",
    "free_slots",
    "is_exhausted",
    "lease_next_item",
    "lease_next_items",
    "nothing_left_recently",
    "project_exhausted",
    "projects_at_work",
    "release_lease",
    "release_leases",
    "release_leases_of_paused",
    "renew_lease",
    "remember_nothing_left",
    "reprioritise",
    "requeue_items",
    "serving_project",
    "skip",
    "submit_annotation",
    "top_up_queue",
    "undo_last_submit",
    "with_serve_gate",
]
