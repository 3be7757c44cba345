"""The rendered emails the editor's preview frames show, kept a short while in memory.

The editor renders the text being typed once (a POST) and both frames (600
and 375 px) load the result from a GET of its own, answered with a CSP of its
own: the email's inline styles need ``style-src 'unsafe-inline'``, which the
workspace's pages never get, and a ``srcdoc`` or blob frame would inherit the
page's CSP. Each document is stored under a name made from its content and
its user, for that user only; the store keeps the newest
:data:`KEPT_DOCUMENTS` and forgets the rest (a frame that asks for a
forgotten one is told to type on or reload).

The store lives in one ``serve`` process: behind a load balancer with
several, the editor's requests must stay with one (sticky sessions), or a
frame may miss its document and say so.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from dataclasses import dataclass

KEPT_DOCUMENTS = 200


@dataclass(frozen=True)
class PreviewDocument:
    user_id: int
    slug: str
    html: str


class PreviewStore:
    """Rendered emails by name, newest :data:`KEPT_DOCUMENTS` kept, each readable only by its user."""

    def __init__(self, capacity: int = KEPT_DOCUMENTS) -> None:
        self.capacity = capacity
        self._documents: OrderedDict[str, PreviewDocument] = OrderedDict()
        self._lock = threading.Lock()

    def put(self, document: PreviewDocument) -> str:
        """Keep ``document``; its name (the same content by the same user gets the same name)."""
        digest = hashlib.sha256(f"{document.user_id}\0{document.slug}\0{document.html}".encode()).hexdigest()
        name = digest[:32]
        with self._lock:
            self._documents[name] = document
            self._documents.move_to_end(name)
            while len(self._documents) > self.capacity:
                self._documents.popitem(last=False)
        return name

    def get(self, name: str, user_id: int, slug: str) -> PreviewDocument | None:
        with self._lock:
            found = self._documents.get(name)
        if found is None or found.user_id != user_id or found.slug != slug:
            return None
        return found
