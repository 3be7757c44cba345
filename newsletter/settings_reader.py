"""Typed fields out of newsletter.toml's tables, one error line per bad field.

:class:`SettingsReader` is what :mod:`newsletter.config` reads the common
settings with, and what each provider class reads its own ``[provider]``
fields with (:meth:`newsletter.providers.settings.ProviderDeclaration.read_options`), so a
provider's settings are checked, reported and defaulted like everyone else's.
"""

from __future__ import annotations

import difflib
import ipaddress
import math
from collections.abc import Iterable
from pathlib import Path
from typing import Any
from urllib.parse import urlparse
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from email_validator import EmailNotValidError, validate_email

from newsletter.errors import ConfigError
from newsletter.safe_text import header_text_problem


class SettingsReader:
    """Reads typed fields out of the TOML tables, collecting one error per bad field."""

    def __init__(self, data: dict[str, Any], path: Path | None) -> None:
        self.data = data
        self.where = str(path) if path else "settings"
        self.errors: list[str] = []
        # Every (table, key) some part of the program asked for: what is not in here is a typo.
        self.asked: set[tuple[str, str]] = set()

    def _raw(self, table: str, key: str) -> Any:
        self.asked.add((table, key))
        section = self.data.get(table, {})
        if not isinstance(section, dict):
            problem = f"[{table}] must be a table, e.g. '[{table}]' on its own line"
            if problem not in self.errors:
                self.errors.append(problem)
            return None
        return section.get(key)

    def _fail(self, table: str, key: str, problem: str) -> None:
        self.errors.append(f"[{table}] {key}: {problem}")

    def text(
        self, table: str, key: str, *, required: bool = False, default: str = "", header: bool = False
    ) -> str:
        """A text field; ``header`` marks one that ends up in a mail header (From, Reply-To, …)."""
        value = self._raw(table, key)
        if isinstance(value, str):
            value = value.strip()
        if value is None or value == "":
            if required:
                self._fail(table, key, f'is required — add {key} = "…" under [{table}]')
            return default
        if not isinstance(value, str):
            self._fail(table, key, f"must be a text string in quotes, not {value!r}")
            return default
        problem = header_text_problem(value) if header else None
        if problem is not None:
            # A line break in From or Reply-To would let the settings file forge headers.
            self._fail(
                table,
                key,
                f"{problem}, which a mail header cannot carry — write it on one line "
                "in plain quotes, without \\n, \\r or \\t",
            )
            return default
        return value

    def email(self, table: str, key: str, *, required: bool = False, default: str = "") -> str:
        value = self.text(table, key, required=required, default=default, header=True)
        if not value:
            return value
        try:
            return validate_email(value, check_deliverability=False).normalized
        except EmailNotValidError as exc:
            self._fail(table, key, f"{value!r} is not a valid email address ({exc})")
            return default

    def _text_list(self, table: str, key: str, example: str) -> list[str]:
        """A list of strings in quotes (empty when absent or wrong; a wrong one is reported)."""
        value = self._raw(table, key)
        if value is None:
            return []
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            self._fail(table, key, f"must be a list of addresses in quotes, not {value!r} — {example}")
            return []
        return value

    def emails(self, table: str, key: str) -> tuple[str, ...]:
        """A list of email addresses, e.g. ``["jens@kommune.dk", "lise@kommune.dk"]``, normalised."""
        example = f'write e.g. {key} = ["jens@kommune.dk", "lise@kommune.dk"] under [{table}]'
        value = self._text_list(table, key, example)
        found: list[str] = []
        for item in value:
            try:
                address = validate_email(item.strip(), check_deliverability=False).normalized
            except EmailNotValidError as exc:
                self._fail(table, key, f"{item!r} is not a valid email address ({exc}) — {example}")
                return ()
            if address not in found:
                found.append(address)
        return tuple(found)

    def url(self, table: str, key: str, *, required: bool = False, default: str = "") -> str:
        value = self.text(table, key, required=required, default=default)
        if not value:
            return value
        parsed = urlparse(value)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            self._fail(
                table,
                key,
                f"{value!r} is not an absolute http(s) URL — write e.g. https://example.dk",
            )
            return default
        return value.rstrip("/")

    def choice(self, table: str, key: str, options: tuple[str, ...], *, default: str) -> str:
        value = self.text(table, key, default=default)
        if value not in options:
            self._fail(table, key, f"{value!r} is not one of: {', '.join(options)}")
            return default
        return value

    def time_zone(self, table: str, key: str, *, default: str) -> str:
        """An IANA time zone name this computer knows, e.g. ``Europe/Copenhagen``."""
        value = self.text(table, key, default=default)
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            self._fail(
                table,
                key,
                f"{value!r} is not a time zone this computer knows — write a name like "
                f'"Europe/Copenhagen" (Area/City, as in the IANA time zone database)',
            )
            return default
        return value

    def boolean(self, table: str, key: str, *, default: bool) -> bool:
        value = self._raw(table, key)
        if value is None:
            return default
        if not isinstance(value, bool):
            self._fail(table, key, f"must be true or false (without quotes), not {value!r}")
            return default
        return value

    def integer(self, table: str, key: str, *, default: int, low: int, high: int) -> int:
        value = self._raw(table, key)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, int):
            self._fail(table, key, f"must be a whole number, not {value!r}")
            return default
        if not low <= value <= high:
            self._fail(table, key, f"{value} is out of range — use {low} to {high}")
            return default
        return value

    def number(self, table: str, key: str, *, default: float, low: float, high: float | None = None) -> float:
        value = self._raw(table, key)
        if value is None:
            return default
        # TOML allows nan and inf; neither is a usable rate, timeout or wait.
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            self._fail(table, key, f"must be a number, not {value!r}")
            return default
        if value < low:
            self._fail(table, key, f"{value} is too small — use at least {low}")
            return default
        if high is not None and value > high:
            self._fail(table, key, f"{value} is too large — use at most {high}")
            return default
        return float(value)

    def networks(self, table: str, key: str) -> tuple[str, ...]:
        """A list of IP addresses or networks, e.g. ``["127.0.0.1", "10.0.0.0/8"]``."""
        example = f'write e.g. {key} = ["127.0.0.1"] under [{table}]'
        value = self._text_list(table, key, example)
        found: list[str] = []
        for item in value:
            try:
                found.append(str(ipaddress.ip_network(item.strip(), strict=False)))
            except ValueError:
                self._fail(table, key, f"{item!r} is not an IP address or network — {example}")
                return ()
        return tuple(found)

    def report_unknown(self, also_known: Iterable[tuple[str, str]] = ()) -> None:
        """One error for each table and field of the file that nothing reads (a typo, or a setting
        that does not exist), with the nearest real name. ``also_known``: fields read elsewhere."""
        known = self.asked | set(also_known)
        tables = sorted({table for table, _ in known})
        for table, section in self.data.items():
            if not isinstance(section, dict):
                if table not in tables:
                    self.errors.append(
                        f"{table}: is outside any table — put it under the table it belongs to, "
                        f"one of [{'], ['.join(tables)}]"
                    )
                continue
            if table not in tables:
                self.errors.append(f"[{table}]: is not a settings table{_nearest(table, tables, '[', ']')}")
                continue
            fields = sorted(key for known_table, key in known if known_table == table)
            for key in section:
                if key not in fields:
                    self._fail(table, key, f"is not a setting of [{table}]{_nearest(key, fields)}")

    def raise_if_errors(self) -> None:
        if not self.errors:
            return
        if len(self.errors) == 1:
            raise ConfigError(f"{self.where}: {self.errors[0]}")
        listed = "; ".join(self.errors)
        raise ConfigError(f"{self.where}: {len(self.errors)} problems: {listed}")


def _nearest(name: str, names: list[str], before: str = "", after: str = "") -> str:
    """ " — did you mean X?" for the closest of ``names``; otherwise the names there are."""
    close = difflib.get_close_matches(name, names, n=1, cutoff=0.6)
    if close:
        return f" — did you mean {before}{close[0]}{after}?"
    return f" — remove it, or use one of: {', '.join(before + each + after for each in names)}"
