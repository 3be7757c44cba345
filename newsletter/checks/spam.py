"""The spam score a filter gives a message: Debian's SpamAssassin with its local rules only.

``spamassassin -t -L`` scores a whole MIME message without asking the network
(no DNS blocklists, no Razor/Pyzor), so the score depends on what we control:
hidden or low-contrast text, long quoted-printable lines, missing headers.
The project's own messages score 0; ``newsletter check`` reports anything
above that when SpamAssassin is installed (``apt-get install spamassassin``).

``NEWSLETTER_SPAMASSASSIN`` names the program (default: ``spamassassin`` on
PATH); ``off`` leaves the score out — it takes a few seconds a message.
"""

from __future__ import annotations

import mailbox
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

SPAMASSASSIN_ENV = "NEWSLETTER_SPAMASSASSIN"
# SpamAssassin's default threshold: at this score a message is filed as spam.
SPAM_THRESHOLD = 5.0
_TIMEOUT_SECONDS = 120
_TOTAL = re.compile(r"Content analysis details:\s+\((-?[\d.]+) points")
# "  0.7 HTML_FONT_LOW_CONTRAST BODY: HTML font color similar or identical to"
# Each message goes in numbered by this header, to find its report in the output.
_ORDER_HEADER = "X-Newsletter-Spam-Check"
_ORDER = re.compile(rf"^{_ORDER_HEADER}: (\d+)$", re.MULTILINE)
_MBOX_SEPARATOR = re.compile(r"^From \S+ .*$", re.MULTILINE)
_RULE = re.compile(r"^\s*(-?\d+(?:\.\d+)?)\s+([A-Z][A-Z0-9_]+)\s+(.*)$")


class SpamAssassinFailed(RuntimeError):
    """SpamAssassin ran but gave no score (it crashed, timed out or printed no report)."""


@dataclass(frozen=True)
class SpamRule:
    name: str
    points: float
    description: str


@dataclass(frozen=True)
class SpamScore:
    points: float
    rules: tuple[SpamRule, ...]

    @property
    def scoring_rules(self) -> tuple[SpamRule, ...]:
        """The rules that added points (the informational 0.0 and negative ones left out)."""
        return tuple(rule for rule in self.rules if rule.points > 0)

    def describe(self) -> str:
        rules = ", ".join(f"{rule.name} {rule.points:+.1f}" for rule in self.scoring_rules)
        return f"{self.points:.1f} points" + (f" ({rules})" if rules else "")


def spamassassin_program() -> str | None:
    """The SpamAssassin program to run, or None when it is not installed or turned off."""
    configured = os.environ.get(SPAMASSASSIN_ENV, "").strip()
    if configured.lower() == "off":
        return None
    return shutil.which(configured or "spamassassin")


def parse_reports(output: str) -> dict[int, SpamScore]:
    """The report of each message in ``spamassassin --mbox -t`` output, by the number in its
    :data:`_ORDER_HEADER` (SpamAssassin does not keep the mailbox's order)."""
    scores: dict[int, SpamScore] = {}
    for message in _MBOX_SEPARATOR.split(output):
        number, total = _ORDER.search(message), _TOTAL.search(message)
        if number is not None and total is not None:
            scores[int(number.group(1))] = _parse_one(message[total.start() :])
    return scores


def _parse_one(report: str) -> SpamScore:
    total = _TOTAL.match(report)
    assert total is not None  # parse_reports cut the output at these matches
    rules: list[SpamRule] = []
    in_table = False
    for line in report[total.end() :].splitlines():
        if line.startswith("----"):
            in_table = True
            continue
        if not in_table:
            continue
        match = _RULE.match(line)
        if match:
            rules.append(SpamRule(match.group(2), float(match.group(1)), match.group(3).strip()))
        elif line.strip() and not line.startswith(" "):
            break  # the report's table ends where the message itself continues
    return SpamScore(float(total.group(1)), tuple(rules))


def spam_scores(messages: Sequence[bytes], program: str) -> list[SpamScore]:
    """Score whole messages (as sent: headers and both parts) with local rules only, in one run."""
    with tempfile.TemporaryDirectory(prefix="newsletter-spam-") as folder:
        box_path = Path(folder) / "messages.mbox"
        box = mailbox.mbox(box_path)
        for number, message in enumerate(messages):
            box.add(mailbox.mboxMessage(f"{_ORDER_HEADER}: {number}\r\n".encode() + message))
        box.close()
        try:
            with box_path.open("rb") as box_file:
                done = subprocess.run(
                    [program, "--mbox", "-t", "-L"],
                    stdin=box_file,
                    capture_output=True,
                    timeout=_TIMEOUT_SECONDS,
                    check=False,
                )
        except subprocess.TimeoutExpired:
            raise SpamAssassinFailed(f"SpamAssassin gave no answer in {_TIMEOUT_SECONDS} s") from None
        except OSError as exc:
            raise SpamAssassinFailed(f"SpamAssassin could not be started ({exc.strerror})") from None
    scores = parse_reports(done.stdout.decode("utf-8", "replace"))
    if sorted(scores) != list(range(len(messages))):
        raise SpamAssassinFailed(f"SpamAssassin scored {len(scores)} of {len(messages)} message(s)")
    return [scores[number] for number in range(len(messages))]


def spam_score(message: bytes, program: str) -> SpamScore:
    """Score one whole message; see :func:`spam_scores`."""
    [score] = spam_scores([message], program)
    return score
