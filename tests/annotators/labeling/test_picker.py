"""The class picker's groups and chords (annotators/labeling/picker.py)."""

from annotators.labeling.picker import COMMAND_KEYS, PickerClass, build_picker, split_group
from labelhub.projects.datasets import LEXNAMES


def lexnames(keys: int = 10):
    return [
        PickerClass(name=n, key=str((i + 1) % 10) if i < keys else "", order=i)
        for i, n in enumerate(LEXNAMES)
    ]


def test_split_group_needs_a_prefix_and_a_rest():
    assert split_group("noun.animal") == ("noun", "animal")
    assert split_group("cat") == ("", "cat")
    assert split_group(".hidden") == ("", ".hidden")
    assert split_group("v1.") == ("", "v1.")


def test_every_one_of_45_classes_gets_a_unique_shortcut_and_groups_keep_schema_order():
    groups = build_picker(lexnames())
    assert [g.name for g in groups] == ["adj", "adv", "noun", "verb"]
    assert [c.name for c in groups[0].classes] == ["adj.all", "adj.pert", "adj.ppl"]
    classes = [c for g in groups for c in g.classes]
    shortcuts = [c.shortcut for c in classes]
    assert len(classes) == 45 and all(shortcuts) and len(set(shortcuts)) == 45
    keys = {c.key for c in classes if c.key}
    for c in classes:
        if c.chord:
            assert len(c.chord) == 2 and c.chord[0] not in keys | COMMAND_KEYS
    # A group's chords share its leader, and the second key comes from the name where it can.
    noun = next(g for g in groups if g.name == "noun")
    assert noun.leader == "n"
    assert all(c.chord.startswith("n") for c in noun.classes if c.chord)
    chord = {c.name: c.chord for c in noun.classes}
    assert chord["noun.feeling"] == "nf" and chord["noun.food"] == "no"  # "f" was taken: the next letter


def test_a_flat_schema_is_one_group_and_a_full_group_spills_to_another_leader():
    flat = build_picker([PickerClass(name=f"class{i:02d}", order=i) for i in range(50)])
    assert len(flat) == 1 and flat[0].name == ""
    chords = [c.chord for c in flat[0].classes]
    assert len(set(chords)) == 50 and all(len(ch) == 2 for ch in chords)
    big = build_picker(
        [PickerClass(name=f"g.c{i}", order=i) for i in range(40)] + [PickerClass(name="h.x", order=99)]
    )
    chords = [c.chord for g in big for c in g.classes]
    assert len(set(chords)) == 41  # 36 second keys under "g", the rest under another leader
