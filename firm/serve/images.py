"""Images in requests: base64 PNG/JPEG (bare or as a ``data:`` URL) -> RGB PIL images, with limits.

The size is read from the image header before any pixel is decoded, so an oversized or
decompression-bomb image is refused cheaply. Nothing is ever fetched from a URL.
"""

from __future__ import annotations

import base64
import binascii
import io
import warnings
from typing import Any

from PIL import Image, UnidentifiedImageError

from firm.serve.config import ServeLimits
from firm.serve.errors import ServeError, bad_request

__all__ = ["decode_image"]


def _payload(value: Any, where: str) -> bytes:
    if not isinstance(value, str) or not value:
        raise bad_request(
            f"{where} must be a non-empty base64 string (PNG or JPEG), got {type(value).__name__}"
        )
    text = value.strip()
    if text.startswith("data:"):
        head, sep, text = text.partition(",")
        if not sep or ";base64" not in head:
            raise bad_request(f"{where}: a data URL must look like data:image/png;base64,<data>")
    elif text.startswith(("http://", "https://", "file:")):
        raise bad_request(
            f"{where}: image URLs are not fetched; send the image inline as base64 or a data URL"
        )
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as e:
        raise bad_request(f"{where} is not valid base64 ({e}); encode the PNG bytes with base64") from e


def decode_image(value: Any, where: str, limits: ServeLimits) -> Image.Image:
    """The RGB image in ``value``; :class:`ServeError` (400) naming ``where`` if it is unusable."""
    data = _payload(value, where)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            width, height = image.size
            if max(width, height) > limits.max_image_side or width * height > limits.max_image_pixels:
                raise bad_request(
                    f"{where} is {width}x{height}; this server accepts at most {limits.max_image_side} px "
                    f"per side and {limits.max_image_pixels} pixels: resize it"
                )
            image.load()
    except ServeError:
        raise
    except (UnidentifiedImageError, Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise bad_request(f"{where} is not a readable image ({type(e).__name__}); send a PNG or JPEG") from e
    except (OSError, ValueError, SyntaxError) as e:
        raise bad_request(f"{where} could not be decoded ({e}); send a complete PNG or JPEG") from e
    return image.convert("RGB")
