"""An in-process annotator: a transformers Qwen-VL model from the project's model zoo.

Requests are grouped by sampling parameters, encoded with
:meth:`common.models.bundles.VLMBundle.encode_chat` (the request's content parts are already in
its format) and sampled with :func:`common.models.generation.sample_vlm` in batches of
``batch_size``. ``temperature`` 0 is greedy decoding; ``top_k``, ``top_p``, ``seed`` and
``max_tokens`` map to the sampler's arguments (``stop`` and the penalties are not supported and
raise).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from common.annotators.base import CachedAnnotator, Pending
from common.annotators.types import ChatResponse

__all__ = ["TransformersVLMAnnotator"]

_UNSUPPORTED = ("stop", "presence_penalty", "frequency_penalty")


class TransformersVLMAnnotator(CachedAnnotator):
    """Answers with a local :class:`~common.models.bundles.VLMBundle`.

    Args:
        bundle: a loaded bundle; or give ``model_path`` (a hub id or a directory written by
            ``VLMBundle.save_pretrained``) to load one with :func:`common.models.builders.load_vlm`,
            or ``preset`` (a ``conf/model`` name such as ``tiny_qwen3_vl``) to build one with
            :func:`common.models.builders.build_model` (random weights for the tiny presets).
        model: the name used in cache keys and responses (default: ``model_path``, the preset,
            or the model class). Name trained weights distinctly, or their cache entries mix.
        batch_size: prompts per ``generate`` call.
        temperature / max_tokens / top_p: default sampling parameters.
        device / dtype: passed to ``load_vlm`` when loading from ``model_path``.
        cache_dir: response cache directory (``None``: no cache).
    """

    name = "vlm"

    def __init__(
        self,
        bundle: Any = None,
        *,
        model_path: str | None = None,
        preset: str | None = None,
        model: str | None = None,
        batch_size: int = 8,
        temperature: float = 0.0,
        max_tokens: int = 256,
        top_p: float | None = None,
        device: str | None = None,
        dtype: str | None = None,
        cache_dir: str | Path | None = None,
    ) -> None:
        if sum(x is not None for x in (bundle, model_path, preset)) != 1:
            raise ValueError("give exactly one of bundle, model_path and preset")
        if model_path is not None:
            from common.models.builders import load_vlm

            bundle = load_vlm(str(model_path), device=device, dtype=dtype)
        elif preset is not None:
            from common.models.builders import build_model

            overrides = {k: v for k, v in (("device", device), ("dtype", dtype)) if v is not None}
            bundle = build_model(str(preset), **overrides)
        name = model or model_path or (f"preset:{preset}" if preset else type(bundle.model).__name__)
        super().__init__(
            name,
            default_params={"temperature": temperature, "max_tokens": max_tokens, "top_p": top_p},
            cache_dir=cache_dir,
        )
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.bundle = bundle
        self.batch_size = int(batch_size)

    def _answer(self, pending: list[Pending], store: Callable[[Pending, ChatResponse], None]) -> None:
        from common.models.generation import sample_vlm

        groups: dict[str, list[Pending]] = {}
        for item in pending:
            bad = [k for k in _UNSUPPORTED if k in item.params]
            if bad:
                raise ValueError(f"{type(self).__name__} does not support sampling parameters {bad}")
            groups.setdefault(json.dumps(item.params, sort_keys=True, default=str), []).append(item)
        for items in groups.values():
            params = items[0].params
            for start in range(0, len(items), self.batch_size):
                chunk = items[start : start + self.batch_size]
                batch = self.bundle.encode_chat([it.request.messages for it in chunk])
                rollout = sample_vlm(
                    self.bundle,
                    batch,
                    temperature=float(params.get("temperature", 0.0)),
                    top_p=float(params.get("top_p") or 1.0),
                    top_k=int(params.get("top_k") or 0),
                    max_new_tokens=int(params.get("max_tokens", 256)),
                    seed=params.get("seed"),
                )
                for i, item in enumerate(chunk):
                    finished = bool(rollout.finished[i]) if len(rollout.finished) else None
                    store(
                        item,
                        ChatResponse(
                            text=rollout.texts[i].strip(),
                            model=self.model,
                            finish_reason=None if finished is None else ("stop" if finished else "length"),
                            usage={
                                "prompt_tokens": int(batch["attention_mask"][i].sum()),
                                "completion_tokens": int(rollout.completion_mask[i].sum()),
                            },
                        ),
                    )
