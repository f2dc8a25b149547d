"""Gold (honeypot) items: which one, if any, to mix into an annotator's next item."""

from __future__ import annotations

import random

from labelhub.projects.models import Annotation, Item


def pick_gold_item(annotator, project, *, rng: random.Random | None = None) -> Item | None:
    """With probability ``project.gold_rate``, a gold item this annotator has not labelled yet."""
    rng = rng or random.Random()  # noqa: S311 - sampling, not security
    if project.gold_rate <= 0 or rng.random() >= project.gold_rate:
        return None
    done = Annotation.objects.filter(annotator=annotator, item__project=project).values("item_id")
    candidates = list(
        Item.objects.filter(project=project, gold__isnull=False)
        .exclude(pk__in=done)
        .values_list("pk", flat=True)[:500]
    )
    if not candidates:
        return None
    return Item.objects.get(pk=rng.choice(candidates))
