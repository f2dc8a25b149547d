"""The class picker of the labeling page: classes grouped by their name's prefix, and a shortcut for
every class (its own one-key hotkey, else a two-key chord).

A project's classes keep the one-key hotkeys they were given (``1``-``0`` by default). Every class
without one gets a chord: a *leader* key and a second key. Classes of one group (``noun.animal``,
``noun.act`` -> group ``noun``) share a leader (``n``) and the second key is taken from the rest of
the name where it is free (``n a`` for ``noun.act``, ``n n`` for ``noun.animal``), so the chords can
be learnt. A leader is never a one-key hotkey nor one of the page's command keys, so a pressed key
is always either a command, a class, or the start of a chord: no timing decides what it meant.
"""

from __future__ import annotations

import string
from collections.abc import Iterable
from dataclasses import dataclass, field

#: Keys the labeling page uses for commands (skip, flag, undo, guidelines); never a chord leader.
COMMAND_KEYS = frozenset("sfzg")
#: Keys a chord is made of.
CHORD_KEYS = string.ascii_lowercase + string.digits


@dataclass
class PickerClass:
    name: str
    key: str = ""
    colour: str = "#4c78a8"
    description: str = ""
    definition: str = ""
    order: int = 0
    group: str = ""
    short: str = ""
    chord: str = ""

    @property
    def shortcut(self) -> str:
        """What the button shows: the one-key hotkey, else the chord."""
        return self.key or self.chord

    def as_config(self) -> dict:
        return {
            "name": self.name,
            "key": self.key,
            "chord": self.chord,
            "group": self.group,
            "short": self.short,
            "colour": self.colour,
            "description": self.description,
            "definition": self.definition,
        }


@dataclass
class PickerGroup:
    name: str
    leader: str = ""
    classes: list[PickerClass] = field(default_factory=list)


def split_group(name: str) -> tuple[str, str]:
    """``"noun.animal"`` -> ``("noun", "animal")``; a name without a prefix is its own short name."""
    prefix, dot, rest = name.partition(".")
    if dot and prefix and rest:
        return prefix, rest
    return "", name


def _letters(text: str) -> list[str]:
    return [c for c in text.lower() if c in CHORD_KEYS]


def assign_chords(classes: list[PickerClass]) -> dict[str, str]:
    """Gives every class without a hotkey a unique two-key chord (in place); returns each group's leader."""
    reserved = COMMAND_KEYS | {c.key.lower() for c in classes if c.key}
    leaders = [k for k in CHORD_KEYS if k not in reserved]
    group_leader: dict[str, str] = {}
    for cls in classes:
        if cls.key or not cls.group or cls.group in group_leader:
            continue
        taken = set(group_leader.values())
        preferred = [k for k in _letters(cls.group) if k in leaders and k not in taken]
        spare = [k for k in leaders if k not in taken]
        if preferred or spare:
            group_leader[cls.group] = (preferred or spare)[0]
    used: set[str] = set()
    for cls in classes:
        if cls.key:
            continue
        if cls.group in group_leader:
            firsts = [group_leader[cls.group]] + [k for k in leaders if k != group_leader[cls.group]]
        else:
            firsts = list(dict.fromkeys([k for k in _letters(cls.short) if k in leaders] + leaders))
        seconds = list(dict.fromkeys(_letters(cls.short) + list(CHORD_KEYS)))
        cls.chord = next((a + b for a in firsts for b in seconds if a + b not in used), "")
        used.add(cls.chord)
    return group_leader


def build_picker(classes: Iterable[PickerClass]) -> list[PickerGroup]:
    """The classes in groups (in the order each group first appears in the schema), chords assigned.

    A schema with a single group, or none, is one unnamed group: grouping a flat list helps nobody.
    """
    classes = sorted(classes, key=lambda c: c.order)
    for cls in classes:
        cls.group, cls.short = split_group(cls.name)
    names = {c.group for c in classes}
    if len(names) < 2:
        for cls in classes:
            cls.group, cls.short = "", cls.name
    leaders = assign_chords(classes)
    groups: dict[str, PickerGroup] = {}
    for cls in classes:
        groups.setdefault(cls.group, PickerGroup(cls.group, leaders.get(cls.group, ""))).classes.append(cls)
    return list(groups.values())
