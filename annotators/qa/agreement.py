"""Inter-annotator agreement on overlapping items: Krippendorff, Fleiss, Cohen, percent agreement.

Ratings are loaded once into integer-coded numpy arrays (one row per item × annotator) and every
metric is computed from per-item class counts, so a million annotations take seconds, not minutes.

Where a well-kept library does the job at this scale we call it: scikit-learn's
``cohen_kappa_score`` (per annotator pair) and statsmodels' ``fleiss_kappa`` / ``aggregate_raters``.
Krippendorff's alpha is computed here from the coincidence matrix: crowd-kit's
``alpha_krippendorff`` gives the same numbers (the tests check it, and the GPL ``krippendorff``
package, on random data with missing ratings) but walks every pair of ratings in pure Python through
NLTK, which is far too slow for the benchmark's million annotations.

Multi-label projects: Krippendorff's alpha and Fleiss' kappa are the mean of per-class binary
(chosen / not chosen) values; percent agreement and Cohen's kappa compare the exact label sets.
"""

from __future__ import annotations

import csv
import io
import json
import warnings
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
from django.db import connection

from labelhub.projects.models import Annotation, Item, LabelClass, Project

if TYPE_CHECKING:
    import pandas as pd  # imported where used: ~75 MB a process the web paths seldom need

MIN_PAIR_ITEMS = 5  # a pair of annotators sharing fewer items gets no Cohen's kappa (too noisy)


@dataclass
class Ratings:
    """Non-retracted labels of a project, integer-coded: row r says annotator ``annotator[r]`` gave
    item ``item[r]`` the label set ``label_set[r]``. ``indicator[s, c]`` is 1 when set s holds class c.

    ``value`` is the nominal code used for single-label metrics: the class index for one-class sets,
    and ``len(classes)`` (an extra "other" category) for empty or multi-class sets.
    """

    item: np.ndarray
    annotator: np.ndarray
    label_set: np.ndarray
    version: np.ndarray  # guideline version id, -1 for none
    created: np.ndarray  # datetime64[ns] of the annotation
    item_ids: np.ndarray  # item code -> Item.pk
    annotator_ids: np.ndarray  # annotator code -> User.pk
    sets: list[tuple[str, ...]]
    classes: list[str]
    multi_label: bool
    indicator: np.ndarray = field(repr=False)

    @property
    def value(self) -> np.ndarray:
        return self._set_value[self.label_set]

    @property
    def _set_value(self) -> np.ndarray:
        n = len(self.classes)
        out = np.full(len(self.sets), n, dtype=np.int64)
        for s, labels in enumerate(self.sets):
            if len(labels) == 1:
                out[s] = self.classes.index(labels[0])
        return out

    @property
    def n_values(self) -> int:
        return len(self.classes) + 1

    def __len__(self) -> int:
        return len(self.item)

    def subset(self, mask: np.ndarray) -> Ratings:
        """The same coding restricted to some rows (codes stay valid; unused codes are harmless)."""
        return Ratings(
            item=self.item[mask],
            annotator=self.annotator[mask],
            label_set=self.label_set[mask],
            version=self.version[mask],
            created=self.created[mask],
            item_ids=self.item_ids,
            annotator_ids=self.annotator_ids,
            sets=self.sets,
            classes=self.classes,
            multi_label=self.multi_label,
            indicator=self.indicator,
        )


# --------------------------------------------------------------------------------------------- loading


_RATINGS_SQL = (
    "SELECT a.id, a.item_id, a.annotator_id, CAST(a.labels AS TEXT), a.guideline_version_id, {created} "
    "FROM {annotation} a JOIN {item} i ON i.id = a.item_id "
    "WHERE i.project_id = %s AND a.retracted_at IS NULL AND a.annotator_id IS NOT NULL"
)
_COLUMNS = ["id", "item_id", "annotator_id", "labels", "version_id", "created_at"]


# PostgreSQL: the server joins each block of rows into one tab-separated text value. JSON text
# never holds a raw tab or newline (JSON escapes them), so the labels column needs no quoting.
_RATINGS_TSV_SQL = (
    "SELECT string_agg(concat_ws(E'\\t', a.id, a.item_id, a.annotator_id, CAST(a.labels AS TEXT), "
    "COALESCE(CAST(a.guideline_version_id AS TEXT), ''), EXTRACT(EPOCH FROM a.created_at)), E'\\n') "
    "FROM {annotation} a JOIN {item} i ON i.id = a.item_id "
    "WHERE i.project_id = %s AND a.retracted_at IS NULL AND a.annotator_id IS NOT NULL "
    "GROUP BY a.id / 250000"
)


def _fetch_frame(project_id: int) -> pd.DataFrame:
    """All countable annotations of a project as a DataFrame with the labels still JSON text.

    On PostgreSQL the rows arrive as a few large tab-separated text blocks that pandas' C parser
    reads: fetching a million rows one by one (ORM, cursor or COPY, which psycopg also yields
    row by row) costs more than everything computed from them afterwards.
    """
    import pandas as pd  # heavy: ~75 MB; web processes load it only when QA figures are asked

    tables = {"annotation": Annotation._meta.db_table, "item": Item._meta.db_table}
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(_RATINGS_TSV_SQL.format(**tables), [project_id])
            blocks = [row[0] for row in cursor.fetchall() if row[0]]
        if not blocks:
            return pd.DataFrame(columns=_COLUMNS)
        frame = pd.read_csv(
            io.StringIO("\n".join(blocks)),
            sep="\t",
            names=_COLUMNS,
            quoting=csv.QUOTE_NONE,
            dtype={"id": "int64", "item_id": "int64", "annotator_id": "int64", "labels": "string"},
            keep_default_na=False,
            na_values={"version_id": [""]},
        )
        frame["created_at"] = pd.to_datetime(frame["created_at"].astype("float64"), unit="s", utc=True)
        return frame
    sql = _RATINGS_SQL.format(created="a.created_at", **tables)
    with connection.cursor() as cursor:
        cursor.execute(sql, [project_id])
        rows = cursor.fetchall()
    frame = pd.DataFrame(rows, columns=_COLUMNS)
    frame["created_at"] = pd.to_datetime(frame["created_at"], utc=True, format="ISO8601")
    return frame


def load_ratings(project: Project) -> Ratings:
    """The project's non-retracted labels, keeping each annotator's latest label per item."""
    frame = _fetch_frame(project.pk)
    classes = list(
        LabelClass.objects.filter(project=project).order_by("order", "id").values_list("name", flat=True)
    )
    return ratings_from_frame(frame, classes, multi_label=project.multi_label)


def ratings_from_frame(frame: pd.DataFrame, classes: list[str], *, multi_label: bool) -> Ratings:
    """Code a frame with columns id, item_id, annotator_id, labels (JSON text), version_id, created_at."""
    import pandas as pd  # heavy: ~75 MB; web processes load it only when QA figures are asked

    classes = list(classes)
    if len(frame):
        frame = frame.sort_values("id").drop_duplicates(["item_id", "annotator_id"], keep="last")
    # Only the distinct label texts are decoded: a project has a handful, however many rows.
    set_codes, texts = pd.factorize(frame["labels"].astype("string"), sort=False)
    sets: list[tuple[str, ...]] = []
    for text in texts:
        labels = json.loads(text) if isinstance(text, str) else text
        labels = tuple(sorted({str(x) for x in (labels or [])}))
        for name in labels:
            if name not in classes:
                classes.append(name)  # a class removed from the schema still counts as a category
        sets.append(labels)
    # Each set in the canonical order of labels (schema order, then classes that left the schema),
    # so a consensus built from these sets is stored as clean_labels would store it.
    position = {c: i for i, c in enumerate(classes)}
    sets = [tuple(sorted(labels, key=position.__getitem__)) for labels in sets]
    # Identical sets written as different JSON text ('["a", "b"]' vs '["b","a"]') share one code.
    canonical: dict[tuple[str, ...], int] = {}
    remap = np.array([canonical.setdefault(s, len(canonical)) for s in sets], dtype=np.int64)
    unique_sets = list(canonical)
    indicator = np.zeros((len(unique_sets), len(classes)), dtype=np.int8)
    index = {c: i for i, c in enumerate(classes)}
    for s, labels in enumerate(unique_sets):
        for name in labels:
            indicator[s, index[name]] = 1
    item_codes, item_ids = pd.factorize(frame["item_id"], sort=True)
    annotator_codes, annotator_ids = pd.factorize(frame["annotator_id"], sort=True)
    versions = pd.to_numeric(frame["version_id"], errors="coerce").fillna(-1).astype("int64").to_numpy()
    return Ratings(
        item=np.asarray(item_codes, dtype=np.int64),
        annotator=np.asarray(annotator_codes, dtype=np.int64),
        label_set=remap[set_codes] if len(frame) else np.zeros(0, dtype=np.int64),
        version=versions,
        created=frame["created_at"].to_numpy(dtype="datetime64[ns]") if len(frame) else np.zeros(0, "M8[ns]"),
        item_ids=np.asarray(item_ids, dtype=np.int64),
        annotator_ids=np.asarray(annotator_ids, dtype=np.int64),
        sets=unique_sets,
        classes=classes,
        multi_label=multi_label,
        indicator=indicator,
    )


# ----------------------------------------------------------------------------------- core statistics
#
# Everything below works on an items × values count matrix (how many annotators gave item u
# value c), restricted to "pairable" items (rated 2+ times). Building it is one bincount.


def item_value_counts(items: np.ndarray, values: np.ndarray, n_values: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-item value counts (pairable items only) and the number of ratings of each.

    ``items`` are small non-negative codes (as ``Ratings`` holds them), so a bincount over
    ``item * n_values + value`` builds the matrix without sorting.
    """
    items = np.asarray(items, dtype=np.int64)
    values = np.asarray(values, dtype=np.int64)
    if len(items) == 0:
        return np.zeros((0, n_values), dtype=np.int64), np.zeros(0, dtype=np.int64)
    n_items = int(items.max()) + 1
    counts = np.bincount(items * n_values + values, minlength=n_items * n_values).reshape(n_items, n_values)
    m = counts.sum(axis=1)
    keep = m >= 2
    return counts[keep], m[keep]


def _n_values(values: np.ndarray, n_values: int | None) -> int:
    if n_values is not None:
        return int(n_values)
    return int(values.max()) + 1 if len(values) else 1


def alpha_from_counts(counts: np.ndarray, m: np.ndarray) -> float | None:
    """Nominal Krippendorff's alpha from pairable item counts (Krippendorff 2011, section C)."""
    if len(m) == 0:
        return None
    observed_agree = float((counts * (counts - 1)).sum(axis=1) @ (1.0 / (m - 1)))  # sum_c o_cc
    n_c = counts.sum(axis=0).astype(np.float64)
    n = float(n_c.sum())
    expected = n * n - float((n_c**2).sum())
    if expected <= 0:
        return None  # a single value throughout: alpha is undefined
    return 1.0 - (n - 1.0) * (n - observed_agree) / expected


def percent_from_counts(counts: np.ndarray, m: np.ndarray) -> float | None:
    if len(m) == 0:
        return None
    return float(((counts * (counts - 1)).sum(axis=1) / (m * (m - 1))).mean())


def fleiss_from_counts(counts: np.ndarray, m: np.ndarray) -> float | None:
    """statsmodels' Fleiss' kappa over the items rated by the most common number of raters.

    Fleiss' kappa needs the same number of ratings per item; items with other counts are left
    out rather than padded (Krippendorff's alpha is the metric that uses every rating). The count
    rows are exactly statsmodels' ``aggregate_raters`` table (the tests check it), built without
    its per-category Python loop.
    """
    from statsmodels.stats.inter_rater import fleiss_kappa as sm_fleiss_kappa  # heavy: scipy with it

    if len(m) == 0:
        return None
    raters = int(np.bincount(m).argmax())
    table = counts[m == raters]
    with np.errstate(divide="ignore", invalid="ignore"):
        kappa = float(sm_fleiss_kappa(table, method="fleiss"))
    return None if np.isnan(kappa) else kappa


def krippendorff_alpha_nominal(
    items: np.ndarray, values: np.ndarray, n_values: int | None = None
) -> float | None:
    """Krippendorff's alpha for nominal data; ``items``/``values`` are integer codes per rating.

    Items rated once carry no pairable value and drop out, which is how alpha handles missing
    ratings. ``None`` when no item is rated twice or only one value occurs (alpha is undefined).
    """
    values = np.asarray(values, dtype=np.int64)
    return alpha_from_counts(*item_value_counts(items, values, _n_values(values, n_values)))


def percent_agreement(items: np.ndarray, values: np.ndarray, n_values: int | None = None) -> float | None:
    """Mean over items rated 2+ times of the share of rating pairs that agree."""
    values = np.asarray(values, dtype=np.int64)
    return percent_from_counts(*item_value_counts(items, values, _n_values(values, n_values)))


def fleiss_kappa(items: np.ndarray, values: np.ndarray, n_values: int | None = None) -> float | None:
    """Fleiss' kappa (statsmodels) of integer-coded ratings; see ``fleiss_from_counts``."""
    values = np.asarray(values, dtype=np.int64)
    return fleiss_from_counts(*item_value_counts(items, values, _n_values(values, n_values)))


def coincidence_from_counts(counts: np.ndarray, m: np.ndarray) -> np.ndarray:
    """Krippendorff's coincidence matrix o[c, k]: how often value c was paired with k within items."""
    if len(m) == 0:
        return np.zeros((counts.shape[1], counts.shape[1]))
    weighted = counts / (m - 1)[:, None]
    return weighted.T @ counts - np.diag(weighted.sum(axis=0))


def coincidence_matrix(items: np.ndarray, values: np.ndarray, n_values: int) -> np.ndarray:
    return coincidence_from_counts(*item_value_counts(items, values, n_values))


def _rating_pairs(ratings: Ratings) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Every pair of ratings of the same item: (annotator_a, annotator_b, label_a, label_b), a < b.

    Sorting by (item, annotator) puts an item's ratings side by side; pairing each row with the
    row d places later, for d = 1 … (most ratings per item − 1), yields every pair exactly once.
    """
    order = np.lexsort((ratings.annotator, ratings.item))
    item, who, lab = ratings.item[order], ratings.annotator[order], ratings.label_set[order]
    max_m = int(np.bincount(item).max()) if len(item) else 0
    parts: list[tuple[np.ndarray, ...]] = []
    for d in range(1, max_m):
        same = item[:-d] == item[d:]
        parts.append((who[:-d][same], who[d:][same], lab[:-d][same], lab[d:][same]))
    if not parts:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, empty, empty
    return tuple(np.concatenate(column) for column in zip(*parts, strict=True))  # type: ignore[return-value]


def cohen_kappa_from_combos(
    first: np.ndarray, second: np.ndarray, weight: np.ndarray, n_values: int
) -> float:
    """Unweighted Cohen's kappa of two raters from their (label_a, label_b) combinations and counts:
    ``(p_o - p_e) / (1 - p_e)``, observed agreement against the agreement their marginals expect."""
    total = float(weight.sum())
    observed = float(weight[first == second].sum()) / total
    expected = float(
        np.dot(np.bincount(first, weight, n_values), np.bincount(second, weight, n_values)) / total**2
    )
    return (observed - expected) / (1.0 - expected)


def cohen_by_pair(ratings: Ratings, *, min_items: int = MIN_PAIR_ITEMS) -> list[dict]:
    """Cohen's kappa and raw agreement for every annotator pair sharing items.

    Each pair's shared items are first reduced to (label_a, label_b) combinations with counts;
    kappa is then :func:`cohen_kappa_from_combos` on at most labels² rows (scikit-learn's
    ``cohen_kappa_score`` gives the same figure, at ~4 ms of input checks a pair: 190 pairs of 20
    annotators made it the dashboard's largest cost after reading the labels).
    """
    who_a, who_b, lab_a, lab_b = _rating_pairs(ratings)
    if len(who_a) == 0:
        return []
    n_sets, n_annotators = len(ratings.sets), len(ratings.annotator_ids)
    key = ((who_a * n_annotators + who_b) * n_sets + lab_a) * n_sets + lab_b
    combos, weight = np.unique(key, return_counts=True)
    label_b = combos % n_sets
    label_a = (combos // n_sets) % n_sets
    pair = combos // (n_sets * n_sets)
    bounds = np.flatnonzero(np.diff(pair)) + 1
    results = []
    for start, stop in zip(np.r_[0, bounds], np.r_[bounds, len(pair)], strict=True):
        shared = int(weight[start:stop].sum())
        if shared < min_items:
            continue
        a, b = divmod(int(pair[start]), n_annotators)
        first, second, w = label_a[start:stop], label_b[start:stop], weight[start:stop]
        if len(np.union1d(first, second)) < 2:
            kappa = None  # both used one identical label throughout: kappa is undefined
        else:
            kappa = cohen_kappa_from_combos(first, second, w, n_sets)
        results.append(
            {
                "annotator_a": int(ratings.annotator_ids[a]),
                "annotator_b": int(ratings.annotator_ids[b]),
                "items": shared,
                "cohen_kappa": kappa,
                "percent_agreement": float(w[first == second].sum() / shared),
            }
        )
    return results


# ----------------------------------------------------------------------------------------- reports


def _clean(x: float | None) -> float | None:
    return None if x is None or not np.isfinite(x) else round(float(x), 6)


def _mean_or_none(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return float(np.mean(present)) if present else None


def _class_counts(ratings: Ratings, c: int) -> tuple[np.ndarray, np.ndarray]:
    """Binary (not chosen, chosen) counts of class c per pairable item."""
    chosen = (
        ratings.indicator[ratings.label_set, c].astype(np.int64) if len(ratings) else np.zeros(0, np.int64)
    )
    return item_value_counts(ratings.item, chosen, 2)


def overall_agreement(ratings: Ratings, *, with_fleiss: bool = True) -> dict:
    """Items rated 2+ times, percent agreement, Krippendorff's alpha and Fleiss' kappa."""
    set_counts, m = item_value_counts(ratings.item, ratings.label_set, max(len(ratings.sets), 1))
    summary = {
        "items": int(len(m)),
        "ratings": int(m.sum()),
        "percent_agreement": _clean(percent_from_counts(set_counts, m)),
    }
    if ratings.multi_label:
        per_class = [_class_counts(ratings, c) for c in range(len(ratings.classes))]
        summary["krippendorff_alpha"] = _clean(_mean_or_none([alpha_from_counts(*cm) for cm in per_class]))
        if with_fleiss:
            summary["fleiss_kappa"] = _clean(_mean_or_none([fleiss_from_counts(*cm) for cm in per_class]))
    else:
        counts, m = item_value_counts(ratings.item, ratings.value, ratings.n_values)
        summary["krippendorff_alpha"] = _clean(alpha_from_counts(counts, m))
        if with_fleiss:
            summary["fleiss_kappa"] = _clean(fleiss_from_counts(counts, m))
    return summary


def agreement_by_class(ratings: Ratings) -> list[dict]:
    """Per class: how often it is chosen, binary (this class or not) alpha, and specific agreement.

    Specific agreement of class c is the share of rating pairs involving c in which both ratings
    chose c: it says which classes annotators confuse, where one overall number cannot.
    """
    labels = (
        ratings.indicator[ratings.label_set].sum(axis=0)
        if len(ratings)
        else np.zeros(len(ratings.classes), np.int64)
    )
    results = []
    for c, name in enumerate(ratings.classes):
        counts, m = _class_counts(ratings, c)
        positive = counts[:, 1] if len(m) else np.zeros(0, dtype=np.int64)
        involved = float((positive * (m - 1)).sum())
        specific = float((positive * (positive - 1)).sum()) / involved if involved else None
        results.append(
            {
                "class": name,
                "labels": int(labels[c]),  # every current label choosing it, compared or not
                "ratings": int(positive.sum()),
                "specific_agreement": _clean(specific),
                "krippendorff_alpha": _clean(alpha_from_counts(counts, m)),
            }
        )
    return results


def class_coincidence(ratings: Ratings) -> dict:
    """Row-normalised coincidence between classes (with an "other" row for empty/multi sets)."""
    if ratings.multi_label:
        # Counts of annotators choosing each class per item: which classes co-occur across annotators.
        n_items = int(ratings.item.max()) + 1 if len(ratings) else 0
        counts = np.zeros((n_items, len(ratings.classes)))
        for c in range(len(ratings.classes)):
            counts[:, c] = np.bincount(
                ratings.item, weights=ratings.indicator[ratings.label_set, c], minlength=n_items
            )
        m = np.bincount(ratings.item, minlength=n_items)
        keep = m >= 2
        matrix = coincidence_from_counts(counts[keep], m[keep])
        labels = list(ratings.classes)
    else:
        matrix = coincidence_matrix(ratings.item, ratings.value, ratings.n_values)
        labels = [*ratings.classes, "(other)"]
        if matrix[-1].sum() == 0:
            matrix, labels = matrix[:-1, :-1], labels[:-1]
    totals = matrix.sum(axis=1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        normalised = np.where(totals > 0, matrix / totals, 0.0)
    return {
        "classes": labels,
        "counts": np.round(matrix, 3).tolist(),
        "row_share": np.round(normalised, 4).tolist(),
    }


ROLLING_MIN_ITEMS = 10  # a window never holds fewer comparable items (fewer say nothing)
ROLLING_POINTS = 60  # at most this many points on the curve, however many items


def _rolling_alpha(counts: np.ndarray, m: np.ndarray, start: np.ndarray, stop: np.ndarray) -> np.ndarray:
    """Nominal alpha of the item windows [start, stop) of pairable ``counts``; NaN where undefined.

    Alpha's terms are sums over items (observed agreement, value totals, ratings), so every
    window comes from prefix sums: one pass however many windows.
    """
    observed = np.r_[0.0, np.cumsum((counts * (counts - 1)).sum(axis=1) / (m - 1))]
    totals = np.vstack([np.zeros(counts.shape[1]), np.cumsum(counts, axis=0)])
    n_c = totals[stop] - totals[start]
    n = n_c.sum(axis=1)
    expected = n * n - (n_c**2).sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        alpha = 1.0 - (n - 1.0) * (n - (observed[stop] - observed[start])) / expected
    return np.where(expected > 0, alpha, np.nan)


def agreement_over_time(ratings: Ratings, *, window: int | None = None) -> list[dict]:
    """Agreement over a rolling window of comparable items, in the order their last rating came in.

    Items rated 2+ times are ordered by their latest rating; each point scores the ``window``
    items up to it (a tenth of them by default, 10 to 500), so a busy afternoon and a quiet week
    weigh the same and a change shows as soon as enough items reflect it, whatever the calendar.
    Each point carries ``at`` (its last item's latest rating), ``items``, ``percent_agreement``
    and ``krippendorff_alpha`` (multi-label: the mean of the per-class binary alphas).
    """
    if len(ratings) == 0:
        return []
    n_items = int(ratings.item.max()) + 1
    last = np.full(n_items, np.datetime64("NaT", "ns"))
    stamps = ratings.created.astype("datetime64[ns]")
    order = np.argsort(stamps, kind="stable")
    last[ratings.item[order]] = stamps[order]  # later writes win: each item's latest rating
    m_all = np.bincount(ratings.item, minlength=n_items)
    pairable = np.flatnonzero(m_all >= 2)
    if len(pairable) == 0:
        return []
    pairable = pairable[np.argsort(last[pairable], kind="stable")]
    n = len(pairable)
    size = window or min(max(n // 10, ROLLING_MIN_ITEMS), 500)
    size = min(size, n)
    stop = np.unique(np.linspace(size, n, min(ROLLING_POINTS, n - size + 1)).round().astype(np.int64))
    start = stop - size

    def counts_of(values: np.ndarray, n_values: int) -> np.ndarray:
        full = np.bincount(ratings.item * n_values + values, minlength=n_items * n_values)
        return full.reshape(n_items, n_values)[pairable]

    m = m_all[pairable]
    set_counts = counts_of(ratings.label_set, max(len(ratings.sets), 1))
    per_item = (set_counts * (set_counts - 1)).sum(axis=1) / (m * (m - 1))
    agree = np.r_[0.0, np.cumsum(per_item)]
    percent = (agree[stop] - agree[start]) / size
    if ratings.multi_label:
        chosen = ratings.indicator[ratings.label_set].astype(np.int64)
        alphas = []
        for c in range(len(ratings.classes)):
            counts = counts_of(chosen[:, c], 2)
            alphas.append(_rolling_alpha(counts, m, start, stop))
        with np.errstate(invalid="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # a window where no class has an alpha
            alpha = np.nanmean(np.vstack(alphas), axis=0) if alphas else np.full(len(stop), np.nan)
    else:
        alpha = _rolling_alpha(counts_of(ratings.value, ratings.n_values), m, start, stop)
    at = last[pairable[stop - 1]]
    return [
        {
            "at": np.datetime_as_string(t, unit="s") + "Z",
            "items": int(size),
            "percent_agreement": _clean(float(p)),
            "krippendorff_alpha": _clean(float(a)) if np.isfinite(a) else None,
        }
        for t, p, a in zip(at, percent, alpha, strict=True)
    ]


def agreement_by_guideline_version(project: Project, ratings: Ratings | None = None) -> dict:
    """``{version_id or None: {"items", "percent_agreement", "krippendorff_alpha"}}``.

    Each version is scored on the ratings made under it, so items re-labelled after a guideline
    change count for the new version only with the new labels (the contract other parts rely on).
    """
    ratings = ratings if ratings is not None else load_ratings(project)
    results: dict = {}
    for version in sorted(set(np.unique(ratings.version).tolist())):
        summary = overall_agreement(ratings.subset(ratings.version == version), with_fleiss=False)
        results[None if version == -1 else int(version)] = {
            "items": summary["items"],
            "percent_agreement": summary["percent_agreement"],
            "krippendorff_alpha": summary["krippendorff_alpha"],
        }
    return results


def project_agreement(project: Project, ratings: Ratings | None = None) -> dict:
    """Every agreement figure of a project: overall, per class, per pair, per version, over time."""
    ratings = ratings if ratings is not None else load_ratings(project)
    return {
        "overall": overall_agreement(ratings),
        "by_class": agreement_by_class(ratings),
        "by_pair": cohen_by_pair(ratings),
        "by_guideline_version": {
            ("none" if k is None else str(k)): v
            for k, v in agreement_by_guideline_version(project, ratings).items()
        },
        "over_time": agreement_over_time(ratings),
        "coincidence": class_coincidence(ratings),
    }
