"""Rendered guideline HTML as pages show it, cached for published versions.

A published version never changes (model layer + database trigger), so its rendered HTML and the
diff between two published versions can be cached without invalidation. Rendering a long guideline
costs tens of milliseconds and every annotator's side panel asks for it, so this matters on the
labeling page. Drafts are always rendered fresh. ``RENDER_REVISION`` is part of every key: bump it
when the rendering or sanitising rules change so a shared cache never serves the old output.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.core.cache import cache
from django.template.loader import render_to_string
from django.utils.safestring import SafeString, mark_safe

from labelhub.guidelines.diff import SectionDiff, diff_versions
from labelhub.guidelines.models import GuidelineVersion
from labelhub.guidelines.selectors import VersionImpact, class_sections, with_content

RENDER_REVISION = 1
CACHE_SECONDS = 24 * 3600


def _identity(version: GuidelineVersion) -> str:
    # The publish instant joins the id so a recreated database reusing ids never hits an old entry.
    return f"{version.pk}-{version.published_at.timestamp() if version.published_at else 'draft'}"


def version_html(version: GuidelineVersion) -> SafeString:
    """The version's text, classes with examples and ambiguous cases, as sanitised HTML."""

    def render() -> str:
        # Reloaded with its content prefetched: three queries whatever the number of classes.
        loaded = with_content(GuidelineVersion.objects.filter(pk=version.pk)).get()
        return render_to_string(
            "guidelines/_version_content.html", {"version": loaded, "sections": class_sections(loaded)}
        )

    if not version.is_published:
        return mark_safe(render())  # noqa: S308 - template output; markdown inside went through nh3
    key = f"guidelines:html:r{RENDER_REVISION}:{_identity(version)}"
    return mark_safe(cache.get_or_set(key, render, CACHE_SECONDS))  # noqa: S308 - as above


def cached_diff(old: GuidelineVersion, new: GuidelineVersion) -> list[SectionDiff]:
    """:func:`diff_versions`, cached when both sides are published (and so can never change)."""
    if not (old.is_published and new.is_published):
        return diff_versions(old, new)
    key = f"guidelines:diff:r{RENDER_REVISION}:{_identity(old)}:{_identity(new)}"
    return cache.get_or_set(key, lambda: diff_versions(old, new), CACHE_SECONDS)


@dataclass(frozen=True)
class ImpactChart:
    """Geometry of the impact plot: one bar of annotations per version, a line of agreement (α)."""

    width: int
    height: int
    baseline: float
    bars: list[dict]
    line: str  # SVG polyline points, "" without agreement data
    points: list[dict]


def impact_chart(rows: list[VersionImpact], *, width: int = 640, height: int = 180) -> ImpactChart:
    """Scale the impact rows into an SVG: bars share the left scale (annotations, 0..max), the
    agreement line the right one (Krippendorff's α, 0..1; negative α is drawn at 0)."""
    top, bottom, left, right = 12, 28, 8, 8
    plot_h = height - top - bottom
    slot = (width - left - right) / max(1, len(rows))
    most = max((r.annotations for r in rows), default=0) or 1
    bars, points = [], []
    for index, row in enumerate(rows):
        x = left + index * slot
        bar_h = plot_h * row.annotations / most
        label = f"v{row.version.number}" if row.version else "none"
        bars.append(
            {
                "x": round(x + slot * 0.2, 1),
                "y": round(top + plot_h - bar_h, 1),
                "w": round(slot * 0.6, 1),
                "h": round(bar_h, 1),
                "label": label,
                "label_x": round(x + slot / 2, 1),
                "annotations": row.annotations,
            }
        )
        alpha = (row.agreement_after or {}).get("krippendorff_alpha")
        if alpha is not None:
            clamped = min(1.0, max(0.0, float(alpha)))
            points.append(
                {"x": round(x + slot / 2, 1), "y": round(top + plot_h * (1 - clamped), 1), "alpha": alpha}
            )
    line = " ".join(f"{p['x']},{p['y']}" for p in points)
    return ImpactChart(width=width, height=height, baseline=top + plot_h, bars=bars, line=line, points=points)
