"""Guideline questions (labelhub/queues/questions.py): listing flags, answering them, re-queueing."""

import pytest

from labelhub.guidelines import services
from labelhub.guidelines.errors import GuidelineError
from labelhub.queues import questions
from labelhub.queues.models import ItemFlag, QueueEntry
from tests import factories
from tests.guidelines.conftest import publish

pytestmark = pytest.mark.django_db


def _flag(project, annotator, comment="wolf or husky?"):
    item = factories.make_items(project, 1, prefix=f"flagged{ItemFlag.objects.count()}")[0]
    return ItemFlag.objects.create(item=item, annotator=annotator, comment=comment)


def test_answering_questions_requeues_the_items(project, manager, annotator):
    flags = [_flag(project, annotator), _flag(project, annotator)]
    version = publish(project, manager, summary="Huskies are dogs.")
    answered = questions.answer_questions(
        project, [f.pk for f in flags], version=version, answer="Huskies are dogs, see v1.", user=manager
    )
    assert answered == 2
    for flag in flags:
        flag.refresh_from_db()
        assert (flag.answered_in, flag.answered_by, flag.answer) == (
            version,
            manager,
            "Huskies are dogs, see v1.",
        )
    entries = QueueEntry.objects.filter(project=project, is_open=True)
    assert sorted(entries.values_list("item_id", flat=True)) == sorted(f.item_id for f in flags)
    assert set(entries.values_list("reason", flat=True)) == {"requeue"}


def test_answering_with_a_draft_is_refused(project, manager, annotator):
    flag = _flag(project, annotator)
    with pytest.raises(GuidelineError) as caught:
        questions.answer_questions(
            project, [flag.pk], version=services.create_draft(project), answer="x", user=manager
        )
    assert caught.value.field == "version"


def test_answering_an_answered_question_again_is_refused_and_changes_nothing(project, manager, annotator):
    flag = _flag(project, annotator)
    open_flag = _flag(project, annotator)
    version = publish(project, manager)
    questions.answer_questions(project, [flag.pk], version=version, answer="first", user=manager)
    with pytest.raises(GuidelineError) as caught:
        questions.answer_questions(
            project, [flag.pk, open_flag.pk], version=version, answer="again", user=manager
        )
    assert caught.value.field == "flags" and str(flag.pk) in caught.value.message
    open_flag.refresh_from_db()
    assert open_flag.answered_at is None
    assert QueueEntry.objects.filter(item=open_flag.item).count() == 0


def test_questions_of_another_project_cannot_be_answered(project, manager, annotator):
    other = factories.make_project()
    foreign = _flag(other, annotator)
    with pytest.raises(GuidelineError):
        questions.answer_questions(
            project, [foreign.pk], version=publish(project, manager), answer="x", user=manager
        )


def test_answered_questions_come_back_first_in_the_queue(project, manager, annotator):
    flag = _flag(project, annotator)
    questions.answer_questions(
        project, [flag.pk], version=publish(project, manager), answer="x", user=manager
    )
    entry = QueueEntry.objects.get(item=flag.item, is_open=True)
    assert entry.priority == questions.ANSWERED_QUESTION_PRIORITY > 1.0


def test_questions_filter_by_answered(project, manager, annotator):
    items = factories.make_items(project, 2)
    open_flag = ItemFlag.objects.create(item=items[0], annotator=annotator)
    done = ItemFlag.objects.create(item=items[1], annotator=annotator)
    questions.answer_questions(
        project, [done.pk], version=publish(project, manager), answer="ok", user=manager
    )
    assert list(questions.questions_for(project, answered=False)) == [open_flag]
    assert list(questions.questions_for(project, answered=True)) == [done]
    assert questions.open_question_count(project) == 1


def test_answered_per_version_counts_the_questions_each_version_answered(project, manager, annotator):
    v1 = publish(project, manager)
    v2 = publish(project, manager, summary="second")
    first, second, third = (_flag(project, annotator) for _ in range(3))
    questions.answer_questions(project, [first.pk, second.pk], version=v1, answer="a", user=manager)
    questions.answer_questions(project, [third.pk], version=v2, answer="b", user=manager)
    _flag(project, annotator)  # still open: counts nowhere
    assert questions.answered_per_version(project) == {v1.pk: 2, v2.pk: 1}


def test_impact_page_counts_the_questions_each_version_answered(api, project, manager, annotator):
    version = publish(project, manager)
    flag = _flag(project, annotator)
    questions.answer_questions(project, [flag.pk], version=version, answer="a", user=manager)
    payload = api(manager).get(f"/api/projects/{project.pk}/guidelines/impact/").json()
    assert payload["versions"][0]["questions_answered"] == 1
    html = api(manager).get(f"/guidelines/projects/{project.pk}/impact/").content.decode()
    assert "<td>1</td>" in html


def test_project_page_shows_managers_the_open_question_count(api, project, manager, annotator, published):
    _flag(project, annotator)
    _flag(project, annotator)
    html = api(manager).get(f"/guidelines/projects/{project.pk}/").content.decode()
    assert "Guideline questions (2 open)" in html


def test_questions_page_names_the_missing_version(api, project, manager, annotator):
    flag = _flag(project, annotator)
    response = api(manager).post(
        f"/guidelines/projects/{project.pk}/questions/", {"flags": [flag.pk], "answer": "x"}, follow=True
    )
    assert "version: Choose the published version" in response.content.decode()
    flag.refresh_from_db()
    assert flag.answered_at is None
