"""An issue's local images: which files may be published, and reading them without following links.

An issue's images live directly in its own folder ``issues/<slug>/``. A file
there is published (copied by ``build``, shown by ``preview``, served by
``serve``) only when the issue refers to it and it is:

- named with letters, digits, ``.``, ``_`` and ``-`` (no dotfiles, no ``..``,
  no subfolders), with an extension mail clients show: png, jpg/jpeg, gif, webp
  (SVG is refused: Gmail and Outlook do not show it, and a browser runs scripts
  in it);
- a regular file reached without any symbolic link (neither the file nor the
  folder ``issues/<slug>`` may be a link) and not a hard link (a second name of
  a file that lives elsewhere, e.g. the subscriber database);
- an image of its type by its first bytes, not only by its name.

Links are refused *before* the file is opened. That matters beyond leaking its
bytes: a process with an SQLite connection that opens and closes the database
file under another name loses its POSIX locks on it, and another process then
deletes the WAL the first one is still writing to (acknowledged writes lost).
"""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path

from newsletter.wording import Texts, Wording

# Extension → media type, for the images email clients show.
IMAGE_TYPES: dict[str, str] = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".webp": "image/webp",
}
# The largest image file the workspace takes in (it is scaled down and re-encoded: see newsletter.images).
MAX_UPLOAD_BYTES = 10 * 1024 * 1024
_SIGNATURES: dict[str, tuple[bytes, ...]] = {
    "image/png": (b"\x89PNG\r\n\x1a\n",),
    "image/jpeg": (b"\xff\xd8\xff",),
    "image/gif": (b"GIF87a", b"GIF89a"),
}
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,199}")
_OPEN_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
# O_NONBLOCK: a FIFO swapped in after the check must not hang the process.
_OPEN_FILE = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC


# Why a file may not be published: phrases that follow the file's name (the caller adds it).
ASSET_TEXTS = Texts(
    {
        "image-in-subfolder": "put the image directly in issues/{slug}/ (not in a subfolder) and write its name",
        "image-name-invalid": "the file name may hold only letters a-z, digits, '-', '_' and '.', and must not "
        "start with '.' — rename the file, e.g. moede-2020.png",
        "image-svg": "SVG images are not shown by Gmail and Outlook — export it as PNG",
        "image-type-unsupported": "only {types} images can be sent — save it as PNG or JPG",
        "image-not-publishable": "is not an image file name that can be published — use a .png or .jpg file",
        "image-not-found": "not found",
        "image-folder-unusable": "the folder {folder}/ {problem}",
        "folder-is-link": "is a symbolic link — make it a real folder holding the issue's images",
        "folder-is-link-to": "is a symbolic link to {target} — make it a real folder holding the images",
        "folder-cannot-open": "cannot be opened",
        "folder-cannot-open-because": "cannot be opened: {error}",
        "file-is-link": "is a symbolic link — put the real file here instead of a link",
        "file-is-link-to": "is a symbolic link to {target} — put the real file here instead of a link",
        "file-is-hard-link": "is a hard link (a second name of another file) — put a copy of the file here instead",
        "file-not-regular": "is not a regular file",
        "file-unreadable": "cannot be read: {error}",
        "file-changed": "changed while it was being read — try again",
        "image-content-wrong": "is not a {kind} image (its content says otherwise) — save it again from an image program",
    }
)


class AssetProblem(ValueError):
    """Why a file may not be published; the text says what to do (no file name: the caller adds it)."""

    def __init__(self, wording: Wording) -> None:
        super().__init__(wording.english)
        self.wording = wording


class AssetMissing(AssetProblem):
    """The image file does not exist."""


def issue_folder(issue_path: Path) -> Path:
    """``issues/<slug>/`` for the issue file ``issues/<slug>.md``: where its images live."""
    return issue_path.parent / issue_path.stem


def image_name(src: str, slug: str) -> str:
    """The file name an issue's ``![…](src)`` refers to in its own folder; AssetProblem if it cannot be one.

    ``src`` is the bare name (``logo.png``) or ``<slug>/logo.png`` (relative to the issue file).
    """
    name = src.removeprefix(f"{slug}/")
    if "/" in name or "\\" in name:
        raise AssetProblem(ASSET_TEXTS("image-in-subfolder", slug=slug))
    if not _NAME.fullmatch(name):
        raise AssetProblem(ASSET_TEXTS("image-name-invalid"))
    suffix = Path(name).suffix.lower()
    if suffix == ".svg":
        raise AssetProblem(ASSET_TEXTS("image-svg"))
    if suffix not in IMAGE_TYPES:
        raise AssetProblem(ASSET_TEXTS("image-type-unsupported", types=", ".join(sorted(IMAGE_TYPES))))
    return name


def media_type(path: Path) -> str:
    return IMAGE_TYPES[path.suffix.lower()]


def check_image(path: Path) -> None:
    """Raise AssetProblem unless ``path`` (``issues/<slug>/<name>``) may be published."""
    fd = _open_image(path)
    os.close(fd)


def read_image(path: Path) -> bytes:
    """The bytes of the publishable image ``path``; AssetProblem if it may not be published."""
    fd = _open_image(path)
    try:
        with os.fdopen(fd, "rb", closefd=False) as handle:
            return handle.read()
    finally:
        os.close(fd)


def link_problem(path: Path) -> Wording | None:
    """Why ``path`` is a link that must not be followed (symbolic or hard), without opening it; else None."""
    try:
        info = os.lstat(path)
    except OSError:
        return None
    if stat.S_ISLNK(info.st_mode):
        return ASSET_TEXTS("file-is-link-to", target=os.readlink(path))
    if stat.S_ISREG(info.st_mode) and info.st_nlink > 1:
        return ASSET_TEXTS("file-is-hard-link")
    return None


def links_in_folder(folder: Path) -> list[tuple[Path, Wording]]:
    """Every link in an issue's image folder (or the folder itself, when it is a link), with the fix."""
    if folder.is_symlink():
        return [(folder, ASSET_TEXTS("folder-is-link-to", target=os.readlink(folder)))]
    if not folder.is_dir():
        return []
    found = []
    for entry in sorted(folder.iterdir()):
        problem = link_problem(entry)
        if problem:
            found.append((entry, problem))
    return found


def is_plain_file(path: Path) -> bool:
    """True when ``path`` is a regular file that is neither a symbolic nor a hard link (checked without opening it)."""
    try:
        info = os.lstat(path)
    except OSError:
        return False
    return stat.S_ISREG(info.st_mode) and info.st_nlink == 1


def _open_image(path: Path) -> int:
    """A descriptor of the image ``path``, opened only after every check that does not need to open it."""
    name = path.name
    if not _NAME.fullmatch(name) or path.suffix.lower() not in IMAGE_TYPES:
        raise AssetProblem(ASSET_TEXTS("image-not-publishable"))
    try:
        folder_fd = os.open(path.parent, _OPEN_DIR)
    except FileNotFoundError:
        raise AssetMissing(ASSET_TEXTS("image-not-found")) from None
    except OSError as exc:
        folder_problem = _folder_problem(path.parent, exc)
        raise AssetProblem(
            ASSET_TEXTS("image-folder-unusable", folder=path.parent.name, problem=folder_problem)
        ) from None
    try:
        try:
            before = os.stat(name, dir_fd=folder_fd, follow_symlinks=False)
        except FileNotFoundError:
            raise AssetMissing(ASSET_TEXTS("image-not-found")) from None
        problem = _file_problem(before, path)
        if problem:
            raise AssetProblem(problem)
        try:
            fd = os.open(name, _OPEN_FILE, dir_fd=folder_fd)
        except OSError as exc:
            raise AssetProblem(ASSET_TEXTS("file-unreadable", error=str(exc.strerror))) from None
    finally:
        os.close(folder_fd)
    after = os.fstat(fd)
    if (after.st_dev, after.st_ino) != (before.st_dev, before.st_ino) or _file_problem(after, path):
        os.close(fd)
        raise AssetProblem(ASSET_TEXTS("file-changed"))
    head = os.pread(fd, 16, 0)
    if not _looks_like(media_type(path), head):
        os.close(fd)
        raise AssetProblem(ASSET_TEXTS("image-content-wrong", kind=path.suffix.lstrip(".").upper()))
    return fd


def _folder_problem(folder: Path, exc: OSError) -> Wording:
    if os.path.islink(folder):
        return ASSET_TEXTS("folder-is-link")
    if exc.strerror:
        return ASSET_TEXTS("folder-cannot-open-because", error=exc.strerror)
    return ASSET_TEXTS("folder-cannot-open")


def _file_problem(info: os.stat_result, path: Path) -> Wording | None:
    if stat.S_ISLNK(info.st_mode):
        return link_problem(path) or ASSET_TEXTS("file-is-link")
    if not stat.S_ISREG(info.st_mode):
        return ASSET_TEXTS("file-not-regular")
    if info.st_nlink > 1:
        return ASSET_TEXTS("file-is-hard-link")
    return None


def _looks_like(kind: str, head: bytes) -> bool:
    if kind == "image/webp":
        return head[:4] == b"RIFF" and head[8:12] == b"WEBP"
    return head.startswith(_SIGNATURES[kind])
