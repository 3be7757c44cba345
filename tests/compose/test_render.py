"""Rendering the sample issues: what ends up in the email's HTML and text."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest

from newsletter.config import Settings, load_settings
from newsletter.issue import load_issue, resolve_issue
from newsletter.links import PersonLinks
from newsletter.per_recipient import merge_values
from newsletter.personalize import merge, placeholder
from newsletter.render import Rendered, content_for, render_email, render_issue
from newsletter.template_sources import BUILTIN_TEMPLATES
from tests.compose.conftest import SAMPLE, SECOND_SAMPLE
from tests.conftest import write_project

SEED_HEADINGS = [
    "KILDEDAL – et nyt erhvervs- og boligområde",
    "Lautrupparken skal fortsat være et attraktivt område",
    "Virksomhedsbesøg",
    "Hvad byder 2020 på?",
]


def render(settings: Settings, name: str = SAMPLE) -> Rendered:
    return render_issue(load_issue(resolve_issue(name, settings), settings), settings)


def visible_text(html: str) -> str:
    without_head = re.sub(r"<head>.*?</head>", "", html, flags=re.DOTALL)
    inline_joined = re.sub(r"</?(?:a|em|strong|code)\b[^>]*>", "", without_head)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", inline_joined))


def test_sample_issue_is_complete_in_html_and_text(compose_settings: Settings) -> None:
    rendered = render(compose_settings)
    seed = SEED_FILE
    html_text = visible_text(rendered.html).replace("&amp;", "&")
    text = re.sub(r"\s+", " ", rendered.text)
    for heading in SEED_HEADINGS:
        assert heading in html_text and heading in text
    for phrase in [
        "Tak for et godt 2019",
        "Jul i BusinessBallerup",
        "20. december 2019",
        "Årets højdepunkt var offentliggørelsen af et partnerskab med PensionDanmark",
        "så vi får tingene designet rigtigt.",
        "sammen med erhvervsudviklingschef Jette Rau.",
        "Læs mere om udviklingen af Kildedal her",
        "Vi ønsker alle en glædelig jul og et godt nytår!",
        "Nytårshilsner fra BusinessBallerup",
        "Jette Rau, Erhvervsudviklingschef",
    ]:
        assert phrase in html_text, phrase
        assert phrase in text, phrase
    # every paragraph of the seed, sentence by sentence
    for sentence in re.split(r"(?<=[.!?])\s+|\n+", seed.read_text(encoding="utf-8")):
        sentence = sentence.strip()
        if (
            len(sentence) > 40
            and not any(h in sentence for h in SEED_HEADINGS)
            and "herLautrup" not in sentence
        ):
            assert sentence.split("Jette Rau.")[0] in html_text, sentence
    assert 'href="mailto:jrau@balk.dk"' in rendered.html
    assert "PLACEHOLDER" in rendered.html  # the lost Kildedal address is visibly a placeholder
    assert "jrau@balk.dk" in rendered.text


def test_html_follows_email_rules(compose_settings: Settings) -> None:
    html = render(compose_settings, SECOND_SAMPLE).html
    assert html.lower().startswith("<!doctype html>")
    assert re.search(r'<html[^>]* lang="da"', html)
    assert (
        "Ny helhedsplan for Lautrupparken, morgenmøde" in html.split("<body", 1)[1][:2000]
    )  # hidden preheader
    assert "display:none" in html.split("<body", 1)[1][:600]
    for table in re.findall(r"<table[^>]*>", html):
        assert 'role="presentation"' in table, table
    images = re.findall(r"<img[^>]*>", html)
    assert len(images) == 3
    for image in images:
        assert re.search(r'alt="[^"]+"', image), image
        assert re.search(r'width="\d+"', image), image  # Outlook needs the attribute; premailer must keep it
    assert "fonts.googleapis" not in html and "@import" not in html and "<link" not in html  # nothing fetched
    assert re.search(
        r"@media[^{]*\{[^@]*\.mj-column-per-50\s*\{\s*width:\s*50% !important", html
    )  # responsive columns survive
    styles = "".join(re.findall(r"<style[^>]*>(.*?)</style>", html, flags=re.DOTALL))
    assert len(styles.encode()) < 16 * 1024
    assert len(html.encode()) < 102 * 1024  # Gmail clips above this


def test_local_images_get_public_urls_and_are_listed(compose_settings: Settings) -> None:
    rendered = render(compose_settings, SECOND_SAMPLE)
    base = f"https://nyhedsbrev.example.org/issues/{SECOND_SAMPLE}/"
    assert [url for _, url in rendered.assets] == [
        base + "lautrupparken.png",
        base + "kildedal.png",
        base + "moede.png",
    ]
    assert all(path.is_file() for path, _ in rendered.assets)
    assert f'src="{base}kildedal.png"' in rendered.html
    assert 'src="kildedal.png"' not in rendered.html


def test_inline_css_is_inlined_and_not_left_in_style(compose_settings: Settings) -> None:
    html = render(compose_settings, SECOND_SAMPLE).html
    link = re.search(r'<a href="https://example.org/businessballerup/PLACEHOLDER-kildedal"[^>]*>', html)
    assert link and "color:#00507a" in link.group(0).replace(" ", "")
    assert "text-decoration: underline" not in "".join(
        re.findall(r"<style[^>]*>.*?</style>", html, flags=re.DOTALL)
    )


def test_placeholders_and_fixed_strings(compose_settings: Settings) -> None:
    rendered = render(compose_settings, SECOND_SAMPLE)  # the sample issue has no salutation
    for name in ("name", "unsubscribe_url", "web_url", "preferences_url"):
        assert placeholder(name) in rendered.html
    for name in ("name", "unsubscribe_url", "web_url"):
        assert placeholder(name) in rendered.text
    assert "Afmeld nyhedsbrevet" in rendered.html and "Se nyhedsbrevet i din browser" in rendered.html
    assert "Ballerup Kommune, Hold-An Vej 7, 2750 Ballerup" in rendered.html
    # The signed link is about 100 characters: it stands on its own line (text lines stay within 78).
    assert "Afmeld nyhedsbrevet:\n%%nl:unsubscribe_url%%" in rendered.text


def test_english_issue_uses_english_strings_and_dates(
    compose_settings: Settings, write_issue: Callable[[str, str], Path]
) -> None:
    path = write_issue("2020-06-05-english", "---\nsubject: News\nlang: en\n---\n\nHello.\n")
    rendered = render_issue(load_issue(path, compose_settings), compose_settings)
    assert re.search(r'<html[^>]* lang="en"', rendered.html)
    assert "5 June 2020" in rendered.html and "5 June 2020" in rendered.text
    assert "Unsubscribe from this newsletter" in rendered.html
    assert "Dear %%nl:name%%," in rendered.text
    assert "Afmeld" not in rendered.html


def test_salutation_can_be_turned_off(
    compose_settings: Settings, write_issue: Callable[[str, str], Path]
) -> None:
    path = write_issue("2020-06-05-x", "---\nsubject: Nyt\nsalutation: false\n---\n\nHej.\n")
    rendered = render_issue(load_issue(path, compose_settings), compose_settings)
    assert "Kære" not in rendered.html and "Kære" not in rendered.text


@pytest.mark.parametrize(
    ("name", "html_expected", "text_expected"),
    [
        (
            "<script>alert(1)</script>",
            "Kære &lt;script&gt;alert(1)&lt;/script&gt;,",
            "Kære <script>alert(1)</script>,",
        ),
        ('Ærø & Søn "A/S"', "Kære Ærø &amp; Søn &quot;A/S&quot;,", 'Kære Ærø & Søn "A/S",'),
        (None, "Kære læser,", "Kære læser,"),
        ("   ", "Kære læser,", "Kære læser,"),
    ],
)
def test_merge_escapes_in_html_and_keeps_text_intact(
    compose_settings: Settings, name: str | None, html_expected: str, text_expected: str
) -> None:
    rendered = render(compose_settings, SECOND_SAMPLE)  # it greets the reader by name
    values = merge_values(
        compose_settings,
        email="a@example.com",
        name=name,
        lang="da",
        links=PersonLinks(
            "https://nyhedsbrev.example.org/u/abc?x=1&y=2", "https://nyhedsbrev.example.org/preferences/abc"
        ),
        issue="x",
    )
    html, text = merge(rendered.html, rendered.text, values)
    assert html_expected in html
    assert text_expected in text
    assert "<script>alert" not in html
    assert 'href="https://nyhedsbrev.example.org/u/abc?x=1&amp;y=2"' in html
    assert "https://nyhedsbrev.example.org/u/abc?x=1&y=2" in text
    assert "%%nl:" not in html and "%%nl:" not in text


def test_author_text_is_never_executed(
    compose_settings: Settings, write_issue: Callable[[str, str], Path]
) -> None:
    body = (
        "---\nsubject: 'Rabat 50%% {{ 7*7 }}'\n---\n\n"
        "Skabelon {{ 7*7 }} og {% if true %}ja{% endif %}, tag <mj-section> og <script>x</script>, "
        "flet %%nl:name%% og %%nl:unsubscribe_url%%.\n"
    )
    rendered = render_issue(load_issue(write_issue("2020-06-05-x", body), compose_settings), compose_settings)
    html = rendered.html
    assert "{{ 7*7 }}" in html and "{% if true %}ja{% endif %}" in html and "49" not in visible_text(html)
    assert "&lt;mj-section&gt;" in html and "<mj-section" not in html
    assert "&lt;script&gt;" in html and "<script" not in html
    values = merge_values(
        compose_settings,
        email="a@example.com",
        name="Jens",
        lang="da",
        links=PersonLinks("U", "P"),
        issue="x",
    )
    merged_html, merged_text = merge(html, rendered.text, values)
    assert "flet %\u200b%nl:name%\u200b%" in merged_text  # shown as written, never merged
    assert "flet %\u200b%nl:name%\u200b%" in merged_html
    assert "Jens" in merged_text  # the salutation still merges


def test_content_for_carries_sender_and_issue(compose_settings: Settings) -> None:
    rendered = render(compose_settings)
    content = content_for(rendered, compose_settings)
    assert content.subject == "Tak for et godt 2019"
    assert content.from_email == "nyhedsbrev@example.org" and content.from_name == "BusinessBallerup"
    assert content.reply_to == "jrau@balk.dk"
    assert content.issue == SAMPLE and content.html == rendered.html and content.text == rendered.text


def test_render_email_for_system_mails_extends_the_base(compose_settings: Settings) -> None:
    (compose_settings.templates_dir / "welcome.mjml.j2").write_text(
        '{% extends "base.mjml.j2" %}\n{% block content %}<mj-section><mj-column>'
        '<mj-button href="{{ confirm_url }}">{{ t.read_more }}</mj-button></mj-column></mj-section>{% endblock %}\n'
        "{% block footer_links %}{% endblock %}\n",
        encoding="utf-8",
    )
    rendered = render_email(
        "welcome",
        {"confirm_url": "https://nyhedsbrev.example.org/confirm/T?a=1&b=2"},
        compose_settings,
        lang="en",
        subject="Confirm",
        preheader="One click left",
        text="Confirm: https://nyhedsbrev.example.org/confirm/T?a=1&b=2",
    )
    assert 'href="https://nyhedsbrev.example.org/confirm/T?a=1&amp;b=2"' in rendered.html
    assert "Read more" in rendered.html and 'lang="en"' in rendered.html and "One click left" in rendered.html
    assert "BusinessBallerup" in rendered.html  # the base layout's footer
    assert placeholder("unsubscribe_url") not in rendered.html  # the block was overridden
    assert rendered.text.startswith("Confirm:") and set(rendered.timings) >= {"jinja", "mjml", "premailer"}


def test_a_team_adds_its_own_template_by_dropping_a_file_into_templates(
    project: Path, run_cli: Callable[..., object], write_issue: Callable[[str, str], Path]
) -> None:
    (project / "templates" / "event.mjml.j2").write_text(
        '{% extends "base.mjml.j2" %}\n'
        "{% block content %}\n"
        '<mj-section background-color="#ffffff"><mj-column>\n'
        '  <mj-text css-class="venue">Sted: {{ meta.venue }}</mj-text>\n'
        "  {% for section in issue.sections %}{% for block in section.blocks %}"
        "<mj-text>{{ block.text }}</mj-text>{% endfor %}{% endfor %}\n"
        "</mj-column></mj-section>\n"
        "{% endblock %}\n",
        encoding="utf-8",
    )
    write_issue(
        "2020-05-01-event",
        "---\nsubject: Erhvervsdag\ntemplate: event\nvenue: Ballerup Rådhus\n---\n\nKom & hør.\n",
    )
    result = run_cli("build", "2020-05-01-event")
    assert result.exit_code == 0, result.output  # type: ignore[attr-defined]
    html = (project / "build" / "2020-05-01-event" / "email.html").read_text(encoding="utf-8")
    assert "Sted: Ballerup Rådhus" in html and "Kom &amp; hør." in html
    assert "Afmeld nyhedsbrevet" in html  # the base layout's footer comes with it
    # ... and it is offered beside the built-in designs when a name is mistyped.
    write_issue("2020-05-02-typo", "---\nsubject: Erhvervsdag\ntemplate: evnet\n---\n\nHej.\n")
    result = run_cli("build", "2020-05-02-typo")
    assert result.exit_code == 3  # type: ignore[attr-defined]
    assert "use one of: event, holiday, newsletter" in result.output  # type: ignore[attr-defined]


@pytest.mark.parametrize("name", [SAMPLE, SECOND_SAMPLE])
def test_optional_logo_in_the_header(project: Path, name: str) -> None:
    settings_file = project / "newsletter.toml"
    assert "logo.png" not in render(load_settings(settings_file), name).html
    settings_file.write_text(
        settings_file.read_text(encoding="utf-8").replace(
            "[organisation]\n", '[organisation]\nlogo_url = "https://example.org/logo.png"\n', 1
        ),
        encoding="utf-8",
    )
    rendered = render(load_settings(settings_file), name)
    (logo,) = re.findall(r'<img[^>]*src="https://example.org/logo.png"[^>]*>', rendered.html)
    assert 'alt="BusinessBallerup"' in logo and re.search(r'width="\d+"', logo)


# A copy of ../shared/seed/tak-for-et-godt-2019.txt, so the comparison runs wherever the repo is;
# test_the_seed_copy_is_current keeps it equal to the original where that is beside the repo.
SEED_FILE = Path(__file__).resolve().parent / "data" / "seed-tak-for-et-godt-2019.txt"
SHARED_SEED = Path(__file__).resolve().parents[3] / "shared" / "seed" / "tak-for-et-godt-2019.txt"


def test_the_seed_copy_is_current() -> None:
    if not SHARED_SEED.is_file():
        pytest.skip(
            f"no shared seed beside the repository at {SHARED_SEED}: nothing to compare the copy with"
        )
    assert SEED_FILE.read_bytes() == SHARED_SEED.read_bytes()


# What the seed's plain-text extraction lost (shared/seed/README.md): line breaks before three
# headings and one paragraph break.
SEED_REPAIRS = [
    ("rigtigt.KILDEDAL", "rigtigt.\n\nKILDEDAL"),
    ("Kildedal herLautrupparken", "Kildedal her\n\nLautrupparken"),
    ("grundejere.Virksomhedsbesøg", "grundejere.\n\nVirksomhedsbesøg"),
    ("Jette Rau.Besøgene", "Jette Rau.\n\nBesøgene"),
]


def _words(text: str) -> str:
    return " ".join(text.replace("\xa0", " ").split())


def test_sample_issue_is_the_seed_word_for_word(compose_settings: Settings) -> None:
    """From the first paragraph to the signature: nothing lost, nothing added, nothing reworded."""
    seed = SEED_FILE.read_text(encoding="utf-8")
    for glued, repaired in SEED_REPAIRS:
        assert glued in seed
        seed = seed.replace(glued, repaired)
    title, kicker, date, *_ = [line.strip() for line in seed.split("\n") if line.strip()]
    assert (title, kicker, date) == ("Tak for et godt 2019", "Jul i BusinessBallerup", "20. december 2019")
    body = _words(seed[seed.index("2019 har givet") :])

    rendered = render(compose_settings)
    website = compose_settings.organisation.website.rstrip("/")
    button = re.search(r'href="([^"]+)"[^>]*>\s*Læs mere om udviklingen af Kildedal her', rendered.html)
    assert button and button.group(1).startswith(website + "/") and "PLACEHOLDER" in button.group(1)

    text = rendered.text
    head, _, rest = text.partition("\n\n2019 har givet")
    assert head.endswith(f"{kicker}\n{title}\n{'=' * len(title)}\n{date}")  # no salutation line added
    text_body = "2019 har givet" + rest.split("\n-- \n")[0]
    text_body = re.sub(r"(?m)^-+$", "", text_body).replace(f":\n{button.group(1)}", "")
    assert _words(text_body) == body

    html = visible_text(rendered.html).replace("&amp;", "&")
    start = html.index("2019 har givet")
    html_body = html[start : html.index("Jette Rau, Erhvervsudviklingschef", start)]
    assert _words(html_body + "Jette Rau, Erhvervsudviklingschef") == body
    assert "Kære" not in html and _words(f"{title} {date}") in _words(html)


@pytest.mark.parametrize("name", [SAMPLE, SECOND_SAMPLE])
def test_css_kept_from_earlier_renders_gives_the_html_premailer_makes_alone(
    compose_settings: Settings, name: str
) -> None:
    issue = load_issue(resolve_issue(name, compose_settings), compose_settings)
    alone = render_issue(issue, compose_settings, reuse_parsed_css=False).html
    first = render_issue(issue, compose_settings).html
    other = SECOND_SAMPLE if name == SAMPLE else SAMPLE
    render(compose_settings, other)  # the other design's stylesheets in between
    again = render_issue(issue, compose_settings).html
    assert first == alone and again == alone


def test_a_changed_stylesheet_is_inlined_at_once(compose_settings: Settings, tmp_path: Path) -> None:
    before = render(compose_settings, SECOND_SAMPLE).html  # the built-in link colour, now kept
    other = load_settings(write_project(tmp_path / "other", f"sqlite:///{tmp_path / 'other.db'}"))
    layout = (BUILTIN_TEMPLATES / "base.mjml.j2").read_text(encoding="utf-8")
    assert "a { color: #00507a;" in layout
    (other.templates_dir / "base.mjml.j2").write_text(
        layout.replace("a { color: #00507a;", "a { color: #8b0000;"), encoding="utf-8"
    )
    changed = render(other, SECOND_SAMPLE)
    link = re.search(
        r'<a href="https://example.org/businessballerup/PLACEHOLDER-kildedal"[^>]*>', changed.html
    )
    assert link and "color:#8b0000" in link.group(0).replace(" ", "")
    assert "#00507a" in before
    issue = load_issue(resolve_issue(SECOND_SAMPLE, other), other)
    assert changed.html == render_issue(issue, other, reuse_parsed_css=False).html
