"""Offline data sets used by the demo and by simulation."""

from labelhub.projects import datasets

SYNSET = (
    "02084071 05 n 03 dog 0 domestic_dog 0 Canis_familiaris 0 023 @ 02083346 n 0000 | a member of the "
    'genus Canis; "the dog barked all night"  \n'
)


def test_wordnet_line_gives_gloss_words_and_lexicographer_category():
    record = datasets.parse_wordnet_data_line(SYNSET, "noun")
    assert record.label == "noun.animal"
    assert record.external_id == "wn-noun-02084071"
    assert record.payload["words"] == ["dog", "domestic dog", "Canis familiaris"]
    assert record.payload["text"].startswith("a member of the genus Canis")
    assert "label" not in record.payload


def test_wordnet_licence_header_is_skipped():
    assert (
        datasets.parse_wordnet_data_line("  1 This software and database is being provided\n", "noun") is None
    )


def test_there_are_45_lexicographer_files():
    assert len(datasets.LEXNAMES) == 45
    assert datasets.LEXNAMES[38] == "verb.motion"


def test_digits_render_as_png_data_urls_with_labels_apart():
    records = list(datasets.load_digits_records(limit=3))
    assert [r.label for r in records] == ["0", "1", "2"]
    assert records[0].payload["image"].startswith("data:image/png;base64,")
    assert set(records[0].payload) == {"image", "dataset_index"}
