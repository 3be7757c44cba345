"""Issue → Jinja2 → MJML → mjml2html → premailer → :class:`Rendered`, once per issue.

The result carries ``%%nl:…%%`` placeholders (:mod:`newsletter.personalize`)
where per-recipient values belong; the send and the web archive merge them
afterwards with escaping, so nothing here runs per recipient.

Stage by stage:

- Jinja2 with autoescape and :class:`~jinja2.StrictUndefined`: an undefined
  variable is a :class:`RenderError` naming the template and line.
- MJML is checked for ``mj-`` tags MRML does not know (it passes them through
  silently); MRML's line-less ``ValueError`` is located by parsing the MJML
  as XML, and traced back to the template line that wrote it
  (:mod:`newsletter.mjml_errors`).
- ``mjml2html(fonts={})``: no web-font ``<link>``, nothing fetched.
- premailer, configured for MJML output (GUIDE §2): no network, ``!important``
  kept (the responsive media queries need it), image ``width``/``height``
  attributes left alone (Outlook needs them), ``<style>`` blocks kept (media
  queries). CSS from ``<mj-style inline="inline">`` is inlined by premailer and
  does not stay in a ``<style>`` block, which Gmail caps at 16 KB. What
  premailer derives from the CSS text is kept for the process
  (:class:`_ReusingPremailer`): the stylesheets are the template's, the same
  for every issue on it.
"""

from __future__ import annotations

import logging
import re
import time
import traceback
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import jinja2
from markupsafe import Markup
from mjml import mjml2html
from premailer import Premailer

from newsletter.config import Settings
from newsletter.dates import long_date, strings_for
from newsletter.errors import IssueError, RenderError
from newsletter.issue import Issue
from newsletter.message import Content
from newsletter.mjml_errors import check_mjml_tags, locate_mjml_error
from newsletter.personalize import PLACEHOLDERS, placeholder
from newsletter.plaintext import issue_text
from newsletter.template_sources import (
    find_template,
    searched_folders,
    template_display,
    template_folders,
    template_loader,
    template_location,
    template_names,
)
from newsletter.wording import Texts, Wording

TEMPLATE_SUFFIX = ".mjml.j2"
RENDER_TEXTS = Texts(
    {
        "template-unknown": "template: {problem}",
        "template-not-found": "'{name}' does not exist in {folders} — use one of: {templates}",
        "templates-not-installed": "'{name}' does not exist in {folders}, which hold no templates at all — "
        "reinstall newsletter",
    }
)
GMAIL_STYLE_LIMIT = 16 * 1024
_INLINE_STYLE = re.compile(r"<mj-style\s+inline=\"inline\"\s*>(.*?)</mj-style>", re.DOTALL)
_STYLE_BLOCK = re.compile(r"<style[^>]*>(.*?)</style>", re.DOTALL | re.IGNORECASE)


@dataclass(frozen=True)
class Rendered:
    """An issue (or system email) rendered once, with merge placeholders."""

    slug: str
    subject: str
    preheader: str
    lang: str
    html: str
    text: str
    mjml: str
    assets: list[tuple[Path, str]] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    template: str = ""


# ---------------------------------------------------------------- public API


def render_issue(issue: Issue, settings: Settings, *, reuse_parsed_css: bool = True) -> Rendered:
    """Render ``issue`` with its template; raises IssueError / RenderError.

    ``reuse_parsed_css=False`` lets premailer derive everything from the CSS
    again, as it does on its own (the render benchmark's peer); the HTML is
    the same byte for byte.
    """
    started = time.perf_counter()
    template_name = issue.template + TEMPLATE_SUFFIX
    folders = template_folders(settings.templates_dir)
    if find_template(template_name, folders) is None:
        raise IssueError(
            issue.path,
            RENDER_TEXTS("template-unknown", problem=missing_template(issue.template, settings)),
            issue.field_lines.get("template"),
        )
    strings = strings_for(issue.lang)
    date_text = long_date(issue.date, issue.lang) if issue.date else ""
    salutation = (
        Markup(strings["salutation"]).format(name=Markup(placeholder("name")))
        if issue.meta.get("salutation", True) is not False
        else Markup("")
    )
    context = base_context(settings, lang=issue.lang, subject=issue.subject, preheader=issue.preheader)
    context.update(issue=issue, date_text=date_text, salutation=salutation, meta=issue.meta)
    timings: dict[str, float] = {}
    try:
        html, mjml = _pipeline(template_name, context, settings, timings, reuse_parsed_css)
    except RenderError as exc:
        # The template is where to fix it; the issue is which of several being built broke.
        prefix = f"{exc.where}:{exc.line}: " if exc.line else f"{exc.where}: "
        raise RenderError(
            exc.where, f"{exc.message.removeprefix(prefix)} (rendering {issue.path})", exc.line
        ) from None
    mark = time.perf_counter()
    text = issue_text(issue, settings, date_text=date_text, salutation=str(salutation))
    timings["text"] = time.perf_counter() - mark
    timings["total"] = time.perf_counter() - started
    return Rendered(
        slug=issue.slug,
        subject=issue.subject,
        preheader=issue.preheader,
        lang=issue.lang,
        html=html,
        text=text,
        mjml=mjml,
        assets=list(issue.assets),
        timings=timings,
        template=issue.template,
    )


def render_email(
    template: str,
    context: dict[str, Any],
    settings: Settings,
    *,
    lang: str,
    subject: str,
    preheader: str,
    text: str,
) -> Rendered:
    """A small system email (e.g. the sign-up confirmation) through the same pipeline.

    ``template`` is a template's file name (``confirm.mjml.j2``) or its stem,
    found like every other template: the project's templates/ first, then the
    built-ins. ``context`` adds to the base context (organisation, ``t``,
    placeholders); ``text`` is the finished plain-text part.
    """
    started = time.perf_counter()
    name = template if template.endswith(".j2") else template + TEMPLATE_SUFFIX
    full = base_context(settings, lang=lang, subject=subject, preheader=preheader)
    full.update(context)
    timings: dict[str, float] = {}
    html, mjml = _pipeline(name, full, settings, timings)
    timings["total"] = time.perf_counter() - started
    return Rendered(
        slug="",
        subject=subject,
        preheader=preheader,
        lang=lang,
        html=html,
        text=text,
        mjml=mjml,
        timings=timings,
        template=name.removesuffix(TEMPLATE_SUFFIX),
    )


def content_for(rendered: Rendered, settings: Settings) -> Content:
    """What a provider sends: the rendered parts plus sender and issue identity."""
    return Content(
        subject=rendered.subject,
        html=rendered.html,
        text=rendered.text,
        from_email=settings.sender.email,
        from_name=settings.sender.name,
        reply_to=settings.sender.reply_to,
        issue=rendered.slug,
        tags=(rendered.slug,) if rendered.slug else (),
    )


def base_context(settings: Settings, *, lang: str, subject: str, preheader: str) -> dict[str, Any]:
    """What the base layout needs: fixed strings, organisation and merge placeholders."""
    marks = {name: Markup(placeholder(name)) for name in PLACEHOLDERS}
    return {
        "lang": lang,
        "subject": subject,
        "preheader": preheader,
        "t": strings_for(lang),
        "organisation": settings.organisation,
        "site_url": settings.base_url,
        "recipient": SimpleNamespace(name=marks["name"], email=marks["email"]),
        "unsubscribe_url": marks["unsubscribe_url"],
        "preferences_url": marks["preferences_url"],
        "web_url": marks["web_url"],
    }


def available_templates(settings: Settings) -> list[str]:
    """Issue templates a front matter may name: the project's and the built-ins (not the base
    layout, partials or system emails)."""
    names = template_names(template_folders(settings.templates_dir), TEMPLATE_SUFFIX)
    return [name for name in names if name != "base" and not name.startswith(("_", "confirm"))]


def no_such_template(name: str, settings: Settings) -> str:
    """Why ``name`` cannot be used, with where it was looked for and what can be used instead."""
    return missing_template(name, settings).english


def missing_template(name: str, settings: Settings) -> Wording:
    """:func:`no_such_template` as a wording."""
    looked_in = searched_folders(template_folders(settings.templates_dir), settings.root)
    names = available_templates(settings)
    if not names:  # not even the built-ins: the package was installed without its data
        return RENDER_TEXTS("templates-not-installed", name=name, folders=looked_in)
    return RENDER_TEXTS("template-not-found", name=name, folders=looked_in, templates=", ".join(names))


# ---------------------------------------------------------------- the stages


@lru_cache(maxsize=8)
def _environment(project_templates: Path) -> jinja2.Environment:
    return jinja2.Environment(
        loader=template_loader(project_templates),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def _pipeline(
    template_name: str,
    context: dict[str, Any],
    settings: Settings,
    timings: dict[str, float],
    reuse_parsed_css: bool = True,
) -> tuple[str, str]:
    mark = time.perf_counter()
    mjml = _run_jinja(template_name, context, settings)
    timings["jinja"] = time.perf_counter() - mark

    mark = time.perf_counter()
    folders = template_folders(settings.templates_dir)
    check_mjml_tags(mjml, template_name, folders, settings.root)
    inline_css = "\n".join(_INLINE_STYLE.findall(mjml))
    mjml_for_mrml = _INLINE_STYLE.sub("", mjml)
    try:
        html = mjml2html(mjml_for_mrml, fonts={})
    except ValueError as exc:
        raise locate_mjml_error(mjml_for_mrml, str(exc), template_name, folders, settings.root) from None
    timings["mjml"] = time.perf_counter() - mark

    mark = time.perf_counter()
    html = _inline(html, inline_css, template_name, settings, reuse_parsed_css)
    timings["premailer"] = time.perf_counter() - mark
    return html, mjml


def _run_jinja(template_name: str, context: dict[str, Any], settings: Settings) -> str:
    environment = _environment(settings.templates_dir.resolve())
    folders = template_folders(settings.templates_dir)
    template_path = template_location(template_name, folders)
    try:
        return environment.get_template(template_name).render(context)
    except jinja2.TemplateSyntaxError as exc:
        where = template_display(exc.filename or exc.name or template_name, settings.root)
        raise RenderError(where, f"template syntax error: {exc.message}", exc.lineno) from None
    except jinja2.TemplateNotFound as exc:
        where = template_display(template_path, settings.root)
        raise RenderError(
            where, f"uses template '{exc.name}', which is not in {searched_folders(folders, settings.root)}"
        ) from None
    except jinja2.UndefinedError as exc:
        filename, line = _template_frame(exc, template_path)
        # Jinja says "'dict object' has no attribute 'venue'" for meta.venue: name the field instead.
        missing = re.fullmatch(r"'dict object' has no attribute '(.+)'", exc.message or "")
        what = f"'{missing.group(1)}' is not set" if missing else exc.message
        raise RenderError(
            template_display(filename, settings.root),
            f"undefined template variable: {what} — add it to the issue's front matter or remove it from the template",
            line,
        ) from None
    except jinja2.TemplateError as exc:
        filename, line = _template_frame(exc, template_path)
        raise RenderError(template_display(filename, settings.root), f"template error: {exc}", line) from None


def _template_frame(exc: BaseException, default: Path) -> tuple[str, int | None]:
    """The innermost template file and line in ``exc``'s traceback (Jinja maps frames to templates)."""
    found: tuple[str, int | None] = (str(default), None)
    for frame in traceback.extract_tb(exc.__traceback__):
        if frame.filename.endswith(".j2"):
            found = (frame.filename, frame.lineno)
    return found


def _shown_path(template_name: str, settings: Settings) -> str:
    """The template an error about ``template_name`` names, as the user knows its path."""
    return template_display(
        template_location(template_name, template_folders(settings.templates_dir)), settings.root
    )


_PREMAILER_OPTIONS: dict[str, Any] = {
    "base_url": None,
    "allow_network": False,
    "allow_loading_external_files": False,
    "strip_important": False,
    "keep_style_tags": True,
    "disable_basic_attributes": ("width", "height"),
    "disable_link_rewrites": True,
    "disable_validation": True,
    "remove_classes": False,
    "exclude_pseudoclasses": True,
    "align_floating_images": False,
    "cssutils_logging_level": logging.CRITICAL,
    "method": "html",
}
_StyleRules = tuple[tuple[Any, ...], tuple[Any, ...]]


class _ReusingPremailer(Premailer):
    """premailer, with what it derives from a stylesheet's text worked out once per process.

    premailer caches the parsed cssutils sheet, but on every call it walks
    that sheet again and serialises each property (``prop.value`` is rebuilt
    from cssutils' token lists) into the ``(specificity, selector, bulk)``
    rules it inlines (much of its time on the sample issue), and it parses
    each element's merged ``style`` again for the HTML attributes it adds
    (``align``, ``bgcolor``…). Both depend only on their text and the
    options, which are fixed here (:data:`_PREMAILER_OPTIONS`); the
    stylesheets are the template's and the merged styles repeat from issue to
    issue, so a render after the first on a template finds nearly all of them
    in :func:`_style_rules` and :func:`_basic_attributes`.
    """

    def _parse_style_rules(self, css_body: str, ruleset_index: int) -> tuple[list[Any], list[Any]]:
        rules, leftover = _style_rules(css_body, ruleset_index)
        return list(rules), list(leftover)

    def _style_to_basic_html_attributes(self, element: Any, style_content: str, force: bool = False) -> None:
        for key, value in _basic_attributes(style_content):  # premailer's own loop, on its own values
            if (key in element.attrib and not force) or key in self.disable_basic_attributes:
                continue
            element.attrib[key] = value


@lru_cache(maxsize=256)
def _style_rules(css_body: str, ruleset_index: int) -> _StyleRules:
    """premailer's own rules for one stylesheet, as tuples so no caller can change the cached copy.

    The leftover media rules are cssutils objects premailer would only
    rewrite when it drops ``<style>`` blocks; ``keep_style_tags`` keeps them.
    """
    rules, leftover = Premailer(**_PREMAILER_OPTIONS)._parse_style_rules(css_body, ruleset_index)
    return tuple(rules), tuple(leftover)


@lru_cache(maxsize=4096)
def _basic_attributes(style_content: str) -> tuple[tuple[str, str], ...]:
    """The HTML attributes premailer derives from a ``style`` value, in its order, none left out.

    premailer's own method writes them onto a scratch element (all it uses of
    one is ``attrib``); which of them an element keeps is decided per element,
    as premailer decides it.
    """
    scratch = SimpleNamespace(attrib={})
    Premailer(**_PREMAILER_OPTIONS | {"disable_basic_attributes": ()})._style_to_basic_html_attributes(
        scratch, style_content, force=True
    )
    return tuple(scratch.attrib.items())


def _inline(
    html: str, inline_css: str, template_name: str, settings: Settings, reuse_parsed_css: bool
) -> str:
    inliner = _ReusingPremailer if reuse_parsed_css else Premailer
    try:
        inlined = inliner(html, css_text=inline_css or None, **_PREMAILER_OPTIONS).transform(
            pretty_print=False
        )
    except Exception as exc:  # premailer raises plain exceptions of many kinds
        where = _shown_path(template_name, settings)
        raise RenderError(where, f"CSS inlining failed: {exc}") from exc
    if inline_css:
        # premailer appends css_text as a <style>; it is inlined already, and counts against Gmail's cap.
        inlined = inlined.replace(f'<style type="text/css">{inline_css}</style>', "")
    style_size = sum(len(block.encode()) for block in _STYLE_BLOCK.findall(inlined))
    if style_size > GMAIL_STYLE_LIMIT:
        where = _shown_path(template_name, settings)
        raise RenderError(
            where,
            f"<style> blocks hold {style_size} bytes; Gmail drops them above {GMAIL_STYLE_LIMIT} — "
            'move CSS into <mj-style inline="inline"> or trim it',
        )
    if not inlined.lstrip().lower().startswith("<!doctype"):
        inlined = "<!doctype html>" + inlined
    return inlined
