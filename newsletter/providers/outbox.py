"""The outbox: every message as a complete ``.eml`` file in a folder, no network, no credentials.

The embedded default, so a project runs (and its sends can be inspected in any
mail client) before an email provider is set up. Layout::

    <outbox_dir>/<issue slug>/<delivery id>.eml

The file name comes from the recipient's ``nl_delivery`` metadata (the ledger
row) or, without one, from a hash of the address. Sending the same delivery
again therefore replaces its file instead of adding a second one: the outbox
is idempotent, like a provider with idempotency keys. Each file is written to a
temporary name in the same folder and moved into place with ``os.replace``,
so a crash or ``kill -9`` never leaves a half-written message behind. (No
fsync per file: it would cost the outbox about 40 % of its speed, and a power
cut is not what the outbox — a demo and inspection tool — guards against.) Every message of a batch is built before the first is
written: a message that cannot be built sends nothing. When a write fails
midway (disk full), the messages already in place are reported sent and the
rest is provably unwritten, so they are retried.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import tempfile
from pathlib import Path

import httpx

from newsletter.errors import ProviderPermanent
from newsletter.message import Batch, Recipient
from newsletter.providers._shared import build_each, check_batch_size
from newsletter.providers.base import Outcome, Provider, RecipientResult
from newsletter.providers.outbox_declaration import OutboxDeclaration, OutboxOptions
from newsletter.providers.settings import ProviderSettings

_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")


def _safe_name(value: str) -> str:
    cleaned = _UNSAFE.sub("_", value).strip("._")
    return cleaned[:120] or "_"


def message_file_name(recipient: Recipient) -> str:
    """``<nl_delivery>.eml``, else a hash of the address: stable across re-sends."""
    delivery = recipient.metadata.get("nl_delivery")
    if delivery:
        return f"{_safe_name(str(delivery))}.eml"
    digest = hashlib.sha256(recipient.email.strip().lower().encode("utf-8")).hexdigest()[:24]
    return f"addr-{digest}.eml"


class OutboxProvider(OutboxDeclaration, Provider):
    idempotent = True
    idempotency_window = None  # a written file stays: the same batch again rewrites the same files

    @classmethod
    def from_settings(cls, settings: ProviderSettings, client: httpx.Client | None = None) -> OutboxProvider:
        options = settings.options
        return cls(options.outbox_dir if isinstance(options, OutboxOptions) else Path("outbox"))

    def __init__(self, outbox_dir: Path | str) -> None:
        super().__init__(client=None, base_url="")
        self.outbox_dir = Path(outbox_dir)

    def folder_for(self, batch: Batch) -> Path:
        return self.outbox_dir / _safe_name(batch.content.issue or "issue")

    def send_batch(self, batch: Batch) -> list[RecipientResult]:
        check_batch_size(self.name, batch, self.max_batch)
        folder = self.folder_for(batch)
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ProviderPermanent(
                f"outbox: cannot create folder {folder}: {exc.strerror} — "
                "check [provider] outbox_dir in newsletter.toml and the folder's permissions"
            ) from exc
        # Every message is built before any is written (see build_each).
        planned: list[tuple[Path, bytes, str] | RecipientResult] = [
            item
            if isinstance(item, RecipientResult)
            else (folder / message_file_name(recipient), item.data, item.message_id)
            for recipient, item in zip(batch.recipients, build_each(self, batch), strict=True)
        ]
        results: list[RecipientResult] = []
        written = 0
        for index, item in enumerate(planned):
            if isinstance(item, RecipientResult):
                results.append(item)
                continue
            target, data, message_id = item
            try:
                self._write_atomically(target, data)
            except ProviderPermanent as exc:
                if not written:
                    raise  # nothing of the batch was written
                # Those in place stay sent; the rest was never moved into place.
                unwritten = RecipientResult(Outcome.RETRY, reason=str(exc))
                rest = planned[index:]
                return results + [r if isinstance(r, RecipientResult) else unwritten for r in rest]
            written += 1
            results.append(RecipientResult(Outcome.ACCEPTED, message_id=message_id))
        return results

    def _write_atomically(self, target: Path, data: bytes) -> None:
        temp_name: str | None = None
        try:
            fd, temp_name = tempfile.mkstemp(dir=target.parent, prefix=".tmp-", suffix=".eml")
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
            os.replace(temp_name, target)
            temp_name = None
        except OSError as exc:
            raise ProviderPermanent(
                f"outbox: cannot write {target}: {exc.strerror} — check free disk space and permissions"
            ) from exc
        finally:
            if temp_name is not None:
                with contextlib.suppress(OSError):
                    os.unlink(temp_name)

    def close(self) -> None:
        """Nothing to close: the outbox holds no connections."""


PROVIDER = OutboxProvider
