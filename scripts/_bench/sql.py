"""SQL fragments that mean the same in SQLite and DuckDB. Every identifier goes through `q`, every literal
through `literal`: nothing the user names is ever formatted into SQL any other way."""

from __future__ import annotations

import sqlite3

from _bench.reader import InputError, quote_ident

SEP = "\x1f"  # ASCII unit separator: joins key parts, cannot occur in ordinary identifiers or values
NULL_MARK = "\x1e"  # stands for NULL inside a joined key, so NULL and '' stay different


def q(name: str) -> str:
    """Quote an SQL identifier for SQLite and DuckDB alike (a NUL byte is an input error)."""
    return quote_ident(name)


def literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def as_text(expr: str) -> str:
    return f"CAST({expr} AS VARCHAR)"  # VARCHAR: understood by SQLite (TEXT affinity) and DuckDB alike


def flag(condition: str) -> str:
    """1 when the condition holds, 0 when it is false *or NULL*, in SQLite and DuckDB alike."""
    return f"CASE WHEN {condition} THEN 1 ELSE 0 END"


# FILTER (WHERE ...) skips the aggregate step for rows that fail the condition; CASE WHEN evaluates a value for
# every row. Measured at 2 M rows with sqlite3: 7 counts 0.79 s as SUM(CASE ...), about half as FILTER. SQLite
# has FILTER from 3.30 (2019); DuckDB always.
HAS_FILTER = sqlite3.sqlite_version_info >= (3, 30, 0)


def count_if(condition: str) -> str:
    """The number of rows for which the condition holds (false and NULL count 0), in SQLite and DuckDB alike."""
    return f"COUNT(*) FILTER (WHERE {condition})" if HAS_FILTER else f"SUM({flag(condition)})"


def when(aggregate: str, expr: str, condition: str) -> str:
    """`aggregate(expr)` over the rows for which the condition holds (NULL when there are none)."""
    if HAS_FILTER:
        return f"{aggregate}({expr}) FILTER (WHERE {condition})"
    return f"{aggregate}(CASE WHEN {condition} THEN {expr} END)"


def non_empty(column: str | None, is_text: bool = True) -> str:
    """`column` holds a non-empty value: TRUE or FALSE, never NULL, so `NOT (...)` and CASE WHEN are safe.
    No column at all is always FALSE."""
    if not column:
        return "(1 = 0)"
    value = q(column) if is_text else as_text(q(column))
    return f"({q(column)} IS NOT NULL AND {value} <> '')"


def text_key(columns: list[str]) -> str:
    """One text value standing for the tuple of `columns` (NULL and '' kept apart); '' when there are none.
    Text on both engines, so the same key read by DuckDB (NULL integers arrive as NaN) still matches."""
    if not columns:
        return "''"
    parts = [f"CASE WHEN {q(c)} IS NULL THEN '{NULL_MARK}' ELSE {as_text(q(c))} END" for c in columns]
    return f" || '{SEP}' || ".join(parts)


# A number written as text: JSON's grammar (RFC 8259), which is also how SQLite writes a number into a TEXT column
JSON_NUMBER = r"[ \t\n\r]*-?(0|[1-9][0-9]*)([.][0-9]+)?([eE][+-]?[0-9]+)?[ \t\n\r]*"
ASSET_HASH = "[0-9a-f]{16}"  # what xetrack 0.7.0 stores in place of a numpy scalar or an object


def numeric(expr: str, engine: str) -> str:
    """The value as a number, else NULL. Numbers stored as numbers, and numbers stored as text: xetrack types a
    column by its first logged value, so after a first None (a failed call) every later number of that column
    is text ('12.5'). Never a 16-hex asset hash (a numpy scalar logged by xetrack), even one made of digits
    only, and never other text: SQLite's CAST would silently turn 'n/a' into 0. Both engines accept the same
    texts (the JSON number grammar); DuckDB folds typeof() per column, so numeric columns pay nothing."""
    if engine == "sqlite":
        return (f"CASE WHEN typeof({expr}) IN ('integer', 'real') THEN {expr} "
                f"WHEN typeof({expr}) = 'text' AND json_valid({expr}) AND json_type({expr}) IN ('integer', 'real') "
                f"AND NOT (length({expr}) = 16 AND {expr} NOT GLOB '*[^0-9a-f]*') THEN CAST({expr} AS REAL) END")
    as_text = f"CAST({expr} AS VARCHAR)"  # binds for any column type; runs only for VARCHAR ones
    text = (f"CASE WHEN regexp_full_match({as_text}, '{JSON_NUMBER}') AND NOT regexp_full_match({as_text}, "
            f"'{ASSET_HASH}') THEN TRY_CAST({expr} AS DOUBLE) END")
    return f"CASE WHEN typeof({expr}) = 'VARCHAR' THEN ({text}) ELSE TRY_CAST({expr} AS DOUBLE) END"


def parse_filters(items: list[str] | None, names: list[str]) -> list[tuple[str, str, str]]:
    """--filter COL=VALUE / COL!=VALUE options as (column, operator, value); an unknown column is an input
    error."""
    out = []
    for item in items or []:
        col, sep, value = item.partition("=")
        op = "!=" if col.endswith("!") else "="
        col = col[:-1] if op == "!=" else col
        if not sep or not col:
            raise InputError(f"--filter expects COLUMN=VALUE or COLUMN!=VALUE, got {item!r}")
        if col not in names:
            raise InputError(f"--filter column {col!r} not found; available: {', '.join(names)}")
        out.append((col, op, value))
    return out


def filters_sql(filters: list[tuple[str, str, str]]) -> str:
    """The filters as one SQL condition, values compared as text; COL!=VALUE keeps NULLs (they differ).

    COL=VALUE given more than once for one column keeps rows equal to any of them (`--filter model=a --filter
    model=b`: the two models alone, for one planned comparison); every other pair of filters must both hold."""
    equal = {}
    for col, op, value in filters:
        if op == "=":
            equal.setdefault(col, []).append(value)
    parts, said = [], set()
    for col, op, value in filters:
        if op == "!=":
            parts.append(f"({q(col)} IS NULL OR {as_text(q(col))} <> {literal(value)})")
        elif col not in said:
            said.add(col)
            values = ", ".join(literal(v) for v in equal[col])
            parts.append(f"{as_text(q(col))} IN ({values})")
    return " AND ".join(parts)


def filters_shown(filters: list[tuple[str, str, str]]) -> list[str]:
    return [f"{col}{op}{value}" for col, op, value in filters]
