"""Rendered differences between two guideline versions.

Each version becomes sections (guideline text, one per class with its examples, ambiguous cases),
each section a list of markdown blocks (paragraphs, lists, tables, fenced code). Blocks are matched
with difflib; an added or removed block is shown rendered inside ``<ins>`` / ``<del>``, and a block
that was edited (a few words changed) gets a word-level diff *before* rendering, so the reader sees
the formatted text with the changed words highlighted rather than raw markdown. A rewritten block
is shown as blocks: the old one struck, the new one inserted; a list or table line by line.

The word diff marks words with private-use characters, renders the markdown, then turns the marks
into tags and sanitises again: the second pass repairs any nesting a mark created (a mark inside
``**bold**``) and keeps the output as safe as any other rendered guideline.
"""

from __future__ import annotations

import difflib
import itertools
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
# A changed block (or line) is shown word by word only while it is an edit: the changes in a few
# places, and most words kept (or only a few words changed). Past that it is a rewrite, and interleaving struck and new words makes
# one unreadable line: the old text is shown struck as a whole, the new one inserted after it.
WORD_DIFF_MIN_RATIO = 0.6
WORD_DIFF_MAX_RUNS = 3
WORD_DIFF_FEW_WORDS = 3


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


def is_edit(old: str, new: str) -> bool:
    """Whether ``new`` is ``old`` edited (shown word by word) rather than rewritten (shown as the
    old text struck, then the new one)."""
    matcher = difflib.SequenceMatcher(None, old.split(), new.split(), autojunk=False)
    changes = [(i2 - i1) + (j2 - j1) for tag, i1, i2, j1, j2 in matcher.get_opcodes() if tag != "equal"]
    few_words = sum(changes) <= WORD_DIFF_FEW_WORDS  # "Cats purr." → "Cats purr softly." is an edit
    return len(changes) <= WORD_DIFF_MAX_RUNS and (few_words or matcher.ratio() >= WORD_DIFF_MIN_RATIO)


def _word_marked(old: str, new: str) -> str:
    """``new`` with the words changed from ``old`` marked (still markdown)."""
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
    return "".join(merged)


def _whole_line_marked(line: str, opening: str, closing: str) -> str:
    """Every word of one markdown line marked, its structure (bullet, heading hashes) kept, so a
    struck list item is still a list item. One mark over the rest of the line, except in a table
    row, where a mark may not span the cells."""
    tokens = _TOKEN.findall(line)
    if line.lstrip().startswith("|"):
        return _marked(tokens, opening, closing, deleted=False)
    start = 0
    while start < len(tokens) and (tokens[start].isspace() or _SYNTAX.match(tokens[start])):
        start += 1
    rest = "".join(tokens[start:])
    return "".join(tokens[:start]) + (f"{opening}{rest}{closing}" if rest else "")


def _side_by_side(olds: list[str], news: list[str]):
    """The replaced parts of a diff paired in order: (old, new), with None where one side ran out."""
    return itertools.zip_longest(olds, news)


def _lines_marked(old: str, new: str) -> str:
    """A multi-line block (a list, a table) line by line: an edited line word by word, a rewritten
    one as the old line struck and the new line inserted below it."""
    old_lines, new_lines = old.split("\n"), new.split("\n")
    merged: list[str] = []
    matcher = difflib.SequenceMatcher(None, old_lines, new_lines, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            merged.extend(new_lines[j1:j2])
            continue
        for before, after in _side_by_side(old_lines[i1:i2], new_lines[j1:j2]):
            if before is not None and after is not None and is_edit(before, after):
                merged.append(_word_marked(before, after))
                continue
            if before is not None:
                merged.append(_whole_line_marked(before, DEL_OPEN, DEL_CLOSE))
            if after is not None:
                merged.append(_whole_line_marked(after, INS_OPEN, INS_CLOSE))
    return "\n".join(merged)


def _render_marked(marked: str) -> str:
    return sanitize_html(_marks_to_tags(str(render_markdown(marked))))


def word_diff_html(old: str, new: str) -> str:
    """One block of markdown rendered with its changed words in ``<del>`` / ``<ins>``."""
    return _render_marked(_word_marked(old, new))


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
        for before, after in _side_by_side(old_blocks[i1:i2], new_blocks[j1:j2]):
            if before is None:
                parts.append(_block("ins", after))
            elif after is None:
                parts.append(_block("del", before))
            elif is_edit(before, after):
                parts.append(f'<div class="diff-changed">{word_diff_html(before, after)}</div>')
            elif "\n" in before and "\n" in after and not _FENCE.match(before) and not _FENCE.match(after):
                parts.append(
                    f'<div class="diff-changed">{_render_marked(_lines_marked(before, after))}</div>'
                )
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
