"""Rendered diffs on small known inputs."""

import pytest

from labelhub.guidelines import services
from labelhub.guidelines.diff import diff_markdown, diff_versions, split_blocks
from labelhub.guidelines.models import GuidelineVersion
from labelhub.guidelines.selectors import with_content


def test_identical_texts_have_no_changes():
    changed, html = diff_markdown("# Title\n\nSame text.", "# Title\n\nSame text.")
    assert not changed
    assert "<ins" not in html and "<del" not in html
    assert "<h1>Title</h1>" in html


def test_a_changed_word_is_deleted_and_inserted_in_place():
    changed, html = diff_markdown("The cat sat on the mat.", "The dog sat on the mat.")
    assert changed
    assert html == '<div class="diff-changed"><p>The <del>cat</del><ins>dog</ins> sat on the mat.</p></div>'


def test_an_added_paragraph_is_one_inserted_rendered_block():
    changed, html = diff_markdown("First.", "First.\n\nA **new** rule.")
    assert changed
    assert html == '<p>First.</p>\n<ins class="diff-block"><p>A <strong>new</strong> rule.</p></ins>'


def test_a_removed_paragraph_is_one_deleted_rendered_block():
    _, html = diff_markdown("Keep.\n\nDrop this.", "Keep.")
    assert html == '<p>Keep.</p>\n<del class="diff-block"><p>Drop this.</p></del>'


def test_a_heading_change_stays_a_heading():
    _, html = diff_markdown("## Wolves old", "## Wolves new")
    assert "<h2>Wolves <del>old</del><ins>new</ins></h2>" in html


def test_a_list_item_added_is_inside_the_list():
    _, html = diff_markdown("- a\n- b", "- a\n- b\n- c")
    assert "<li><ins>c</ins></li>" in html and html.count("<ul>") == 1


def test_a_rewritten_block_shows_as_removed_and_added():
    _, html = diff_markdown("Completely different words here.", "Nothing alike at all, truly.")
    assert '<del class="diff-block">' in html and '<ins class="diff-block">' in html


def test_a_reworded_sentence_is_old_block_struck_then_new_block_not_a_word_soup():
    # Half the words survive (the old rule diffed these word by word, interleaved in one line).
    old = "Label a review as negative when the customer is unhappy with the product."
    new = "Mark the review as negative only when the customer says the product failed them."
    _, html = diff_markdown(old, new)
    assert html == (f'<del class="diff-block"><p>{old}</p></del><ins class="diff-block"><p>{new}</p></ins>')


def test_a_rewritten_list_item_is_struck_whole_and_the_new_item_follows_it():
    _, html = diff_markdown("- a dog\n- a cat sits on the mat\n- b", "- a dog\n- wolves howl at night\n- b")
    assert html.count("<ul>") == 1
    assert "<li><del>a cat sits on the mat</del></li>\n<li><ins>wolves howl at night</ins></li>" in html
    assert "<li>a dog</li>" in html and "<li>b</li>" in html


def test_an_edited_list_item_keeps_its_word_diff():
    _, html = diff_markdown("- a dog\n- the cat sits on the mat", "- a dog\n- the cat lies on the mat")
    assert "<li>the cat <del>sits</del><ins>lies</ins> on the mat</li>" in html


def test_hostile_markup_in_a_diff_is_sanitised():
    _, html = diff_markdown("Safe.", 'Safe. <script>alert(1)</script><img src=x onerror="alert(1)">')
    assert "<script" not in html and "onerror" not in html


def test_fenced_code_stays_one_block():
    assert split_blocks("```\na\n\nb\n```\n\nafter") == ["```\na\n\nb\n```", "after"]


@pytest.mark.django_db
def test_version_diff_reports_sections_by_status(project, manager):
    old = services.create_draft(project, body="Body.", ambiguous_cases="Ask a lead.")
    services.replace_class_definitions(old, [services.ClassDefinitionSpec("cat", "Feline.")])
    new = services.create_draft(project, body="Body.", ambiguous_cases="Ask a manager.")
    services.replace_class_definitions(
        new,
        [
            services.ClassDefinitionSpec("dog", "Canine.", [services.ExampleSpec("negative", "a wolf")]),
        ],
    )
    old, new = (with_content(GuidelineVersion.objects.all()).get(pk=v.pk) for v in (old, new))
    by_title = {d.title: d for d in diff_versions(old, new)}
    assert by_title["Guidelines"].status == "same"
    assert by_title["Ambiguous cases"].status == "changed"
    assert "<p>Ask a <del>lead.</del><ins>manager.</ins></p>" in by_title["Ambiguous cases"].html
    assert by_title["Class: dog"].status == "added"
    assert "a wolf" in by_title["Class: dog"].html
    assert by_title["Class: cat"].status == "removed"
