"""The QA dashboard's plots say what is true of the data: label counts before any overlap,
names rather than ids, one table per comparison, both widths."""

from __future__ import annotations

from annotators.qa import plots, selectors
from tests import factories
from tests.annotators.qa.builders import label


def test_without_overlap_the_class_plot_shows_label_counts_and_says_why(project, manager):
    items = factories.make_items(project, 3)
    who = factories.make_member(project)
    for item, name in zip(items, ["cat", "cat", "dog"], strict=True):
        label(item, who, [name])
    data = selectors.dashboard(project)
    svg = plots.agreement_by_class(data)
    assert "No labels yet" not in svg
    assert "labels so far" in svg and "specific agreement" not in svg
    assert "labels so far" in svg  # the legend of the one series drawn
    assert "cat · labels so far: 2" in svg and "dog · labels so far: 1" in svg
    assert "No item has two labels yet" in plots.agreement_over_time(data)
    assert "No item has two labels yet" in plots.confusion_matrix(data)


def test_a_project_without_labels_says_so(project):
    data = selectors.dashboard(project)
    assert "No labels yet" in plots.agreement_by_class(data)


def test_overlap_gives_agreement_bars_and_the_alpha_series(project):
    items = factories.make_items(project, 6)
    a, b = factories.make_member(project), factories.make_member(project)
    for i, item in enumerate(items):
        label(item, a, ["cat" if i % 2 else "dog"])
        label(item, b, ["cat" if i % 3 else "dog"])
    svg = plots.agreement_by_class(selectors.dashboard(project))
    assert "specific agreement" in svg and "binary α" in svg


def test_the_three_confusion_tables_name_their_axes(project):
    from annotators.qa import gold
    from annotators.qa.models import ConsensusLabel

    items = factories.make_items(project, 2)
    a, b = factories.make_member(project), factories.make_member(project)
    for item in items:
        label(item, a, ["cat"])
        label(item, b, ["dog"])
    gold.mark_gold(project, [(items[0].pk, ["cat"])])
    items[1].suggestion = {"labels": ["dog"], "confidence": 0.9, "model_version": 1}
    items[1].save()
    ConsensusLabel.objects.create(item=items[1], labels=["cat"], method="majority", annotator_count=2)
    data = selectors.dashboard(project)
    assert "another annotator" in plots.confusion_matrix(data)
    gold_svg = plots.gold_confusion(data)
    assert "gold answer" in gold_svg and "cat → dog: 0.5 of the row (1)" in gold_svg
    model_svg = plots.model_confusion(data)
    assert "consensus" in model_svg and "cat → dog: 1 of the row (1)" in model_svg


def test_every_plot_comes_at_both_widths_with_names_not_ids(project):
    items = factories.make_items(project, 6)
    alice = factories.make_member(project, user=factories.make_user("alice"))
    bob = factories.make_member(project, user=factories.make_user("bob"))
    for item in items:
        label(item, alice, ["cat"], time_spent=2)
        label(item, bob, ["cat"], time_spent=4)
    drawn = plots.all_plots(selectors.dashboard(project))
    assert set(drawn) == set(plots.PLOTS)
    for html in drawn.values():
        assert html.count("<svg") == 2
    assert "alice" in drawn["volume"] and "bob" in drawn["speed"]
    assert f">{alice.pk}<" not in drawn["volume"]
