"""Project schema from a Label Studio labeling config."""

import pytest

from labelhub.projects.label_config import LabelConfigError, display_fields_of, parse_label_config
from labelhub.projects.services import create_project_from_label_config
from tests import factories

SENTIMENT = """
<View>
  <Header value="How does the reviewer feel?"/>
  <Text name="review" value="$review"/>
  <Choices name="sentiment" toName="review" choice="single">
    <Choice value="positive" hotkey="p" background="#00AA00"/>
    <Choice value="negative" hint="Any complaint counts"/>
    <Choice value="neutral"/>
  </Choices>
</View>
"""

ANIMALS = """
<View>
  <Image name="photo" value="$image"/>
  <Choices name="animals" toName="photo" choice="multiple">
    <Choice value="cat"/><Choice value="dog"/>
  </Choices>
</View>
"""


def test_text_config_gives_single_label_text_schema():
    schema = parse_label_config(SENTIMENT)
    assert schema.modality == "text"
    assert schema.multi_label is False
    assert schema.data_key == "review"
    assert [c.name for c in schema.classes] == ["positive", "negative", "neutral"]


def test_hotkey_background_and_hint_become_key_colour_and_description():
    positive, negative, _ = parse_label_config(SENTIMENT).classes
    assert (positive.key, positive.colour) == ("p", "#00aa00")
    assert negative.description == "Any complaint counts"


def test_image_config_with_multiple_choice_is_multi_label():
    schema = parse_label_config(ANIMALS)
    assert (schema.modality, schema.multi_label, schema.data_key) == ("image", True, "image")


@pytest.mark.parametrize(
    ("xml", "tag"),
    [
        (
            ANIMALS.replace(
                "</View>",
                '<RectangleLabels name="box" toName="photo"><Label value="x"/></RectangleLabels></View>',
            ),
            "RectangleLabels",
        ),
        (
            '<View><Audio name="a" value="$audio"/><Choices name="c" toName="a"><Choice value="x"/></Choices></View>',
            "Audio",
        ),
        ('<View><Text name="t" value="$text"/><TextArea name="n" toName="t"/></View>', "TextArea"),
    ],
)
def test_unsupported_tag_error_names_the_tag(xml, tag):
    with pytest.raises(LabelConfigError, match=f"<{tag}>"):
        parse_label_config(xml)


def test_config_without_choices_is_rejected():
    with pytest.raises(LabelConfigError, match="no <Choices>"):
        parse_label_config('<View><Text name="t" value="$text"/></View>')


def test_malformed_xml_is_rejected():
    with pytest.raises(LabelConfigError, match="well-formed"):
        parse_label_config("<View><Text name='t'")


@pytest.mark.django_db
def test_create_project_from_label_config_stores_classes_with_free_digit_keys():
    user = factories.make_user()
    project = create_project_from_label_config("Reviews", SENTIMENT, user)
    classes = list(project.classes.order_by("order").values_list("name", "key"))
    assert classes == [("positive", "p"), ("negative", "1"), ("neutral", "2")]
    assert project.label_config == SENTIMENT
    assert project.memberships.get(user=user).role == "manager"


def _config(body: str, choices: str = '<Choice value="a"/><Choice value="b"/>') -> str:
    return f'<View>{body}<Choices name="c" toName="t">{choices}</Choices></View>'


@pytest.mark.parametrize(
    ("xml", "named"),
    [
        (
            _config('<Image name="t" value="$image"/><Image name="u" value="$other"/>'),
            "<Image name='u'>: the labeling page shows one image",
        ),
        (
            _config('<Image name="i" value="$image"/><Text name="t" value="$text"/>'),
            "<Image name='i'>: <Choices toName='t'> labels a text",
        ),
        (
            _config('<Header value="Title: $title"/><Text name="t" value="$text"/>'),
            "<Header value='Title: $title'>",
        ),
        (
            _config('<Text name="t" value="$text"/><Text name="u" value="fixed words"/>'),
            "<Text name='u'> needs",
        ),
        (
            '<View><Text name="t" value="$text"/><Text name="u" value="$other"/>'
            '<Choices name="c" toName="t,u"><Choice value="a"/></Choices></View>',
            "toName='t,u'",
        ),
        (_config('<Text name="t" value="$text" valueType="url"/>'), 'valueType="url"'),
        (
            _config(
                '<Text name="t" value="$text"/>', '<Choice value="animal"><Choice value="cat"/></Choice>'
            ),
            "<Choice value='animal'> contains <Choice value='cat'>",
        ),
    ],
    ids=[
        "second-image",
        "image-beside-labelled-text",
        "mixed-header",
        "fixed-text",
        "two-targets",
        "url-text",
        "nested-choice",
    ],
)
def test_what_the_labeling_page_cannot_show_is_refused_naming_the_tag(xml, named):
    with pytest.raises(LabelConfigError) as refused:
        parse_label_config(xml)
    assert named in refused.value.message


@pytest.mark.parametrize("key", ["s", "F", "z", "g", "?"])
def test_a_hotkey_that_is_one_of_the_pages_keys_is_refused_naming_it(key):
    xml = _config('<Text name="t" value="$text"/>', f'<Choice value="a" hotkey="{key}"/><Choice value="b"/>')
    with pytest.raises(LabelConfigError) as refused:
        parse_label_config(xml)
    assert f"hotkey {key!r}" in refused.value.message and "labeling page's" in refused.value.message


def test_a_fixed_header_and_plain_text_value_type_are_fine():
    xml = _config('<Header value="Read it"/><Text name="t" value="$text" valueType="text"/>')
    assert parse_label_config(xml).data_key == "text"


def test_page_keys_are_the_ones_the_labeling_page_binds():
    from pathlib import Path

    from labelhub.projects.hotkeys import PAGE_KEYS

    script = (Path(__file__).parents[2] / "annotators/labeling/static/labeling/keys.js").read_text()
    commands = script[script.index("const commands = {") : script.index("};", script.index("const commands"))]
    bound = {line.strip().split(":")[0] for line in commands.splitlines()[1:] if ":" in line}
    assert bound | {"?"} == set(PAGE_KEYS)
    assert 'ev.key === "?"' in script


@pytest.mark.django_db
def test_a_class_key_that_is_a_page_key_is_refused_by_the_api(client):
    from rest_framework.test import APIClient

    manager = factories.make_user("lead", is_staff=True)
    api = APIClient()
    api.force_authenticate(manager)
    body = {"name": "P", "modality": "text", "classes": [{"name": "spam", "key": "s"}, {"name": "ham"}]}
    response = api.post("/api/projects/", body, format="json")
    assert response.status_code == 400
    assert "Skip" in response.json()["detail"]


TITLED = _config(
    '<Header value="$title"/><Text name="summary" value="$summary"/><Header value="Full text"/>'
    '<Text name="t" value="$body"/>'
)


def test_several_texts_and_data_bound_headers_become_display_fields_in_config_order():
    schema = parse_label_config(TITLED)
    assert (schema.modality, schema.data_key, schema.object_name) == ("text", "body", "t")
    assert [
        (f.kind, f.name, f.source_key, f.payload_key, f.labelled, f.value) for f in schema.display_fields
    ] == [
        ("header", "", "title", "title", False, ""),
        ("text", "summary", "summary", "summary", False, ""),
        ("header", "", "", "", False, "Full text"),
        ("text", "t", "body", "text", True, ""),
    ]


@pytest.mark.parametrize(
    ("objects", "modality", "shown"),
    [
        (
            '<Text name="t" value="$first"/><Text name="b" value="$second"/>',
            "text",
            [("text", "t", "text", True), ("text", "b", "second", False)],
        ),
        (
            '<Image name="t" value="$image"/><Text name="cap" value="$caption"/>',
            "image",
            [("image", "t", "image", True), ("text", "cap", "caption", False)],
        ),
    ],
    ids=["any-of-the-texts", "image-with-caption"],
)
def test_choices_label_the_object_they_name_and_the_others_are_shown(objects, modality, shown):
    schema = parse_label_config(_config(objects))
    assert schema.modality == modality
    assert [(f.kind, f.name, f.payload_key, f.labelled) for f in schema.display_fields] == shown


def test_a_shown_task_text_displaced_by_the_labelled_field_is_kept_as_unread_text():
    schema = parse_label_config(_config('<Header value="$text"/><Text name="t" value="$title"/>'))
    assert [(f.source_key, f.payload_key) for f in schema.display_fields] == [
        ("text", "unread_text"),
        ("title", "text"),
    ]
    assert [f.source_key for f in schema.bound_fields] == ["title", "text"]


def test_display_fields_of_a_config_without_a_usable_target_are_none():
    assert display_fields_of("") == [] and display_fields_of("<View") == []
    assert display_fields_of('<View><Text name="t" value="$text"/></View>') == []
