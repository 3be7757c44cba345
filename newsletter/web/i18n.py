"""The service's words in Danish and English, and how a page picks its language.

A page is shown in the language asked for with ``?lang=`` (the switch in the
page header, carried through forms as a hidden field), else the
subscriber's or the list's language, else the site default.
"""

from __future__ import annotations

from collections.abc import Callable

from newsletter.dates import LANGUAGES

STRINGS: dict[str, dict[str, str]] = {
    "language_switch": {"da": "In English", "en": "På dansk"},
    "archive_title": {"da": "Nyhedsbreve", "en": "Newsletters"},
    "archive_empty": {"da": "Der er ikke sendt nogen nyhedsbreve endnu.", "en": "No newsletters sent yet."},
    "archive_feed": {"da": "Abonnér via Atom-feed", "en": "Follow the Atom feed"},
    "subscribe_heading": {"da": "Tilmeld dig", "en": "Subscribe"},
    "email_label": {"da": "Din e-mailadresse", "en": "Your email address"},
    "name_label": {"da": "Dit navn (valgfrit)", "en": "Your name (optional)"},
    "honeypot_label": {"da": "Lad dette felt være tomt", "en": "Leave this field empty"},
    "subscribe_button": {"da": "Tilmeld", "en": "Subscribe"},
    "consent_heading": {"da": "Samtykke", "en": "Consent"},
    "double_opt_in_note": {
        "da": "Vi sender dig en e-mail med et link, du skal klikke på for at bekræfte.",
        "en": "We will email you a link that you click to confirm.",
    },
    "check_inbox_heading": {"da": "Tjek din indbakke", "en": "Check your inbox"},
    "check_inbox_body": {
        "da": "Hvis adressen kan tilmeldes, har vi sendt en e-mail med et bekræftelseslink. "
        "Linket virker i {days} dage. Kan du ikke finde mailen, så kig i spam-mappen.",
        "en": "If the address can be subscribed, we have sent an email with a confirmation link. "
        "The link works for {days} days. If you cannot find it, look in your spam folder.",
    },
    "invalid_email": {
        "da": "Adressen ser ikke ud til at være en gyldig e-mailadresse — ret den og prøv igen.",
        "en": "That does not look like a valid email address — correct it and try again.",
    },
    "invalid_name": {
        "da": "Navnet indeholder usynlige tegn eller linjeskift — skriv det igen på én linje.",
        "en": "The name holds invisible characters or line breaks — type it again on one line.",
    },
    "form_unusable": {
        "da": "Formularen kunne ikke læses (kun tekst kan sendes, ingen filer) — udfyld den igen.",
        "en": "The form could not be read (only text can be sent, no files) — fill it in again.",
    },
    "form_unusable_heading": {"da": "Formularen kunne ikke læses", "en": "The form could not be read"},
    "form_expired": {
        "da": "Formularen er udløbet eller blev sendt fra en anden side — prøv igen.",
        "en": "The form expired or was sent from another page — please try again.",
    },
    "too_many": {
        "da": "For mange forsøg på kort tid — vent lidt og prøv igen.",
        "en": "Too many attempts in a short time — wait a while and try again.",
    },
    "confirm_heading": {"da": "Bekræft din tilmelding", "en": "Confirm your subscription"},
    "confirm_body": {
        "da": "Klik på knappen for at bekræfte, at du vil modtage »{title}«.",
        "en": "Press the button to confirm that you want to receive “{title}”.",
    },
    "confirm_button": {"da": "Bekræft tilmelding", "en": "Confirm subscription"},
    "confirmed_heading": {"da": "Tak — du er tilmeldt", "en": "Thank you — you are subscribed"},
    "confirmed_body": {
        "da": "Du modtager nu »{title}«. Hver udgave har et link til at framelde dig igen.",
        "en": "You will now receive “{title}”. Every issue has a link to unsubscribe again.",
    },
    "link_expired_heading": {"da": "Linket er udløbet", "en": "This link has expired"},
    "link_invalid_heading": {"da": "Linket virker ikke", "en": "This link does not work"},
    "link_expired_body": {
        "da": "Bekræftelseslinks virker i {days} dage. Tilmeld dig igen, så sender vi et nyt.",
        "en": "Confirmation links work for {days} days. Sign up again and we will send a new one.",
    },
    "tracked_link_body": {
        "da": "Linket er ufuldstændigt, ændret eller hører ikke til et udsendt nyhedsbrev. "
        "Kopiér hele linket fra e-mailen, eller find nyhedsbrevet i arkivet.",
        "en": "The link is incomplete, was changed or belongs to no newsletter sent. "
        "Copy the whole link from the email, or find the newsletter in the archive.",
    },
    "to_the_archive": {"da": "Til arkivet", "en": "To the archive"},
    "link_invalid_body": {
        "da": "Linket er ufuldstændigt eller ændret. Kopiér hele linket fra e-mailen, eller start forfra.",
        "en": "The link is incomplete or was changed. Copy the whole link from the email, or start again.",
    },
    "start_again": {"da": "Start forfra", "en": "Start again"},
    "unsubscribe_heading": {"da": "Framelding", "en": "Unsubscribe"},
    "unsubscribe_body": {
        "da": "Vil du framelde dig »{title}«?",
        "en": "Do you want to unsubscribe from “{title}”?",
    },
    "unsubscribe_all_body": {
        "da": "Vil du framelde dig alle vores nyhedsbreve?",
        "en": "Do you want to unsubscribe from all our newsletters?",
    },
    "unsubscribe_button": {"da": "Frameld mig", "en": "Unsubscribe me"},
    "unsubscribed_heading": {"da": "Du er frameldt", "en": "You are unsubscribed"},
    "unsubscribed_body": {
        "da": "Du modtager ikke flere udgaver af »{title}«.",
        "en": "You will not receive any more issues of “{title}”.",
    },
    "unsubscribed_all_body": {
        "da": "Du modtager ikke flere nyhedsbreve fra os.",
        "en": "You will not receive any more newsletters from us.",
    },
    "resubscribe": {"da": "Fortrudt? Tilmeld dig igen", "en": "Changed your mind? Subscribe again"},
    "manage_preferences": {"da": "Se alle dine tilmeldinger", "en": "See all your subscriptions"},
    "list_gone": {
        "da": "Det nyhedsbrev findes ikke længere, så du modtager det ikke.",
        "en": "That newsletter no longer exists, so you will not receive it.",
    },
    "not_subscribed": {
        "da": "Vi har ingen tilmeldinger for denne adresse.",
        "en": "We have no subscriptions for this address.",
    },
    "preferences_heading": {"da": "Dine tilmeldinger", "en": "Your subscriptions"},
    "preferences_body": {
        "da": "Fjern fluebenet ved de nyhedsbreve, du ikke længere vil modtage, og gem.",
        "en": "Untick the newsletters you no longer want to receive, then save.",
    },
    "preferences_save": {"da": "Gem", "en": "Save"},
    "preferences_leave_all": {"da": "Frameld alt", "en": "Unsubscribe from everything"},
    "preferences_saved": {"da": "Dine valg er gemt.", "en": "Your choices are saved."},
    "preferences_not_member": {"da": "ikke tilmeldt", "en": "not subscribed"},
    "preferences_join": {"da": "tilmeld", "en": "subscribe"},
    "web_unsubscribe_heading": {"da": "Framelding", "en": "Unsubscribing"},
    "web_unsubscribe_body": {
        "da": "Dette er webudgaven af nyhedsbrevet. Brug frameldingslinket i den e-mail, du modtog — "
        "det er personligt og virker med ét klik.",
        "en": "This is the web version of the newsletter. Use the unsubscribe link in the email you "
        "received — it is personal and works with one click.",
    },
    "not_found_heading": {"da": "Siden findes ikke", "en": "Page not found"},
    "not_found_body": {
        "da": "Adressen findes ikke. Tjek linket, eller gå til forsiden.",
        "en": "There is nothing at this address. Check the link or go to the front page.",
    },
    "error_heading": {"da": "Noget gik galt", "en": "Something went wrong"},
    "error_body": {
        "da": "Der skete en fejl hos os. Prøv igen om lidt.",
        "en": "Something went wrong on our side. Please try again shortly.",
    },
    "front_page": {"da": "Til forsiden", "en": "Front page"},
    "generic_reader": {"da": "læser", "en": "reader"},
}


def pick_language(*candidates: str | None, default: str = "da") -> str:
    """The first candidate that is a supported language, else ``default``."""
    for candidate in candidates:
        if candidate and candidate.lower()[:2] in LANGUAGES:
            return candidate.lower()[:2]
    return default if default in LANGUAGES else LANGUAGES[0]


def translator(lang: str, strings: dict[str, dict[str, str]] = STRINGS) -> Callable[..., str]:
    """``t(key, **values)``: the string for ``key`` in ``lang`` (from ``strings``), formatted with ``values``."""

    def translate(key: str, **values: object) -> str:
        text = strings[key].get(lang) or strings[key]["da"]
        return text.format(**values) if values else text

    return translate


def other_language(lang: str) -> str:
    return "en" if lang == "da" else "da"
