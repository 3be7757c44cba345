"""The /admin workspace's web-free core: users, roles, passwords, second factor, sessions, audit.

Everything a workspace page needs to decide who someone is and what they may
do lives here, below ``newsletter.web``, so that the CLI and tests use the
same rules and a page only parses input and renders answers:

    settings   [admin] in newsletter.toml (AdminSettings)
    roles      which role may do what: ``may(user, action)``, one table
    passwords  the policy (12+ characters, not the email), argon2id hashing
    totp       second factor: secrets encrypted at rest, codes accepted once
    audit      the append-only record of who did what (Actor, record, CSV export)
    users      the people: create, role, disable, enable, password, 2FA
    links      one-time set-password links (only their hash is stored)
    sessions   server-side sessions: create, look up, rotate, revoke, CSRF secret
    login      the sign-in steps: client rate limit, lockout, password, code, session

Storage functions take a :class:`sqlalchemy.Connection` and leave the
transaction to the caller, like :mod:`newsletter.store`. Every change to a
user records an audit entry in the same transaction, so no caller can forget it.
"""
