"""The double opt-in email: rendered from the ``confirm.mjml.j2`` template, sent through the provider.

It goes through the same Jinja2 → MJML → inlining pipeline as an issue
(:func:`newsletter.render.render_email`), once per list and language; the
personal confirmation link is merged per person into the ``confirm_url``
placeholder, so a sign-up costs a merge, not a render.

It carries Gmail's ``Feedback-ID`` (``confirm:<list>:<sender>``), so complaints about
confirmation emails — a sign-up form abused to mail strangers — show apart from the issues'.
It carries no ``List-Id``: it is not mail distributed through the list (the person is not on it
yet), and mailbox providers treat a message with ``List-Id`` as list mail — sorted among the
newsletters and expected to offer one-click unsubscribe, which a confirmation has nothing to
offer. It should land in the inbox now, beside the sign-up it answers.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from markupsafe import Markup

from newsletter.config import Settings
from newsletter.errors import ProviderPermanent
from newsletter.links import confirm_url
from newsletter.message import Batch, Content, Recipient
from newsletter.per_recipient import CONFIRM_CAMPAIGN, feedback_id, merge_values
from newsletter.personalize import placeholder
from newsletter.providers.base import Outcome
from newsletter.render import Rendered, content_for, render_email
from newsletter.store.lists import ListRow
from newsletter.tokens import LinkOwner
from newsletter.web.context import WebContext

CONFIRM_TEMPLATE = "confirm"

SUBJECTS = {
    "da": "Bekræft din tilmelding til {title}",
    "en": "Confirm your subscription to {title}",
}
PREHEADERS = {
    "da": "Ét klik, så er du med. Linket virker i {days} dage.",
    "en": "One click and you are in. The link works for {days} days.",
}

TEXTS = {
    "da": "Bekræft din tilmelding til {title}\n\n"
    "Du (eller nogen med din adresse) har bedt om at modtage {title}.\n"
    "Åbn linket for at bekræfte:\n\n{link}\n\n"
    "Linket virker i {days} dage. Har du ikke bedt om dette, så gør ingenting.\n\n-- \n{organisation}\n",
    "en": "Confirm your subscription to {title}\n\n"
    "You (or someone using your address) asked to receive {title}.\n"
    "Open the link to confirm:\n\n{link}\n\n"
    "The link works for {days} days. If you did not ask for this, do nothing.\n\n-- \n{organisation}\n",
}


def confirmation_content(context: WebContext, the_list: ListRow, lang: str) -> Content:
    """The confirmation email for ``the_list`` in ``lang``, rendered once and cached."""
    key = f"confirm:{the_list.id}:{the_list.title}:{lang}"
    cached = context.render_cache.get(key)
    if cached is not None:
        assert isinstance(cached, Content)
        return cached
    rendered = render_confirmation(context.settings, the_list, lang)
    # Outbox folder, provider tag and metadata say "confirm" rather than an issue slug.
    content = replace(content_for(rendered, context.settings), issue="confirm")
    context.render_cache[key] = content
    return content


def render_confirmation(settings: Settings, the_list: ListRow, lang: str) -> Rendered:
    """The confirmation email for ``the_list`` in ``lang``, its link still the ``confirm_url`` placeholder."""
    values: dict[str, Any] = {"title": the_list.title, "days": settings.confirm_days}
    template_context = {
        "list": the_list,
        "list_title": the_list.title,
        "list_description": the_list.description,
        "consent_text": the_list.consent_text,
        "confirm_url": Markup(placeholder("confirm_url")),
        "confirm_days": settings.confirm_days,
        "organisation": settings.organisation,
    }
    return render_email(
        CONFIRM_TEMPLATE,
        template_context,
        settings,
        lang=lang,
        subject=SUBJECTS[lang].format(**values),
        preheader=PREHEADERS[lang].format(**values),
        text=TEXTS[lang].format(
            link=placeholder("confirm_url"), **values, organisation=settings.organisation.name
        ),
    )


def send_confirmation(
    context: WebContext, the_list: ListRow, owner: LinkOwner, email: str, name: str | None, lang: str
) -> None:
    """Send one confirmation email; raises ProviderError when the provider refuses it."""
    content = confirmation_content(context, the_list, lang)
    url = confirm_url(context.settings, context.signer, owner, the_list.id)
    recipient = Recipient(
        email=email,
        name=name,
        values=merge_values(context.settings, email=email, name=name, lang=lang, confirm_url=url),
        headers={"Feedback-ID": feedback_id(context.settings, CONFIRM_CAMPAIGN, the_list.name)},
        metadata={"nl_subscriber": str(owner.subscriber_id), "nl_kind": "confirm"},
    )
    results = context.provider.send_batch(Batch(content=content, recipients=[recipient]))
    if not results or results[0].outcome is not Outcome.ACCEPTED:
        reason = results[0].reason if results else "no result"
        raise ProviderPermanent(f"{context.provider.name}: confirmation email not accepted: {reason}")
