"""Where a model comes from: a local directory or a Hugging Face hub id, through one path.

Every loader in :mod:`common.models` calls the library's own ``from_pretrained`` with the string
it was given, so a hub id (paper scale) and a directory written by ``save_pretrained`` (tests, the
tiny bases) go through the same code. :func:`resolve_file` checks first that the source is
reachable and turns the hub's failures into one clear :class:`ModelNotAvailableError`.
``HF_HUB_OFFLINE=1`` is respected: nothing is downloaded, only the local cache is read.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

from common.config import ActionableError


class ModelNotAvailableError(OSError, ActionableError):
    """A model was named by hub id but is neither cached nor downloadable here."""


def is_offline() -> bool:
    """True when ``HF_HUB_OFFLINE`` (or ``TRANSFORMERS_OFFLINE``) is set to a true value."""
    values = (os.environ.get("HF_HUB_OFFLINE", ""), os.environ.get("TRANSFORMERS_OFFLINE", ""))
    return any(v.strip().lower() in {"1", "true", "yes", "on"} for v in values)


def looks_local(name_or_path: str | os.PathLike[str]) -> bool:
    """Whether ``name_or_path`` names a local directory (existing, or path-like: absolute, ``./``, ``~``)."""
    text = str(name_or_path)
    return Path(text).expanduser().is_dir() or text.startswith(("/", "./", "../", "~")) or text.count("/") > 1


def resolve_file(name_or_path: str | os.PathLike[str], filename: str, subfolder: str | None = None) -> str:
    """The local path of ``filename`` in a model directory or hub repo, or a clear error.

    Args:
        name_or_path: a directory written by ``save_pretrained`` or a hub id such as
            ``"Qwen/Qwen2.5-VL-7B-Instruct"``.
        filename: a file every checkpoint of the kind has (``config.json``, ``model_index.json``).
        subfolder: the file's folder inside the checkpoint, if any.

    Raises:
        FileNotFoundError: a local directory lacks the file (or does not exist).
        ModelNotAvailableError: a hub id is not in the local cache and cannot be downloaded
            (offline, or no network); the message says how to fix it.
    """
    rel = f"{subfolder}/{filename}" if subfolder else filename
    if looks_local(name_or_path):
        path = Path(name_or_path).expanduser() / rel
        if not path.is_file():
            raise FileNotFoundError(
                f"{path} not found: is {name_or_path} a directory written by save_pretrained?"
            )
        return str(path)

    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError, OfflineModeIsEnabled

    repo_id = str(name_or_path)
    try:
        return hf_hub_download(repo_id, filename, subfolder=subfolder)
    except (LocalEntryNotFoundError, OfflineModeIsEnabled, HfHubHTTPError, OSError) as err:
        mode = "HF_HUB_OFFLINE is set" if is_offline() else "the hub could not be reached"
        raise ModelNotAvailableError(
            f"model {repo_id!r} ({rel}) is not in the local Hugging Face cache and {mode}. "
            f"Download it where there is network (`huggingface-cli download {repo_id}`) into the "
            f"cache this machine uses (HF_HOME / HF_HUB_CACHE), or pass a local directory written "
            f"by save_pretrained instead of a hub id."
        ) from err


def as_dtype(dtype: str | torch.dtype | None) -> torch.dtype | None:
    """``"bfloat16"`` / ``"bf16"`` / ``torch.bfloat16`` -> ``torch.bfloat16``; ``None`` stays ``None``."""
    if dtype is None or isinstance(dtype, torch.dtype):
        return dtype
    aliases = {
        "bf16": "bfloat16",
        "fp16": "float16",
        "half": "float16",
        "fp32": "float32",
        "float": "float32",
    }
    name = aliases.get(str(dtype), str(dtype))
    value = getattr(torch, name, None)
    if not isinstance(value, torch.dtype):
        raise ValueError(f"unknown dtype {dtype!r}")
    return value
