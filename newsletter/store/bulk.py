"""Many rows at once, the way each database does it fastest: for the import's chunks.

- :func:`insert_rows`: one ``INSERT … SELECT`` from the rows given as one value
  per column (an array's text, taken apart by ``unnest``) on PostgreSQL, and on
  SQLite from the rows given as one JSON array (``json_each``). Neither builds a
  statement or processes a parameter per row in Python, which is where a
  1000-row ``conn.execute(table.insert(), dicts)`` spends most of its time;
  values that every row shares are bound once.
  :func:`insert_rows_with_ids` does the same and says which id each new row got.
- :func:`update_rows`: one ``UPDATE … FROM unnest(arrays)`` on PostgreSQL (one
  round trip for the whole set), one ``executemany`` of ``UPDATE … WHERE key = ?`` on SQLite.
- :func:`listed` binds a list of values as one value, so a statement is built and
  compiled once and then reused (an ``IN`` list of n parameters is a new
  statement for every n); :func:`given_values` makes it a table (``unnest`` on
  PostgreSQL, ``json_each`` on SQLite), :func:`one_of` a condition
  (``column = ANY(:array)``, ``column IN (SELECT value FROM json_each(:json))``).
- :func:`join_each`: for each given value, the row of a table whose unique key
  it is — found through the key's index whatever the planner knows. While a
  table is being filled, PostgreSQL has no statistics of it yet and plans a
  plain join with the list as a hash join over the whole table, for every chunk.

Values are given as Python values (``datetime``, ``dict`` for a JSON column) and
go through the dialect's own processor for the column's type, as SQLAlchemy would
hand them over. On PostgreSQL the values that differ from row to row then travel
as the text of an array (:func:`_array_text`, ``str`` of each value) and are read
by the column's type on the server: text, numbers, booleans and timestamps, which
is what the import writes; values every row shares are bound as parameters.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from functools import cache
from typing import Any

from sqlalchemy import (
    JSON,
    Column,
    Connection,
    Insert,
    Select,
    Table,
    Text,
    any_,
    bindparam,
    cast,
    func,
    insert,
    select,
    true,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.selectable import FromClause, NamedFromClause, TableValuedAlias
from sqlalchemy.types import TypeEngine

Convert = Callable[[Any], Any]


def insert_rows(
    conn: Connection,
    table: Table,
    columns: Sequence[str],
    rows: Iterable[Sequence[Any]],
    same: Mapping[str, Any] | None = None,
    as_stored: Collection[str] = (),
) -> None:
    """Insert ``rows`` into ``table`` in the current transaction.

    Each row holds the values of ``columns`` in that order; ``same`` gives the
    columns whose value every row shares. Column defaults computed in Python
    (``default=``) are not applied: give every column that has one. The values of
    the columns named in ``as_stored`` are given as the database takes them already (a
    JSON column's as :func:`json_text` writes them).
    """
    given = list(rows)
    if not given:
        return
    if conn.dialect.name == "postgresql":
        conn.execute(_insert_from_arrays(conn, table, columns, given, same or {}, as_stored))
        return
    shared = dict(same or {})
    tail = tuple(
        value if (convert := _converter(conn, table.c[name])) is None else convert(value)
        for name, value in shared.items()
    )
    converters = [
        (position, convert)
        for position, name in enumerate(columns)
        if name not in as_stored and (convert := _converter(conn, table.c[name])) is not None
    ]

    def converted(row: Sequence[Any]) -> Sequence[Any]:
        if not converters:
            return row
        values = list(row)
        for position, convert in converters:
            values[position] = convert(values[position])
        return values

    # SQLite: the rows as one JSON array, taken apart by SQLite itself (json_each), rather than
    # an executemany binding each value of each row from Python: 100,000 memberships went in
    # 3.5 times as fast. The values are text, numbers or None once converted, as JSON carries them.
    document = json.dumps(list(map(converted, given)), separators=(",", ":"), allow_nan=False)
    names = ", ".join((*columns, *shared))
    picked = [f"json_extract(value, '$[{position}]')" for position in range(len(columns))]
    conn.exec_driver_sql(
        f"INSERT INTO {table.name} ({names}) SELECT {', '.join([*picked, *('?' for _ in shared)])}"
        " FROM json_each(?)",
        (*tail, document),
    )


def _insert_from_arrays(
    conn: Connection,
    table: Table,
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    same: Mapping[str, Any],
    as_stored: Collection[str],
) -> Insert:
    """PostgreSQL: ``INSERT … SELECT`` from ``unnest`` of one array text per column, ``same`` bound once.

    Against ``COPY`` of the same rows, this took 100,000 memberships in 0.7× the time, and
    the rows cost this process almost nothing: ``COPY`` formats every value of every row
    in Python (0.9 s of this process's time for those memberships, against 0.05 s).
    """
    given = _given_rows(conn, table, columns, rows, as_stored)
    shared = [bindparam(None, value, type_=table.c[name].type) for name, value in same.items()]
    return insert(table).from_select([*columns, *same], select(*(given.c[name] for name in columns), *shared))


def _given_rows(
    conn: Connection,
    table: Table,
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    as_stored: Collection[str] = (),
) -> NamedFromClause:
    """PostgreSQL: ``rows`` (values of ``columns`` in that order) as a table ``given`` with those columns.

    Each column is bound as one text, an array as PostgreSQL writes one (:func:`_array_text`),
    so the driver handles one value per column rather than one per row; a JSON column's
    values go as their text and are read as JSON on the server.
    """
    arrays = []
    for position, name in enumerate(columns):
        column = table.c[name]
        values = [row[position] for row in rows]
        if isinstance(column.type, JSON):
            if name not in as_stored:
                values = list(map(json_text(conn), values))
            arrays.append(cast(bindparam(None, _array_text(values), type_=Text), ARRAY(Text)))
        else:
            convert = _converter(conn, column)
            if convert is not None:
                values = list(map(convert, values))
            arrays.append(cast(bindparam(None, _array_text(values), type_=Text), ARRAY(column.type)))
    unnested = func.unnest(*arrays).table_valued(*columns).render_derived(name="given")
    typed = [
        cast(unnested.c[name], table.c[name].type).label(name)
        if isinstance(table.c[name].type, JSON)
        else unnested.c[name]
        for name in columns
    ]
    return select(*typed).subquery("given")


def insert_rows_with_ids(
    conn: Connection,
    table: Table,
    key: str,
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    same: Mapping[str, Any] | None = None,
    as_stored: Collection[str] = (),
) -> dict[Any, int]:
    """:func:`insert_rows`, then the new rows' ids by the value of ``key`` (a unique column among ``columns``).

    PostgreSQL hands out the ids first (``nextval`` of the table's sequence, one round
    trip, the ids as one array), and the rows go in with them. SQLite gives the rows of one statement consecutive
    ids, each one more than the largest before it (the transaction holds the write lock), so
    the last one (``last_insert_rowid()``) says them all; one count over that range of the
    primary key confirms it, and a look-up by ``key`` reads them when it does not.
    """
    if not rows:
        return {}
    keys = [row[columns.index(key)] for row in rows]
    if conn.dialect.name == "postgresql":
        # The sequence is looked up once (an InitPlan), not once a row. Taking the ids back from
        # the insert instead (RETURNING, gathered into arrays) cost this process 0.7 s more for
        # 100,000 rows: it reads every key back.
        ids: list[int] = conn.exec_driver_sql(
            f"SELECT array_agg(nextval((SELECT pg_get_serial_sequence('{table.name}', 'id')::regclass)))"
            " FROM generate_series(1, %s)",
            (len(rows),),
        ).scalar_one()
        insert_rows(
            conn,
            table,
            ("id", *columns),
            [(new_id, *row) for new_id, row in zip(ids, rows, strict=True)],
            same,
            as_stored,
        )
        return dict(zip(keys, ids, strict=True))
    insert_rows(conn, table, columns, rows, same, as_stored)
    last = int(conn.exec_driver_sql("SELECT last_insert_rowid()").scalar_one())
    first = last - len(rows) + 1
    at_first, at_last, in_range = conn.exec_driver_sql(
        f"SELECT (SELECT {key} FROM {table.name} WHERE id = ?), (SELECT {key} FROM {table.name} WHERE id = ?),"
        f" (SELECT count(*) FROM {table.name} WHERE id BETWEEN ? AND ?)",
        (first, last, first, last),
    ).one()
    if (at_first, at_last, in_range) == (keys[0], keys[-1], len(rows)):
        # The first row and the last hold the two ends of the range, and nothing else is in it.
        return dict(zip(keys, range(first, last + 1), strict=True))
    found: dict[Any, int] = dict(
        conn.execute(_ids_by(conn.dialect.name, table, key), {"keys": listed(conn, keys)}).all()
    )
    return found


@cache
def _ids_by(dialect: str, table: Table, key: str) -> Select[Any]:
    return select(table.c[key], table.c.id).where(_one_of(dialect, table.c[key], "keys"))


def update_rows(
    conn: Connection, table: Table, key: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]
) -> None:
    """Set ``columns`` of the rows of ``table`` whose ``key`` is each row's first value.

    ``rows`` hold the key followed by the new values, in the order of ``columns``.
    """
    if not rows:
        return
    if conn.dialect.name == "postgresql":
        # One statement: the new values arrive as one array per column, joined to the table by key.
        given = _given_rows(conn, table, (key, *columns), rows)
        # The key also as = ANY(array): the rows are found by index even without statistics.
        keys = cast(
            bindparam(None, _array_text([row[0] for row in rows]), type_=Text), ARRAY(table.c[key].type)
        )
        conn.execute(
            update(table)
            .values({name: given.c[name] for name in columns})
            .where(table.c[key] == given.c[key], table.c[key] == any_(keys))
        )
        return
    converters = [_converter(conn, table.c[name]) for name in (*columns, key)]
    assignments = ", ".join(f"{name} = ?" for name in columns)
    statement = f"UPDATE {table.name} SET {assignments} WHERE {key} = ?"
    batch = [
        tuple(
            value if convert is None else convert(value)
            for value, convert in zip((*row[1:], row[0]), converters, strict=True)
        )
        for row in rows
    ]
    conn.exec_driver_sql(statement, batch)


def given_values(conn: Connection, name: str, type_: TypeEngine[Any]) -> TableValuedAlias:
    """The values bound as ``name`` (give them as :func:`listed`) as a table ``given`` with a column ``value``."""
    if conn.dialect.name == "postgresql":
        values = func.unnest(_array_of(name, type_))
        return values.table_valued("value").render_derived(name="given")
    # SQLite's json_each has a column "value" of its own (and takes no column list).
    return func.json_each(bindparam(name, type_=Text)).table_valued("value").alias("given")


def join_each(
    conn: Connection, left: FromClause, value: ColumnElement[Any], table: Table, key: str, name: str
) -> tuple[FromClause, NamedFromClause]:
    """``left`` joined (outer) with the row of ``table`` whose ``key`` is ``value``, and that row as ``name``.

    PostgreSQL: a ``LATERAL`` subquery with ``LIMIT 1``, which the planner cannot turn
    into a join over the whole table, so each value is one probe of the key's
    index. SQLite joins by probing an index anyway.
    """
    if conn.dialect.name == "postgresql":
        row = select(table).where(table.c[key] == value).limit(1).lateral(name)
        return left.outerjoin(row, true()), row
    alias = table.alias(name)
    return left.outerjoin(alias, alias.c[key] == value), alias


def one_of(conn: Connection, column: Column[Any], name: str) -> ColumnElement[bool]:
    """``column`` is one of the values bound as ``name`` (give them as :func:`listed`)."""
    return _one_of(conn.dialect.name, column, name)


def listed(conn: Connection, values: Iterable[Any]) -> str:
    """``values`` as the one bound value :func:`one_of` and :func:`given_values` expect: one text.

    PostgreSQL: an array as PostgreSQL writes one (``{"a","b"}``), read by a cast on the server;
    psycopg handing over a Python list of 4,000 hashes spent 15 ms a chunk on it, in Python.
    SQLite: a JSON array, read by ``json_each``.
    """
    if conn.dialect.name == "postgresql":
        return _array_text(list(values))
    return json.dumps(list(values))


def _array_text(values: list[Any]) -> str:
    """``values`` as PostgreSQL writes an array: each element in double quotes, ``\\`` and ``"`` escaped."""
    if None not in values:
        texts = list(map(str, values))
        plain = "".join(texts)
        if '"' not in plain and "\\" not in plain:  # nothing to escape (hashes, ids): joined at once
            return '{"' + '","'.join(texts) + '"}' if texts else "{}"
    quoted = (
        "NULL" if value is None else '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'
        for value in values
    )
    return "{" + ",".join(quoted) + "}"


def _array_of(name: str, type_: TypeEngine[Any]) -> ColumnElement[Any]:
    """The array of ``type_`` bound as ``name`` (a text from :func:`listed`)."""
    return cast(bindparam(name, type_=Text), ARRAY(type_))


def _one_of(dialect: str, column: Column[Any], name: str) -> ColumnElement[bool]:
    if dialect == "postgresql":
        return column == any_(_array_of(name, column.type))
    values = func.json_each(bindparam(name, type_=Text)).table_valued("value")
    return column.in_(select(values.c.value))


def _converter(conn: Connection, column: Column[Any]) -> Convert | None:
    """How a value of ``column`` reaches the driver when SQLAlchemy hands it over, or None as it is."""
    processor: Convert | None = column.type.dialect_impl(conn.dialect).bind_processor(conn.dialect)
    return processor


def json_text(conn: Connection) -> Callable[[Any], str]:
    """How a value of a JSON column is written as text on ``conn``: the engine's serializer."""
    serialize: Callable[[Any], str] = getattr(conn.dialect, "_json_serializer", None) or json.dumps
    return serialize
