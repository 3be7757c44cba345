"""An installed wheel works on its own: the built-in templates and web pages ship inside the package.

The wheel is built from a copy of this checkout (without build isolation: the
dev extras bring a setuptools that can build it) and installed without
dependencies into a fresh venv that borrows this venv's site-packages for
them. In an empty folder holding only a newsletter.toml and one issue, the
installed command builds the email and the installed web app serves the
sign-up page and sends the confirmation email — so nothing may be read from
the repository.
"""

from __future__ import annotations

import email
import email.policy
import os
import shutil
import subprocess
import sys
import sysconfig
from importlib.metadata import version
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
MIN_SETUPTOOLS = 77  # pyproject.toml's [build-system]: the first to read `license = "MIT"`
pytestmark = pytest.mark.slow

SETTINGS = """
[organisation]
name = "Hjemmeværnet Vest"
address = "Vestvej 1, 6700 Esbjerg"

[sender]
name = "Hjemmeværnet Vest"
email = "nyt@example.org"

[site]
base_url = "https://nyt.example.org"
"""

ISSUE = """---
subject: Velkommen til nyhedsbrevet
---

Første nummer fra det installerede program.
"""

# Run by the wheel's Python in the project folder: the sign-up page and the confirmation it sends.
SIGN_UP = """
import re
from pathlib import Path
from starlette.testclient import TestClient
from newsletter.config import load_settings
from newsletter.web import create_app

settings = load_settings(Path("newsletter.toml"))
client = TestClient(create_app(settings), base_url=settings.base_url)
form = client.get("/subscribe/nyt")
print(form.status_code)
print(form.text)
token = re.search(r'name="csrf_token" value="([^"]+)"', form.text).group(1)
answer = client.post("/subscribe/nyt", data={"csrf_token": token, "email": "ida@example.com"})
print(answer.status_code)
"""


def _run(command: list[str | Path], cwd: Path, env: dict[str, str]) -> str:
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, f"{command}:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def _wheel(tmp_path: Path) -> Path:
    if int(version("setuptools").split(".")[0]) < MIN_SETUPTOOLS:
        pytest.fail(
            f"setuptools {version('setuptools')} cannot build the wheel: run `make install` (dev extras)"
        )
    # Built from a copy: an in-tree build would leave build/ and *.egg-info in the checkout.
    source = tmp_path / "source"
    shutil.copytree(REPO / "newsletter", source / "newsletter", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, source / name)
    wheels = tmp_path / "wheels"
    pip_wheel = [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation"]
    _run([*pip_wheel, "--wheel-dir", wheels, source], tmp_path, dict(os.environ))
    (wheel,) = wheels.glob("newsletter-*.whl")
    return wheel


def _venv_with(wheel: Path, folder: Path, env: dict[str, str]) -> Path:
    """A venv holding only ``wheel``; its dependencies are this venv's, found after the wheel's copy."""
    _run([sys.executable, "-m", "venv", "--without-pip", folder], folder.parent, env)
    pip_install = [sys.executable, "-m", "pip", "--python", folder / "bin" / "python", "install", "--quiet"]
    _run([*pip_install, "--no-deps", "--no-index", wheel], folder.parent, env)
    site_packages = (
        folder / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}" / "site-packages"
    )
    (site_packages / "borrowed_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return folder / "bin"


def test_an_installed_wheel_builds_an_issue_and_serves_pages_from_its_own_templates(tmp_path: Path) -> None:
    wheel = _wheel(tmp_path)
    # From here on only the installed copy may be importable, never the checkout.
    env = {name: value for name, value in os.environ.items() if name != "PYTHONPATH"}
    bin_dir = _venv_with(wheel, tmp_path / "venv", env)
    project = tmp_path / "project"
    (project / "issues").mkdir(parents=True)
    (project / "newsletter.toml").write_text(SETTINGS, encoding="utf-8")
    (project / "issues" / "2020-01-06-velkommen.md").write_text(ISSUE, encoding="utf-8")

    where = _run([bin_dir / "python", "-c", "import newsletter; print(newsletter.__file__)"], project, env)
    assert Path(where.strip()).is_relative_to(tmp_path / "venv"), where

    _run([bin_dir / "newsletter", "build", "2020-01-06-velkommen"], project, env)
    html = (project / "build" / "2020-01-06-velkommen" / "email.html").read_text(encoding="utf-8")
    assert "Første nummer fra det installerede program." in html
    assert "Afmeld nyhedsbrevet" in html and "Vestvej 1, 6700 Esbjerg" in html  # the built-in base layout

    _run([bin_dir / "newsletter", "lists", "create", "nyt", "--title", "Nyt fra Vest"], project, env)
    form_status, *page, answer_status = _run([bin_dir / "python", "-c", SIGN_UP], project, env).split("\n")[
        :-1
    ]
    assert (form_status, answer_status) == ("200", "200")
    assert "<h1>Nyt fra Vest</h1>" in "\n".join(page)  # the built-in web/subscribe.html
    (confirmation,) = (project / "outbox").rglob("*.eml")
    message = email.message_from_bytes(confirmation.read_bytes(), policy=email.policy.default)
    html_part = message.get_body(preferencelist=("html",))
    assert (
        html_part is not None and "Bekræft tilmelding" in html_part.get_content()
    )  # the built-in confirm.mjml.j2
