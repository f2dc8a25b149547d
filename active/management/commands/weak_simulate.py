"""`manage.py weak_simulate`: weak labels vs known answers on the WordNet and digits demos (issue 18's figures)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand

from active import weak_simulation


class Command(BaseCommand):
    help = (
        "Labeling functions + label model on the WordNet (keywords) and digits (model-as-LF, more like "
        "these) demos: weak-label coverage and accuracy, and the head with and without weak labels."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--out", default=None, help="Directory for the JSON, CSV and PNG (default: data dir)."
        )
        parser.add_argument("--seeds", type=int, default=weak_simulation.SEEDS)
        parser.add_argument("--budgets", type=int, nargs="*", default=list(weak_simulation.BUDGETS))
        parser.add_argument("--wordnet-size", type=int, default=4000)
        parser.add_argument("--case", choices=["wordnet", "digits"], action="append", default=None)
        parser.add_argument(
            "--digits-head",
            choices=["mlp", "logistic"],
            default="mlp",
            help="Head on the digits' pixel features (the MLP is what rounds choose; logistic is ~10x cheaper).",
        )

    def handle(self, *args, out, seeds, budgets, wordnet_size, case, digits_head, **options):
        out = Path(out or Path(settings.LABELHUB_DATA_DIR) / "weak-simulation")
        out.mkdir(parents=True, exist_ok=True)
        cases = []
        for name in case or ["wordnet", "digits"]:
            if name == "wordnet":
                cases.append(weak_simulation.wordnet_data(out / "cache", wordnet_size))
            else:
                cases.append(weak_simulation.digits_data(digits_head))
        points = [p for c in cases for p in weak_simulation.simulate_weak(c, budgets, seeds)]
        rows = weak_simulation.summarise(points)
        (out / "points.json").write_text(json.dumps(points, indent=1))
        with open(out / "summary.csv", "w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
        weak_simulation.write_plot(rows, out / "head_accuracy.png")
        self.stdout.write(json.dumps(rows, indent=1))
