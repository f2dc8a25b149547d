"""Markdown is rendered, and whatever it carries is sanitised."""

import pytest

from labelhub.guidelines.rendering import render_markdown

HOSTILE = [
    ("<script>alert(1)</script>", "<script"),
    ('<img src="x" onerror="alert(1)">', "onerror"),
    ("[click](javascript:alert(1))", "javascript:"),
    ('<a href="JaVaScRiPt:alert(1)">x</a>', "javascript:"),
    ("[x](data:text/html;base64,PHNjcmlwdD4=)", "data:text/html"),
    ('<iframe src="https://evil.example"></iframe>', "<iframe"),
    ("<style>body{display:none}</style>", "<style"),
    ('<div onclick="steal()">hi</div>', "onclick"),
    ('<svg onload="alert(1)"><circle/></svg>', "onload"),
    ('<p style="background:url(javascript:alert(1))">x</p>', "style="),
]


@pytest.mark.parametrize(("markdown_text", "forbidden"), HOSTILE)
def test_hostile_markup_never_survives(markdown_text, forbidden):
    assert forbidden not in render_markdown(markdown_text).lower()


def test_formatting_survives():
    html = render_markdown("# Title\n\n- **bold** and _em_\n\n`code`\n\n| a | b |\n|---|---|\n| 1 | 2 |")
    for tag in ("<h1>", "<li>", "<strong>", "<em>", "<code>", "<table>", "<td>"):
        assert tag in html


def test_links_get_noopener():
    html = render_markdown("[docs](https://example.org/guide)")
    assert 'href="https://example.org/guide"' in html
    assert 'rel="noopener noreferrer"' in html


def test_raster_data_images_are_kept_but_svg_data_images_are_not():
    png = render_markdown("![dot](data:image/png;base64,iVBORw0KGgo=)")
    svg = render_markdown("![x](data:image/svg+xml;base64,PHN2Zz4=)")
    assert 'src="data:image/png;base64,iVBORw0KGgo="' in png
    assert "data:image/svg" not in svg


def test_empty_text_renders_nothing():
    assert render_markdown("   ") == ""


def test_images_that_are_not_absolute_web_urls_or_inline_rasters_are_dropped():
    from labelhub.guidelines.rendering import render_markdown, sanitize_html

    kept = render_markdown("![wolf](https://example.org/wolf.png)")
    assert 'src="https://example.org/wolf.png"' in kept
    for src in ("wolf.png", "/media/wolf.png", "ftp://example.org/wolf.png", "file:///etc/passwd", "x"):
        html = render_markdown(f"A ![wolf]({src}) here.")
        assert "<img" not in html, src
        assert "A" in html and "here." in html
    assert "<img" not in sanitize_html('<p><img alt="no source"></p>')
    assert "<img" in sanitize_html('<img src="data:image/png;base64,iVBORw0KGgo=" alt="dot">')
