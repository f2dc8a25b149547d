from django.apps import AppConfig


class ActiveConfig(AppConfig):
    name = "active"
    verbose_name = "Active learning"

    def ready(self) -> None:
        from active.strategies import STRATEGIES
        from labelhub.projects.admin import register_strategy_choices

        register_strategy_choices(STRATEGIES)
        from active.receivers import (
            record_label_error_review,
            start_round_on_new_labels,
            sweep_rounds_on_housekeeping,
        )
        from annotators.qa.signals import adjudication_resolved
        from labelhub.projects.signals import annotation_submitted
        from labelhub.queues.signals import housekeeping_tick

        annotation_submitted.connect(
            start_round_on_new_labels, dispatch_uid="active-start-round-on-new-labels"
        )
        # keep_queues' tick also sweeps rounds whose worker died (throttled to SWEEP_EVERY).
        housekeeping_tick.connect(sweep_rounds_on_housekeeping, dispatch_uid="active-sweep-on-housekeeping")
        adjudication_resolved.connect(record_label_error_review, dispatch_uid="active-label-error-review")
