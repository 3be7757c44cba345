"""Property tests: no Markdown an author can type breaks the MJML or injects markup."""

from __future__ import annotations

import re
from pathlib import Path

import yaml
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from newsletter.config import Settings
from newsletter.errors import IssueError
from newsletter.issue import load_issue
from newsletter.personalize import compile_content
from newsletter.render import render_issue

FRAGMENTS = [
    "<script>alert(1)</script>",
    "<mj-section>",
    "</mj-text>",
    "<mj-raw>",
    "{{ 7*7 }}",
    "{% if x %}",
    "{#",
    "%%nl:name%%",
    "%%",
    "<img src=x onerror=alert(1)>",
    '" onmouseover="x',
    "&amp;",
    "&nbsp;",
    "<!--",
    "-->",
    "<![CDATA[",
    "]]>",
    "## ",
    "### ",
    "\n\n",
    "\n",
    "- ",
    "1. ",
    "> ",
    "*",
    "_",
    "**",
    "`",
    "```",
    "    ",
    "[link](https://example.org/a?b=1&c=<2>)",
    "[x](javascript:alert(1))",
    "<https://example.org>",
    "![alt](https://example.org/i.png)",
    "::: button\n[Læs](https://example.org)\n:::\n",
    "::: greeting\nGlædelig jul\n:::\n",
    "::: signature\nJette\n:::\n",
    "::: column\nA\n:::\n::: column\nB\n:::\n",
    "æøå ÆØÅ – ",
    "\u200b",
    "\t",
    "\\",
    "|",
    "~~~",
]
markdown = st.lists(
    st.one_of(st.sampled_from(FRAGMENTS), st.text(alphabet=st.characters(codec="utf-8"), max_size=12)),
    max_size=25,
).map("".join)

# Tags the templates and the Markdown renderer may produce; anything else was injected.
ALLOWED_TAGS = {
    "html",
    "head",
    "title",
    "meta",
    "style",
    "body",
    "div",
    "table",
    "tbody",
    "tr",
    "td",
    "p",
    "a",
    "img",
    "strong",
    "em",
    "br",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "ul",
    "ol",
    "li",
    "blockquote",
    "pre",
    "code",
    "hr",
    "span",
    "noscript",
    "xml",
    "o:officedocumentsettings",
    "o:allowpng",
    "o:pixelsperinch",
}


def _baseline_placeholders(settings_: Settings, project: Path) -> int:
    path = project / "issues" / "2020-01-01-base.md"
    path.write_text("---\nsubject: Nyt\n---\n\nTekst.\n", encoding="utf-8")
    return len(compile_content(render_issue(load_issue(path, settings_), settings_).html).names)


front_text = st.one_of(
    st.sampled_from(FRAGMENTS), st.text(alphabet=st.characters(codec="utf-8"), max_size=30)
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(subject=front_text, kicker=front_text, preheader=front_text)
def test_any_front_matter_text_is_shown_as_text(
    compose_settings: Settings, project: Path, subject: str, kicker: str, preheader: str
) -> None:
    front = yaml.safe_dump({"subject": subject, "kicker": kicker, "preheader": preheader}, allow_unicode=True)
    path = project / "issues" / "2020-01-01-front.md"
    path.write_text(f"---\n{front}---\n\nTekst.\n", encoding="utf-8")
    try:
        issue = load_issue(path, compose_settings)
    except IssueError as error:
        event("refused")
        assert "\n" not in str(error) and str(error).startswith(f"{path}")
        return
    event("rendered")
    rendered = render_issue(issue, compose_settings)
    html_without_comments = re.sub(r"<!--.*?-->", "", rendered.html, flags=re.DOTALL)
    tags = {name.lower() for name in re.findall(r"<([A-Za-z][\w:-]*)", html_without_comments)}
    assert tags <= ALLOWED_TAGS, tags - ALLOWED_TAGS
    assert len(compile_content(rendered.html).names) == _baseline_placeholders(compose_settings, project)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=markdown, template=st.sampled_from(["newsletter", "holiday"]))
# Found by hypothesis: a code fence's info string became class="language-[x](javascript:…)".
@example(body="~~~[x](javascript:alert(1))\nkode\n~~~", template="newsletter")
def test_any_markdown_renders_safely_or_fails_cleanly(
    compose_settings: Settings, project: Path, body: str, template: str
) -> None:
    path = project / "issues" / "2020-01-01-prop.md"
    path.write_text(f"---\nsubject: Nyt\ntemplate: {template}\n---\n\n{body}\n", encoding="utf-8")
    try:
        issue = load_issue(path, compose_settings)
    except IssueError as error:
        event("refused")
        # Refused input: one line that names the file (and a line in it).
        assert "\n" not in str(error)
        assert str(error).startswith(f"{path}:")
        return
    event("rendered")
    rendered = render_issue(issue, compose_settings)  # never a RenderError: author text cannot break MJML

    html_without_comments = re.sub(r"<!--.*?-->", "", rendered.html, flags=re.DOTALL)
    tags = {name.lower() for name in re.findall(r"<([A-Za-z][\w:-]*)", html_without_comments)}
    assert tags <= ALLOWED_TAGS, tags - ALLOWED_TAGS
    assert not re.search(r"<[^>]*\son\w+\s*=", html_without_comments)  # no event-handler attributes
    assert "javascript:" not in re.sub(r">[^<]*<", "><", html_without_comments)  # not in any attribute
    # Author text never adds merge placeholders: only the template's own are there.
    assert len(compile_content(rendered.html).names) == _baseline_placeholders(compose_settings, project)
    assert len(compile_content(rendered.text).names) >= 1
