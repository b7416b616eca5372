"""Images in requests: base64 PNG / JPEG / WebP (bare or as a ``data:`` URL) -> RGB PIL images, with limits.

Only those three formats are even tried (``Image.open(formats=...)``: no GIF / TIFF / BMP, no EPS
handed to Ghostscript). The size is read from the image header before any pixel is decoded, so
an oversized image, an extreme aspect ratio or a request whose images together exceed the
per-request pixel budget (:class:`PixelBudget`) is refused cheaply, with a 400. Nothing is ever
fetched from a URL.
"""

from __future__ import annotations

import base64
import binascii
import io
import threading
import warnings
from typing import Any

from PIL import Image, UnidentifiedImageError

from firm.serve.config import ServeLimits
from firm.serve.errors import bad_request

__all__ = ["FORMATS", "PixelBudget", "decode_image", "open_image", "to_rgb"]

FORMATS: tuple[str, ...] = ("PNG", "JPEG", "WEBP")
"""The image formats a request may use (Pillow format names)."""


class PixelBudget:
    """The decoded pixels one request may still spend (``limits.max_request_pixels`` in all).

    Thread-safe, so the images of one request may be decoded in parallel.
    """

    def __init__(self, limit: int) -> None:
        self.limit = int(limit)
        self.spent = 0
        self._lock = threading.Lock()

    def spend(self, pixels: int, where: str) -> None:
        """Take ``pixels`` from the budget; a 400 naming ``where`` if they do not fit."""
        with self._lock:
            if self.spent + pixels > self.limit:
                raise bad_request(
                    f"{where} would bring this request's decoded images to {self.spent + pixels} pixels; "
                    f"this server decodes at most {self.limit} pixels per request: send fewer or "
                    "smaller images per request"
                )
            self.spent += pixels


def _payload(value: Any, where: str) -> bytes:
    if not isinstance(value, str) or not value:
        raise bad_request(
            f"{where} must be a non-empty base64 string (PNG, JPEG or WebP), got {type(value).__name__}"
        )
    text = value.strip()
    if text.startswith("data:"):
        head, sep, text = text.partition(",")
        if not sep or ";base64" not in head:
            raise bad_request(f"{where}: a data URL must look like data:image/png;base64,<data>")
    elif text.startswith(("http://", "https://", "file:", "ftp:")):
        raise bad_request(
            f"{where}: image URLs are not fetched; send the image inline as base64 or a data URL"
        )
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as e:
        raise bad_request(f"{where} is not valid base64 ({e}); encode the PNG bytes with base64") from e


def _check_size(width: int, height: int, where: str, limits: ServeLimits) -> None:
    if max(width, height) > limits.max_image_side or width * height > limits.max_image_pixels:
        raise bad_request(
            f"{where} is {width}x{height}; this server accepts at most {limits.max_image_side} px "
            f"per side and {limits.max_image_pixels} pixels: resize it"
        )
    if min(width, height) < 1 or max(width, height) / min(width, height) > limits.max_aspect_ratio:
        raise bad_request(
            f"{where} is {width}x{height}, an aspect ratio above {limits.max_aspect_ratio:g}; "
            "crop or pad it closer to square"
        )


def open_image(value: Any, where: str, limits: ServeLimits, budget: PixelBudget | None = None) -> Image.Image:
    """The image in ``value``, its header read and checked but no pixel decoded yet.

    ``budget`` (one per request) is charged with the image's pixels, so a request whose images
    together exceed it is refused before any of them is decoded.
    """
    data = _payload(value, where)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data), formats=FORMATS)
    except (UnidentifiedImageError, Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise bad_request(
            f"{where} is not a readable image ({type(e).__name__}); send a PNG, JPEG or WebP"
        ) from e
    except (OSError, ValueError, SyntaxError, EOFError) as e:
        raise bad_request(f"{where} could not be read ({e}); send a complete PNG, JPEG or WebP") from e
    width, height = image.size
    _check_size(width, height, where, limits)
    if budget is not None:
        budget.spend(width * height, where)
    return image


_BROKEN = (
    Image.DecompressionBombError,
    Image.DecompressionBombWarning,
    OSError,
    ValueError,
    SyntaxError,
    EOFError,
)


def to_rgb(image: Image.Image, where: str) -> Image.Image:
    """Decode an :func:`open_image` image's pixels as RGB; a 400 naming ``where`` if they are broken."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image.load()
            return image.convert("RGB")
    except _BROKEN as e:
        raise bad_request(f"{where} could not be decoded ({e}); send a complete PNG, JPEG or WebP") from e


def decode_image(
    value: Any, where: str, limits: ServeLimits, budget: PixelBudget | None = None
) -> Image.Image:
    """The RGB image in ``value``; :class:`ServeError` (400) naming ``where`` if it is unusable."""
    return to_rgb(open_image(value, where, limits, budget), where)
