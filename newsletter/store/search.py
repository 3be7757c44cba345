"""Finding subscribers by any part of their address or name, a page at a time (the workspace's search).

A search text matches a subscriber when the address or the name contains
it, in any case: ``hansen`` finds ``Jens Hansen`` and ``HANSEN@firma.dk``,
``øster`` finds ``Bo Østergaard``. An empty text matches everyone. A list
narrows the search to that list's members, in any state.

How each database answers it, measured at 100,000 subscribers with
``python -m bench search`` (figures in docs/workspace.md):

- PostgreSQL: ``ILIKE``, served by the trigram indexes of revision 0009
  (``pg_trgm``) for texts of three characters or more.
- SQLite: ``LIKE``, which ignores case for A–Z only; a text with other
  letters (æ, ø, å, é …) is matched with ``GLOB`` and both cases of each
  letter (``*[øØ][sS][tT][eE][rR]*``). SQLite has no index for either and
  reads the table.

Results are ordered by address, 50 to a page, with the total count.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass

from sqlalchemy import ColumnElement, Connection, Select, or_, select

from newsletter.store.schema import lists, memberships, subscribers, suppressions

PAGE_SIZE = 50
# A search is for finding someone, not for reading the list (that is the list's CSV export):
# counting and paging stop at this many matches, so a common name costs no more than a rare one.
MATCH_LIMIT = 1000
# Longer texts name nobody better; the cap keeps a pasted paragraph from becoming a huge pattern.
TEXT_LIMIT = 200
_LIKE_ESCAPE = "\\"
_GLOB_SPECIAL = "*?["


@dataclass(frozen=True)
class FoundSubscriber:
    id: int
    email: str
    name: str | None
    language: str
    status: str  # active | bounced | complained
    suppressed: str | None  # the suppression list's reason, when the address is on it
    lists: tuple[tuple[str, str], ...]  # (list name, membership state), by list name


@dataclass(frozen=True)
class SearchResult:
    rows: list[FoundSubscriber]
    total: int  # matches counted, at most MATCH_LIMIT
    more: bool  # there are more than MATCH_LIMIT matches
    page: int
    page_size: int

    @property
    def pages(self) -> int:
        return max(1, math.ceil(self.total / self.page_size))


def _like_pattern(text: str) -> str:
    escaped = text.replace(_LIKE_ESCAPE, _LIKE_ESCAPE * 2).replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _glob_pattern(text: str) -> str:
    """``*text*`` for SQLite's case-sensitive GLOB, each letter as a class of both its cases."""
    parts = []
    for character in text:
        lower, upper = character.lower(), character.upper()
        if lower != upper and len(lower) == 1 and len(upper) == 1:
            parts.append(f"[{lower}{upper}]")
        elif character in _GLOB_SPECIAL:
            parts.append(f"[{character}]")
        else:
            parts.append(character)
    return "*" + "".join(parts) + "*"


def _contains(conn: Connection, text: str) -> ColumnElement[bool]:
    """The address or the name contains ``text``, ignoring case, as this database does it best."""
    columns = (subscribers.c.email, subscribers.c.name)
    if conn.dialect.name == "postgresql":
        pattern = _like_pattern(text)
        return or_(*(column.ilike(pattern, escape=_LIKE_ESCAPE) for column in columns))
    if text.isascii():  # SQLite's LIKE ignores the case of A–Z (and only those)
        pattern = _like_pattern(text)
        return or_(*(column.like(pattern, escape=_LIKE_ESCAPE) for column in columns))
    glob = _glob_pattern(text)
    return or_(*(column.op("GLOB")(glob) for column in columns))


def _narrowed(conn: Connection, query: Select, text: str, list_id: int | None) -> Select:
    if list_id is not None:
        query = query.join(memberships, memberships.c.subscriber_id == subscribers.c.id).where(
            memberships.c.list_id == list_id
        )
    if text:
        query = query.where(_contains(conn, text))
    return query


def _lists_of(conn: Connection, subscriber_ids: list[int]) -> dict[int, list[tuple[str, str]]]:
    query = (
        select(memberships.c.subscriber_id, lists.c.name, memberships.c.state)
        .join(lists, lists.c.id == memberships.c.list_id)
        .where(memberships.c.subscriber_id.in_(subscriber_ids))
        .order_by(lists.c.name)
    )
    held: dict[int, list[tuple[str, str]]] = defaultdict(list)
    for subscriber_id, name, state in conn.execute(query):
        held[subscriber_id].append((name, state))
    return held


def search_subscribers(
    conn: Connection,
    text: str = "",
    *,
    list_id: int | None = None,
    page: int = 1,
    page_size: int = PAGE_SIZE,
) -> SearchResult:
    """Page ``page`` (from 1) of the subscribers matching ``text`` (on ``list_id``), by address.

    At most :data:`MATCH_LIMIT` matches are counted and paged through (``SearchResult.more``
    says there are others): one read finds the ids of those, in order, and a second fetches
    the page's rows.
    """
    text = " ".join(text.split())[:TEXT_LIMIT]
    ordered = _narrowed(conn, select(subscribers.c.id), text, list_id).order_by(
        subscribers.c.email, subscribers.c.id
    )
    matching = list(conn.execute(ordered.limit(MATCH_LIMIT + 1)).scalars())
    more = len(matching) > MATCH_LIMIT
    matching = matching[:MATCH_LIMIT]
    pages = max(1, math.ceil(len(matching) / page_size))
    page = min(max(1, page), pages)
    wanted = matching[(page - 1) * page_size : page * page_size]
    return SearchResult(
        rows=_rows(conn, wanted), total=len(matching), more=more, page=page, page_size=page_size
    )


def _rows(conn: Connection, ids: list[int]) -> list[FoundSubscriber]:
    """The subscribers ``ids`` in that order, with their suppression and their lists."""
    if not ids:
        return []
    query = (
        select(
            subscribers.c.id,
            subscribers.c.email,
            subscribers.c.name,
            subscribers.c.language,
            subscribers.c.status,
            suppressions.c.reason.label("suppressed"),
        )
        .outerjoin(suppressions, suppressions.c.email_hash == subscribers.c.email_hash)
        .where(subscribers.c.id.in_(ids))
    )
    found = {row.id: row for row in conn.execute(query)}
    held = _lists_of(conn, ids)
    return [
        FoundSubscriber(
            id=row.id,
            email=row.email,
            name=row.name,
            language=row.language,
            status=row.status,
            suppressed=row.suppressed,
            lists=tuple(held.get(row.id, ())),
        )
        for row in (found[each] for each in ids if each in found)
    ]
