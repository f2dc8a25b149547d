"""Template filters that put guideline markdown on a page, always through the sanitiser."""

from django import template
from django.utils.safestring import SafeString

from labelhub.guidelines.rendering import render_markdown

register = template.Library()


@register.filter(name="guideline_markdown")
def guideline_markdown(text: str | None) -> SafeString:
    return render_markdown(text or "")


@register.filter(name="percent")
def percent(value: float | None) -> str:
    """0.834 → "83.4 %"; None → "–" (no data)."""
    return "–" if value is None else f"{value * 100:.1f} %"


@register.filter(name="signed")
def signed(value: float | None, digits: int = 3) -> str:
    return "–" if value is None else f"{value:+.{digits}f}"
