"""The offline checks of one recipient's final HTML and text: :func:`check_html`.

It works on the *merged* HTML (placeholders filled), so what it measures is
what a subscriber receives; tests feed it hand-made broken HTML. Findings
name the issue's Markdown file and, through :class:`SourceMap`, the line a
link or image came from.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from html import unescape
from html.parser import HTMLParser
from typing import Any, Literal
from urllib.parse import unquote, urlparse

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
    ("{{", "}}", "a Jinja2 expression"),
    ("{%", "%}", "a Jinja2 statement"),
    ("<mj-", ">", "an MJML tag"),
    ("%%nl:", "%%", "an unmerged recipient placeholder"),
)
_PLACEHOLDER_SCHEMES = ("mailto", "tel")


@dataclass(frozen=True)
class Finding:
    """One problem found by a check. ``line`` is a line of ``file`` (the issue's Markdown)."""

    severity: Severity
    code: str
    message: str
    file: str = ""
    line: int | None = None

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.file and self.line else self.file or "<html>"
        return f"{where}: {self.severity}: {self.message} [{self.code}]"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


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
    _check_subject(subject, out, where)
    if preheader.strip() and " ".join(preheader.split()) not in page.visible_text():
        out.warn(
            "preheader-not-in-html",
            "the preheader is not in the HTML: the inbox shows the first body text instead — keep the hidden preheader in the base template",
            where.line_of_field("preheader"),
        )
    if page.tables_without_role:
        lines = ", ".join(str(n) for n in page.tables_without_role[:5])
        out.warn(
            "table-role-missing",
            f'{len(page.tables_without_role)} <table> without role="presentation" (HTML line {lines}): screen readers announce layout tables as data — add role="presentation"',
        )
    if not preheader.strip():
        out.warn(
            "preheader-missing",
            "no preheader: the inbox shows the first body text instead — add 'preheader:' to the front matter",
            where.line_of_field("preheader", "subject"),
        )
    _check_lang(page, lang, out)
    _check_leftovers(html, "HTML", out, where)
    _check_leftovers(text, "plain-text part", out, where)
    _check_images(page.images, out, where)
    hrefs = _check_links(page.links, out, where)
    _check_unsubscribe(hrefs, unsubscribe_url, headers, out)
    _check_list_id(headers, out)
    _check_text_part(text, hrefs, out, where)
    for html_line, css in page.styles:
        size = len(css.encode("utf-8"))
        if size > STYLE_LIMIT_BYTES:
            out.error(
                "style-too-large",
                f"a <style> block (HTML line {html_line}) is {size / 1024:.1f} KB; Gmail ignores style blocks over 16 KB and phones lose the responsive layout — trim the template's CSS",
            )
    return out.items


class _Findings:
    def __init__(self, file: str) -> None:
        self.file = file
        self.items: list[Finding] = []

    def error(self, code: str, message: str, line: int | None = None) -> None:
        self.items.append(Finding("error", code, message, self.file, line))

    def warn(self, code: str, message: str, line: int | None = None) -> None:
        self.items.append(Finding("warning", code, message, self.file, line))


def _check_size(html: str, out: _Findings) -> None:
    size = len(html.encode("utf-8"))
    kb = f"{size / 1024:.1f} KB"
    if size > SIZE_ERROR_BYTES:
        out.error(
            "html-too-large",
            f"the HTML is {kb}; Gmail clips messages over 102 KB and hides the rest, unsubscribe link included — shorten the issue or use fewer sections",
        )
    elif size > SIZE_WARNING_BYTES:
        out.warn(
            "html-large", f"the HTML is {kb}, close to Gmail's 102 KB clipping limit — keep the issue short"
        )


def _check_subject(subject: str, out: _Findings, where: SourceMap) -> None:
    line = where.line_of_field("subject", "title")
    length = len(subject.strip())
    if not length:
        out.error("subject-missing", "the subject is empty — add 'subject: …' to the front matter", line)
    elif length > SUBJECT_ERROR_CHARS:
        out.error(
            "subject-too-long",
            f"the subject is {length} characters; inboxes cut it after about {SUBJECT_ERROR_CHARS} — shorten it",
            line,
        )
    elif length > SUBJECT_WARNING_CHARS:
        out.warn(
            "subject-long",
            f"the subject is {length} characters; phones show about {SUBJECT_WARNING_CHARS} — consider shortening it",
            line,
        )


def _check_lang(page: PageParts, lang: str | None, out: _Findings) -> None:
    found = (page.html_lang or "").strip()
    if not found:
        out.error(
            "html-lang-missing",
            "<html> has no lang attribute: screen readers read the email in the wrong language — set lang in the base template",
        )
    elif lang and found.split("-")[0].lower() != lang.split("-")[0].lower():
        out.warn(
            "html-lang-mismatch",
            f"<html lang={found!r}> but the issue's language is {lang!r} — check 'lang:' in the front matter",
        )


def _check_leftovers(content: str, part: str, out: _Findings, where: SourceMap) -> None:
    """Template code or placeholders left in the email — unless the issue's author wrote them:
    text that looks like template code is shown as written (docs/authoring.md)."""
    for marker, closing, what in _LEFTOVER_MARKERS:
        position = content.find(marker)
        while position >= 0:
            end = content.find(closing, position + len(marker))
            span = content[position : end + len(closing)] if 0 <= end - position < 200 else marker
            if not where.holds(unescape(span)):
                snippet = content[position : position + 40].split("\n")[0]
                out.error(
                    "leftover-marker",
                    f"the {part} still contains {what} ({snippet!r}): a template or merge step did not run — fix the template or the issue text",
                )
                break
            position = content.find(marker, position + len(span))


def _check_images(images: Sequence[_Tag], out: _Findings, where: SourceMap) -> None:
    for image in images:
        src = (image.attrs.get("src") or "").strip()
        label = src or f"<img> on HTML line {image.html_line}"
        line = where.line_of_url(src) if src else None
        alt = image.attrs.get("alt")
        if alt is None:
            out.error(
                "image-alt-missing",
                f"image {label} has no alt text — write ![what it shows](…) in the issue",
                line,
            )
        elif not alt.strip() and image.attrs.get("role") != "presentation":
            out.warn(
                "image-alt-empty",
                f"image {label} has empty alt text: fine only for decoration — describe it otherwise",
                line,
            )
        if not (image.attrs.get("width") or "").strip():
            fix = (
                "put the image on a line of its own in the issue (it then gets the column's width)"
                if line
                else "give the template's <img> a width attribute"
            )
            out.error(
                "image-width-missing",
                f"image {label} has no width attribute: Outlook shows it at its natural size — {fix}",
                line,
            )
        if not src:
            out.error("image-src-missing", f"an image on HTML line {image.html_line} has no src", line)
        elif src.lower().startswith("http://"):
            out.warn(
                "insecure-image", f"image {src} uses http://: mail clients block or warn — use https://", line
            )


def _check_links(links: Sequence[_Tag], out: _Findings, where: SourceMap) -> list[str]:
    """Report bad links; return the usable hrefs in document order."""
    hrefs: list[str] = []
    for link in links:
        raw = link.attrs.get("href")
        if raw is None:
            continue  # an anchor without href is not a link
        href = raw.strip()
        line = where.line_of_url(href) if href else None
        problem = link_problem(href)
        if problem:
            out.error("link-invalid", f"link {href!r} (HTML line {link.html_line}) {problem}", line)
            continue
        if href.lower().startswith("http://"):
            out.warn(
                "insecure-link", f"link {href} uses http:// — use https:// if the site supports it", line
            )
        hrefs.append(href)
    return hrefs


def link_problem(href: str) -> str | None:
    """Why ``href`` cannot work in an email, or None when it looks usable."""
    if not href:
        return "is empty — give the link an address"
    if href.startswith("#"):
        return "points to '#' (nowhere in an email) — give it a real address"
    parsed = urlparse(href)
    scheme = parsed.scheme.lower()
    if scheme == "javascript":
        return "uses javascript:, which mail clients remove — link to a web page instead"
    if re.search(r"\s", href):
        return "contains spaces — remove them or write %20"
    if scheme in ("http", "https"):
        host = parsed.hostname or ""
        if not host or ("." not in host and host != "localhost"):
            return "has no valid host name — write a full address like https://example.dk/page"
        try:
            parsed.port  # noqa: B018  (raises ValueError on a bad port)
        except ValueError:
            return "has an invalid port"
        return None
    if scheme in _PLACEHOLDER_SCHEMES:
        return None if parsed.path.strip() else f"is an empty {scheme}: link — add the address"
    if not scheme:
        return "is relative: mail clients cannot follow it — write a full https:// address"
    return f"uses the unsupported scheme {scheme}: — use https:// or mailto:"


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
        out.error(
            "unsubscribe-link-missing",
            "the body has no unsubscribe link: the law and Gmail/Yahoo's bulk-sender rules require one — keep {{ unsubscribe_url }} in the template's footer",
        )
    lowered = {name.lower(): value for name, value in headers.items()}
    value = lowered.get("list-unsubscribe", "")
    if not re.search(r"<https://[^>]+>", value):
        out.error(
            "list-unsubscribe-missing",
            "no List-Unsubscribe header with an https:// address: Gmail and Yahoo require one-click unsubscribe for bulk mail",
        )
    if lowered.get("list-unsubscribe-post", "").strip() != ONE_CLICK:
        out.error(
            "list-unsubscribe-post-missing",
            f"no 'List-Unsubscribe-Post: {ONE_CLICK}' header (RFC 8058): Gmail and Yahoo require it for bulk mail",
        )


def _check_list_id(headers: Mapping[str, str], out: _Findings) -> None:
    value = next((v for name, v in headers.items() if name.lower() == "list-id"), "").strip()
    if not value:
        out.error(
            "list-id-missing",
            "no List-Id header (RFC 2919): mail programs recognise and filter the newsletter by it — "
            "check [defaults] list and [site] base_url in the settings",
        )
        return
    found = _LIST_ID.fullmatch(value)
    if found is None or len(found["id"]) > MAX_LIST_ID_LENGTH:
        out.error(
            "list-id-invalid",
            f"the List-Id header {value[:80]!r} is not 'Title <list.domain>' (RFC 2919) — check [defaults] list "
            "and the host of [site] base_url",
        )


def _check_text_part(text: str, hrefs: Sequence[str], out: _Findings, where: SourceMap) -> None:
    if not text.strip():
        out.error(
            "text-missing",
            "the plain-text part is empty: some readers and spam filters rely on it — check the text renderer",
        )
        return
    missing: list[str] = []
    for href in dict.fromkeys(hrefs):
        target = href[len("mailto:") :].split("?")[0] if href.lower().startswith("mailto:") else href
        if target not in text and href not in text:
            missing.append(href)
    for href in missing:
        out.error(
            "text-link-missing",
            f"the plain-text part lacks the link {href} that the HTML has — readers of the text version cannot follow it",
            where.line_of_url(href),
        )
