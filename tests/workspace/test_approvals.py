"""The four-eyes rule: ask, approve (someone else, the same version), start (one of the two)."""

from __future__ import annotations

from dataclasses import replace

import pytest
from sqlalchemy import Engine

from newsletter.errors import ApprovalRefused
from newsletter.message import Content
from newsletter.store.lists import create_list
from newsletter.workspace.approvals import (
    approve,
    check_may_start,
    content_fingerprint,
    current_approval,
    request_approval,
)
from newsletter.workspace.audit import recent_entries
from tests.workspace.conftest import NOW, MakeUser

ISSUE = "2019-12-20-tak-for-et-godt-2019"
CONTENT = Content(
    subject="Tak for et godt 2019",
    html="<p>Kære %%nl:name%%</p>",
    text="Kære %%nl:name%%",
    from_email="nyhedsbrev@example.org",
    from_name="BusinessBallerup",
)
VERSION = content_fingerprint(CONTENT)


@pytest.fixture
def list_id(engine: Engine) -> int:
    with engine.begin() as conn:
        return create_list(conn, "erhverv", "Erhvervsnyt").id


def test_a_request_approved_by_another_sender_lets_either_of_them_start(
    engine: Engine, make_user: MakeUser, list_id: int
) -> None:
    lise = make_user("lise@kommune.dk", "sender")
    ole = make_user("ole@kommune.dk", "sender")
    chef = make_user("chef@kommune.dk", "admin")
    with engine.begin() as conn:
        assert current_approval(conn, ISSUE, list_id) is None
        asked = request_approval(
            conn, ISSUE, list_id, "erhverv", VERSION, requester=lise, actor=lise.actor("10.0.0.7"), now=NOW
        )
        assert (asked.approved, asked.requested_by_email, asked.requested_at) == (
            False,
            "lise@kommune.dk",
            NOW,
        )
        with pytest.raises(ApprovalRefused) as pending:
            check_may_start(current_approval(conn, ISSUE, list_id), lise, VERSION, "erhverv")
        assert pending.value.reason == "pending"
        given = approve(conn, ISSUE, list_id, "erhverv", VERSION, approver=ole, actor=ole.actor(), now=NOW)
        assert (given.approved, given.approved_by_email, given.approved_at) == (True, "ole@kommune.dk", NOW)
        for starter in (lise, ole):
            assert (
                check_may_start(current_approval(conn, ISSUE, list_id), starter, VERSION, "erhverv") == given
            )
        with pytest.raises(
            ApprovalRefused, match=r"only lise@kommune\.dk or ole@kommune\.dk may start"
        ) as third:
            check_may_start(given, chef, VERSION, "erhverv")
        assert third.value.reason == "not-involved"
        with pytest.raises(ApprovalRefused) as twice:
            approve(conn, ISSUE, list_id, "erhverv", VERSION, approver=chef, actor=chef.actor())
        assert twice.value.reason == "approved"
        entries = [(e.action, e.actor, e.detail["list"]) for e in recent_entries(conn) if e.subject == ISSUE]
    assert entries == [
        ("issue.approved", "ole@kommune.dk", "erhverv"),
        ("issue.approval_requested", "lise@kommune.dk", "erhverv"),
    ]


def test_nobody_approves_their_own_request(engine: Engine, make_user: MakeUser, list_id: int) -> None:
    lise = make_user("lise@kommune.dk", "sender")
    with engine.begin() as conn:
        request_approval(conn, ISSUE, list_id, "erhverv", VERSION, requester=lise, actor=lise.actor())
        with pytest.raises(ApprovalRefused, match="cannot approve it too") as own:
            approve(conn, ISSUE, list_id, "erhverv", VERSION, approver=lise, actor=lise.actor())
        assert own.value.reason == "own-request"
        assert current_approval(conn, ISSUE, list_id).approved is False  # type: ignore[union-attr]
        with pytest.raises(ApprovalRefused) as nothing:
            check_may_start(None, lise, VERSION, "erhverv")
        assert nothing.value.reason == "not-requested"


def test_an_edit_after_asking_or_approving_needs_a_new_approval(
    engine: Engine, make_user: MakeUser, list_id: int
) -> None:
    lise = make_user("lise@kommune.dk", "sender")
    ole = make_user("ole@kommune.dk", "sender")
    edited = content_fingerprint(replace(CONTENT, html="<p>Kære %%nl:name%%, nu med en rettelse</p>"))
    assert edited != VERSION and content_fingerprint(replace(CONTENT)) == VERSION
    with engine.begin() as conn:
        request_approval(conn, ISSUE, list_id, "erhverv", VERSION, requester=lise, actor=lise.actor())
        with pytest.raises(ApprovalRefused, match=r"has changed since lise@kommune\.dk asked") as changed:
            approve(conn, ISSUE, list_id, "erhverv", edited, approver=ole, actor=ole.actor())
        assert changed.value.reason == "changed"
        given = approve(conn, ISSUE, list_id, "erhverv", VERSION, approver=ole, actor=ole.actor())
        with pytest.raises(ApprovalRefused, match="has changed since the send to erhverv was approved"):
            check_may_start(given, lise, edited, "erhverv")
        # Asking again for the new version starts over: the old approval no longer counts.
        again = request_approval(conn, ISSUE, list_id, "erhverv", edited, requester=lise, actor=lise.actor())
        assert current_approval(conn, ISSUE, list_id) == again and not again.approved
