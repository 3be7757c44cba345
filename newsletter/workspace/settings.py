"""``[admin]`` in newsletter.toml: whether the workspace runs, how long a login lasts, where it listens.

```toml
[admin]
enabled = true                 # false: no /admin at all
session_idle_minutes = 60      # signed out after this long without a request
session_max_hours = 12         # signed out this long after signing in, however busy
four_eyes = false              # true: a send to a list needs a second sender's approval
test_group = ["jens@kommune.dk", "lise@kommune.dk"]   # "send a test to the test group" goes here
bind = "10.0.0.5"              # with port: the workspace listens here instead of beside the public pages
port = 8001
```
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from newsletter.settings_reader import SettingsReader

TABLE = "admin"
LOCAL_INTERFACE = "127.0.0.1"


@dataclass(frozen=True)
class AdminSettings:
    """``[admin]``, validated.

    ``port`` None (the default): the workspace is part of ``newsletter serve``'s own
    listener, beside the public pages. A ``port`` gives it a listener of its own on
    ``bind`` (default 127.0.0.1, this machine only), e.g. an intranet interface.
    ``test_group``: the addresses the workspace's "send a test to the test group" sends to.
    """

    enabled: bool = True
    session_idle_minutes: int = 60
    session_max_hours: int = 12
    four_eyes: bool = False
    bind: str = ""
    port: int | None = None
    test_group: tuple[str, ...] = ()


def read_admin_settings(reader: SettingsReader) -> AdminSettings:
    """``[admin]`` out of the settings file; every bad field is one error line in ``reader``."""
    idle = reader.integer(TABLE, "session_idle_minutes", default=60, low=5, high=24 * 60)
    max_hours = reader.integer(TABLE, "session_max_hours", default=12, low=1, high=30 * 24)
    if idle > max_hours * 60:
        reader.errors.append(
            f"[{TABLE}] session_idle_minutes: {idle} minutes is longer than session_max_hours "
            f"({max_hours} h), so it would never apply — make it at most {max_hours * 60}"
        )
    port = reader.integer(TABLE, "port", default=0, low=1, high=65535) or None
    bind = reader.text(TABLE, "bind")
    if bind and bind != "localhost":
        try:
            bind = str(ipaddress.ip_address(bind))
        except ValueError:
            reader.errors.append(
                f"[{TABLE}] bind: {bind!r} is not an IP address of this machine — "
                f'write e.g. bind = "{LOCAL_INTERFACE}" or the intranet address'
            )
            bind = ""
    if bind and port is None:
        reader.errors.append(f"[{TABLE}] bind: needs a port of its own — add port = 8001 under [{TABLE}]")
    if port is not None and not bind:
        bind = LOCAL_INTERFACE
    return AdminSettings(
        enabled=reader.boolean(TABLE, "enabled", default=True),
        session_idle_minutes=idle,
        session_max_hours=max_hours,
        four_eyes=reader.boolean(TABLE, "four_eyes", default=False),
        bind=bind,
        port=port,
        test_group=reader.emails(TABLE, "test_group"),
    )
