"""The offline checks of one recipient's final HTML and text: :func:`check_html`.

It works on the *merged* HTML (placeholders filled), so what it measures is
what a subscriber receives; tests feed it hand-made broken HTML. Findings
name the issue's Markdown file and, through :class:`SourceMap`, the line a
link or image came from.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from html import unescape
from html.parser import HTMLParser
from typing import Any, Literal
from urllib.parse import unquote, urlparse

from newsletter.checks.texts import CHECK_TEXTS
from newsletter.wording import Wording

Severity = Literal["error", "warning"]

# Gmail clips a message whose HTML is larger than about 102 KB ("[Message clipped]"),
# hiding the footer with the unsubscribe link. Warn early, refuse at the limit.
SIZE_WARNING_BYTES = 90 * 1024
SIZE_ERROR_BYTES = 102 * 1024
# Gmail ignores a <style> block larger than 16 KB: media queries and dark-mode rules vanish.
STYLE_LIMIT_BYTES = 16 * 1024
# Inboxes show about 60 characters of a subject on a phone; beyond 80 it is cut everywhere.
SUBJECT_WARNING_CHARS = 60
SUBJECT_ERROR_CHARS = 80
ONE_CLICK = "List-Unsubscribe=One-Click"
# RFC 2919: "List-Id: [phrase] <list-label.namespace>", both dot-atoms (RFC 5322 atext), the
# identifier at most 255 octets; the whole value printable ASCII (a non-ASCII title is encoded).
_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_LIST_ID = re.compile(rf"[ -~]*<(?P<id>{_ATOM}(?:\.{_ATOM})+)>")
MAX_LIST_ID_LENGTH = 255

_LEFTOVER_MARKERS = (
    ("{{", "}}", "marker-jinja-expression"),
    ("{%", "%}", "marker-jinja-statement"),
    ("<mj-", ">", "marker-mjml-tag"),
    ("%%nl:", "%%", "marker-placeholder"),
)
_PLACEHOLDER_SCHEMES = ("mailto", "tel")


@dataclass(frozen=True)
class Finding:
    """One problem found by a check. ``line`` is a line of ``file`` (the issue's Markdown).

    ``wording`` is what ``message`` says as a code and values, for the workspace to word
    in the user's language; a finding made without one is shown as ``message``.
    """

    severity: Severity
    code: str
    message: str
    file: str = ""
    line: int | None = None
    wording: Wording | None = field(default=None, compare=False, repr=False)

    @classmethod
    def worded(
        cls, severity: Severity, wording: Wording, file: str = "", line: int | None = None, *, code: str = ""
    ) -> Finding:
        """The finding ``wording`` says; its code is the wording's unless ``code`` is given."""
        return cls(severity, code or wording.code, wording.english, file, line, wording)

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.file and self.line else self.file or "<html>"
        return f"{where}: {self.severity}: {self.message} [{self.code}]"

    def to_dict(self) -> dict[str, Any]:
        return {
            "severity": self.severity,
            "code": self.code,
            "message": self.message,
            "file": self.file,
            "line": self.line,
        }


def has_errors(findings: Iterable[Finding]) -> bool:
    return any(f.severity == "error" for f in findings)


class SourceMap:
    """Finds the line of the issue file that a link or image came from."""

    def __init__(self, file: str, source: str = "", field_lines: Mapping[str, int] | None = None) -> None:
        self.file = file
        self._lines = source.splitlines()
        self._field_lines = dict(field_lines or {})

    def line_of_field(self, *names: str) -> int | None:
        """The front-matter line of the first field in ``names`` that the issue has."""
        for name in names:
            line = self._field_lines.get(name) or self.line_of(f"{name}:")
            if line:
                return line
        return None

    def holds(self, text: str) -> bool:
        """Whether the issue's own text has ``text`` on one of its lines."""
        return any(text in line for line in self._lines)

    def line_of(self, *needles: str) -> int | None:
        """The first line holding any of ``needles`` (tried in order), 1-based."""
        for needle in needles:
            if not needle:
                continue
            for number, line in enumerate(self._lines, start=1):
                if needle in line:
                    return number
        return None

    def line_of_url(self, url: str) -> int | None:
        # A local image is published under base_url but written as a bare file name.
        name = unquote(urlparse(url).path.rsplit("/", 1)[-1])
        return self.line_of(url, url.replace("&", "&amp;"), name if "." in name else "")


@dataclass
class _Tag:
    name: str
    attrs: dict[str, str | None]
    html_line: int


class PageParts(HTMLParser):
    """Collects the parts of an HTML document the checks look at."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.html_lang: str | None = None
        self.saw_html = False
        self.links: list[_Tag] = []
        self.images: list[_Tag] = []
        self.styles: list[tuple[int, str]] = []
        self.tables_without_role: list[int] = []
        self.text_parts: list[str] = []
        self._style_start: int | None = None
        self._style_parts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        line = self.getpos()[0]
        if tag == "html":
            self.saw_html = True
            self.html_lang = values.get("lang")
        elif tag == "a":
            self.links.append(_Tag(tag, values, line))
        elif tag == "img":
            self.images.append(_Tag(tag, values, line))
        elif tag == "table" and not values.get("role"):
            self.tables_without_role.append(line)
        elif tag == "style":
            self._style_start = line
            self._style_parts = []

    def handle_data(self, data: str) -> None:
        if self._style_start is not None:
            self._style_parts.append(data)
        else:
            self.text_parts.append(data)

    def visible_text(self) -> str:
        """The document's text (entities decoded), whitespace collapsed."""
        return " ".join("".join(self.text_parts).split())

    def handle_endtag(self, tag: str) -> None:
        if tag == "style" and self._style_start is not None:
            self.styles.append((self._style_start, "".join(self._style_parts)))
            self._style_start = None


def check_html(
    html: str,
    text: str,
    *,
    subject: str,
    preheader: str,
    headers: Mapping[str, str],
    source: SourceMap | None = None,
    lang: str | None = None,
    unsubscribe_url: str | None = None,
) -> list[Finding]:
    """Every finding for one recipient's final (merged) HTML and text.

    ``unsubscribe_url`` is the merged unsubscribe link the body must contain (when
    None, any link to ``/u/`` counts). ``headers`` are the message headers the
    sending path adds (:func:`newsletter.per_recipient.list_unsubscribe_headers`,
    :func:`newsletter.per_recipient.list_headers`).
    """
    where = source or SourceMap("")
    out = _Findings(where.file)
    page = PageParts()
    page.feed(html)
    page.close()

    _check_size(html, out)
    out.items += check_front_matter(subject, preheader, where)
    if preheader.strip() and " ".join(preheader.split()) not in page.visible_text():
        out.warn("preheader-not-in-html", where.line_of_field("preheader"))
    if page.tables_without_role:
        lines = ", ".join(str(n) for n in page.tables_without_role[:5])
        out.warn("table-role-missing", count=len(page.tables_without_role), lines=lines)
    _check_lang(page, lang, out)
    _check_leftovers(html, CHECK_TEXTS("part-html"), out, where)
    _check_leftovers(text, CHECK_TEXTS("part-text"), out, where)
    _check_images(page.images, out, where)
    hrefs = _check_links(page.links, out, where)
    _check_unsubscribe(hrefs, unsubscribe_url, headers, out)
    _check_list_id(headers, out)
    _check_text_part(text, hrefs, out, where)
    for html_line, css in page.styles:
        size = len(css.encode("utf-8"))
        if size > STYLE_LIMIT_BYTES:
            out.error("style-too-large", html_line=html_line, kb=size / 1024)
    return out.items


class _Findings:
    def __init__(self, file: str) -> None:
        self.file = file
        self.items: list[Finding] = []

    def error(self, code: str, line: int | None = None, /, **params: str | int | float | Wording) -> None:
        """An error worded by :data:`CHECK_TEXTS` under ``code`` with ``params``."""
        self.items.append(Finding.worded("error", CHECK_TEXTS(code, **params), self.file, line))

    def warn(self, code: str, line: int | None = None, /, **params: str | int | float | Wording) -> None:
        self.items.append(Finding.worded("warning", CHECK_TEXTS(code, **params), self.file, line))


def _check_size(html: str, out: _Findings) -> None:
    size = len(html.encode("utf-8"))
    if size > SIZE_ERROR_BYTES:
        out.error("html-too-large", kb=size / 1024)
    elif size > SIZE_WARNING_BYTES:
        out.warn("html-large", kb=size / 1024)


def check_front_matter(subject: str, preheader: str, where: SourceMap) -> list[Finding]:
    """The checks of the inbox line (subject and preheader): they need no rendering, so they run
    even for an issue whose body has problems."""
    out = _Findings(where.file)
    _check_subject(subject, out, where)
    if not preheader.strip():
        out.warn("preheader-missing", where.line_of_field("preheader", "subject"))
    return out.items


def _check_subject(subject: str, out: _Findings, where: SourceMap) -> None:
    line = where.line_of_field("subject", "title")
    length = len(subject.strip())
    if not length:
        out.error("subject-missing", line)
    elif length > SUBJECT_ERROR_CHARS:
        out.error("subject-too-long", line, length=length, limit=SUBJECT_ERROR_CHARS)
    elif length > SUBJECT_WARNING_CHARS:
        out.warn("subject-long", line, length=length, limit=SUBJECT_WARNING_CHARS)


def _check_lang(page: PageParts, lang: str | None, out: _Findings) -> None:
    found = (page.html_lang or "").strip()
    if not found:
        out.error("html-lang-missing")
    elif lang and found.split("-")[0].lower() != lang.split("-")[0].lower():
        out.warn("html-lang-mismatch", found=found, lang=lang)


def _check_leftovers(content: str, part: Wording, out: _Findings, where: SourceMap) -> None:
    """Template code or placeholders left in the email — unless the issue's author wrote them:
    text that looks like template code is shown as written (docs/authoring.md)."""
    for marker, closing, what in _LEFTOVER_MARKERS:
        position = content.find(marker)
        while position >= 0:
            end = content.find(closing, position + len(marker))
            span = content[position : end + len(closing)] if 0 <= end - position < 200 else marker
            if not where.holds(unescape(span)):
                snippet = content[position : position + 40].split("\n")[0]
                out.error("leftover-marker", part=part, what=CHECK_TEXTS(what), snippet=snippet)
                break
            position = content.find(marker, position + len(span))


def _check_images(images: Sequence[_Tag], out: _Findings, where: SourceMap) -> None:
    for image in images:
        src = (image.attrs.get("src") or "").strip()
        label = src or CHECK_TEXTS("image-on-line", html_line=image.html_line)
        line = where.line_of_url(src) if src else None
        alt = image.attrs.get("alt")
        if alt is None:
            out.error("image-alt-missing", line, image=label)
        elif not alt.strip() and image.attrs.get("role") != "presentation":
            out.warn("image-alt-empty", line, image=label)
        if not (image.attrs.get("width") or "").strip():
            fix = CHECK_TEXTS("image-width-fix-issue" if line else "image-width-fix-template")
            out.error("image-width-missing", line, image=label, fix=fix)
        if not src:
            out.error("image-src-missing", line, html_line=image.html_line)
        elif src.lower().startswith("http://"):
            out.warn("insecure-image", line, src=src)


def _check_links(links: Sequence[_Tag], out: _Findings, where: SourceMap) -> list[str]:
    """Report bad links; return the usable hrefs in document order."""
    hrefs: list[str] = []
    for link in links:
        raw = link.attrs.get("href")
        if raw is None:
            continue  # an anchor without href is not a link
        href = raw.strip()
        line = where.line_of_url(href) if href else None
        problem = link_fault(href)
        if problem:
            out.error("link-invalid", line, href=href, html_line=link.html_line, problem=problem)
            continue
        if href.lower().startswith("http://"):
            out.warn("insecure-link", line, href=href)
        hrefs.append(href)
    return hrefs


def link_problem(href: str) -> str | None:
    """Why ``href`` cannot work in an email, or None when it looks usable."""
    problem = link_fault(href)
    return None if problem is None else problem.english


def link_fault(href: str) -> Wording | None:
    """:func:`link_problem` as a wording (a phrase that follows the link)."""
    if not href:
        return CHECK_TEXTS("link-empty")
    if href.startswith("#"):
        return CHECK_TEXTS("link-hash")
    parsed = urlparse(href)
    scheme = parsed.scheme.lower()
    if scheme == "javascript":
        return CHECK_TEXTS("link-javascript")
    if re.search(r"\s", href):
        return CHECK_TEXTS("link-spaces")
    if scheme in ("http", "https"):
        host = parsed.hostname or ""
        if not host or ("." not in host and host != "localhost"):
            return CHECK_TEXTS("link-no-host")
        try:
            parsed.port  # noqa: B018  (raises ValueError on a bad port)
        except ValueError:
            return CHECK_TEXTS("link-bad-port")
        return None
    if scheme in _PLACEHOLDER_SCHEMES:
        return None if parsed.path.strip() else CHECK_TEXTS("link-address-missing", scheme=scheme)
    if not scheme:
        return CHECK_TEXTS("link-relative")
    return CHECK_TEXTS("link-scheme-unsupported", scheme=scheme)


def _check_unsubscribe(
    hrefs: Sequence[str],
    unsubscribe_url: str | None,
    headers: Mapping[str, str],
    out: _Findings,
) -> None:
    if unsubscribe_url:
        in_body = unsubscribe_url in hrefs
    else:
        in_body = any("/u/" in href or "unsubscribe" in href.lower() for href in hrefs)
    if not in_body:
        out.error("unsubscribe-link-missing")
    lowered = {name.lower(): value for name, value in headers.items()}
    value = lowered.get("list-unsubscribe", "")
    if not re.search(r"<https://[^>]+>", value):
        out.error("list-unsubscribe-missing")
    if lowered.get("list-unsubscribe-post", "").strip() != ONE_CLICK:
        out.error("list-unsubscribe-post-missing")


def _check_list_id(headers: Mapping[str, str], out: _Findings) -> None:
    value = next((v for name, v in headers.items() if name.lower() == "list-id"), "").strip()
    if not value:
        out.error("list-id-missing")
        return
    found = _LIST_ID.fullmatch(value)
    if found is None or len(found["id"]) > MAX_LIST_ID_LENGTH:
        out.error("list-id-invalid", value=value[:80])


def _check_text_part(text: str, hrefs: Sequence[str], out: _Findings, where: SourceMap) -> None:
    if not text.strip():
        out.error("text-missing")
        return
    missing: list[str] = []
    for href in dict.fromkeys(hrefs):
        target = href[len("mailto:") :].split("?")[0] if href.lower().startswith("mailto:") else href
        if target not in text and href not in text:
            missing.append(href)
    for href in missing:
        out.error("text-link-missing", where.line_of_url(href), href=href)
