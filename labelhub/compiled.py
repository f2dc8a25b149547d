"""A queryset compiled to SQL once and run again with new values: for the hottest reads.

Django compiles a queryset to SQL each time it is evaluated. For a read with several annotated
subqueries or joins that costs more than running it: the serve gate of "next" (the project, the
caller's QA pause, their guideline acknowledgement and the queue's exhausted mark) took 2.5 ms of
CPU to compile and 0.5 ms to run on PostgreSQL, on every call; the submit's locked read of its
lease (with its entry, item and project, the current guideline, the gold mark and the pause) 5 ms.

:class:`CompiledQuery` builds the queryset once per *shape* (whatever changes the SQL itself, such
as whether the caller is staff) with sentinel values in place of the values that change from call
to call, compiles it, and keeps the SQL, its parameter list and the compiler's map of the columns.
Each call puts the real values where the sentinels were, runs the SQL and builds the rows into
model instances exactly as Django's ``ModelIterable`` does (``select_related`` objects,
annotations, every column through the backend's converters: SQLite hands datetimes and booleans
back as text and integers). The queryset stays the one definition of the read; only its
compilation is cached. The row building follows Django 5.2's ``ModelIterable`` (pinned).

Only values passed by name may change between calls: anything else the builder reads (the clock,
a setting) is frozen into the SQL at the first call of its shape.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from dataclasses import dataclass

from django.db import connections
from django.db.models import Model, QuerySet
from django.db.models.query import get_related_populators

#: Sentinels are far outside any primary key and unlike any real text, so they cannot collide.
_INT_SENTINEL = -(2**62)


def _sentinel(kind: type, position: int):
    if kind is int:
        return _INT_SENTINEL + position
    if kind is str:
        return f"\x1fcompiled-query-value-{position}\x1f"
    raise TypeError(f"CompiledQuery values are int or str, not {kind.__name__}")


@dataclass(frozen=True)
class _Compiled:
    sql: str
    params: tuple
    slots: tuple[tuple[int, str], ...]
    compiler: object
    model: type[Model]
    fields: slice
    init_list: list[str]
    populators: list
    annotations: dict[str, int]


class CompiledQuery:
    """``build(shape, **values)`` returns the queryset; :meth:`first` runs it for real values.

    ``kinds`` names each value and its type (``int`` or ``str``): the builder receives a distinct
    sentinel for each and must pass it on as a query parameter (``filter(pk=value)``, an unsaved
    ``User(pk=value)`` as a filter value); one that never reaches the SQL is refused.
    """

    def __init__(self, build: Callable[..., QuerySet], **kinds: type):
        self._build = build
        self._kinds = kinds
        self._compiled: dict[tuple, _Compiled] = {}
        self._lock = threading.Lock()

    def _compile(self, using: str, shape: Hashable) -> _Compiled:
        sentinels = {name: _sentinel(kind, i) for i, (name, kind) in enumerate(self._kinds.items())}
        queryset = self._build(shape, **sentinels).using(using)
        compiler = queryset.query.get_compiler(using=using)
        sql, params = compiler.as_sql()  # also fills compiler.select, klass_info, annotation_col_map
        by_value = {(type(value), value): name for name, value in sentinels.items()}
        slots = tuple(
            (position, by_value[(type(param), param)])
            for position, param in enumerate(params)
            if (type(param), param) in by_value
        )
        unused = set(self._kinds) - {name for _, name in slots}
        if unused:
            raise ValueError(f"CompiledQuery: {sorted(unused)} never reached the SQL as a parameter")
        klass_info, select = compiler.klass_info, compiler.select
        first, last = klass_info["select_fields"][0], klass_info["select_fields"][-1] + 1
        return _Compiled(
            sql=sql,
            params=tuple(params),
            slots=slots,
            compiler=compiler,
            model=klass_info["model"],
            fields=slice(first, last),
            init_list=[column[0].target.attname for column in select[first:last]],
            populators=get_related_populators(klass_info, select, using),
            annotations=dict(compiler.annotation_col_map or {}),
        )

    def first(self, shape: Hashable, *, using: str = "default", **values) -> Model | None:
        """The first row for these values (related objects and annotations on it), or None.

        An integer beyond a 64-bit column (a huge id in a URL) matches nothing, as in the ORM,
        instead of reaching the database (which refuses it on SQLite).
        """
        if any(type(v) is int and not -(2**63) <= v < 2**63 for v in values.values()):
            return None
        key = (using, connections[using].vendor, shape)
        compiled = self._compiled.get(key)
        if compiled is None:
            with self._lock:
                compiled = self._compiled.get(key) or self._compile(using, shape)
                self._compiled[key] = compiled
        params = list(compiled.params)
        for position, name in compiled.slots:
            params[position] = values[name]
        with connections[using].cursor() as cursor:
            cursor.execute(compiled.sql, params)
            row = cursor.fetchone()
        if row is None:
            return None
        row = next(iter(compiled.compiler.results_iter(results=[[row]])))
        obj = compiled.model.from_db(using, compiled.init_list, row[compiled.fields])
        for populator in compiled.populators:
            populator.populate(row, obj)
        for name, position in compiled.annotations.items():
            setattr(obj, name, row[position])
        return obj
