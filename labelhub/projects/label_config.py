"""Read a project's label schema out of a Label Studio labeling config (XML).

Teams arrive with configs written for Label Studio; accepting them as-is saves retyping the
classes. We support the classification subset labelhub serves (one ``Choices`` over a ``Text`` or
an ``Image``, shown with any further ``Text`` fields and headers) and reject everything else by tag
name, so nobody silently loses a span or box tool.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any
from xml.etree import ElementTree  # noqa: S405 - the config comes from a staff user, not the web

from labelhub.errors import DomainError
from labelhub.projects.hotkeys import clash_message, page_key_clash

# Layout-only tags that carry no data or labels: safe to ignore (``Header`` is shown, see
# :func:`display_fields_of`, but labels nothing).
LAYOUT_TAGS = frozenset({"View", "Header", "Style", "Filter", "Collapse", "Panel"})
OBJECT_MODALITY = {"Text": "text", "HyperText": "text", "Image": "image"}
CONTROL_TAGS = frozenset({"Choices"})
DEFAULT_COLOURS = (
    "#4c78a8",
    "#f58518",
    "#54a24b",
    "#e45756",
    "#72b7b2",
    "#eeca3b",
    "#b279a2",
    "#ff9da6",
    "#9d755d",
    "#bab0ac",
)


class LabelConfigError(DomainError):
    """A config labelhub cannot serve; the message names the offending tag or attribute."""

    default_code = "invalid_label_config"

    def __init__(self, message: str, **kwargs: Any):
        kwargs.setdefault("field", "label_config")
        super().__init__(message, **kwargs)


@dataclass
class ClassSpec:
    name: str
    key: str = ""
    colour: str = DEFAULT_COLOURS[0]
    description: str = ""


@dataclass(frozen=True)
class DisplayField:
    """One thing the labeling page shows for an item, in config order.

    ``source_key`` is the task ``data`` field the tag reads (``$title`` → ``title``; empty for a
    header with fixed text, whose text is ``value``); ``payload_key`` is where the item's payload
    keeps it (see :func:`payload_key_of`). ``labelled`` marks the object ``<Choices toName>`` names.
    """

    kind: str  # "text", "header" or "image"
    name: str  # the tag's name (a result's to_name); empty for a header
    source_key: str = ""
    payload_key: str = ""
    labelled: bool = False
    value: str = ""  # a fixed header's text

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class LabelSchema:
    """What a project needs from a config: modality, single/multi label, the classes, the data key."""

    modality: str
    multi_label: bool
    data_key: str  # the task ``data`` field the object tag reads, e.g. "text" for value="$text"
    classes: list[ClassSpec] = field(default_factory=list)
    choices_name: str = ""  # the <Choices name=…>: a result's from_name, JSON_MIN's and CSV's column
    object_name: str = ""  # the object tag's name: a result's to_name
    # Everything the labeling page shows, in config order: the labelled object, other texts, headers.
    display_fields: list[DisplayField] = field(default_factory=list)

    @property
    def bound_fields(self) -> list[DisplayField]:
        """The display fields read from the task's data (each once), the labelled one first."""
        seen: set[str] = set()
        bound = []
        for shown in sorted(self.display_fields, key=lambda f: not f.labelled):
            if shown.source_key and shown.source_key not in seen:
                seen.add(shown.source_key)
                bound.append(shown)
        return bound


def _visual_tags(xml: str) -> set[str]:
    """Every tag name in the config, to catch tags LabelInterface does not classify."""
    try:
        root = ElementTree.fromstring(xml)  # noqa: S314
    except ElementTree.ParseError as exc:
        raise LabelConfigError(f"label config is not well-formed XML: {exc}") from exc
    return {element.tag for element in root.iter()}


def _field_of(value: str | None) -> str | None:
    """``"$title"`` → ``"title"``; ``None`` for anything else (fixed text, ``"Title: $title"``)."""
    value = (value or "").strip()
    if len(value) > 1 and value.startswith("$") and value[1:].isidentifier():
        return value[1:]
    return None


def payload_key_of(source_key: str, labelled_key: str, content_key: str) -> str:
    """Where an item's payload keeps the task field ``source_key``: the labelled field is the
    content (``text`` / ``image``, what the hash, the encoder and every export read); a task's own
    ``text`` that another field displaced is kept as ``unread_text``; any other field keeps its name.
    The one rule both the importer and the Label Studio export (which inverts it) follow."""
    if source_key == labelled_key:
        return content_key
    if source_key == content_key:
        return f"unread_{content_key}"
    return source_key


def _refuse_what_the_page_cannot_show(xml: str) -> None:
    """Refuse, naming the tag, what LabelInterface accepts but the labeling page would drop: a
    second image, a text or header reading anything but one whole ``$field``, text loaded from a
    URL, nested choices."""
    root = ElementTree.fromstring(xml)  # noqa: S314 - well-formed: _visual_tags parsed it
    objects = [e for e in root.iter() if e.tag in OBJECT_MODALITY]
    images = [e for e in objects if e.tag == "Image"]
    if len(images) > 1:
        names = ", ".join(f"<Image name={e.get('name')!r}>" for e in images)
        raise LabelConfigError(
            f"<Image name={images[1].get('name')!r}>: the labeling page shows one image per item and "
            f"this config has {len(images)} ({names}); keep one"
        )
    for element in root.iter("Header"):
        value = (element.get("value") or "").strip()
        if "$" in value and _field_of(value) is None:
            raise LabelConfigError(
                f"<Header value={value!r}>: a header shows fixed text or one whole task field "
                '(value="$title"), not text mixed with fields'
            )
    for element in objects:
        if _field_of(element.get("value")) is None:
            raise LabelConfigError(
                f'<{element.tag} name={element.get("name")!r}> needs value="$field", '
                f"got {element.get('value')!r}"
            )
        value_type = (element.get("valueType") or "").strip().lower()
        if value_type and value_type != "text":
            raise LabelConfigError(
                f'<{element.tag} name={element.get("name")!r} valueType="{element.get("valueType")}">: '
                "labelhub stores the text itself, it does not fetch it from a URL; import the text"
            )
    for element in root.iter("Choice"):
        child = element.find("Choice")
        if child is not None:
            raise LabelConfigError(
                f"<Choice value={element.get('value')!r}> contains <Choice value={child.get('value')!r}>: "
                "nested choices (a taxonomy) are not supported; use flat <Choice> values, e.g. "
                f"{(element.get('value') or '') + '/' + (child.get('value') or '')!r}"
            )


def display_fields_of(xml: str) -> list[DisplayField]:
    """What the labeling page shows for a stored config, in document order (``[]`` without a
    usable config: the page then shows the item's ``text`` or ``image`` alone).

    Plain ``ElementTree``, no label-studio-sdk: the labeling page and the exports call this on
    every request; :func:`parse_label_config` validated the config when the project was made.
    """
    if not xml or not xml.strip():
        return []
    try:
        root = ElementTree.fromstring(xml)  # noqa: S314 - a stored config, written by staff
    except ElementTree.ParseError:
        return []
    choices = root.find(".//Choices")
    labelled_name = (choices.get("toName") or "").strip() if choices is not None else ""
    target = next(
        (e for e in root.iter() if e.tag in OBJECT_MODALITY and e.get("name") == labelled_name), None
    )
    if target is None or _field_of(target.get("value")) is None:
        return []
    labelled_key = _field_of(target.get("value")) or ""
    content_key = OBJECT_MODALITY[target.tag]
    fields = []
    for element in root.iter():
        if element.tag == "Header":
            value = (element.get("value") or "").strip()
            source = _field_of(value)
            if source is None:
                fields.append(DisplayField(kind="header", name="", value=value))
                continue
            key = payload_key_of(source, labelled_key, content_key)
            fields.append(DisplayField(kind="header", name="", source_key=source, payload_key=key))
        elif element.tag in OBJECT_MODALITY:
            source = _field_of(element.get("value"))
            if source is None:
                continue
            fields.append(
                DisplayField(
                    kind=OBJECT_MODALITY[element.tag],
                    name=element.get("name") or "",
                    source_key=source,
                    payload_key=payload_key_of(source, labelled_key, content_key),
                    labelled=element is target,
                )
            )
    return fields


def parse_label_config(xml: str) -> LabelSchema:
    """Parse ``xml`` with label-studio-sdk's LabelInterface into a :class:`LabelSchema`.

    Raises :class:`LabelConfigError` naming the first unsupported tag, a missing ``Choices``,
    or a ``toName`` that points nowhere.
    """
    # heavy: label_studio_sdk pulls in pydantic models and more; only config parsing needs it
    from label_studio_sdk.label_interface import LabelInterface

    if not xml or not xml.strip():
        raise LabelConfigError("label config is empty")
    all_tags = _visual_tags(xml)
    _refuse_what_the_page_cannot_show(xml)
    try:
        interface = LabelInterface(xml)
    except Exception as exc:  # the SDK raises several private exception types for bad XML
        raise LabelConfigError(f"label config could not be parsed: {exc}") from exc

    controls = list(interface.controls)
    objects = list(interface.objects)
    known = LAYOUT_TAGS | CONTROL_TAGS | set(OBJECT_MODALITY) | {"Choice"}
    for control in controls:
        if control.tag not in CONTROL_TAGS:
            raise LabelConfigError(
                f"unsupported tag <{control.tag}> (name={control.name!r}): labelhub supports "
                "classification with <Choices> only"
            )
    for obj in objects:
        if obj.tag not in OBJECT_MODALITY:
            raise LabelConfigError(
                f"unsupported tag <{obj.tag}> (name={obj.name!r}): labelhub labels <Text>, "
                "<HyperText> or <Image>"
            )
    unknown = sorted(all_tags - known)
    if unknown:
        raise LabelConfigError(f"unsupported tag <{unknown[0]}> in label config")
    if not controls:
        raise LabelConfigError("label config has no <Choices> tag: there are no classes to label with")
    if len(controls) > 1:
        raise LabelConfigError(
            f"label config has {len(controls)} <Choices> tags; labelhub supports one per project"
        )
    choices = controls[0]
    if len(choices.to_name) > 1:
        raise LabelConfigError(
            f"<Choices name={choices.name!r}> has toName={','.join(choices.to_name)!r}: labelhub labels "
            "one object per item; name one <Text> or <Image> (the others are still shown)"
        )
    targets = [obj for obj in objects if obj.name in choices.to_name]
    if not targets:
        raise LabelConfigError(
            f"<Choices name={choices.name!r}> has toName={','.join(choices.to_name)!r}, "
            "which names no <Text> or <Image> tag"
        )
    target = targets[0]
    images = [obj for obj in objects if obj.tag == "Image"]
    if images and target.tag != "Image":
        raise LabelConfigError(
            f"<Image name={images[0].name!r}>: <Choices toName={target.name!r}> labels a text, and the "
            "labeling page shows an image only as the labelled object; label the image or drop it"
        )
    value = (target.value or "").strip()
    if not choices.labels:
        raise LabelConfigError(f"<Choices name={choices.name!r}> has no <Choice> values")

    classes = []
    for index, name in enumerate(choices.labels):
        attrs = choices.labels_attrs[name].attr
        hotkey = (attrs.get("hotkey") or "").strip()
        if len(hotkey) > 1:
            raise LabelConfigError(f"<Choice value={name!r}>: hotkey {hotkey!r} must be a single key")
        if page_key_clash(hotkey):
            raise LabelConfigError(f"<Choice value={name!r}>: hotkey {hotkey!r}: {clash_message(hotkey)}")
        classes.append(
            ClassSpec(
                name=name,
                key=hotkey,
                colour=_colour(attrs.get("background"), index),
                description=(attrs.get("hint") or attrs.get("alias") or "").strip(),
            )
        )
    return LabelSchema(
        modality=OBJECT_MODALITY[target.tag],
        multi_label=(choices.attr.get("choice") or "single").lower() == "multiple",
        data_key=value[1:],
        classes=classes,
        choices_name=choices.name,
        object_name=target.name,
        display_fields=display_fields_of(xml),
    )


def _colour(background: str | None, index: int) -> str:
    """Label Studio accepts CSS colours; our field holds ``#rrggbb``, so keep only those."""
    value = (background or "").strip()
    if len(value) == 7 and value.startswith("#"):
        try:
            int(value[1:], 16)
            return value.lower()
        except ValueError:
            pass
    return DEFAULT_COLOURS[index % len(DEFAULT_COLOURS)]


def data_key_of(label_config: str) -> str | None:
    """The task data field a stored config reads (``None`` without a usable config)."""
    schema = schema_of(label_config)
    return schema.data_key if schema is not None else None


def schema_of(label_config: str) -> LabelSchema | None:
    """A stored config's schema (``None`` without a usable config)."""
    if not label_config:
        return None
    try:
        return parse_label_config(label_config)
    except LabelConfigError:
        return None
