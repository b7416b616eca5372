"""An in-process annotator: a transformers Qwen-VL model from the project's model zoo.

Requests are grouped by sampling parameters, encoded with
:meth:`common.models.vlm_bundle.VLMBundle.encode_chat` (the request's content parts are already in
its format) and sampled with :func:`common.models.vlm_sampling.sample_vlm` in batches of
``batch_size``. ``temperature`` 0 is greedy decoding; ``top_k``, ``top_p``, ``seed`` and
``max_tokens`` map to the sampler's arguments (``stop`` and the penalties are not supported and
raise). ``logprobs`` / ``top_logprobs`` return the completion's tokens with their log-probs and
the ``top_logprobs`` most likely alternatives of each step, in OpenAI's layout
(:data:`common.annotators.types.TokenLogprob`; special tokens such as the end of turn left out,
as they are left out of the text).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from common.annotators.base import CachedAnnotator, Pending
from common.annotators.types import MAX_TOP_LOGPROBS, ChatResponse, TokenLogprob
from common.models.source import ModelSource, load_source
from common.models.vlm_sampling import sample_vlm
from common.runtime import RunSettings

__all__ = ["TransformersVLMAnnotator"]

_UNSUPPORTED = ("stop", "presence_penalty", "frequency_penalty")


class TransformersVLMAnnotator(CachedAnnotator):
    """Answers with a local :class:`~common.models.vlm_bundle.VLMBundle`.

    Args:
        bundle: a loaded bundle; or give ``source`` to load or build one.
        source: a :class:`common.models.source.ModelSource`, its mapping (``{kind, name,
            overrides}``: ``kind`` hub / path / base / preset) or its string form
            (``path:/runs/x/rm``, ``preset:tiny_qwen3_vl``), resolved by
            :func:`common.models.source.load_source` for the ``reward_model`` role.
        model: the name used in cache keys and responses (default: the path or hub id, else the
            source's string form, e.g. ``preset:tiny_qwen3_vl``, or the model class). Name trained
            weights distinctly, or their cache entries mix.
        batch_size: prompts per ``generate`` call.
        temperature / max_tokens / top_p: default sampling parameters.
        device / dtype: where and in what precision the source's model is loaded / built (the
            source's own ``device`` / ``dtype`` win).
        settings: the run's :class:`common.runtime.RunSettings`, for a ``base`` source (the
            cache) and a source without ``name`` (the scale's reward model); ``None``: the defaults.
        cache_dir: response cache directory (``None``: no cache).
    """

    name = "vlm"

    def __init__(
        self,
        bundle: Any = None,
        *,
        source: Any = None,
        model: str | None = None,
        batch_size: int = 8,
        temperature: float = 0.0,
        max_tokens: int = 256,
        top_p: float | None = None,
        device: str | None = None,
        dtype: str | None = None,
        cache_dir: str | Path | None = None,
        settings: RunSettings | None = None,
    ) -> None:
        if (bundle is None) == (source is None):
            raise ValueError("give exactly one of bundle and source")
        name = model
        if source is not None:
            spec = ModelSource.from_config(source, "annotator.source").with_settings(
                dtype=dtype, device=device
            )
            bundle = load_source(spec, settings, role="reward_model")
            name = name or (str(spec.name) if spec.kind in ("hub", "path") else spec.to_string())
        name = name or type(bundle.model).__name__
        super().__init__(
            name,
            default_params={"temperature": temperature, "max_tokens": max_tokens, "top_p": top_p},
            cache_dir=cache_dir,
        )
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.bundle = bundle
        self.batch_size = int(batch_size)
        self._token_text: dict[int, str] = {}
        self.step_hook: Callable[[], None] | None = None
        """Called between the decode steps of each generation (see ``sample_vlm``'s ``step_hook``)."""
        self._special = set(getattr(bundle.tokenizer, "all_special_ids", []) or [])

    def _text_of(self, token_id: int) -> str:
        """The decoded text of one token id (memoised)."""
        text = self._token_text.get(token_id)
        if text is None:
            text = self._token_text[token_id] = self.bundle.tokenizer.decode([token_id])
        return text

    def token_logprobs(
        self, ids: torch.Tensor, mask: torch.Tensor, logprobs: torch.Tensor, top_ids: Any, top_values: Any
    ) -> list[TokenLogprob]:
        """One completion's :data:`TokenLogprob` entries (special tokens left out)."""
        out: list[TokenLogprob] = []
        ids_l, lp_l = ids.tolist(), logprobs.tolist()
        tops = None if top_ids is None else (top_ids.tolist(), top_values.tolist())
        for t in range(int(mask.sum())):
            token = int(ids_l[t])
            if token in self._special:
                continue
            alternatives = (
                []
                if tops is None
                else [
                    {"token": self._text_of(int(i)), "logprob": float(v)}
                    for i, v in zip(tops[0][t], tops[1][t], strict=True)
                ]
            )
            entry = {"token": self._text_of(token), "logprob": float(lp_l[t]), "top_logprobs": alternatives}
            out.append(entry)
        return out

    def _answer(self, pending: list[Pending], store: Callable[[Pending, ChatResponse], None]) -> None:
        groups: dict[str, list[Pending]] = {}
        for item in pending:
            bad = [k for k in _UNSUPPORTED if k in item.params]
            if bad:
                raise ValueError(f"{type(self).__name__} does not support sampling parameters {bad}")
            groups.setdefault(json.dumps(item.params, sort_keys=True, default=str), []).append(item)
        for items in groups.values():
            params = items[0].params
            want_logprobs = bool(params.get("logprobs"))
            top = int(params.get("top_logprobs") or 0)
            if not 0 <= top <= MAX_TOP_LOGPROBS:
                raise ValueError(f"top_logprobs must be in 0-{MAX_TOP_LOGPROBS}, got {top}")
            if top and not want_logprobs:
                raise ValueError("top_logprobs needs logprobs=true (as in the OpenAI API)")
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
                    top_logprobs=top if want_logprobs else 0,
                    step_hook=self.step_hook,
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
                            logprobs=self.token_logprobs(
                                rollout.completion_ids[i],
                                rollout.completion_mask[i],
                                rollout.logprobs[i],
                                None if rollout.top_ids is None else rollout.top_ids[i],
                                None if rollout.top_logprobs is None else rollout.top_logprobs[i],
                            )
                            if want_logprobs
                            else None,
                        ),
                    )
