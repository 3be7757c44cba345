"""Read and validate an issue file → :class:`Issue`.

An issue is ``issues/YYYY-MM-DD-slug.md``: YAML front matter between ``---``
lines, then a Markdown body (syntax: :mod:`newsletter.markdown`,
``docs/authoring.md``). Its slug is the file stem. Every problem raises
:class:`~newsletter.errors.IssueError` naming the file and, where it can, the
line; nothing about an invalid issue is half-accepted.

Local images are files in ``issues/<slug>/``; they are listed in
:attr:`Issue.assets` and referenced by their public URL
``{base_url}/issues/<slug>/<file>``, so the email never points at a disk path.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import unquote, urlparse

import yaml

from newsletter.assets import AssetMissing, AssetProblem, check_image, image_name, issue_folder
from newsletter.config import Settings
from newsletter.dates import LANGUAGES
from newsletter.errors import IssueError
from newsletter.markdown import Block, BodyError, Image, Section, parse_body
from newsletter.personalize import neutralise
from newsletter.safe_text import header_text_fault
from newsletter.slugs import slugify
from newsletter.wording import Texts

ISSUE_TEXTS = Texts(
    {
        "issue-not-found": "no such issue file or slug in {folder} — {hint}",
        "issue-not-found-known": "known issues: {issues}",
        "issue-not-found-none": "{folder} has no issues yet",
        "issue-file-name": "the file name must be YYYY-MM-DD-slug.md — rename it to {name} "
        "(the slug after the date is the issue's web address)",
        "issue-file-link": "is a symbolic link — put the issue file itself in issues/, not a link to it",
        "issue-file-missing": "file not found",
        "issue-file-unreadable": "cannot read the file: {error}",
        "issue-not-utf8": "the file is not UTF-8 text — save it as UTF-8 (in your editor: 'Save with encoding')",
        "control-character": "invisible control character U+{code:04X} in column {column} — delete it "
        "(it often comes from pasting text from a word processor)",
        "issue-without-text": "the issue has no text after the front matter — "
        "write the newsletter below the closing '---'",
        "front-matter-missing": "no front matter — start the file with '---', then 'subject: …', then '---'",
        "front-matter-not-closed": "the front matter is never closed — add a line '---' after its last field",
        "front-matter-yaml": "front matter is not valid YAML ({problem}) — {fix}",
        "yaml-problem": "{problem}",
        "yaml-not-closed": "{problem} {context}: a quote or bracket opened here is never closed",
        "yaml-fix-lines": "write 'field: value', one per line",
        "yaml-fix-quotes": "a value holding ': ' needs quotes, e.g. subject: \"Nyt: fra kommunen\"",
        "front-matter-unreadable": "front matter is not valid YAML ({problem})",
        "front-matter-not-fields": "front matter must be 'field: value' lines, e.g. 'subject: Nyt fra kommunen'",
        "field-control-character": "{field}: holds an invisible control character — retype the value",
        "lang-unsupported": "lang: '{lang}' is not supported — use one of: {languages}",
        "template-name-invalid": "template: '{template}' is not a template name — use e.g. 'newsletter' or 'holiday'",
        "salutation-not-boolean": "salutation: '{value}' must be true or false",
        "field-missing": "'{field}' is missing from the front matter — add '{field}: …' between the '---' lines",
        "field-not-one-line": "{field}: must be a single line of text",
        "field-not-header-text": "{field}: {problem} — write the {field} as one line of plain text "
        "(no \\n, \\r or \\t escapes, no '|' block)",
        "date-invalid": "date: '{value}' is not a date — write it as YYYY-MM-DD, e.g. 2019-12-20",
        "image-address-invalid": "image '{src}' must be an https:// address or a file in issues/{slug}/",
        "image-file-missing": "image file '{src}' not found — put it in {folder}/{slug}/ next to the issue "
        "and write ![…]({name})",
        "image-file-unusable": "image '{src}' in {folder}/{slug}/: {problem}",
    }
)
KNOWN_FIELDS = ("subject", "title", "preheader", "date", "template", "lang", "kicker")
# Characters XML (so MJML) cannot hold; they arrive by pasting from word processors.
_Value = TypeVar("_Value")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ufffe\uffff]")
_FILE_DATE = re.compile(r"^(\d{4}-\d{2}-\d{2})-")
# The stem is the slug: the web address, the build folder and the send ledger's key.
_ISSUE_STEM = re.compile(r"\d{4}-\d{2}-\d{2}-[a-z0-9]+(?:-[a-z0-9]+)*")


# libyaml's parser when PyYAML has it (several times faster), else the pure-Python one.
_BaseLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _FrontMatterLoader(_BaseLoader):  # type: ignore[valid-type,misc]
    """A safe loader that leaves dates as text: we parse them ourselves, with a message on bad ones."""


_FrontMatterLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _load_yaml(source: str) -> tuple[yaml.Node | None, Any]:
    """The document's node tree (for line numbers) and its data, parsed once."""
    loader = _FrontMatterLoader(source)
    try:
        node = loader.get_single_node()
        return node, (loader.construct_document(node) if node is not None else None)
    finally:
        loader.dispose()


@dataclass(frozen=True)
class Issue:
    path: Path
    slug: str
    subject: str
    title: str  # the heading shown in the email; defaults to the subject
    preheader: str
    date: datetime.date | None
    template: str
    lang: str
    kicker: str
    meta: dict[str, Any]  # every other front-matter field, for templates that need it
    sections: list[Section]
    links: list[str]
    images: list[Image]
    # (file on disk, public URL) for every local image.
    assets: list[tuple[Path, str]] = field(default_factory=list)
    # Line of each front-matter field, for messages about them.
    field_lines: dict[str, int] = field(default_factory=dict)
    # The text the issue was read from (line endings made \n): checks find their lines in it.
    source: str = ""

    def blocks(self) -> list[Block]:
        """Every block of every section, columns flattened, in order."""
        found: list[Block] = []
        for section in self.sections:
            for block in section.blocks:
                found.append(block)
                if block.kind == "columns":
                    found.extend(inner for column in block.columns for inner in column)  # type: ignore[union-attr]
        return found


def resolve_issue(name: str, settings: Settings) -> Path:
    """An issue given as a path, a file name in the issues folder, or a slug."""
    candidates = [Path(name)]
    if not Path(name).is_absolute():
        candidates += [settings.issues_dir / name, settings.issues_dir / f"{name}.md"]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    known = sorted(path.stem for path in settings.issues_dir.glob("*.md"))
    hint = (
        ISSUE_TEXTS("issue-not-found-known", issues=", ".join(known[-5:]))
        if known
        else ISSUE_TEXTS("issue-not-found-none", folder=str(settings.issues_dir))
    )
    raise IssueError(name, ISSUE_TEXTS("issue-not-found", folder=str(settings.issues_dir), hint=hint))


def all_issues(settings: Settings) -> list[Path]:
    return sorted(settings.issues_dir.glob("*.md"))


def load_issue(path: Path, settings: Settings) -> Issue:
    """Parse and validate the issue at ``path``."""
    path = Path(path)
    _check_file_name(path)
    if path.is_symlink():
        # A link named like an issue would publish whatever it points at as a web page.
        raise IssueError(path, ISSUE_TEXTS("issue-file-link"))
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise IssueError(path, ISSUE_TEXTS("issue-file-missing")) from None
    except OSError as exc:
        raise IssueError(path, ISSUE_TEXTS("issue-file-unreadable", error=str(exc.strerror))) from exc
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise IssueError(path, ISSUE_TEXTS("issue-not-utf8"), line) from None
    return parse_issue(path, text, settings)


def parse_issue(path: Path, text: str, settings: Settings) -> Issue:
    """Parse and validate ``text`` as the issue file ``path`` (its name, slug and image folder).

    :func:`load_issue` reads the file and calls this; the workspace's editor
    calls it with text that is not saved yet, so the preview and the checks
    see exactly what a save would write.
    """
    path = Path(path)
    _check_file_name(path)
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    control = _CONTROL.search(text)
    if control:
        line = text.count("\n", 0, control.start()) + 1
        column = control.start() - text.rfind("\n", 0, control.start())
        raise IssueError(
            path, ISSUE_TEXTS("control-character", code=ord(control.group()), column=column), line
        )
    front, field_lines, body, body_line = _split_front_matter(path, text)
    slug = path.stem
    meta = dict(front)
    # Every field and the body are read even after a problem, so one pass reports them all.
    problems: list[IssueError] = []

    def read(field: Callable[[], _Value], default: _Value) -> _Value:
        try:
            return field()
        except IssueError as problem:
            problems.append(problem)
            return default

    subject = read(lambda: _text_field(path, meta, field_lines, "subject", required=True), "")
    lang = read(lambda: _language(path, meta, field_lines, settings), settings.language)
    template = read(lambda: _template(path, meta, field_lines, settings), settings.template)
    read(lambda: _salutation(path, meta, field_lines), True)  # read by the renderer from meta
    title = read(lambda: _text_field(path, meta, field_lines, "title"), "") or subject
    preheader = read(lambda: _text_field(path, meta, field_lines, "preheader"), "")
    date = read(lambda: _date_field(path, meta, field_lines), None)
    kicker = read(lambda: _text_field(path, meta, field_lines, "kicker"), "")
    assets: list[tuple[Path, str]] = []

    def resolve_image(src: str, line: int) -> str:
        return _resolve_image(path, slug, settings, src, line, assets)

    try:
        parsed = parse_body(body, body_line, resolve_image)
    except BodyError as exc:
        problems += [IssueError(path, problem.wording, problem.line) for problem in exc.every]
    else:
        if not any(section.blocks or section.heading for section in parsed.sections):
            problems.append(IssueError(path, ISSUE_TEXTS("issue-without-text"), body_line))
    if problems:
        error = IssueError.of(problems)
        # The inbox line is checked even when the body is not (newsletter check: every finding at once).
        error.front_matter = {"subject": subject, "preheader": preheader, "source": text}
        raise error

    return Issue(
        path=path,
        slug=slug,
        subject=subject,
        title=title,
        preheader=preheader,
        date=date,
        template=template,
        lang=lang,
        kicker=kicker,
        meta=meta,
        sections=parsed.sections,
        links=parsed.links,
        images=parsed.images,
        assets=assets,
        field_lines=field_lines,
        source=text,
    )


def _check_file_name(path: Path) -> None:
    if path.suffix != ".md" or not _ISSUE_STEM.fullmatch(path.stem):
        raise IssueError(path, ISSUE_TEXTS("issue-file-name", name=_suggest_name(path)))


def is_issue_stem(name: str) -> bool:
    """True when ``name`` is a slug an issue file may have (``YYYY-MM-DD-words``)."""
    return _ISSUE_STEM.fullmatch(name) is not None


def _suggest_name(path: Path) -> str:
    """A valid issue file name for ``path``: its date (or YYYY-MM-DD) and a slug of the rest."""
    match = _FILE_DATE.match(path.name)
    date, rest = (match.group(1), path.stem[match.end() :]) if match else ("YYYY-MM-DD", path.stem)
    return f"{date}-{slugify(rest) or 'nyhedsbrev'}.md"


def _split_front_matter(path: Path, text: str) -> tuple[dict[str, Any], dict[str, int], str, int]:
    lines = text.split("\n")
    if not lines or lines[0].strip() != "---":
        raise IssueError(path, ISSUE_TEXTS("front-matter-missing"), 1)
    try:
        end = next(index for index in range(1, len(lines)) if lines[index].strip() in ("---", "..."))
    except StopIteration:
        raise IssueError(path, ISSUE_TEXTS("front-matter-not-closed"), 1) from None
    source = "\n".join(lines[1:end])
    try:
        node, data = _load_yaml(source)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        yaml_problem = exc.problem or "invalid YAML"
        problem = ISSUE_TEXTS("yaml-problem", problem=yaml_problem)
        if exc.context_mark and exc.context and ("flow" in exc.context or "quoted" in exc.context):
            # An unclosed quote or bracket is found lines later; the line to fix is where it opened.
            mark = exc.context_mark
            problem = ISSUE_TEXTS("yaml-not-closed", problem=yaml_problem, context=exc.context)
        line = mark.line + 2 if mark else 1
        fix = ISSUE_TEXTS("yaml-fix-lines")
        if "mapping values are not allowed" in yaml_problem:
            fix = ISSUE_TEXTS("yaml-fix-quotes")
        raise IssueError(path, ISSUE_TEXTS("front-matter-yaml", problem=problem, fix=fix), line) from None
    except yaml.YAMLError as exc:
        raise IssueError(path, ISSUE_TEXTS("front-matter-unreadable", problem=str(exc)), 1) from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise IssueError(path, ISSUE_TEXTS("front-matter-not-fields"), 2)
    field_lines: dict[str, int] = {}
    if isinstance(node, yaml.MappingNode):
        for key_node, _value in node.value:
            field_lines[str(key_node.value)] = key_node.start_mark.line + 2
    for key, value in data.items():
        # YAML escapes ("\e") can smuggle in characters the raw-text check never saw.
        if _has_control_character(value):
            raise IssueError(
                path, ISSUE_TEXTS("field-control-character", field=str(key)), field_lines.get(str(key))
            )
    return {str(key): value for key, value in data.items()}, field_lines, "\n".join(lines[end + 1 :]), end + 2


def _has_control_character(value: object) -> bool:
    if isinstance(value, str):
        return _CONTROL.search(value) is not None
    if isinstance(value, dict):
        return any(_has_control_character(k) or _has_control_character(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_control_character(item) for item in value)
    return False


def _language(path: Path, meta: dict[str, Any], lines: dict[str, int], settings: Settings) -> str:
    lang = _text_field(path, meta, lines, "lang") or settings.language
    if lang not in LANGUAGES:
        unsupported = ISSUE_TEXTS("lang-unsupported", lang=lang, languages=", ".join(LANGUAGES))
        raise IssueError(path, unsupported, lines.get("lang"))
    return lang


def _template(path: Path, meta: dict[str, Any], lines: dict[str, int], settings: Settings) -> str:
    template = _text_field(path, meta, lines, "template") or settings.template
    if not re.fullmatch(r"[a-z0-9][a-z0-9_-]*", template):
        raise IssueError(path, ISSUE_TEXTS("template-name-invalid", template=template), lines.get("template"))
    return template


def _salutation(path: Path, meta: dict[str, Any], lines: dict[str, int]) -> bool:
    salutation = meta.get("salutation", True)
    if not isinstance(salutation, bool):
        raise IssueError(
            path, ISSUE_TEXTS("salutation-not-boolean", value=str(salutation)), lines.get("salutation")
        )
    return salutation


def _text_field(
    path: Path, meta: dict[str, Any], lines: dict[str, int], name: str, *, required: bool = False
) -> str:
    value = meta.pop(name, None)
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise IssueError(path, ISSUE_TEXTS("field-missing", field=name), lines.get(name, 1))
        return ""
    if isinstance(value, dict | list):
        raise IssueError(path, ISSUE_TEXTS("field-not-one-line", field=name), lines.get(name))
    text = str(value).strip()
    # Subject and preheader become mail headers, where a line break starts a forged header
    # ("Bcc: …"); YAML's "\r\n" escapes and folded blocks can put one there. Refused, not cleaned.
    problem = header_text_fault(text)
    if problem is not None:
        raise IssueError(
            path, ISSUE_TEXTS("field-not-header-text", field=name, problem=problem), lines.get(name)
        )
    return neutralise(text)


def _date_field(path: Path, meta: dict[str, Any], lines: dict[str, int]) -> datetime.date | None:
    value = meta.pop("date", None)
    if isinstance(value, datetime.datetime):
        return value.date()
    if isinstance(value, datetime.date):
        return value
    if value is None:
        match = _FILE_DATE.match(path.name)
        if not match:
            return None
        value = match.group(1)
    try:
        return datetime.date.fromisoformat(str(value).strip())
    except ValueError:
        raise IssueError(path, ISSUE_TEXTS("date-invalid", value=str(value)), lines.get("date", 1)) from None


def _resolve_image(
    path: Path, slug: str, settings: Settings, src: str, line: int, assets: list[tuple[Path, str]]
) -> str:
    parsed = urlparse(src)
    if parsed.scheme in ("http", "https") and parsed.netloc:
        return src
    if parsed.scheme or parsed.netloc or src.startswith("/"):
        raise BodyError(line, ISSUE_TEXTS("image-address-invalid", src=src, slug=slug))
    folder = path.parent.name
    try:
        name = image_name(unquote(parsed.path), slug)
        candidate = issue_folder(path) / name
        check_image(candidate)
    except AssetMissing:
        missing = ISSUE_TEXTS("image-file-missing", src=src, folder=folder, slug=slug, name=Path(src).name)
        raise BodyError(line, missing) from None
    except AssetProblem as exc:
        unusable = ISSUE_TEXTS("image-file-unusable", src=src, folder=folder, slug=slug, problem=exc.wording)
        raise BodyError(line, unusable) from None
    public = settings.url(f"issues/{slug}/{name}")
    if (candidate, public) not in assets:
        assets.append((candidate, public))
    return public
