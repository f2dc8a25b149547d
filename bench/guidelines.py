"""Benchmark of the guideline paths that sit on hot or heavy routes.

Prints one JSON object: publish latency, the acknowledgement gate (called on every "next item"),
rendering and diffing a large guideline, the side-panel fragment, and the impact read over many
annotations. Creates its own project (and users) in the DATABASE_URL database and removes them.

    .venv/bin/python bench/guidelines.py [--annotations 100000] [--publishes 30]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "labelhub.settings")

import django  # noqa: E402

django.setup()

from django.contrib.auth import get_user_model  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402

from labelhub.guidelines import selectors, services  # noqa: E402
from labelhub.guidelines.diff import diff_versions  # noqa: E402
from labelhub.guidelines.models import GuidelineVersion  # noqa: E402
from labelhub.guidelines.rendering import render_markdown  # noqa: E402
from labelhub.projects.models import Annotation, Item, LabelClass, Project, ProjectMembership  # noqa: E402
from labelhub.queues import questions  # noqa: E402

CLASSES = [f"class_{i}" for i in range(12)]


def _timed(fn, repeat: int) -> tuple[float, float]:
    """(median ms, p95 ms) of ``repeat`` calls."""
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000)
    samples.sort()
    return round(statistics.median(samples), 3), round(samples[int(0.95 * (len(samples) - 1))], 3)


def _large_markdown(seed: int, paragraphs: int = 300) -> str:
    parts = ["# Labeling guideline\n"]
    for i in range(paragraphs):
        if i % 25 == 0:
            parts.append(f"## Section {i // 25}\n")
        if i % 10 == 3:
            parts.append(
                "| case | label |\n|---|---|\n" + "\n".join(f"| case {i}-{j} | class_{j} |" for j in range(5))
            )
        elif i % 10 == 6:
            parts.append("\n".join(f"- rule {i}.{j}: **be** careful with _edge_ case {j}" for j in range(6)))
        else:
            changed = " (revised)" if seed and i % 20 == seed else ""
            parts.append(
                f"Paragraph {i}: annotate what is visible, not what is inferred{changed}. See [ref](https://example.org/{i})."
            )
    return "\n\n".join(parts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--annotations", type=int, default=100_000)
    parser.add_argument("--publishes", type=int, default=30)
    args = parser.parse_args()

    tag = uuid.uuid4().hex[:8]
    users = get_user_model().objects
    project = Project.objects.create(name=f"bench-guidelines-{tag}")
    LabelClass.objects.bulk_create(
        LabelClass(project=project, name=c, order=i) for i, c in enumerate(CLASSES)
    )
    manager = users.create_user(f"bench-manager-{tag}")
    annotators = [users.create_user(f"bench-annotator-{tag}-{i}") for i in range(20)]
    ProjectMembership.objects.bulk_create(
        [ProjectMembership(project=project, user=manager, role="manager")]
        + [ProjectMembership(project=project, user=u, role="annotator") for u in annotators]
    )
    figures: dict = {
        "database": connection.vendor,
        "annotations": args.annotations,
        "publishes": args.publishes,
    }
    try:
        # Publish: lock + max + save, sequentially.
        publish_ms = []
        for i in range(args.publishes):
            draft = services.create_draft(project, manager, body=f"v{i}", change_summary=f"change {i}")
            start = time.perf_counter()
            services.publish_version(draft, manager)
            publish_ms.append((time.perf_counter() - start) * 1000)
        figures["publish_ms_median"] = round(statistics.median(publish_ms), 3)

        # The acknowledgement gate, as "next item" calls it.
        annotator = annotators[0]
        figures["pending_ack_ms_median"], figures["pending_ack_ms_p95"] = _timed(
            lambda: selectors.pending_acknowledgement(annotator, project), 500
        )
        with CaptureQueriesContext(connection) as queries:
            selectors.pending_acknowledgement(annotator, project)
        figures["pending_ack_queries"] = len(queries)

        # A large guideline: ~300 paragraphs, tables, lists, 12 classes with 10 examples each.
        old_md, new_md = _large_markdown(0), _large_markdown(7)
        figures["markdown_chars"] = len(new_md)
        figures["render_ms_median"], _ = _timed(lambda: render_markdown(new_md), 20)
        spec = [
            services.ClassDefinitionSpec(
                c,
                f"Definition of **{c}**.",
                [
                    services.ExampleSpec("positive" if j % 2 else "negative", f"example {j} of {c}")
                    for j in range(10)
                ],
            )
            for c in CLASSES
        ]
        old = services.create_draft(project, manager, body=old_md, ambiguous_cases="Ask.")
        services.replace_class_definitions(old, spec)
        old = services.publish_version(old, manager, change_summary="large")
        new = services.start_draft_from(old, manager)
        services.update_draft(new, body=new_md)
        new = services.publish_version(new, manager, change_summary="large, revised")
        loaded = {
            v.pk: v for v in selectors.with_content(GuidelineVersion.objects.filter(pk__in=[old.pk, new.pk]))
        }
        figures["diff_ms_median"], _ = _timed(lambda: diff_versions(loaded[old.pk], loaded[new.pk]), 10)

        # The side panel fragment, through the full Django stack.
        client = Client()
        client.force_login(annotator)
        url = f"/guidelines/projects/{project.pk}/panel/"
        assert client.get(url).status_code == 200
        figures["panel_ms_median"], figures["panel_ms_p95"] = _timed(lambda: client.get(url), 30)
        with CaptureQueriesContext(connection) as queries:
            client.get(url)
        figures["panel_queries"] = len(queries)

        # Impact over many annotations spread across versions.
        item_count = max(1, args.annotations // 5)
        Item.objects.bulk_create(
            (
                Item(
                    project=project,
                    external_id=f"b{i}",
                    payload={"text": f"t{i}"},
                    content_hash=f"{tag}{i:056d}",
                )
                for i in range(item_count)
            ),
            batch_size=5000,
        )
        item_ids = list(Item.objects.filter(project=project).values_list("pk", flat=True))
        version_ids = list(GuidelineVersion.objects.filter(project=project).values_list("pk", flat=True))
        start = time.perf_counter()
        Annotation.objects.bulk_create(
            (
                Annotation(
                    item_id=item_ids[i % len(item_ids)],
                    annotator=annotators[i % len(annotators)],
                    labels=[CLASSES[i % len(CLASSES)]],
                    guideline_version_id=version_ids[i % len(version_ids)],
                )
                for i in range(args.annotations)
            ),
            batch_size=5000,
        )
        figures["annotation_insert_s"] = round(time.perf_counter() - start, 2)
        figures["impact_ms_median"], _ = _timed(
            lambda: selectors.guideline_impact(
                project, questions_answered=questions.answered_per_version(project)
            ),
            5,
        )
        with CaptureQueriesContext(connection) as queries:
            impact = selectors.guideline_impact(project)
        figures["impact_queries"] = len(queries)
        figures["impact_agreement_available"] = impact.agreement_available
        assert sum(r.annotations for r in impact.rows) == args.annotations
    finally:
        Annotation.objects.filter(item__project=project).delete()
        project.delete()
        users.filter(username__startswith="bench-").filter(username__contains=tag).delete()
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
