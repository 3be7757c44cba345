"""The database tables, as SQLAlchemy Core metadata: the one description of the schema.

Migrations under ``migrations/versions`` create exactly these tables; a test
compares the migrated database with this metadata so the two cannot drift.

Who owns what:
- subscribers, lists, memberships, consent_log, suppressions: who may be mailed (store).
- sends, send_snapshots, deliveries: the ledger, one row per (issue, subscriber), and what each
  send sends, frozen when planned (send).
- events: what providers reported back through webhooks (web).
- clicks: clicks on an issue's tracked links (/c/TOKEN, only with ``[tracking] clicks``): which
  link of which issue, when — never who (reports).
- rate_limits: sign-up attempts counted across every web service instance (web).
- users, user_tokens, sessions, audit_log: the /admin workspace's people, their one-time
  set-password links, their server-side sessions and the append-only record of what they did
  (workspace). ``audit_log`` refuses UPDATE and DELETE by triggers (revision 0007).
- send_approvals: the four-eyes rule's requests and approvals of a send to a list (workspace).

Timestamps are timezone-aware UTC. Addresses are stored normalised (see
``newsletter.store.addresses``); ``email_hash`` is the SHA-256 of the
normalised address, the key the suppression list uses so that erased people
leave no readable address behind.
"""

from __future__ import annotations

import base64
import secrets

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    false,
    text,
)

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING_CONVENTION)

# Tables whose ids reach the outside world (links, ledger, provider metadata) say
# ``sqlite_autoincrement=True``: an id is never handed out twice. Without it SQLite gives the next
# row max(id) + 1, so an erased person's id went to the next sign-up. PostgreSQL sequences never
# reuse, and ignore the option.


LINK_KEY_BYTES = 12  # random bytes of a link key: 16 characters of URL-safe base64, no padding


def new_link_key() -> str:
    """A subscriber's link key: random, made once, never recycled (see ``subscribers.link_key``)."""
    return secrets.token_urlsafe(LINK_KEY_BYTES)


def new_link_keys(count: int) -> list[str]:
    """``count`` link keys as :func:`new_link_key` makes them, from one read of the system's randomness.

    An import makes thousands at a time: one read of ``count`` × 12 bytes instead of a read each.
    """
    width = LINK_KEY_BYTES * 4 // 3
    encoded = base64.urlsafe_b64encode(secrets.token_bytes(LINK_KEY_BYTES * count)).decode("ascii")
    return [encoded[at : at + width] for at in range(0, width * count, width)]


SUBSCRIBER_STATUSES = ("active", "bounced", "complained")
MEMBERSHIP_STATES = ("pending", "subscribed", "unsubscribed")
CONSENT_METHODS = ("import", "form", "api", "manual")
SUPPRESSION_REASONS = ("bounced", "complained", "erased", "invalid", "manual", "unsubscribed")
USER_ROLES = ("editor", "sender", "admin")
USER_TOKEN_PURPOSES = ("set-password",)
# The predicate of the partial index ix_subscribers_not_active; a query uses the index only when
# its condition is written exactly so (a bound parameter would not match on SQLite).
NOT_ACTIVE = text("status <> 'active'")
EVENT_TYPES = (
    "delivered",
    "deferred",
    "bounced",
    "complained",
    "unsubscribed",
    "opened",
    "clicked",
)

subscribers = Table(
    "subscribers",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("email", String(320), nullable=False, unique=True),
    Column("email_hash", String(64), nullable=False, unique=True),
    Column("name", String(200)),
    Column("language", String(8), nullable=False, server_default="da"),
    Column("attributes", JSON, nullable=False, default=dict),
    # Global state: bounced / complained addresses are never mailed on any list.
    Column("status", String(16), nullable=False, server_default="active"),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    # Every signed link carries this key and is refused when it does not match: a link can act
    # only on the person it was made for, even if their id were ever given to someone else.
    Column("link_key", String(32), nullable=False, unique=True, default=new_link_key),
    # People who existed before link keys (revision 0004): links already mailed to them carry no
    # key (token version 1) and are honoured for them only, never for anyone created since.
    Column("v1_links", Boolean, nullable=False, server_default=false(), default=False),
    CheckConstraint("status IN ('active', 'bounced', 'complained')", name="status"),
    # The workspace's search matches any part of an address or name (newsletter.store.search):
    # on PostgreSQL trigram indexes answer it (revision 0009); SQLite has none and reads the table.
    *(
        Index(
            f"ix_subscribers_{column}_trgm",
            column,
            postgresql_using="gin",
            postgresql_ops={column: "gin_trgm_ops"},
        ).ddl_if(dialect="postgresql")
        for column in ("email", "name")
    ),
    # Only the few people who are not active: counting a list's audience subtracts them
    # (newsletter.store.audience.count_audience) instead of checking every member.
    Index("ix_subscribers_not_active", "id", sqlite_where=NOT_ACTIVE, postgresql_where=NOT_ACTIVE),
    sqlite_autoincrement=True,
)

# Indexes only PostgreSQL has (see above); a SQLite database lacks them on purpose.
POSTGRESQL_ONLY_INDEXES = frozenset({"ix_subscribers_email_trgm", "ix_subscribers_name_trgm"})

lists = Table(
    "lists",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(64), nullable=False, unique=True),
    Column("title", String(200), nullable=False),
    Column("description", Text, nullable=False, server_default=""),
    Column("language", String(8), nullable=False, server_default="da"),
    # The consent text shown on the sign-up page; logged with every confirmation.
    Column("consent_text", Text, nullable=False, server_default=""),
    Column("created_at", DateTime(timezone=True), nullable=False),
    sqlite_autoincrement=True,
)

memberships = Table(
    "memberships",
    metadata,
    Column("subscriber_id", Integer, ForeignKey("subscribers.id", ondelete="CASCADE"), primary_key=True),
    Column("list_id", Integer, ForeignKey("lists.id", ondelete="CASCADE"), primary_key=True),
    Column("state", String(16), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("unsubscribed_at", DateTime(timezone=True)),
    # link | one-click | preferences | provider | import | cli | workspace
    Column("unsubscribe_source", String(32)),
    CheckConstraint("state IN ('pending', 'subscribed', 'unsubscribed')", name="state"),
    Index("ix_memberships_list_state", "list_id", "state", "subscriber_id"),
)

consent_log = Table(
    "consent_log",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("subscriber_id", Integer, ForeignKey("subscribers.id", ondelete="CASCADE"), nullable=False),
    Column("list_id", Integer, ForeignKey("lists.id", ondelete="SET NULL")),
    # subscribe | confirm | resubscribe | unsubscribe
    Column("action", String(16), nullable=False),
    Column("method", String(16), nullable=False),
    Column("source", Text, nullable=False, server_default=""),
    Column("consent_text", Text, nullable=False, server_default=""),
    Column("ip", String(64)),
    Column("at", DateTime(timezone=True), nullable=False),
    CheckConstraint("method IN ('import', 'form', 'api', 'manual')", name="method"),
    Index("ix_consent_log_subscriber", "subscriber_id"),
    sqlite_autoincrement=True,
)

suppressions = Table(
    "suppressions",
    metadata,
    Column("email_hash", String(64), primary_key=True),
    Column("reason", String(16), nullable=False),
    Column("detail", Text, nullable=False, server_default=""),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

sends = Table(
    "sends",
    metadata,
    Column("id", Integer, primary_key=True),
    # The slug (its file name without .md), the ledger's issue key.
    Column("issue", String(200), nullable=False),
    Column("list_id", Integer, ForeignKey("lists.id", ondelete="SET NULL")),
    Column("subject", Text, nullable=False),
    Column("provider", String(32), nullable=False),
    # planned | scheduled | sending | done | cancelled (a scheduled send called off before it fired)
    Column("status", String(16), nullable=False, server_default="planned"),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("finished_at", DateTime(timezone=True)),
    # The provider asked everyone to wait (a 429's Retry-After, a backoff after 5xx or a refused
    # connection): no batch of this send is posted before this moment, not even by a restarted run.
    Column("not_before", DateTime(timezone=True)),
    # ``newsletter send --at``: the instant (UTC) a worker starts it, and the time zone the user
    # gave the wall-clock time in (shown back to them in it). Kept once the send has fired: a
    # send the schedule started is one a worker resumes.
    Column("scheduled_at", DateTime(timezone=True)),
    Column("timezone", String(64)),
    UniqueConstraint("issue", "list_id", name="uq_sends_issue_list"),
    sqlite_autoincrement=True,
)

# What a send sends, frozen when it is planned: every batch, every resume and every worker sends
# this, never the issue file again (an edit made after planning does not reach the rest of the
# list). ``fingerprint`` is the content's (subject, HTML, text: ``message.content_fingerprint``),
# compared with the file's to say that it changed; ``list_headers`` are List-Id and Feedback-ID.
send_snapshots = Table(
    "send_snapshots",
    metadata,
    Column("send_id", Integer, ForeignKey("sends.id", ondelete="CASCADE"), primary_key=True),
    Column("fingerprint", String(64), nullable=False),
    Column("subject", Text, nullable=False),
    Column("html", Text, nullable=False),
    Column("text", Text, nullable=False),
    Column("from_email", String(320), nullable=False),
    Column("from_name", Text, nullable=False),
    Column("reply_to", String(320), nullable=False, server_default=""),
    Column("tags", JSON, nullable=False),
    # The language: the fallback for a missing name in the greeting.
    Column("lang", String(8), nullable=False),
    Column("list_headers", JSON, nullable=False),
    Column("planned_at", DateTime(timezone=True), nullable=False),
)

deliveries = Table(
    "deliveries",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("send_id", Integer, ForeignKey("sends.id", ondelete="CASCADE"), nullable=False),
    Column("issue", String(200), nullable=False),
    # Kept (nullable) when a subscriber is erased: the hash still blocks a second copy.
    Column("subscriber_id", Integer, ForeignKey("subscribers.id", ondelete="SET NULL")),
    Column("email_hash", String(64), nullable=False),
    Column("state", String(16), nullable=False, server_default="queued"),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("provider", String(32)),
    Column("batch_key", String(64)),
    Column("message_id", String(255)),
    Column("error", Text),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("sent_at", DateTime(timezone=True)),
    # A queued row waiting out a retry delay (a RETRY answer, a backed-off batch) is not claimed
    # before this moment; an in-flight batch waiting to be re-posted under its key is not re-posted
    # before it. In the ledger, not in memory, so that a restarted run honours the delay.
    Column("not_before", DateTime(timezone=True)),
    # Who holds a row in flight (``sending``) and until when: a worker renews its lease while the
    # provider call runs; only a row whose lease expired is recovered by another worker or send.
    Column("lease_owner", String(64)),
    Column("lease_expires_at", DateTime(timezone=True)),
    CheckConstraint("state IN ('queued', 'sending', 'sent', 'failed', 'skipped', 'unknown')", name="state"),
    UniqueConstraint("issue", "email_hash", name="uq_deliveries_issue_email_hash"),
    Index("ix_deliveries_send_state", "send_id", "state", "id"),
    Index("ix_deliveries_message_id", "message_id"),
    Index("ix_deliveries_subscriber", "subscriber_id"),
    sqlite_autoincrement=True,
)

# The provider's pace shared by every worker on one PostgreSQL (``messages_per_second``): the
# moment the next message may go, pushed forward by each batch under ``FOR UPDATE``.
send_pace = Table(
    "send_pace",
    metadata,
    Column("provider", String(32), primary_key=True),
    Column("next_at", DateTime(timezone=True), nullable=False),
)

# The provider's ``concurrency`` shared by every worker: one row per request that may be in flight,
# held (with a lease, renewed like a row's) by the worker posting through it.
send_slots = Table(
    "send_slots",
    metadata,
    Column("provider", String(32), primary_key=True),
    Column("slot", Integer, primary_key=True),
    Column("holder", String(64)),
    Column("expires_at", DateTime(timezone=True)),
)

events = Table(
    "events",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("provider", String(32), nullable=False),
    Column("provider_event_id", String(255), nullable=False),
    Column("type", String(16), nullable=False),
    Column("hard", Boolean),
    Column("delivery_id", Integer, ForeignKey("deliveries.id", ondelete="SET NULL")),
    Column("subscriber_id", Integer, ForeignKey("subscribers.id", ondelete="SET NULL")),
    Column("occurred_at", DateTime(timezone=True)),
    Column("received_at", DateTime(timezone=True), nullable=False),
    Column("detail", Text, nullable=False, server_default=""),
    Column("raw", JSON, nullable=False),
    UniqueConstraint("provider", "provider_event_id", name="uq_events_provider_event"),
    Index("ix_events_delivery", "delivery_id"),
    # ``newsletter report`` (newsletter.reports.figures): each message's outcomes and the events'
    # times read from the index alone, never the wide rows (revision 0013).
    Index("ix_events_delivery_outcome", "delivery_id", "type", "hard", "occurred_at", "received_at"),
    # One person's events, newest first, on their page in the workspace (revision 0009).
    Index("ix_events_subscriber", "subscriber_id"),
    sqlite_autoincrement=True,
)

# One click on a tracked link (``[tracking] clicks = true``, newsletter.web.clicks): the issue, the
# destination and the moment. Nothing about the reader — not their address, IP or browser: a link's
# token is the same for every reader, so the report counts clicks per link, never per person.
clicks = Table(
    "clicks",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("issue", String(200), nullable=False),
    Column("url", Text, nullable=False),
    Column("clicked_at", DateTime(timezone=True), nullable=False),
    Index("ix_clicks_issue_url", "issue", "url"),
    sqlite_autoincrement=True,
)

# One-time webhook tokens (Mailgun's): a signature that covers no event may be used once. Keyed by
# the token's SHA-256 (fixed width, whatever the request sends); the unique key makes the claim
# atomic across threads, restarts and several `serve` processes. The body's SHA-256 tells the
# provider's own retry of the same request (harmless, answered as a replay) from a captured token
# carrying another body (refused). Rows older than the freshness window are pruned: their
# timestamps are refused anyway.
webhook_tokens = Table(
    "webhook_tokens",
    metadata,
    Column("provider", String(32), primary_key=True),
    Column("token_hash", String(64), primary_key=True),
    Column("signed_at", DateTime(timezone=True), nullable=False),
    Column("body_hash", String(64), nullable=False),
    Index("ix_webhook_tokens_signed_at", "signed_at"),
)

# Sign-up attempts per client and per address, shared by every ``serve`` instance on the database.
# One row per (hashed key, window); ``expires_at`` (epoch seconds) is when the row no longer counts.
rate_limits = Table(
    "rate_limits",
    metadata,
    Column("bucket", String(64), primary_key=True),
    Column("window_no", Integer, primary_key=True, autoincrement=False),
    Column("hits", Integer, nullable=False),
    Column("expires_at", Integer, nullable=False),
    Index("ix_rate_limits_expires_at", "expires_at"),
)

# The workspace's people. Never deleted (disabled instead): their id stays in the audit log.
# ``email_hash`` (as for subscribers) makes ``Jens@Kommune.dk`` and ``jens@kommune.dk`` one user.
users = Table(
    "users",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("email", String(320), nullable=False),
    Column("email_hash", String(64), nullable=False, unique=True),
    Column("name", String(200), nullable=False, server_default=""),
    Column("role", String(16), nullable=False),
    # argon2id, in argon2's own encoded form; NULL until the person sets one through their link.
    Column("password_hash", String(255)),
    # The TOTP secret encrypted with a key derived from NEWSLETTER_SECRET_KEY (newsletter.workspace.totp);
    # NULL: no second factor. ``totp_last_step`` is the time step of the last code accepted, so the
    # same code (or an older one) is never accepted twice.
    Column("totp_secret", Text),
    Column("totp_last_step", Integer),
    Column("language", String(8), nullable=False, server_default="da"),
    Column("disabled", Boolean, nullable=False, server_default=false(), default=False),
    # Consecutive failed logins, and the lockout they caused (newsletter.workspace.login).
    Column("failed_logins", Integer, nullable=False, server_default="0", default=0),
    Column("locked_until", DateTime(timezone=True)),
    # "Log out everywhere": a session created before this moment is refused.
    Column("sessions_valid_after", DateTime(timezone=True), nullable=False),
    Column("last_login_at", DateTime(timezone=True)),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    CheckConstraint("role IN ('editor', 'sender', 'admin')", name="role"),
    CheckConstraint("language IN ('da', 'en')", name="language"),
    sqlite_autoincrement=True,
)

# One-time links (set-password, also after a reset): only the SHA-256 of the random token is kept,
# so a copy of the database cannot be used to set anyone's password.
user_tokens = Table(
    "user_tokens",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("purpose", String(16), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("used_at", DateTime(timezone=True)),
    CheckConstraint("purpose IN ('set-password')", name="purpose"),
    Index("ix_user_tokens_user", "user_id"),
    sqlite_autoincrement=True,
)

# Server-side sessions: the cookie holds a random id, the table only its SHA-256. ``expires_at`` is
# the absolute end; the idle end is ``last_seen_at`` plus [admin] session_idle_minutes.
sessions = Table(
    "sessions",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("id_hash", String(64), nullable=False, unique=True),
    Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("last_seen_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    # The password was right, the TOTP code is still to come: such a session opens no page.
    Column("second_factor_pending", Boolean, nullable=False, server_default=false(), default=False),
    Column("ip", String(64)),
    Column("user_agent", String(300)),
    Column("csrf_secret", String(64), nullable=False),
    Index("ix_sessions_user", "user_id"),
    Index("ix_sessions_expires_at", "expires_at"),
    sqlite_autoincrement=True,
)

# Append-only: who (user id and their address at the time, or "cli:<os user>"), what (an action of
# newsletter.workspace.audit.AUDIT_ACTIONS), on what, with which details, when and from where.
# Triggers refuse UPDATE and DELETE on both databases (revision 0007); a later revision that
# rebuilds this table on SQLite must create them again. No ON DELETE on user_id: a user who did
# anything cannot be deleted, only disabled. Subjects name subscribers by id, never by address,
# so that erasing a person leaves no address behind here.
audit_log = Table(
    "audit_log",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("user_id", Integer, ForeignKey("users.id")),
    Column("actor", String(320), nullable=False),
    Column("action", String(40), nullable=False),
    Column("subject", String(200), nullable=False, server_default=""),
    Column("detail", JSON, nullable=False),
    Column("ip", String(64)),
    Index("ix_audit_log_at", "at"),
    Index("ix_audit_log_user", "user_id"),
    sqlite_autoincrement=True,
)


# The four-eyes rule ([admin] four_eyes, newsletter.workspace.approvals): a sender asks to send an
# issue to a list, another approves. ``fingerprint`` is the SHA-256 of the issue as rendered when
# asked (subject, HTML, text): a later edit needs a new approval. The latest row per issue and list
# is the one that counts. No ON DELETE on the users: users are disabled, never deleted.
send_approvals = Table(
    "send_approvals",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("issue", String(200), nullable=False),
    Column("list_id", Integer, ForeignKey("lists.id", ondelete="CASCADE"), nullable=False),
    Column("fingerprint", String(64), nullable=False),
    Column("requested_by", Integer, ForeignKey("users.id"), nullable=False),
    Column("requested_at", DateTime(timezone=True), nullable=False),
    Column("approved_by", Integer, ForeignKey("users.id")),
    Column("approved_at", DateTime(timezone=True)),
    Index("ix_send_approvals_issue_list", "issue", "list_id", "id"),
    sqlite_autoincrement=True,
)
