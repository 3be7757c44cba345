"""The workspace's own files (its stylesheet and the vendored htmx), served under /admin/static/.

Each file is served under a name that carries a hash of its content
(``admin.3f2a9c01de.css``), so it may be cached for a year: a changed file
gets a new name, and the pages link to whatever name the running version has.
htmx is vendored (``htmx-2.0.10.min.js``, Zero-Clause BSD, ``htmx-LICENSE.txt``
beside it): the workspace runs on an intranet without internet and loads
nothing from anywhere else. Every page also works without JavaScript.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

STATIC_DIR = Path(__file__).resolve().parent / "static"
STATIC_PATH = "/admin/static/"
HTMX_VERSION = "2.0.10"
# What the pages ask for, by role: upgrading htmx means replacing the file and this line.
FILES = {"css": "admin.css", "htmx": f"htmx-{HTMX_VERSION}.min.js", "editor": "editor.js"}
_TYPES = {".css": "text/css; charset=utf-8", ".js": "text/javascript; charset=utf-8"}
CACHE_FOREVER = "public, max-age=31536000, immutable"


@dataclass(frozen=True)
class StaticFile:
    url_name: str
    content: bytes
    media_type: str


@dataclass(frozen=True)
class StaticFiles:
    """The files by role (``css``, ``htmx``) and by the hashed name they are served under."""

    by_role: dict[str, StaticFile]
    by_url_name: dict[str, StaticFile]

    @classmethod
    def load(cls, folder: Path = STATIC_DIR) -> StaticFiles:
        by_role: dict[str, StaticFile] = {}
        for role, name in FILES.items():
            path = folder / name
            content = path.read_bytes()
            stem, suffix = name.rsplit(".", 1)
            digest = hashlib.sha256(content).hexdigest()[:10]
            by_role[role] = StaticFile(f"{stem}.{digest}.{suffix}", content, _TYPES["." + suffix])
        return cls(by_role, {file.url_name: file for file in by_role.values()})

    def url(self, role: str) -> str:
        return STATIC_PATH + self.by_role[role].url_name
