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


def unit_vectors(rng: np.random.Generator, centre: np.ndarray, n: int, spread: float = 0.03) -> np.ndarray:
    X = centre + spread * rng.standard_normal((n, len(centre)))
    return X / np.linalg.norm(X, axis=1, keepdims=True)


DIM = 384


def centres(n: int, seed: int = 0) -> np.ndarray:
    """``n`` random, nearly orthogonal unit directions in the text backbone's space."""
    C = np.random.default_rng(seed).standard_normal((n, DIM))
    return C / np.linalg.norm(C, axis=1, keepdims=True)


def clustered_project(per_class: int = 40, *, seed: int = 0, **fields):
    """A deployed project whose items are clusters, one per class, their vectors already cached
    (so no encoder runs): ``(project, deployment, token, client, items, centres)``. A fourth centre
    is left for production-only novelty."""
    from active.embeddings import store_for

    classes = ("cat", "dog", "wolf")
    labels = [classes[i % 3] for i in range(per_class * 3)]
    project, deployment, token, client, items = deployed_project(per_class * 3, labels=labels, **fields)
    C = centres(4, seed)
    rng = np.random.default_rng(seed + 1)
    vectors = np.stack([unit_vectors(rng, C[i % 3], 1)[0] for i in range(len(items))])
    store_for(project).append([item.pk for item in items], vectors)
    return project, deployment, token, client, items, C


def embedded_record(key: str, vector: np.ndarray, prediction: str, probabilities, **extra) -> dict:
    return record(
        key,
        f"production text {key}",
        prediction,
        embedding=[float(v) for v in vector],
        probabilities=probabilities,
        **extra,
    )
