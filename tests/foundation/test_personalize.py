"""The per-recipient merge: escaped in HTML, verbatim in text, author text never merged."""

from __future__ import annotations

import pytest

from newsletter.personalize import (
    PLACEHOLDERS,
    merge,
    neutralise,
    placeholder,
    translate,
    used_placeholders,
)

VALUES = {
    "name": 'Ærø & Søn "A/S" <script>',
    "email": "ida@example.com",
    "unsubscribe_url": "https://nyhedsbrev.example.org/u/abc?x=1&y=2",
    "preferences_url": "https://nyhedsbrev.example.org/preferences/def",
    "web_url": "https://nyhedsbrev.example.org/issues/tak",
}


def test_values_are_escaped_in_html_and_verbatim_in_text() -> None:
    html, text = merge(
        f'<p>Kære {placeholder("name")}</p><a href="{placeholder("unsubscribe_url")}">Afmeld</a>',
        f"Kære {placeholder('name')}\nAfmeld: {placeholder('unsubscribe_url')}",
        VALUES,
    )
    assert html == (
        "<p>Kære Ærø &amp; Søn &quot;A/S&quot; &lt;script&gt;</p>"
        '<a href="https://nyhedsbrev.example.org/u/abc?x=1&amp;y=2">Afmeld</a>'
    )
    assert text == 'Kære Ærø & Søn "A/S" <script>\nAfmeld: https://nyhedsbrev.example.org/u/abc?x=1&y=2'


def test_every_placeholder_is_merged_and_none_left() -> None:
    content = " ".join(placeholder(name) for name in PLACEHOLDERS)
    html, text = merge(content, content, VALUES)
    assert "%%nl:" not in html and "%%nl:" not in text
    assert used_placeholders(content) == set(PLACEHOLDERS)


def test_missing_value_merges_as_empty() -> None:
    assert merge(f"Hej {placeholder('name')}!", "", {})[0] == "Hej !"


def test_unknown_placeholder_is_refused() -> None:
    with pytest.raises(KeyError, match="unknown merge value 'nmae'"):
        placeholder("nmae")
    with pytest.raises(ValueError, match="unknown merge placeholders: nmae"):
        merge("Hej %%nl:nmae%%", "", VALUES)


def test_neutralised_author_text_is_never_merged() -> None:
    author = "Rabat: 50%%nl:name%% på alt"
    shown = neutralise(author)
    html, text = merge(f"<p>{shown}</p>", shown, VALUES)
    assert VALUES["email"] not in html and "Ærø" not in text
    assert html.replace("\u200b", "") == f"<p>{author}</p>"
    assert neutralise("100 % sikkert") == "100 % sikkert"


def test_translate_to_provider_syntax() -> None:
    content = f"Hej {placeholder('name')}, {placeholder('web_url')}"
    assert translate(content, lambda name: f"%recipient.{name}_html%") == (
        "Hej %recipient.name_html%, %recipient.web_url_html%"
    )
    with pytest.raises(ValueError):
        translate("%%nl:bogus%%", str)
