"""Every error the library raises on purpose, rooted in one tree.

    NewsletterError                 one clear line for the user; ``exit_code`` for the CLI
     ├── ConfigError                newsletter.toml or the environment is wrong
     ├── IssueError                 an issue file cannot be read or is invalid (file, line)
     ├── RenderError                a template or the MJML it produced is broken (template, line)
     ├── StoreError                 the subscriber store refused or failed
     │    ├── DatabaseUnavailable   the database URL does not connect
     │    ├── NotFound              a list, subscriber or send that does not exist
     │    └── AlreadyExists         a unique name or address that is taken
     ├── ImportFileError            a CSV import file cannot be used at all
     ├── TokenError                 a signed token is forged, damaged or expired
     │    └── TokenExpired
     ├── ProviderError              an email provider refused or failed (see providers.base)
     │    ├── ProviderRetryable     never reached the provider, or told to come back (429/5xx)
     │    ├── ProviderAmbiguous     the provider may have accepted the batch (read timeout, drop)
     │    └── ProviderPermanent     refused for good (auth, payload); retrying will not help
     ├── SendError                  a send cannot start or continue (checks failed, bad state)
     │    ├── SendBusy              another run of the same issue holds the send lock
     │    └── ApprovalRefused       the four-eyes rule says no (``reason``)
     ├── CheckError                 pre-send checks found errors
     └── AccountError               a workspace user, password, link or login is refused (``reason``)
          ├── PasswordRejected      the password breaks the policy
          ├── LinkRefused           a set-password link is unknown, used or expired
          └── LoginRefused          wrong email/password/code, locked, disabled or too many attempts

Messages are single lines that name the file, line or field and say what to
do next. Secrets never appear in them: see :func:`newsletter.secrets.redact`.
Third-party exceptions are translated into these at one boundary each, with
``raise ... from exc`` so the cause stays available in logs.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from newsletter.secrets import redact
from newsletter.wording import Wording


class NewsletterError(Exception):
    """Base of every error the user should see as one line."""

    exit_code = 1

    def __init__(self, message: str) -> None:
        super().__init__(redact(message))

    @property
    def message(self) -> str:
        return str(self)


class ConfigError(NewsletterError):
    exit_code = 2


class IssueError(NewsletterError):
    """An issue file is invalid. ``path`` and ``line`` locate the problem; ``also`` holds the
    file's other problems found in the same pass (``newsletter check`` lists them all; a command
    that stops on the first says how many more there are). ``detail`` is the problem in English;
    ``wording`` (when the problem was given as one) the same as a code and values, for the
    workspace to word in the user's language."""

    exit_code = 3

    def __init__(
        self,
        path: object,
        message: str | Wording,
        line: int | None = None,
        *,
        also: Sequence[IssueError] = (),
    ) -> None:
        self.path = str(path)
        self.line = line
        self.wording = message if isinstance(message, Wording) else None
        self.detail = str(message)
        self.also = tuple(also)
        # What could still be read of the file (subject, preheader, source), when it could.
        self.front_matter: dict[str, str] = {}
        where = f"{self.path}:{line}" if line else self.path
        more = (
            f" (and {len(self.also)} more problem(s) in this file: newsletter check lists them all)"
            if self.also
            else ""
        )
        super().__init__(f"{where}: {message}{more}")

    @property
    def every(self) -> tuple[IssueError, ...]:
        """This problem and the others of the same file, in the order of their lines."""
        return (IssueError(self.path, self.wording or self.detail, self.line), *self.also)

    @classmethod
    def of(cls, problems: Sequence[IssueError]) -> IssueError:
        """One error for several problems of one file: the first by line, carrying the others."""
        first, *others = sorted(problems, key=lambda problem: problem.line or 0)
        return cls(first.path, first.wording or first.detail, first.line, also=others)


class RenderError(NewsletterError):
    """A template, or the MJML it produced, is broken."""

    exit_code = 3

    def __init__(self, where: str, message: str, line: int | None = None) -> None:
        self.where = where
        self.line = line
        loc = f"{where}:{line}" if line else where
        super().__init__(f"{loc}: {message}")


class StoreError(NewsletterError):
    exit_code = 4


class DatabaseUnavailable(StoreError):
    pass


class NotFound(StoreError):
    pass


class AlreadyExists(StoreError):
    pass


class ImportFileError(NewsletterError):
    """A subscriber file cannot be imported at all; ``wording`` (when given as one) says why as a
    code and values, for the workspace to word in the user's language."""

    exit_code = 4

    def __init__(self, message: str | Wording) -> None:
        self.wording = message if isinstance(message, Wording) else None
        super().__init__(str(message))


class TokenError(NewsletterError):
    exit_code = 5


class TokenExpired(TokenError):
    pass


class ProviderError(NewsletterError):
    """A provider call failed. ``retry_after`` is seconds the provider asked us to wait."""

    exit_code = 6

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        self.retry_after = retry_after
        super().__init__(message)


class ProviderRetryable(ProviderError):
    """The request provably did not take effect; sending it again is safe."""


class ProviderAmbiguous(ProviderError):
    """The request may have taken effect; only an idempotency key makes a retry safe."""


class ProviderPermanent(ProviderError):
    """The provider refused the whole request; retrying the same request will not help."""


class SendError(NewsletterError):
    exit_code = 7


class SendBusy(SendError):
    """Another run (a terminal, a server process) is sending the same issue right now."""


class ApprovalRefused(SendError):
    """The four-eyes rule refused. ``reason`` (the web pages translate it): ``not-requested``,
    ``pending``, ``changed``, ``own-request``, ``approved`` or ``not-involved``."""

    def __init__(self, message: str, *, reason: str) -> None:
        self.reason = reason
        super().__init__(message)


class TimeRefused(SendError):
    """A send's time that cannot be used. ``reason`` (the web pages translate it): ``format``,
    ``past``, ``gap`` (the clocks skip it) or ``repeat`` (they pass it twice); ``values`` has what
    a sentence names: ``typed``, ``zone``, and ``instead`` (a time to pick) or ``now`` (local)."""

    def __init__(self, message: str, *, reason: str, values: dict[str, str]) -> None:
        self.reason = reason
        self.values = values
        super().__init__(message)


class CheckError(NewsletterError):
    exit_code = 8


class AccountError(NewsletterError):
    """A workspace account refused something. ``reason`` is a short code the web pages translate."""

    exit_code = 10

    def __init__(self, message: str, *, reason: str = "refused") -> None:
        self.reason = reason
        super().__init__(message)


class PasswordRejected(AccountError):
    """``reason``: ``too-short``, ``too-long`` or ``is-email``."""


class LinkRefused(AccountError):
    """``reason``: ``unknown``, ``used``, ``expired`` or ``disabled``."""


class LoginRefused(AccountError):
    """``reason``: ``wrong``, ``locked``, ``disabled`` or ``too-many-attempts``; ``until`` when locked."""

    def __init__(self, message: str, *, reason: str, until: datetime | None = None) -> None:
        self.until = until
        super().__init__(message, reason=reason)
