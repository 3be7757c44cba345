"""Every module imports the project's modules at its top: no import cycle hides in a function.

A function-local import, an ``if TYPE_CHECKING:`` import or a ``try: import …
except ImportError`` of a ``newsletter`` module is how a cycle between two
modules gets papered over. The cure is to move the shared piece down (as
``newsletter.message`` and ``newsletter.web.context`` were); this test keeps
the papering from coming back.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "newsletter"


def _project_module(node: ast.Import | ast.ImportFrom) -> str | None:
    """The project module ``node`` imports, or None for the standard library and third parties."""
    if isinstance(node, ast.ImportFrom):
        if node.level:  # relative: always the project's own
            return "." * node.level + (node.module or "")
        names = [node.module or ""]
    else:
        names = [alias.name for alias in node.names]
    return next((name for name in names if name == "newsletter" or name.startswith("newsletter.")), None)


def _catches_import_error(handler: ast.ExceptHandler) -> bool:
    caught = handler.type
    kinds = caught.elts if isinstance(caught, ast.Tuple) else [caught] if caught else []
    return any(
        isinstance(kind, ast.Name) and kind.id in ("ImportError", "ModuleNotFoundError") for kind in kinds
    )


def hidden_imports(source: str, filename: str) -> list[str]:
    """``file:line: what`` for each project import that is not a plain statement at the module's top."""
    tree = ast.parse(source, filename)
    top_level = {
        id(statement) for statement in tree.body if isinstance(statement, ast.Import | ast.ImportFrom)
    }
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import | ast.ImportFrom) and id(node) not in top_level:
            module = _project_module(node)
            if module is not None:
                found.append((node.lineno, f"imports {module} below the module's top"))
        elif isinstance(node, ast.Try) and any(_catches_import_error(h) for h in node.handlers):
            guarded = [
                n for part in node.body for n in ast.walk(part) if isinstance(n, ast.Import | ast.ImportFrom)
            ]
            if any(_project_module(n) is not None for n in guarded):
                found.append((node.lineno, "guards an import of the project with except ImportError"))
    return [f"{filename}:{line}: {what}" for line, what in sorted(found)]


def test_no_module_hides_an_import_of_the_project() -> None:
    problems = []
    for path in sorted(PACKAGE.rglob("*.py")):
        problems += hidden_imports(path.read_text(encoding="utf-8"), str(path.relative_to(PACKAGE.parent)))
    assert problems == [], "move the shared piece down and import it at the top:\n" + "\n".join(problems)


def _module_file(name: str) -> Path | None:
    parts = name.split(".")[1:]
    candidates = [PACKAGE.joinpath(*parts[:-1], parts[-1] + ".py")] if parts else []
    for path in [*candidates, PACKAGE.joinpath(*parts, "__init__.py")]:
        if path.is_file():
            return path
    return None  # ``from newsletter.x import name`` names a function or class, not a module


def _imports_of(module: str) -> set[str]:
    """The project modules ``module`` imports, directly or through others."""
    seen: set[str] = set()
    waiting = [module]
    while waiting:
        name = waiting.pop()
        path = _module_file(name)
        if name in seen or path is None:
            continue
        seen.add(name)
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("newsletter"):
                waiting += [node.module, *(f"{node.module}.{alias.name}" for alias in node.names)]
            elif isinstance(node, ast.Import):
                waiting += [alias.name for alias in node.names if alias.name.startswith("newsletter")]
    return seen - {module}


def test_the_message_model_sits_below_compose_send_web_and_the_providers() -> None:
    # Below the settings too: config knows the providers, and the providers speak the message model.
    above = ("render", "build", "checks", "preview", "send", "providers", "web", "cli", "store", "config")
    reached = sorted(m for m in _imports_of("newsletter.message") if m.split(".")[1] in above)
    assert reached == [], f"newsletter.message must not import {reached}"
    # Each recipient's pieces are built from the settings, below everything that sends or shows them.
    direct = ast.parse((PACKAGE / "per_recipient.py").read_text(encoding="utf-8"))
    imported = [n.module for n in ast.walk(direct) if isinstance(n, ast.ImportFrom) and n.module]
    wrong = [m for m in imported if m.startswith("newsletter.") and m.split(".")[1] in above[:-1]]
    assert wrong == [], f"newsletter.per_recipient must not import {wrong}"
    # The walk does see a layer above when it is there.
    assert "newsletter.providers.base" in _imports_of("newsletter.send.service")


def test_the_finder_sees_each_way_of_hiding_an_import() -> None:
    source = """
from __future__ import annotations
import json
from typing import TYPE_CHECKING
from newsletter.config import Settings

if TYPE_CHECKING:
    from newsletter.issue import Issue

try:
    import newsletter.render
except ImportError:
    pass

def build():
    import csv
    from newsletter.send import service
    from . import sibling
"""
    assert [line.split(": ", 1)[0] for line in hidden_imports(source, "m.py")] == [
        "m.py:8",  # if TYPE_CHECKING
        "m.py:10",  # the try around it
        "m.py:11",  # the import inside it
        "m.py:17",  # in a function
        "m.py:18",  # relative, in a function
    ]
