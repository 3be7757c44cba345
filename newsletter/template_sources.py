"""Where templates come from: the project's ``templates/`` folder first, then the package's built-ins.

The built-in email templates live in ``newsletter/templates/`` and the web
pages in ``newsletter/templates/web/``, so an installed wheel renders without
the repository. A project overrides a built-in by putting a file of the same
name in its own ``templates/`` (or ``templates/web/``); everything it does not
override still comes from the package, as a static-site generator's theme
does. The built-in copy stays reachable as ``builtin/NAME``, so an override
can extend the very template it replaces (``{% extends "builtin/base.mjml.j2" %}``).

Every Jinja environment (emails, system emails, web pages) takes its loader
from :func:`template_loader`; everything that names, lists or locates a
template asks :func:`template_folders` for the same search order.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import jinja2
from jinja2.loaders import split_template_path

BUILTIN_TEMPLATES = Path(__file__).resolve().parent / "templates"
BUILTIN_PREFIX = "builtin"
WEB_PAGES = "web"


def template_folders(project_templates: Path, subfolder: str = "") -> tuple[Path, Path]:
    """The folders searched, in order: the project's own, then the package's built-ins."""
    return project_templates / subfolder, BUILTIN_TEMPLATES / subfolder


def template_loader(project_templates: Path, subfolder: str = "") -> jinja2.BaseLoader:
    """The loader of every Jinja environment: the project's file wins, name by name."""
    project, builtin = template_folders(project_templates, subfolder)
    return jinja2.ChoiceLoader(
        [
            jinja2.FileSystemLoader(project),
            _BuiltinLoader(builtin, overridden_in=project),
            jinja2.PrefixLoader({BUILTIN_PREFIX: jinja2.FileSystemLoader(builtin)}),
        ]
    )


class _BuiltinLoader(jinja2.FileSystemLoader):
    """The package's templates; a compiled one goes stale once the project gains a file of its name.

    Jinja re-checks only the file it compiled, so without this the preview would
    go on rendering a built-in after the author copied it into templates/ to change it.
    """

    def __init__(self, folder: Path, *, overridden_in: Path) -> None:
        super().__init__(folder)
        self.overridden_in = overridden_in

    def get_source(
        self, environment: jinja2.Environment, template: str
    ) -> tuple[str, str, Callable[[], bool]]:
        source, filename, unchanged = super().get_source(environment, template)
        override = self.overridden_in.joinpath(*split_template_path(template))
        return source, filename, lambda: unchanged() and not override.is_file()


def find_template(name: str, folders: Sequence[Path]) -> Path | None:
    """The file ``name`` resolves to: the first folder that has it wins."""
    for folder in folders:
        candidate = folder / name
        if candidate.is_file():
            return candidate
    return None


def template_location(name: str, folders: Sequence[Path]) -> Path:
    """Where an error about template ``name`` points: its file, or where the project would put it."""
    return find_template(name, folders) or folders[0] / name


def template_names(folders: Sequence[Path], suffix: str) -> list[str]:
    """Every template name ending in ``suffix`` that any of ``folders`` offers, without the suffix."""
    names = {path.name.removesuffix(suffix) for folder in folders for path in folder.glob("*" + suffix)}
    return sorted(names)


def template_display(path: str | Path, root: Path) -> str:
    """A template path as the user knows it: relative to the project when possible."""
    candidate = Path(path)
    try:
        return candidate.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return str(path)


def searched_folders(folders: Sequence[Path], root: Path) -> str:
    """Where a template was looked for, for an error message: ``templates/ or the built-ins (…)``."""
    project, builtin = folders
    return f"{template_display(project, root).rstrip('/')}/ or the built-ins ({builtin})"
