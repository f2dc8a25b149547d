"""Changes of the production inbox: deployments, capture batches, outcomes, sampling rules.

Scoring, selection and drift run on workers (:mod:`.scoring`, :mod:`.selection`, :mod:`.monitoring`);
a capture batch only writes its rows and makes sure a scoring task is queued for the deployment.
"""

from __future__ import annotations

import secrets
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from active.embeddings import backbone_for
from labelhub.production import capture, tasks
from labelhub.production.errors import CaptureRejected, InvalidDeployment, InvalidRules
from labelhub.production.models import Capture, Deployment, SamplingRules
from labelhub.production.selectors import token_hash
from labelhub.projects.labels import InvalidLabels, clean_labels
from labelhub.projects.models import Project
from labelhub.projects.selectors import label_schema
from labelhub.snapshots.models import ModelRun

TOKEN_BYTES = 32


def create_deployment(
    project: Project, model_run: ModelRun, *, name: str, webhook_url: str = "", user=None
) -> tuple[Deployment, str]:
    """A deployment of ``model_run`` and its capture token, returned in clear this once only."""
    name = (name or "").strip()
    if not name or len(name) > 100:
        raise InvalidDeployment("a deployment needs a name of 1 to 100 characters", field="name")
    if model_run.snapshot.project_id != project.pk:
        raise InvalidDeployment("the model run was trained on another project's snapshot", field="model_run")
    token = secrets.token_urlsafe(TOKEN_BYTES)
    try:
        with transaction.atomic():
            deployment = Deployment.objects.create(
                project=project,
                model_run=model_run,
                name=name,
                token_hash=token_hash(token),
                token_prefix=token[:8],
                webhook_url=webhook_url,
                created_by=user if user is not None and user.is_authenticated else None,
            )
    except IntegrityError as exc:
        raise InvalidDeployment(f"the project already has a deployment named {name!r}", field="name") from exc
    return deployment, token


def rotate_token(deployment: Deployment) -> str:
    """A new capture token for the deployment; the old one stops working at once."""
    token = secrets.token_urlsafe(TOKEN_BYTES)
    deployment.token_hash, deployment.token_prefix = token_hash(token), token[:8]
    deployment.save(update_fields=["token_hash", "token_prefix"])
    return token


def capture_batch(deployment: Deployment, records: Any, *, enqueue_scoring=None) -> dict:
    """Store a batch of captures, all or nothing; keys already stored are skipped (idempotent retries).

    Returns ``{"received", "created", "duplicates"}``. Raises :class:`CaptureRejected` naming each
    bad ``records[i].field``; then nothing of the batch is written. ``enqueue_scoring(deployment)``
    (default: the scoring task) is queued in the same transaction when rows were added.
    """
    _, dim = backbone_for(deployment.project)
    validator = capture.CaptureValidator(deployment, label_schema(deployment.project), dim)
    rows = capture.validate_batch(validator, records)
    enqueue_scoring = enqueue_scoring or tasks.request_scoring
    # The task row is written in the captures' transaction (the task backend is the database):
    # there are never stored captures that no queued task will score.
    with transaction.atomic():
        created = capture.write_rows(rows)
        if created:
            enqueue_scoring(deployment)
    return {"received": len(records), "created": created, "duplicates": len(records) - created}


def record_outcomes(deployment: Deployment, records: Any) -> dict:
    """Set the known true labels of earlier captures: ``[{"key", "outcome"}]``, all or nothing."""
    if not isinstance(records, list) or not records or len(records) > capture.MAX_BATCH:
        raise CaptureRejected(
            [{"field": "records", "code": "invalid", "detail": f"a list of 1 to {capture.MAX_BATCH} records"}]
        )
    schema = label_schema(deployment.project)
    outcomes: dict[str, list[str]] = {}
    errors = []
    for index, record in enumerate(records):
        key = record.get("key") if isinstance(record, dict) else None
        if not isinstance(key, str) or not key:
            errors.append(
                {"field": f"records[{index}].key", "code": "invalid_key", "detail": "must be a string"}
            )
            continue
        try:
            outcome = record.get("outcome")
            outcome = [outcome] if isinstance(outcome, str) else outcome  # a class name, as in captures
            outcomes[key] = clean_labels(schema, outcome, field=f"records[{index}].outcome")
        except InvalidLabels as exc:
            errors.append({"field": exc.field, "code": exc.code, "detail": exc.message})
    known = set(
        Capture.objects.filter(deployment=deployment, key__in=list(outcomes)).values_list("key", flat=True)
    )
    errors += [
        {
            "field": f"records[{i}].key",
            "code": "unknown_key",
            "detail": "no capture of this deployment has it",
        }
        for i, r in enumerate(records)
        if isinstance(r, dict) and r.get("key") in outcomes and r["key"] not in known
    ]
    if errors:
        raise CaptureRejected(errors[: capture.MAX_ERRORS])
    now = timezone.now()
    with transaction.atomic():
        captures = list(
            Capture.objects.select_for_update().filter(deployment=deployment, key__in=list(outcomes))
        )
        for row in captures:
            row.outcome, row.outcome_at = outcomes[row.key], now
        Capture.objects.bulk_update(captures, ["outcome", "outcome_at"], batch_size=1000)
    return {"updated": len(captures)}


RULE_FIELDS = (
    "enabled",
    "uncertainty_margin",
    "novelty_percentile",
    "select_disagreements",
    "class_quota",
    "control_share",
    "daily_budget",
    "near_duplicate_distance",
)
_RANGES = {
    "uncertainty_margin": (0.0, 1.0),
    "novelty_percentile": (0.0, 1.0),
    "control_share": (0.0, 1.0),
    "near_duplicate_distance": (0.0, 2.0),
}


def update_rules(project: Project, changes: dict) -> SamplingRules:
    """Change some of the project's sampling rules (a manager's edit), checked field by field."""
    rules = SamplingRules.objects.filter(project=project).first() or SamplingRules(project=project)
    for field, value in changes.items():
        if field not in RULE_FIELDS:
            raise InvalidRules(f"unknown rule; rules are {', '.join(RULE_FIELDS)}", field=field)
        if field in ("enabled", "select_disagreements"):
            if not isinstance(value, bool):
                raise InvalidRules("must be true or false", field=field)
        elif field in ("class_quota", "daily_budget"):
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise InvalidRules("must be a whole number >= 0", field=field)
        else:
            low, high = _RANGES[field]
            if not isinstance(value, int | float) or isinstance(value, bool) or not low <= value <= high:
                raise InvalidRules(f"must be a number from {low} to {high}", field=field)
        setattr(rules, field, value)
    rules.save()
    return rules
