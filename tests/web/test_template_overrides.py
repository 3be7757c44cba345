"""A project's templates/ overrides one web page or the confirmation email; the rest stays built in."""

from __future__ import annotations

from newsletter.config import Settings
from tests.web.conftest import CONSENT, AppClient, outbox_messages, sign_up


def test_a_project_overrides_the_sign_up_page_and_the_confirmation_email(
    client: AppClient, settings: Settings
) -> None:
    pages = settings.templates_dir / "web"
    pages.mkdir(parents=True)
    (pages / "subscribe.html").write_text(
        '{% extends "builtin/subscribe.html" %}{% block title %}Skriv dig op hos os{% endblock %}\n',
        encoding="utf-8",
    )
    (settings.templates_dir / "confirm.mjml.j2").write_text(
        '{% extends "builtin/confirm.mjml.j2" %}\n{% block header %}<mj-section><mj-column>'
        "<mj-text>Vores eget brevhoved</mj-text></mj-column></mj-section>{% endblock %}\n",
        encoding="utf-8",
    )
    page = client.get("/subscribe/erhverv")
    assert "<title>Skriv dig op hos os</title>" in page.text  # the project's page ...
    assert CONSENT in page.text and '<html lang="da">' in page.text  # ... around the built-in form and layout
    assert '<a href="/feed.xml">' in client.get("/").text  # the archive, not overridden, is the built-in

    assert sign_up(client, "ida@example.com").status_code == 200
    (message,) = outbox_messages(settings)
    html_part = message.get_body(("html",))
    assert html_part is not None
    html = html_part.get_content()
    assert "Vores eget brevhoved" in html and "Bekræft tilmelding" in html
