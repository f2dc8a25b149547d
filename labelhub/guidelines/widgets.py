"""The markdown editor widget shared by the console and the managers' page."""

from __future__ import annotations

from django import forms
from django.urls import reverse
from django.utils.html import format_html


class MarkdownEditor(forms.Textarea):
    """A textarea with a live, sanitised preview beside it (see static/guidelines/editor.js).

    ``preview_url_name`` picks the endpoint: the console's staff-only one by default, the API's
    (managers of a project) on the managers' page.
    """

    class Media:
        js = ["guidelines/editor.js"]
        css = {"all": ["guidelines/editor.css"]}

    def __init__(
        self, attrs: dict | None = None, rows: int = 16, preview_url_name: str = "guidelines:preview"
    ):
        super().__init__(attrs={"rows": rows, "class": "markdown-editor", **(attrs or {})})
        self.preview_url_name = preview_url_name

    def render(self, name, value, attrs=None, renderer=None):
        attrs = {**(attrs or {}), "data-preview-url": reverse(self.preview_url_name)}
        textarea = super().render(name, value, attrs, renderer)
        return format_html(
            '<div class="markdown-editor-pair">{}<div class="markdown-preview guideline" '
            'aria-live="polite" data-for="{}"></div></div>',
            textarea,
            attrs.get("id", name),
        )
