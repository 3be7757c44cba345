"""A list's members as CSV: the one writer behind ``newsletter subscribers export`` and the workspace.

Columns: email, name, language, state, subscribed (the membership's date),
then one column per attribute key any member has, sorted. The file imports
back unchanged with ``newsletter subscribers import``.

Every cell, header included, is made safe for spreadsheets
(:func:`newsletter.safe_text.spreadsheet_cell`): names and attributes come
from the public sign-up form and from imported files, so any of them may be
``=HYPERLINK(…)``. ``excel=True`` separates by ``;``, as Danish Excel expects;
the caller opens the handle as ``utf-8-sig`` then, so Excel reads æøå right.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from typing import IO, Any

from sqlalchemy import Engine, select

from newsletter.safe_text import spreadsheet_cell
from newsletter.store.schema import memberships, subscribers

MEMBER_COLUMNS = ("email", "name", "language", "state", "subscribed")


def member_rows(engine: Engine, list_id: int, state: str | None = None) -> Iterator[Any]:
    """The list's members (email, name, language, attributes, state, created_at) by id, streamed."""
    query = (
        select(
            subscribers.c.email,
            subscribers.c.name,
            subscribers.c.language,
            subscribers.c.attributes,
            memberships.c.state,
            memberships.c.created_at,
        )
        .join(memberships, memberships.c.subscriber_id == subscribers.c.id)
        .where(memberships.c.list_id == list_id)
        .order_by(subscribers.c.id)
    )
    if state:
        query = query.where(memberships.c.state == state)
    with engine.connect() as conn:
        yield from conn.execution_options(yield_per=1000).execute(query)


def write_members_csv(
    engine: Engine, list_id: int, handle: IO[str], *, state: str | None = None, excel: bool = False
) -> int:
    """Write the list's members (only those in ``state``, if given) to ``handle``; returns how many."""
    # A first pass finds the attribute columns, so the export streams instead of holding the list.
    attribute_keys = sorted(
        {key for row in member_rows(engine, list_id, state) for key in (row.attributes or {})}
    )
    writer = csv.writer(handle, delimiter=";" if excel else ",", lineterminator="\n")

    def write(cells: list[str]) -> None:
        writer.writerow([spreadsheet_cell(cell) for cell in cells])

    write([*MEMBER_COLUMNS, *attribute_keys])
    count = 0
    for row in member_rows(engine, list_id, state):
        attributes = row.attributes or {}
        write(
            [
                row.email,
                row.name or "",
                row.language,
                row.state,
                row.created_at.strftime("%Y-%m-%d"),
                *(str(attributes.get(key, "")) for key in attribute_keys),
            ]
        )
        count += 1
    return count
