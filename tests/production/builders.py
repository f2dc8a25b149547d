"""Builders for production tests: a labelled project with a snapshot, a model run and a deployment."""

from __future__ import annotations

import numpy as np
from rest_framework.test import APIClient

from labelhub.production import services
from labelhub.projects.models import Annotation
from labelhub.snapshots.services import cut_snapshot, register_model_run
from tests import factories


def deployed_project(n_items: int = 30, *, classes=("cat", "dog", "wolf"), labels=None, **fields):
    """``(project, deployment, token, manager_client, items)``: every item labelled, all in one snapshot."""
    project = factories.make_project(classes=classes, gold_rate=0, overlap_fraction=0, **fields)
    manager = factories.make_member(project, "manager")
    annotator = factories.make_member(project)
    items = factories.make_items(project, n_items)
    labels = labels if labels is not None else [classes[i % len(classes)] for i in range(n_items)]
    Annotation.objects.bulk_create(
        Annotation(item=item, annotator=annotator, labels=[label])
        for item, label in zip(items, labels, strict=True)
    )
    snapshot, _ = cut_snapshot(project, name="v1")
    run = register_model_run(snapshot, name="model v1", metrics={"accuracy": 0.9})
    deployment, token = services.create_deployment(project, run, name="prod")
    client = APIClient()
    client.force_authenticate(manager)
    return project, deployment, token, client, items


def token_client(token: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Deployment {token}")
    return client


def captures_url(deployment) -> str:
    return f"/api/projects/{deployment.project_id}/deployments/{deployment.pk}/captures/"


def record(key: str, text: str = "hello", prediction: str = "cat", **extra) -> dict:
    return {"key": key, "input": {"text": text}, "prediction": prediction, **extra}


def unit_vectors(rng: np.random.Generator, centre: np.ndarray, n: int, spread: float = 0.3) -> np.ndarray:
    X = centre + spread * rng.standard_normal((n, len(centre)))
    return X / np.linalg.norm(X, axis=1, keepdims=True)
