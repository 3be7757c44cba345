"""Small helpers the adapters share: address formatting, limits, invalid-address search,
name/value tags, posting one request per message, and building each recipient's complete
message (the outbox and SMTP send MIME, not JSON).

Kept apart from :mod:`newsletter.providers.base` (the contract) so the
contract stays a pure description of types and steps.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import httpx
from email_validator import EmailNotValidError, validate_email

from newsletter.errors import ProviderAmbiguous, ProviderPermanent, ProviderRetryable
from newsletter.message import Batch, Content, Recipient
from newsletter.mime import MimeMessage, build_message
from newsletter.providers.base import Outcome, Provider, RecipientResult, UnreadableAnswer, body_excerpt
from newsletter.safe_text import UnsafeText

# Characters that force a display name into a quoted string (RFC 5322 "specials").
_SPECIALS = set('()<>[]:;@\\,."')
# What a name/value tag may hold at Resend and Amazon SES (both document the same rule).
_TAG_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")
MAX_TAG_LENGTH = 256


def display_address(name: str | None, address: str) -> str:
    """``Name <address>`` with the name quoted when it holds specials; UTF-8 kept as is.

    JSON APIs (Postmark, Mailgun, Resend) take Unicode display names directly;
    RFC 2047 encoding them would show up literally in some of them.
    """
    if not name:
        return address
    clean = " ".join(name.replace("\r", " ").replace("\n", " ").split())
    if any(char in _SPECIALS for char in clean):
        clean = '"' + clean.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return f"{clean} <{address}>"


def check_batch_size(provider: str, batch: Batch, maximum: int) -> None:
    """The send engine splits batches; a larger one here is a programming error."""
    if len(batch.recipients) > maximum:
        raise ValueError(
            f"{provider}: a batch holds at most {maximum} recipients, got {len(batch.recipients)}"
        )
    if not batch.recipients:
        raise ValueError(f"{provider}: a batch needs at least one recipient")


def invalid_recipient_indexes(recipients: Sequence[Recipient]) -> list[int]:
    """Positions of recipients whose address is not a syntactically valid email address."""
    bad: list[int] = []
    for index, recipient in enumerate(recipients):
        try:
            validate_email(recipient.email, check_deliverability=False)
        except EmailNotValidError:
            bad.append(index)
    return bad


def rejected_invalid_addresses(provider: str, recipients: Sequence[Recipient]) -> dict[int, RecipientResult]:
    """``REJECTED`` (and suppressed) results for the recipients whose address is not one, by position."""
    return {
        index: RecipientResult(
            Outcome.REJECTED,
            reason=f"{provider}: {recipients[index].email!r} is not a valid address",
            suppress=True,
        )
        for index in invalid_recipient_indexes(recipients)
    }


def tag_value(value: str) -> str:
    """``value`` as a tag may hold it: ASCII letters, digits, ``_`` and ``-``, at most 256 characters."""
    return _TAG_UNSAFE.sub("_", value)[:MAX_TAG_LENGTH] or "_"


def name_value_tags(content: Content, recipient: Recipient) -> dict[str, str]:
    """The recipient's correlation ids, the issue slug (``nl_issue``) and the issue's further tags
    (``nl_tag_1``, ``nl_tag_2``, …) as name/value tags, every name and value made acceptable."""
    tags = {**({"nl_issue": content.issue} if content.issue else {}), **recipient.metadata}
    extra = [t for t in content.tags if t != content.issue]
    tags.update({f"nl_tag_{number}": tag for number, tag in enumerate(extra, start=1)})
    return {tag_value(name): tag_value(str(value)) for name, value in tags.items()}


def response_json(response: httpx.Response) -> Any:
    """The response body as JSON, or None when it is not JSON."""
    try:
        return response.json()
    except (json.JSONDecodeError, UnicodeDecodeError, LookupError, ValueError):
        return None


def short_text(response: httpx.Response, limit: int = 300) -> str:
    """The response body on one line, trimmed and with secrets removed."""
    return body_excerpt(response, limit)


# What one request answered: results for its recipients, or the provider's message
# when it refused the whole request because of an address (nothing of it was sent).
Attempt = Callable[[list[int]], "list[RecipientResult] | str"]


def send_isolating_bad_addresses(
    recipients: Sequence[Recipient], attempt: Attempt, provider: str, *, idempotent: bool = False
) -> list[RecipientResult]:
    """Send everyone, finding the address(es) a provider refuses a whole request for.

    Used where one bad address refuses the whole request without naming it
    (Mailgun 400, Resend 422). First every address is validated locally; if
    that finds none, the batch is halved until the refused recipient is alone.
    A refused request sent nothing, so no recipient is ever sent twice. Once
    part of the batch has been accepted, a later failure becomes a per-recipient
    result instead of an exception, so the accepted part is recorded: retry for
    a provably unsent part, unknown for an ambiguous one — unless the provider
    is ``idempotent``, when the whole batch is simply posted again (same keys).
    """
    results: dict[int, RecipientResult] = {}

    def run(indexes: list[int], validated: bool) -> None:
        try:
            answered = attempt(indexes)
        except (ProviderRetryable, ProviderPermanent, ProviderAmbiguous) as exc:
            if not any(r.outcome is Outcome.ACCEPTED for r in results.values()):
                raise  # nothing of the batch went out: the caller may treat it as a whole
            if isinstance(exc, ProviderAmbiguous):
                if idempotent:
                    raise  # the same keys again: accepted parts answer from the provider's memory
                outcome = Outcome.UNKNOWN
            else:
                outcome = Outcome.RETRY if isinstance(exc, ProviderRetryable) else Outcome.REJECTED
            unreadable = isinstance(exc, UnreadableAnswer)
            for i in indexes:
                results[i] = RecipientResult(
                    outcome, reason=str(exc), retry_after=exc.retry_after, unreadable=unreadable
                )
            return
        if not isinstance(answered, str):
            results.update(zip(indexes, answered, strict=True))
            return
        if not validated:
            bad = {indexes[j] for j in invalid_recipient_indexes([recipients[i] for i in indexes])}
            for i in bad:
                results[i] = RecipientResult(
                    Outcome.REJECTED,
                    reason=f"{provider}: {recipients[i].email!r} is not a valid address",
                    suppress=True,
                )
            rest = [i for i in indexes if i not in bad]
            if bad:
                if rest:
                    run(rest, validated=True)
                return
        if len(indexes) == 1:
            results[indexes[0]] = RecipientResult(
                Outcome.REJECTED, reason=f"{provider}: {answered}", suppress=True
            )
            return
        middle = len(indexes) // 2
        run(indexes[:middle], validated=True)
        run(indexes[middle:], validated=True)

    run(list(range(len(recipients))), validated=False)
    return [results[i] for i in range(len(recipients))]


def build_each(provider: Provider, batch: Batch) -> list[MimeMessage | RecipientResult]:
    """Every recipient's complete message, all built before the first goes out.

    A recipient whose values a mail header cannot carry is ``REJECTED`` here (provably not
    sent); any other failure to build stops the batch with nothing sent (:meth:`Provider.building`).
    """
    built: list[MimeMessage | RecipientResult] = []
    with provider.building():
        for recipient in batch.recipients:
            try:
                built.append(build_message(batch.content, recipient))
            except UnsafeText as exc:
                built.append(RecipientResult(Outcome.REJECTED, reason=str(exc)))
    return built


# Posts the message of the recipient at this position as its own request; raises ProviderError.
PostOne = Callable[[int], RecipientResult]


def send_one_by_one(
    provider: str, count: int, settled: Mapping[int, RecipientResult], post_one: PostOne
) -> list[RecipientResult]:
    """Post each message of a batch as its own request, in order (Brevo, SES); one result each.

    ``settled`` holds the results decided without posting (an address refused locally); build
    every message before calling this, so that nothing goes out when one cannot be built.

    While nothing has been posted, a retryable or permanent failure is raised: provably none of
    the batch went out, and the engine treats the batch as a whole (it waits, or stops the run).
    Once a request has been posted, a failure becomes per-recipient results so that what went out
    is recorded: the failed message is ``UNKNOWN`` (ambiguous: only it may have gone),
    ``RETRY`` (retryable) or ``REJECTED`` (permanent), and the messages after it, never posted,
    are ``RETRY``. An ambiguous failure of the very first request is per message too: the
    messages behind it were not posted and need not become unknown.
    """
    results = dict(settled)
    pending = [index for index in range(count) if index not in results]
    for step, index in enumerate(pending):
        try:
            results[index] = post_one(index)
        except ProviderAmbiguous as exc:
            results[index] = RecipientResult(
                Outcome.UNKNOWN, reason=str(exc), unreadable=isinstance(exc, UnreadableAnswer)
            )
            rest = RecipientResult(
                Outcome.RETRY, reason=f"{provider}: not posted: the message before it got no clear answer"
            )
        except (ProviderRetryable, ProviderPermanent) as exc:
            if step == 0:
                raise
            if isinstance(exc, ProviderRetryable):
                results[index] = rest = RecipientResult(
                    Outcome.RETRY, reason=str(exc), retry_after=exc.retry_after
                )
            else:
                results[index] = RecipientResult(Outcome.REJECTED, reason=str(exc))
                rest = RecipientResult(
                    Outcome.RETRY, reason=f"{provider}: not posted: the message before it was refused ({exc})"
                )
        else:
            continue
        for later in pending[step + 1 :]:
            results[later] = rest
        break
    return [results[index] for index in range(count)]
