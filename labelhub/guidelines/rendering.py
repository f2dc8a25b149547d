"""Markdown → safe HTML. Every piece of guideline text that reaches a page or an API goes through here.

Markdown itself passes raw HTML through, so its output is treated as untrusted and cleaned with
nh3 (an allow-list sanitiser): only formatting tags survive, links get rel="noopener noreferrer",
images may only load absolute http(s) URLs or inline raster ``data:image`` URLs (any other image
is dropped), and no script, style,
iframe, event-handler attribute or ``javascript:`` URL can get through.
"""

from __future__ import annotations

import re

import markdown
import nh3
from django.utils.safestring import SafeString, mark_safe

ALLOWED_TAGS: frozenset[str] = frozenset(
    {
        *("h1", "h2", "h3", "h4", "h5", "h6", "p", "br", "hr", "blockquote", "div", "span"),
        *("ul", "ol", "li", "dl", "dt", "dd"),
        *("strong", "em", "b", "i", "u", "s", "del", "ins", "mark", "sub", "sup", "small", "kbd", "abbr"),
        *("code", "pre"),
        *("table", "thead", "tbody", "tfoot", "tr", "th", "td", "caption"),
        *("a", "img"),
    }
)
ALLOWED_ATTRIBUTES: dict[str, set[str]] = {
    "a": {"href", "title"},
    "img": {"src", "alt", "title", "width", "height"},
    "th": {"align", "colspan", "rowspan"},
    "td": {"align", "colspan", "rowspan"},
    "abbr": {"title"},
    "ol": {"start"},
    "code": {"class"},
    "ins": {"class"},
    "del": {"class"},
    "div": {"class"},
    "span": {"class"},
}
# "data" is admitted here only so the attribute filter below can keep raster images inline;
# the filter drops every other data: URL (in links above all).
URL_SCHEMES = frozenset({"http", "https", "mailto", "data"})
_DATA_IMAGE = re.compile(r"^data:image/(png|jpe?g|gif|webp);base64,[a-z0-9+/=\s]+$", re.IGNORECASE)
_WEB_URL = re.compile(r"^https?://[^\s/]", re.IGNORECASE)
#: An <img> left without a src by the filter (nh3's output is normalised, so this is exact).
_IMG_WITHOUT_SRC = re.compile(r"<img(?![^>]*\ssrc=)[^>]*>")
_SAFE_CLASS = re.compile(r"^[\w -]{0,80}$")
MARKDOWN_EXTENSIONS = ["tables", "fenced_code", "sane_lists", "def_list", "abbr"]


def _filter_attribute(tag: str, attribute: str, value: str) -> str | None:
    if tag == "img" and attribute == "src" and not _WEB_URL.match(value.strip()):
        # A relative or other-scheme src would be fetched relative to whichever page shows the
        # guidelines (the labeling page, on every G press) and show as broken: the image goes.
        return value if _DATA_IMAGE.match(value.strip()) else None
    if attribute in {"href", "src"} and value.strip().lower().startswith("data:"):
        return value if tag == "img" and attribute == "src" and _DATA_IMAGE.match(value.strip()) else None
    if attribute == "class" and not _SAFE_CLASS.match(value):
        return None
    return value


def sanitize_html(html: str) -> str:
    """Keep only the allowed tags, attributes and URL schemes of ``html``."""
    cleaned = nh3.clean(
        html,
        tags=set(ALLOWED_TAGS),
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes=set(URL_SCHEMES),
        attribute_filter=_filter_attribute,
        link_rel="noopener noreferrer",
        strip_comments=True,
    )
    return _IMG_WITHOUT_SRC.sub("", cleaned)


def render_markdown(text: str) -> SafeString:
    """Render guideline markdown to sanitised HTML, safe to put into a page as is."""
    if not text or not text.strip():
        return mark_safe("")  # noqa: S308 - empty string
    html = markdown.markdown(text, extensions=MARKDOWN_EXTENSIONS, output_format="html")
    return mark_safe(sanitize_html(html))  # noqa: S308 - sanitised just above
