"""Rendered guideline HTML as pages show it, cached for published versions.

A published version never changes (model layer + database trigger), so its rendered HTML and the
diff between two published versions can be cached without invalidation. Rendering a long guideline
costs tens of milliseconds and every annotator's side panel asks for it, so this matters on the
labeling page. Drafts are always rendered fresh. ``RENDER_REVISION`` is part of every key: bump it
when the rendering or sanitising rules change so a shared cache never serves the old output.
"""

from __future__ import annotations

from django.core.cache import cache
from django.template.loader import render_to_string
from django.utils.safestring import SafeString, mark_safe

from labelhub.guidelines.diff import SectionDiff, diff_versions
from labelhub.guidelines.models import GuidelineVersion
from labelhub.guidelines.selectors import class_sections, with_content

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
