"""A queryset compiled to SQL once and run again with new values: for the hottest reads.

Django compiles a queryset to SQL each time it is evaluated. For a read with several annotated
subqueries that costs more than running it: the serve gate of "next" (the project, the caller's
QA pause, their guideline acknowledgement and the queue's exhausted mark) took 2.5 ms of CPU to
compile and 0.5 ms to run on PostgreSQL, on every call, also on the 204 a finished project
answers to members polling it.

:class:`CompiledQuery` builds the queryset once per *shape* (whatever changes the SQL itself, such
as whether the caller is staff) with sentinel numbers in place of the values that change from call
to call, keeps the SQL and its parameter list, and on each call puts the real values where the
sentinels were and runs it raw. Model fields come back converted by ``raw()``; annotations are
converted here as the ORM's compiler would (SQLite hands datetimes and booleans back as text and
integers). The queryset stays the one definition of the read; only its compilation is cached.

Only values passed by name may change between calls: anything else the builder reads (the clock,
a setting) is frozen into the SQL at the first call of its shape.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable

from django.db import connections
from django.db.models import Model, QuerySet

#: Sentinels are far outside any primary key or setting, so they cannot collide with a real value.
_SENTINEL_BASE = -(2**62)


class CompiledQuery:
    """``build(shape, **values)`` returns the queryset; :meth:`first` runs it for real values.

    ``values`` are integers (primary keys): the builder receives a distinct sentinel for each and
    must use it as a query parameter (``filter(pk=value)``, ``User(pk=value)`` as a filter value).
    """

    def __init__(self, build: Callable[..., QuerySet], *names: str):
        self._build = build
        self._names = names
        self._compiled: dict[tuple, tuple] = {}
        self._lock = threading.Lock()

    def _compile(self, using: str, shape: Hashable) -> tuple:
        sentinels = {name: _SENTINEL_BASE + i for i, name in enumerate(self._names)}
        queryset = self._build(shape, **sentinels).using(using)
        sql, params = queryset.query.sql_with_params()
        by_value = {value: name for name, value in sentinels.items()}
        slots = [
            (position, by_value[param])
            for position, param in enumerate(params)
            if type(param) is int and param in by_value
        ]
        unused = set(self._names) - {name for _, name in slots}
        if unused:
            raise ValueError(f"CompiledQuery: {sorted(unused)} never reached the SQL as a parameter")
        connection = connections[using]
        annotations = [
            (
                alias,
                expression,
                connection.ops.get_db_converters(expression) + expression.get_db_converters(connection),
            )
            for alias, expression in queryset.query.annotation_select.items()
        ]
        return queryset.model, sql, list(params), slots, annotations

    def first(self, shape: Hashable, *, using: str = "default", **values: int) -> Model | None:
        """The first row for these values (with its annotations as attributes), or None."""
        key = (using, connections[using].vendor, shape)
        compiled = self._compiled.get(key)
        if compiled is None:
            with self._lock:
                compiled = self._compiled.get(key) or self._compile(using, shape)
                self._compiled[key] = compiled
        model, sql, template, slots, annotations = compiled
        params = list(template)
        for position, name in slots:
            params[position] = values[name]
        row = next(iter(model._default_manager.db_manager(using).raw(sql, params)), None)
        if row is None:
            return None
        connection = connections[using]
        for alias, expression, converters in annotations:
            value = getattr(row, alias)
            for converter in converters:
                value = converter(value, expression, connection)
            setattr(row, alias, value)
        return row
