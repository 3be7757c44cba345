"""Images added to an issue from the workspace: judged by content, scaled to the email's width at 2×, stripped.

:func:`prepare_image` takes the uploaded bytes and returns a new file:

- **type by content**: Pillow must open it as PNG, JPEG, GIF or WebP (the
  formats :mod:`newsletter.assets` publishes) whatever its name says; the
  stored name gets the extension of what it really is;
- **size**: at most :data:`~newsletter.assets.MAX_UPLOAD_BYTES`, and at most
  :data:`MAX_PIXELS` pixels (a small file can unpack to gigabytes);
- **width**: wider than :data:`MAX_WIDTH_PX` (the email's 600 px at 2×, sharp
  on high-resolution screens) is scaled down, keeping the proportions;
- **metadata**: the image is re-encoded without EXIF (GPS position, camera,
  owner), XMP or comments; a photo's EXIF orientation is applied first, so
  it still stands the right way up. The colour profile is kept.

:func:`store_image` writes it into ``issues/<slug>/`` under a name made from
the uploaded one, never over an existing file.
"""

from __future__ import annotations

import io
import itertools
import os
import uuid
import warnings
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageOps, ImageSequence, UnidentifiedImageError

from newsletter.assets import IMAGE_TYPES, MAX_UPLOAD_BYTES
from newsletter.slugs import slugify

# <mj-body width="600px"> in templates/base.mjml.j2: no image in an email is shown wider.
EMAIL_WIDTH_PX = 600
MAX_WIDTH_PX = 2 * EMAIL_WIDTH_PX
MAX_PIXELS = 50_000_000
MAX_ALT_CHARS = 300
# Pillow's name of each format taken in → the extension it is stored under.
FORMATS = {"PNG": ".png", "JPEG": ".jpg", "GIF": ".gif", "WEBP": ".webp"}
assert set(FORMATS.values()) <= set(IMAGE_TYPES), "an uploaded format the issues could not publish"
# What an animation needs to play; every other key of Pillow's info (exif, xmp, comment, …) is dropped.
_ANIMATION_INFO = ("duration", "loop", "disposal", "transparency", "background", "blend")


class ImageRefused(ValueError):
    """An upload that cannot be used; ``reason`` names why (for translations), the text says what to do."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class PreparedImage:
    data: bytes
    extension: str
    width: int
    height: int
    original_width: int
    original_height: int

    @property
    def scaled(self) -> bool:
        return self.width != self.original_width


def alt_text(value: str) -> str:
    """The alt text as one line; ImageRefused when there is none or it is too long."""
    text = " ".join(value.split())
    if not text:
        raise ImageRefused(
            "alt_missing", "the image needs an alt text — write what it shows, for readers who do not see it"
        )
    if len(text) > MAX_ALT_CHARS:
        raise ImageRefused(
            "alt_too_long", f"the alt text is longer than {MAX_ALT_CHARS} characters — shorten it"
        )
    return text


def image_markdown(alt: str, name: str) -> str:
    """``![alt](name)`` with the characters Markdown would read as syntax escaped."""
    escaped = alt.replace("\\", "\\\\").replace("[", "\\[").replace("]", "\\]")
    return f"![{escaped}]({name})"


def prepare_image(data: bytes) -> PreparedImage:
    """The upload re-encoded as described in the module; ImageRefused when it cannot be used."""
    if len(data) > MAX_UPLOAD_BYTES:
        raise ImageRefused(
            "too_large",
            f"the image is larger than {MAX_UPLOAD_BYTES // (1024 * 1024)} MB — save it smaller (e.g. as JPG)",
        )
    image = _opened(data)
    width, height = image.size
    extension = FORMATS[str(image.format)]
    if getattr(image, "is_animated", False):
        if width > MAX_WIDTH_PX:
            raise ImageRefused(
                "animation_too_wide",
                f"the animation is {width} px wide — make it at most {MAX_WIDTH_PX} px wide in an image program",
            )
        return PreparedImage(_animation_bytes(image), extension, width, height, width, height)
    picture = ImageOps.exif_transpose(image)
    original = picture.size
    if picture.width > MAX_WIDTH_PX:
        if picture.mode == "P":  # palette images only scale with nearest-neighbour: convert first
            picture = picture.convert("RGBA")
        new_height = max(1, round(picture.height * MAX_WIDTH_PX / picture.width))
        picture = picture.resize((MAX_WIDTH_PX, new_height), Image.Resampling.LANCZOS)
    return PreparedImage(
        _still_bytes(picture, str(image.format), image.info.get("icc_profile")),
        extension,
        picture.width,
        picture.height,
        *original,
    )


def store_image(folder: Path, uploaded_name: str, prepared: PreparedImage) -> str:
    """Write ``prepared`` into ``folder`` (``issues/<slug>/``) under a new name made from ``uploaded_name``.

    The file is written under a temporary name and then hard-linked to its
    final name, which fails rather than replaces when that name exists: two
    uploads of ``foto.jpg`` become ``foto.jpg`` and ``foto-2.jpg``.
    """
    if folder.is_symlink():
        raise ImageRefused(
            "folder_link", f"{folder} is a symbolic link — make it a real folder holding the issue's images"
        )
    folder.mkdir(exist_ok=True)
    stem = slugify(Path(uploaded_name).stem) or "billede"
    temporary = folder / f".upload-{uuid.uuid4().hex[:12]}.tmp"
    descriptor = os.open(
        temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644
    )
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(prepared.data)
            handle.flush()
            os.fsync(handle.fileno())
        for number in itertools.count(1):
            name = f"{stem}{'' if number == 1 else f'-{number}'}{prepared.extension}"
            try:
                os.link(temporary, folder / name)
            except FileExistsError:
                continue
            return name
    finally:
        temporary.unlink(missing_ok=True)  # the image keeps its final name only (no second link)
    raise AssertionError("unreachable")  # pragma: no cover


def _opened(data: bytes) -> Image.Image:
    """The image Pillow reads from ``data``, fully decoded; ImageRefused when it is none we take."""
    if not data:
        raise ImageRefused("not_image", "the file is empty — choose the image file again")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data), formats=list(FORMATS))
            if image.width * image.height > MAX_PIXELS:
                raise ImageRefused(
                    "too_many_pixels",
                    f"the image has {image.width} × {image.height} pixels — scale it down in an image program",
                )
            image.load()
    except UnidentifiedImageError:
        raise ImageRefused(
            "not_image",
            "the file is not a PNG, JPEG, GIF or WebP image (judged by its content, not its name) — "
            "save it as JPG or PNG",
        ) from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageRefused(
            "too_many_pixels", "the image has too many pixels — scale it down in an image program"
        ) from None
    except (OSError, SyntaxError, ValueError):
        raise ImageRefused(
            "damaged", "the image file is damaged or cut off — save it again from an image program"
        ) from None
    return image


def _still_bytes(picture: Image.Image, image_format: str, icc_profile: bytes | None) -> bytes:
    picture.info = {}  # Pillow copies some info (comments, XMP) into the new file: none of it is wanted
    options: dict[str, object] = {"icc_profile": icc_profile} if icc_profile else {}
    if image_format == "JPEG":
        if picture.mode not in ("RGB", "L"):
            picture = picture.convert("RGB")
        options |= {"quality": 85, "optimize": True, "progressive": True}
    elif image_format == "WEBP":
        options |= {"quality": 85}
    elif image_format == "PNG":
        options |= {"optimize": True}
    out = io.BytesIO()
    picture.save(out, format=image_format, **options)
    return out.getvalue()


def _animation_bytes(image: Image.Image) -> bytes:
    frames = []
    durations = []
    for frame in ImageSequence.Iterator(image):
        durations.append(int(frame.info.get("duration", 100)))
        copy = frame.copy()
        copy.info = {key: value for key, value in frame.info.items() if key in _ANIMATION_INFO}
        frames.append(copy)
    out = io.BytesIO()
    frames[0].save(
        out,
        format=str(image.format),
        save_all=True,
        append_images=frames[1:],
        duration=durations,
        loop=int(image.info.get("loop", 0)),
    )
    return out.getvalue()
