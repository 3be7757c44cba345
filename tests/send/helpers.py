"""Shared by the send tests and bench/bench_send.py: subscribers in bulk, a hand-made issue."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from sqlalchemy import Engine, insert, select

from newsletter.message import Content
from newsletter.send.service import PreparedIssue
from newsletter.store.addresses import email_hash, normalise
from newsletter.store.lists import create_list
from newsletter.store.schema import lists, memberships, subscribers


def addresses(count: int, prefix: str = "person") -> list[str]:
    return [f"{prefix}{number:06d}@example.com" for number in range(count)]


def make_list(db: Engine, name: str = "erhverv") -> int:
    with db.begin() as conn:
        found = conn.execute(select(lists.c.id).where(lists.c.name == name)).scalar()
        if found is not None:
            return int(found)
        return create_list(conn, name, f"Liste {name}").id


def subscribe_many(db: Engine, emails: Sequence[str], list_name: str = "erhverv", chunk: int = 5000) -> int:
    """Subscribe ``emails`` to a list with bulk inserts (100k in seconds); returns the list id."""
    list_id = make_list(db, list_name)
    now = datetime.now(UTC)
    with db.begin() as conn:
        known = dict(conn.execute(select(subscribers.c.email, subscribers.c.id)).all())
        new = [normalise(e) for e in emails if normalise(e) not in known]
        for start in range(0, len(new), chunk):
            part = new[start : start + chunk]
            conn.execute(
                insert(subscribers),
                [
                    {
                        "email": email,
                        "email_hash": email_hash(email),
                        "name": f"Person {index}",
                        "language": "da",
                        "attributes": {},
                        "status": "active",
                        "created_at": now,
                        "updated_at": now,
                    }
                    for index, email in enumerate(part, start)
                ],
            )
        ids = dict(conn.execute(select(subscribers.c.email, subscribers.c.id)).all())
        rows = [
            {
                "subscriber_id": ids[normalise(e)],
                "list_id": list_id,
                "state": "subscribed",
                "created_at": now,
                "updated_at": now,
            }
            for e in emails
        ]
        for start in range(0, len(rows), chunk):
            conn.execute(insert(memberships), rows[start : start + chunk])
    return list_id


def hand_made_issue(slug: str = "2026-01-05-test-issue", html_kb: int = 2) -> PreparedIssue:
    """An issue rendered by hand: placeholders in both parts, no templates needed."""
    filler = "<p>Nyheder fra kommunen.</p>" * max(1, html_kb * 1024 // 28)
    html = (
        '<html lang="da"><body><p>Kære %%nl:name%%,</p>'
        + filler
        + '<p><a href="%%nl:unsubscribe_url%%">Afmeld</a> · <a href="%%nl:web_url%%">Web</a></p></body></html>'
    )
    text = "Kære %%nl:name%%,\n\nNyheder.\n\nAfmeld: %%nl:unsubscribe_url%%\n"
    content = Content(
        subject="Godt nytår – årets sidste nyheder",
        html=html,
        text=text,
        from_email="nyhedsbrev@example.org",
        from_name="BusinessBallerup",
        reply_to="jrau@balk.dk",
        issue=slug,
    )
    return PreparedIssue(slug=slug, subject=content.subject, content=content, findings=[])
