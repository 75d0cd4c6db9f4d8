"""Prebuilt statements run straight on SQLite's driver, compiled once.

A statement the store builds once (`prebuilt`) still cost about 60 us per execution through
SQLAlchemy's Connection on this machine (cache key, execution context, result wrapping, events), where
SQLite itself takes 3-5 us: a mutation runs about fifteen of them. Here such a statement is compiled
once per set of parameter names with SQLAlchemy's own compiler (same SQL, same bind and result
processors: `UtcDateTime` and the like), and then executed with the standard library's driver on the
connection SQLAlchemy checked out, in its transaction. What the callers read back offers what the
store reads of a SQLAlchemy `Result` (`first`, `one`, `all`, `scalar`, `scalar_one`, attribute access
on rows, `rowcount`); driver errors are raised as SQLAlchemy's (`IntegrityError`, `OperationalError`,
...), exactly as SQLAlchemy raises them.

Only SQLite connections used on one thread at a time come here (store/sqlite_writes.py,
store/sqlite_reads.py). Whatever this path cannot take exactly (an expanding IN, a parameter computed
by a callable, parameter sets of different names, a statement that is not marked prebuilt) runs
through SQLAlchemy as before; so does every statement while anyone listens to the engine's statement
events (the tracing's spans, a test that looks at the SQL): they see every statement.
"""

from __future__ import annotations

import keyword
import sqlite3
import threading
from collections import namedtuple
from collections.abc import Callable, Iterator, Mapping
from typing import Any, TypeVar

from sqlalchemy import Connection, Dialect, Executable
from sqlalchemy.engine import CursorResult
from sqlalchemy.exc import DBAPIError, MultipleResultsFound, NoResultFound

E = TypeVar("E", bound=Executable)

OPTION = "gateway_prebuilt"
MAX_COMPILED = 512  # statement x parameter-names pairs kept (the oldest compiled goes first)


def prebuilt(stmt: E) -> E:
    """Mark a statement built once and kept for the process's life (may run on the driver directly)."""
    return stmt.execution_options(**{OPTION: True})


class _Rows:
    """A statement's rows, already fetched, as named tuples (`row.token`, `row[0]`), and its row
    count: what the store reads of SQLAlchemy's `Result` (`all`, `first`, `one`, `scalar`,
    `scalar_one`, iteration), at a tenth of its cost."""

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
            raise (NoResultFound if not self._rows else MultipleResultsFound)(f"{len(self._rows)} rows, one expected")
        return self._rows[0]

    def scalar(self) -> Any:
        return self._rows[0][0] if self._rows else None

    def scalar_one(self) -> Any:
        return self.one()[0]


class _Compiled:
    __slots__ = ("args", "processors", "row", "sql")

    def __init__(self, sql: str, args: list[tuple[str | None, Any]],
                 processors: list[Callable[[Any], Any] | None] | None, row: type | None) -> None:  # fmt: skip
        self.sql = sql
        self.args = args  # per positional parameter: (the caller's name, its bind processor) or (None, value)
        self.processors = processors  # per result column, or None when nothing needs processing
        self.row = row  # the rows' named tuple; None: the statement returns no rows


class DriverStatements:
    """The compiled forms of one engine's prebuilt statements, and their execution."""

    def __init__(self, dialect: Dialect, on_statement: Callable[[], None] | None = None) -> None:
        self.dialect = dialect
        self.on_statement = on_statement  # counts every statement run through here, on either path
        # (id of the statement, parameter names) -> the statement and its compiled form (None: SQLAlchemy's path)
        self._compiled: dict[tuple[int, tuple[str, ...]], tuple[Executable, _Compiled | None]] = {}
        self._compiling = threading.Lock()

    def execute(self, conn: Connection, stmt: Executable, parameters: Any = None) -> CursorResult[Any]:
        if self.on_statement is not None:
            self.on_statement()
        dispatch = conn.dispatch
        if (not stmt._execution_options.get(OPTION)  # type: ignore[attr-defined]
                or dispatch.before_cursor_execute or dispatch.after_cursor_execute):  # fmt: skip
            return conn.execute(stmt, parameters)  # (whoever listens to statements sees them all)
        if parameters is None or isinstance(parameters, Mapping):
            compiled = self._lookup(stmt, tuple(parameters) if parameters else ())
            if compiled is not None:
                return self._run(conn, compiled, parameters or {})  # type: ignore[return-value]
        elif parameters and isinstance(parameters, list):  # several parameter sets (executemany)
            names = tuple(parameters[0])
            compiled = self._lookup(stmt, names)
            if compiled is not None and all(tuple(p) == names for p in parameters):
                return self._run_many(conn, compiled, parameters)  # type: ignore[return-value]
        return conn.execute(stmt, parameters)

    def _lookup(self, stmt: Executable, names: tuple[str, ...]) -> _Compiled | None:
        key = (id(stmt), names)
        found = self._compiled.get(key)
        if found is None:
            with self._compiling:  # (the reads' worker threads share the cache)
                found = self._compiled.get(key)
                if found is None:
                    # the statement is held with its compiled form, so its id is not reused while cached
                    found = self._compiled[key] = (stmt, _compile(stmt, self.dialect, names))
                    if len(self._compiled) > MAX_COMPILED:
                        del self._compiled[next(iter(self._compiled))]
        return found[1]

    def _run(self, conn: Connection, compiled: _Compiled, parameters: Mapping[str, Any]) -> _Rows:
        args = _arguments(compiled, parameters)
        driver = conn.connection.driver_connection
        try:
            cursor = driver.execute(compiled.sql, args)  # type: ignore[union-attr]
            rows = cursor.fetchall() if compiled.row is not None else []
        except sqlite3.Error as exc:
            raise DBAPIError.instance(compiled.sql, args, exc, sqlite3.Error, dialect=self.dialect) from exc
        result = _Rows(self._processed(compiled, rows), cursor.rowcount)
        cursor.close()
        return result

    def _run_many(self, conn: Connection, compiled: _Compiled, parameters: list[Mapping[str, Any]]) -> _Rows:
        """One statement, several parameter sets (counted as one statement, as SQLAlchemy's one
        multi-row INSERT is): the driver's executemany, or, when rows come back (RETURNING), one
        execution per set in order, their rows together in that order."""
        sets = [_arguments(compiled, p) for p in parameters]
        driver = conn.connection.driver_connection
        rows: list[Any] = []
        try:
            if compiled.row is None:
                cursor = driver.executemany(compiled.sql, sets)  # type: ignore[union-attr]
                count = cursor.rowcount
            else:
                cursor, count = driver.cursor(), 0  # type: ignore[union-attr]
                for args in sets:
                    rows.extend(cursor.execute(compiled.sql, args).fetchall())
                    count += max(cursor.rowcount, 0)
        except sqlite3.Error as exc:
            raise DBAPIError.instance(compiled.sql, sets, exc, sqlite3.Error, dialect=self.dialect) from exc
        cursor.close()
        return _Rows(self._processed(compiled, rows), count)

    @staticmethod
    def _processed(compiled: _Compiled, rows: list[Any]) -> list[Any]:
        if not rows:
            return rows
        make = compiled.row._make  # type: ignore[union-attr]
        procs = compiled.processors
        if procs is None:
            return [make(row) for row in rows]
        return [make(v if p is None else p(v) for p, v in zip(procs, row, strict=True)) for row in rows]


def _arguments(compiled: _Compiled, parameters: Mapping[str, Any]) -> list[Any]:
    return [
        (value if name is None else parameters[name] if value is None else value(parameters[name]))
        for name, value in compiled.args
    ]


def _nameable(key: str) -> bool:
    return key.isidentifier() and not key.startswith("_") and not keyword.iskeyword(key)


def _compile(stmt: Executable, dialect: Dialect, names: tuple[str, ...]) -> _Compiled | None:
    compiled = stmt.compile(dialect=dialect, column_keys=list(names))  # type: ignore[attr-defined]
    binds = compiled.binds.values()
    if any(b.expanding or b.callable is not None for b in binds) or compiled.positiontup is None:
        return None  # rendered again per execution, or valued at execution: SQLAlchemy's path
    try:
        constants = compiled.construct_params({name: None for name in names})
    except Exception:  # noqa: BLE001 - a required parameter is missing: SQLAlchemy raises it properly
        return None
    bind_processors = compiled._bind_processors
    args: list[tuple[str | None, Any]] = []
    for name in compiled.positiontup:
        processor = bind_processors.get(name)
        if name in names:
            args.append((name, processor))
        else:
            value = constants[name]
            args.append((None, value if processor is None or value is None else processor(value)))
    row = processors = None
    columns = compiled._result_columns
    if columns:
        keys = [c.keyname for c in columns]
        if len(set(keys)) != len(keys) or not all(_nameable(key) for key in keys):
            return None  # rows that a named tuple cannot name: SQLAlchemy's path
        row = namedtuple("Row", keys)  # type: ignore[misc]  # noqa: PYI024
        procs = [c.type._cached_result_processor(dialect, None) for c in columns]
        processors = procs if any(p is not None for p in procs) else None
    return _Compiled(compiled.string, args, processors, row)
