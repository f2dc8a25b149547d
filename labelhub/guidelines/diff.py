"""Rendered differences between two guideline versions.

Each version becomes sections (guideline text, one per class with its examples, ambiguous cases),
each section a list of markdown blocks (paragraphs, lists, tables, fenced code). Blocks are matched
with difflib; an added or removed block is shown rendered inside ``<ins>`` / ``<del>``, and a block
that changed a little gets a word-level diff *before* rendering, so the reader sees the formatted
text with the changed words highlighted rather than raw markdown.

The word diff marks words with private-use characters, renders the markdown, then turns the marks
into tags and sanitises again: the second pass repairs any nesting a mark created (a mark inside
``**bold**``) and keeps the output as safe as any other rendered guideline.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass

from django.utils.safestring import SafeString, mark_safe

from labelhub.guidelines.models import GuidelineVersion
from labelhub.guidelines.rendering import render_markdown, sanitize_html
from labelhub.guidelines.selectors import class_sections

INS_OPEN, INS_CLOSE, DEL_OPEN, DEL_CLOSE = "\ue000", "\ue001", "\ue002", "\ue003"
_MARKS = re.compile("[\ue000-\ue003]")
_TOKEN = re.compile(r"\s+|\S+")
# Markdown structure (heading hashes, list bullets, quote marks, table pipes, fences): never wrapped
# in a mark, which would stop markdown from recognising the structure.
_SYNTAX = re.compile(r"^(#{1,6}|[-*+>]|\d+[.)]|\|+|:?-{3,}:?(\|:?-{3,}:?)*\|?|`{3,}\S*|~{3,}\S*)$")
_FENCE = re.compile(r"^\s*(`{3,}|~{3,})")
# Below this word similarity a changed block reads better as "removed + added" than as a word soup.
WORD_DIFF_MIN_RATIO = 0.35


@dataclass(frozen=True)
class Section:
    key: str
    title: str
    markdown: str


@dataclass(frozen=True)
class SectionDiff:
    title: str
    status: str  # "same", "changed", "added" or "removed"
    html: SafeString

    @property
    def changed(self) -> bool:
        return self.status != "same"


def version_sections(version: GuidelineVersion) -> list[Section]:
    """The comparable parts of a version, classes keyed by class so renamed text still lines up."""
    sections = [Section("body", "Guidelines", version.body)]
    for class_section in class_sections(version):
        parts = [class_section.definition.strip()]
        for heading, examples in (
            ("Positive examples", class_section.positives),
            ("Negative examples", class_section.negatives),
        ):
            if examples:
                lines = [
                    f"- {' '.join(e.text.split())}" + (f" — {e.note}" if e.note else "") for e in examples
                ]
                parts.append(f"**{heading}**\n\n" + "\n".join(lines))
        sections.append(
            Section(
                f"class:{class_section.label_class.pk}",
                f"Class: {class_section.label_class.name}",
                "\n\n".join(p for p in parts if p),
            )
        )
    sections.append(Section("ambiguous", "Ambiguous cases", version.ambiguous_cases))
    return sections


def split_blocks(markdown_text: str) -> list[str]:
    """Blank-line separated blocks; a fenced code block stays one block whatever it contains."""
    blocks: list[str] = []
    current: list[str] = []
    in_fence = False
    for line in _MARKS.sub("", markdown_text).replace("\r\n", "\n").split("\n"):
        if _FENCE.match(line):
            in_fence = not in_fence
        if not line.strip() and not in_fence:
            if current:
                blocks.append("\n".join(current))
                current = []
            continue
        current.append(line.rstrip())
    if current:
        blocks.append("\n".join(current))
    return blocks


def _marked(tokens: list[str], opening: str, closing: str, *, deleted: bool) -> str:
    out = []
    for token in tokens:
        if token.isspace():
            # Deleted line breaks would re-flow the new text's structure; keep them as spaces.
            out.append(" " if deleted else token)
        elif _SYNTAX.match(token):
            if not deleted:
                out.append(token)
        else:
            out.append(f"{opening}{token}{closing}")
    return "".join(out)


def _marks_to_tags(html: str) -> str:
    html = html.replace(INS_OPEN, "<ins>").replace(INS_CLOSE, "</ins>")
    return html.replace(DEL_OPEN, "<del>").replace(DEL_CLOSE, "</del>")


def word_diff_html(old: str, new: str) -> str:
    """One block of markdown rendered with its changed words in ``<del>`` / ``<ins>``."""
    old_tokens, new_tokens = _TOKEN.findall(old), _TOKEN.findall(new)
    merged: list[str] = []
    matcher = difflib.SequenceMatcher(None, old_tokens, new_tokens, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            merged.extend(new_tokens[j1:j2])
            continue
        if tag in {"delete", "replace"}:
            merged.append(_marked(old_tokens[i1:i2], DEL_OPEN, DEL_CLOSE, deleted=True))
        if tag in {"insert", "replace"}:
            merged.append(_marked(new_tokens[j1:j2], INS_OPEN, INS_CLOSE, deleted=False))
    return sanitize_html(_marks_to_tags(str(render_markdown("".join(merged)))))


def _block(kind: str, markdown_text: str) -> str:
    return f'<{kind} class="diff-block">{render_markdown(markdown_text)}</{kind}>'


def diff_markdown(old: str, new: str) -> tuple[bool, SafeString]:
    """Rendered diff of two markdown texts; returns (changed, html)."""
    old_blocks, new_blocks = split_blocks(old), split_blocks(new)
    parts: list[str] = []
    changed = False
    matcher = difflib.SequenceMatcher(None, old_blocks, new_blocks, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            parts.extend(str(render_markdown(b)) for b in new_blocks[j1:j2])
            continue
        changed = True
        olds, news = old_blocks[i1:i2], new_blocks[j1:j2]
        for position in range(max(len(olds), len(news))):
            before = olds[position] if position < len(olds) else None
            after = news[position] if position < len(news) else None
            if before is None:
                parts.append(_block("ins", after))
            elif after is None:
                parts.append(_block("del", before))
            elif (
                difflib.SequenceMatcher(None, before.split(), after.split(), autojunk=False).ratio()
                >= WORD_DIFF_MIN_RATIO
            ):
                parts.append(f'<div class="diff-changed">{word_diff_html(before, after)}</div>')
            else:
                parts.append(_block("del", before) + _block("ins", after))
    return changed, mark_safe(sanitize_html("\n".join(parts)))  # noqa: S308 - sanitised


def diff_versions(old: GuidelineVersion, new: GuidelineVersion) -> list[SectionDiff]:
    """Section by section, what changed from ``old`` to ``new`` (prefetch with ``with_content``)."""
    old_sections = {s.key: s for s in version_sections(old)}
    new_sections = version_sections(new)
    new_keys = {s.key for s in new_sections}
    result: list[SectionDiff] = []
    for section in new_sections:
        before = old_sections.get(section.key)
        if before is None:
            result.append(SectionDiff(section.title, "added", diff_markdown("", section.markdown)[1]))
            continue
        changed, html = diff_markdown(before.markdown, section.markdown)
        result.append(SectionDiff(section.title, "changed" if changed else "same", html))
    for key, section in old_sections.items():
        if key not in new_keys:
            result.append(SectionDiff(section.title, "removed", diff_markdown(section.markdown, "")[1]))
    return result
