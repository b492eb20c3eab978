"""Hot statements straight to the SQLite driver: each Core statement is compiled by SQLAlchemy
once, then run on the ``sqlite3`` connection with its values converted by the statement's own
types.

Why: on SQLite, a cached Core statement still cost ~55–70 µs of CPU in SQLAlchemy's execution
machinery (connection events, execution context, cursor result, row objects), against ~4–10 µs
on the driver, and a lone relayed message runs ~11 of them. SQLAlchemy still writes every
statement (one definition for both databases) and still converts every value (the types' own
bind and result processors, so the stored text is byte for byte the same); only the objects it
builds around each execution are left out. PostgreSQL (network round trips, several processes)
keeps ``Connection.execute``.

Anything this path does not do goes to ``Connection.execute`` unchanged: a connection that is
not a synchronous ``sqlite3`` one inside a transaction (the async sessions' aiosqlite), an
engine with cursor-execute listeners (tracing, the tests' statement counts: they see every
statement as before), Python column defaults to fill in (``insert_prefetch``,
``update_prefetch``), literal-execute parameters, empty IN lists, statements whose compiled form
it cannot map back to their parameters.

Only statements built once (module constants, ``_prepared``) belong here: a compiled statement
is remembered by the statement object's identity, up to ``MAX_STATEMENTS``; beyond, statements
go to ``Connection.execute``.
"""

from __future__ import annotations

import logging
import sqlite3
from collections import namedtuple
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError, MultipleResultsFound, NoResultFound
from sqlalchemy.sql.compiler import SQLCompiler

log = logging.getLogger(__name__)

Params = Mapping[str, Any]
Processor = Callable[[Any], Any] | None


class Scalars(list[Any]):
    """The first column of each row (``DirectResult.scalars``), as ``ScalarResult`` reads."""

    def all(self) -> list[Any]:
        return list(self)


class DirectResult:
    """What callers read of an execution: its rows (named tuples, as ``Row`` reads by name,
    index and slice) and its row count."""

    __slots__ = ("_rows", "rowcount")

    def __init__(self, rows: list[Any], rowcount: int) -> None:
        self._rows = rows
        self.rowcount = rowcount

    def __iter__(self) -> Iterator[Any]:
        return iter(self._rows)

    def all(self) -> list[Any]:
        return self._rows

    def first(self) -> Any:
        return self._rows[0] if self._rows else None

    def one(self) -> Any:
        if len(self._rows) != 1:
            raise NoResultFound("no row") if not self._rows else MultipleResultsFound("rows")
        return self._rows[0]

    def scalar(self) -> Any:
        return self._rows[0][0] if self._rows else None

    def scalars(self) -> Scalars:
        return Scalars(row[0] for row in self._rows)


@dataclass(frozen=True, slots=True)
class _Slot:
    """One ``?`` of the SQL: the caller's parameter ``name`` (element ``index`` of an IN list,
    -1 for a single value) through ``process``; or, when ``name`` is None, the statement's own
    value, already converted (``constant``)."""

    name: str | None
    index: int
    process: Processor
    constant: Any = None


@dataclass(frozen=True, slots=True)
class _Compiled:
    """A statement compiled for one set of parameter names (None: it goes to
    ``Connection.execute``): its IN lists (by name), and its plans by their lengths."""

    statement: Any  # kept alive: the cache is keyed by its id
    compiled: SQLCompiler | None
    lists: tuple[str, ...] = ()
    plans: dict[tuple[int, ...], _Plan | None] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class _Plan:
    sql: str
    slots: tuple[_Slot, ...]
    returns_rows: bool
    #: The rows' columns converted by their types (None: as the driver gives them).
    results: tuple[Processor, ...] | None


#: Statements (by parameter names) remembered at most: the store's constants are ~100.
MAX_STATEMENTS = 512
#: (statement's id, the caller's parameter names) → compiled (each entry keeps its statement
#: alive, so the id is not reused while it is remembered). Shared by every SQLite engine of the
#: process: the store makes them all alike (``make_sync_engine``: no engine's own JSON
#: serializer or type options), so one compiled form and its processors serve each.
_CACHE: dict[tuple[int, tuple[str, ...]], _Compiled] = {}
_full_reported = False
#: Row classes by column names, shared by every statement reading the same names.
_ROWS: dict[tuple[str, ...], type] = {}


def execute(
    connection: Connection, statement: Any, params: Params | Sequence[Params] | None = None
) -> Any:
    """``connection.execute(statement, params)``, through the SQLite driver when it can (see
    the module's docstring); the result is read the same way either way (``all``, ``first``,
    ``one``, ``scalar``, ``scalars``, iteration, ``rowcount``)."""
    if (
        connection.dialect.name != "sqlite"
        or not connection.in_transaction()
        or connection.dispatch.before_cursor_execute
        or connection.dispatch.after_cursor_execute
    ):
        return connection.execute(statement, params)
    driver = connection.connection.driver_connection
    sets: Sequence[Params] = (
        params if isinstance(params, Sequence) else [params or {}]  # type: ignore[list-item]
    )
    if type(driver) is not sqlite3.Connection or not sets:
        return connection.execute(statement, params)
    names = tuple(sets[0])
    key = (id(statement), names)
    try:
        entry = _CACHE[key]
    except KeyError:
        if len(_CACHE) >= MAX_STATEMENTS:
            if not _full_reported:
                _report_full()
            return connection.execute(statement, params)
        entry = _CACHE[key] = _compile(connection, statement, sets[0])
    if entry.compiled is None or any(tuple(one) != names for one in sets[1:]):
        return connection.execute(statement, params)
    plans = [_plan(connection, entry, one) for one in sets]
    if None in plans:
        return connection.execute(statement, params)
    plan = plans[0]
    try:
        if len(sets) > 1 and not plan.returns_rows and all(p is plan for p in plans):
            cursor = driver.executemany(plan.sql, [_values(plan, one) for one in sets])
            return DirectResult([], cursor.rowcount)
        if len(sets) == 1:
            cursor = driver.execute(plan.sql, _values(plan, sets[0]))
            return DirectResult(_rows(plan, cursor), cursor.rowcount)
        rows: list[Any] = []
        count = 0
        for one, each in zip(sets, plans, strict=True):  # RETURNING: no batch form on sqlite3
            cursor = driver.execute(each.sql, _values(each, one))
            rows.extend(_rows(each, cursor))
            count += cursor.rowcount
        return DirectResult(rows, count)
    except sqlite3.Error as exc:
        # As SQLAlchemy raises it (IntegrityError, OperationalError...), without the values.
        raise DBAPIError.instance(plan.sql, None, exc, sqlite3.Error) from exc


def _report_full() -> None:
    """Once a process: statements are being built per call and given to this path."""
    global _full_reported
    _full_reported = True
    log.warning(
        "more than %d statements given to the direct SQLite path: the ones after go through "
        "SQLAlchemy (a statement built per call belongs there, not here)",
        MAX_STATEMENTS,
    )


def _values(plan: _Plan, params: Params) -> list[Any]:
    values = []
    for slot in plan.slots:
        if slot.name is None:
            values.append(slot.constant)
            continue
        value = params[slot.name] if slot.index < 0 else params[slot.name][slot.index]
        values.append(value if slot.process is None else slot.process(value))
    return values


def _rows(plan: _Plan, cursor: sqlite3.Cursor) -> list[Any]:
    if not plan.returns_rows:
        return []
    raw = cursor.fetchall()
    if not raw:
        return []
    names = tuple(column[0] for column in cursor.description)
    row_type = _ROWS.get(names)
    if row_type is None:
        row_type = _ROWS[names] = namedtuple("Row", names, rename=True)  # type: ignore[misc]
    if plan.results is None:
        return [row_type._make(row) for row in raw]
    processors = plan.results
    return [
        row_type._make(
            value if process is None else process(value)
            for value, process in zip(row, processors, strict=True)
        )
        for row in raw
    ]


def _compile(connection: Connection, statement: Any, params: Params) -> _Compiled:
    """The statement compiled as ``Connection.execute`` would for these parameter names, or
    not (``compiled`` None) when it needs what this path does not do."""
    if not (getattr(statement, "is_select", False) or getattr(statement, "is_dml", False)):
        return _Compiled(statement, None)  # text, DDL...: rows or not is known only once run
    compiled = statement.compile(dialect=connection.dialect, column_keys=sorted(params))
    if (
        not isinstance(compiled, SQLCompiler)
        or not compiled.positional
        or compiled.insert_prefetch
        or compiled.update_prefetch
        or compiled.literal_execute_params
        or any(bind.expanding and bind.type._is_tuple_type for bind in compiled.binds.values())
    ):
        return _Compiled(statement, None)
    lists = tuple(
        sorted({b.key for b in compiled.binds.values() if b.expanding and b.key in params})
    )
    return _Compiled(statement, compiled, lists)


def _plan(connection: Connection, entry: _Compiled, params: Params) -> _Plan | None:
    """The plan for these parameters (of the names ``entry`` was compiled for); None when an IN
    list is not a list or tuple."""
    lists = [params[name] for name in entry.lists]
    if not all(type(values) in (list, tuple) for values in lists):
        return None
    lengths = tuple(len(values) for values in lists)
    plan = entry.plans.get(lengths)
    if plan is None and lengths not in entry.plans:
        plan = entry.plans[lengths] = _make_plan(connection, entry, params)
    return plan


def _make_plan(connection: Connection, entry: _Compiled, params: Params) -> _Plan | None:
    """The SQL for these IN-list lengths, and where each of its ``?`` takes its value."""
    dialect = connection.dialect
    compiled = entry.compiled
    assert compiled is not None
    if any(len(params[name]) == 0 for name in entry.lists):
        return None  # SQLAlchemy renders an empty IN as a special expression: leave it to it
    state = compiled.construct_expanded_state(dict(params))
    if state.positiontup is None:
        return None
    element_of = {
        element: (name, index)
        for name, elements in state.parameter_expansion.items()
        for index, element in enumerate(elements)
    }
    slots = []
    for position in state.positiontup:
        name, index = element_of.get(position, (position, -1))
        bind = compiled.binds.get(name)
        if bind is None:
            return None
        process = _bind_processor(bind, dialect)
        given = bind.key if bind.key in params else name if name in params else None
        if given is not None:
            slots.append(_Slot(given, index, process))
        elif not bind.required and bind.callable is None:
            value = bind.value if index < 0 else bind.value[index]
            slots.append(_Slot(None, -1, None, value if process is None else process(value)))
        else:
            return None
    columns = _result_columns(entry.statement)
    results = tuple(
        column.type.dialect_impl(dialect).result_processor(dialect, None) for column in columns
    )
    return _Plan(state.statement, tuple(slots), bool(columns), results if any(results) else None)


def _bind_processor(bind: Any, dialect: Any) -> Processor:
    return bind.type.dialect_impl(dialect).bind_processor(dialect)


def _result_columns(statement: Any) -> list[Any]:
    """The columns a statement returns (SELECT, or RETURNING), in order; none: no rows."""
    if getattr(statement, "is_select", False):
        return list(statement.selected_columns)
    if getattr(statement, "is_dml", False):
        return list(statement.exported_columns)
    return []
