"""Sampling from a VLM, with what RL needs recorded.

:func:`sample_vlm` draws completions (temperature / top-p / ``max_new_tokens`` / ``n`` per
prompt) with ``generate`` and returns a :class:`Rollout`: token ids, masks, texts and per-token
log-probs. :func:`sequence_logprobs` recomputes those log-probs with one teacher-forced forward
pass, as a GRPO trainer does; the two agree to float tolerance (tested), which rules out the
classic rollout/training mismatch.

Which log-probs: ``log softmax(logits / temperature)`` at the sampled token, i.e. the sampling
distribution AFTER temperature scaling but BEFORE top-p / top-k truncation (which a
teacher-forced pass cannot reproduce cheaply; all common GRPO implementations make the same
choice). With ``temperature == 0`` (greedy) the log-probs are those of the untempered
distribution (temperature 1).

What makes the two passes agree: the prompt batch is expanded to ``n`` rows per prompt BEFORE
``generate`` (so both passes see identical rows, pixel values included), generation runs with a
fresh ``GenerationConfig`` (no checkpoint defaults such as ``repetition_penalty``), and the
teacher-forced pass gives the model the same positions generation used: left padding is
skipped, ``mm_token_type_ids`` is extended with zeros for the completion and 3-D M-RoPE
positions come from the model's own ``get_rope_index`` (text-only batches: the attention-mask
cumulative sum, as ``generate`` does). Both passes encode each distinct image of a batch once
(:mod:`common.models.shared_images`; exact, G times less vision work for a GRPO group).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from common.models.shared_images import shared_image_features
from common.models.unwrap import transformers_model
from common.models.vlm_bundle import VLMBundle

PROMPT_KEYS: tuple[str, ...] = (
    "input_ids",
    "attention_mask",
    "mm_token_type_ids",
    "pixel_values",
    "image_grid_thw",
)


def images_per_row(mm_token_type_ids: torch.Tensor) -> list[int]:
    """Number of images in each row: runs of image tokens (type 1) in ``mm_token_type_ids``."""
    is_image = (mm_token_type_ids == 1).long()
    starts = is_image[:, 1:] > is_image[:, :-1]
    counts = starts.sum(dim=1) + is_image[:, 0]
    return [int(c) for c in counts]


def expand_batch(batch: Mapping[str, Any], n: int) -> dict[str, Any]:
    """Repeat every row of a processor batch ``n`` times in place (row i -> rows i*n .. i*n+n-1).

    Pixel values and ``image_grid_thw`` are repeated per image, following the rows' images.
    """
    out: dict[str, Any] = {k: v for k, v in batch.items() if k in PROMPT_KEYS}
    if n == 1:
        return out
    for key in ("input_ids", "attention_mask", "mm_token_type_ids"):
        if key in out:
            out[key] = out[key].repeat_interleave(n, dim=0)
    grid = batch.get("image_grid_thw")
    if grid is not None:
        per_row = images_per_row(batch["mm_token_type_ids"])
        patches = grid.prod(dim=-1).tolist()
        chunks = list(torch.split(batch["pixel_values"], patches, dim=0))
        grids = list(grid)
        pix, grd, i = [], [], 0
        for count in per_row:
            row_pix, row_grid = chunks[i : i + count], grids[i : i + count]
            i += count
            for _ in range(n):
                pix += row_pix
                grd += row_grid
        out["pixel_values"] = torch.cat(pix, dim=0)
        out["image_grid_thw"] = torch.stack(grd)
    return out


@dataclass
class Rollout:
    """Completions sampled for a batch of prompts (``n`` per prompt, grouped consecutively).

    Attributes:
        prompt_batch: the prompt batch expanded to one row per completion (what
            :func:`sequence_logprobs` takes).
        completion_ids: ``[N, T]`` sampled ids, padded with the pad id after the end.
        completion_mask: ``[N, T]`` 1 for the completion's tokens up to and including the first
            end-of-turn token, 0 after.
        logprobs: ``[N, T]`` log-probs of the sampled tokens (0 where the mask is 0); see the
            module docstring for which distribution.
        texts: decoded completions (special tokens skipped; format tags kept).
        group: ``[N]`` index of the prompt each row belongs to.
        temperature: the sampling temperature the log-probs refer to.
        finished: ``[N]`` whether the completion ended with an end token (not truncated).
        top_ids / top_logprobs: ``[N, T, k]`` the ``k`` most likely tokens at each step and
            their log-probs (same distribution as ``logprobs``), when ``sample_vlm`` was asked
            for ``top_logprobs=k``; else ``None``.
    """

    prompt_batch: dict[str, Any]
    completion_ids: torch.Tensor
    completion_mask: torch.Tensor
    logprobs: torch.Tensor
    texts: list[str]
    group: torch.Tensor
    temperature: float
    finished: torch.Tensor = field(default_factory=lambda: torch.zeros(0, dtype=torch.bool))
    top_ids: torch.Tensor | None = None
    top_logprobs: torch.Tensor | None = None

    def __len__(self) -> int:
        return int(self.completion_ids.shape[0])


def _eos_ids(model: Any, tokenizer: Any) -> list[int]:
    eos = model.generation_config.eos_token_id
    ids = list(eos) if isinstance(eos, (list, tuple)) else ([eos] if eos is not None else [])
    if tokenizer.eos_token_id is not None and tokenizer.eos_token_id not in ids:
        ids.append(int(tokenizer.eos_token_id))
    return [int(i) for i in ids]


def completion_mask_from_ids(
    completion_ids: torch.Tensor, eos_ids: Sequence[int]
) -> tuple[torch.Tensor, torch.Tensor]:
    """Mask of the tokens up to and including the first end token; and whether one was found."""
    is_end = torch.isin(completion_ids, torch.tensor(list(eos_ids), device=completion_ids.device))
    ended_before = (is_end.long().cumsum(dim=1) - is_end.long()) > 0
    return (~ended_before).long(), is_end.any(dim=1)


_VISION_ID_FIELDS = ("image_token_id", "video_token_id", "vision_start_token_id", "vision_end_token_id")


def banned_token_ids(bundle: VLMBundle, extra: Sequence[int] = ()) -> list[int]:
    """Ids a completion must never contain: the model's vision placeholders (+ ``extra``).

    A policy that samples ``<|image_pad|>`` inside its completion makes the next teacher-forced
    pass fail ("image features and image tokens do not match"); a random-init tiny model does so
    within a few hundred tokens. Pass these ids as ``banned`` to :func:`sample_vlm` and
    :func:`sequence_logprobs`.
    """
    config = transformers_model(bundle.model).config
    ids = {int(getattr(config, f)) for f in _VISION_ID_FIELDS if getattr(config, f, None) is not None}
    ids.update(int(i) for i in extra)
    return sorted(ids)


def _mask_banned(logits: torch.Tensor, banned: Sequence[int]) -> torch.Tensor:
    """``logits`` with the ``banned`` ids set to -inf (a copy; unchanged when none are banned)."""
    if not banned:
        return logits
    logits = logits.clone()
    logits[..., list(banned)] = float("-inf")
    return logits


class DecodeStepHook:
    """A ``generate`` stopping criterion that never stops: it calls ``hook()`` after every decode step.

    ``hook`` may run whole other generations on the same model, and the interrupted generation
    continues exactly as if it had not been interrupted (a test checks its tokens and log-probs).
    State a generation may keep on the model itself (Qwen-VL's ``rope_deltas``, the M-RoPE offset
    computed at prefill, which some transformers versions read again at decode steps) is saved
    before the hook and restored after it.
    """

    _STATE = ("rope_deltas",)

    def __init__(self, model: torch.nn.Module, hook: Callable[[], None]) -> None:
        self.hook = hook
        self._holders = [m for m in model.modules() if any(hasattr(m, a) for a in self._STATE)]

    def __call__(self, input_ids: torch.Tensor, scores: Any, **kwargs: Any) -> torch.Tensor:
        saved = [(m, a, getattr(m, a)) for m in self._holders for a in self._STATE if hasattr(m, a)]
        try:
            self.hook()
        finally:
            for module, attr, value in saved:
                setattr(module, attr, value)
        return torch.zeros(input_ids.shape[0], dtype=torch.bool, device=input_ids.device)


@torch.no_grad()
def sample_vlm(
    bundle: VLMBundle,
    batch: Mapping[str, Any],
    *,
    temperature: float = 1.0,
    top_p: float = 1.0,
    top_k: int = 0,
    max_new_tokens: int = 64,
    num_return_sequences: int = 1,
    seed: int | None = None,
    model: Any = None,
    banned: Sequence[int] = (),
    top_logprobs: int = 0,
    step_hook: Callable[[], None] | None = None,
) -> Rollout:
    """Sample ``num_return_sequences`` completions per prompt of ``batch`` (a processor output).

    Args:
        bundle: the VLM (its tokenizer decodes; its model samples unless ``model`` is given).
        batch: ``input_ids``, ``attention_mask``, ``mm_token_type_ids`` (+ ``pixel_values``,
            ``image_grid_thw``), left-padded, e.g. from :meth:`VLMBundle.encode_chat`.
        temperature: 0 means greedy decoding.
        top_p / top_k: nucleus / top-k truncation (0 = off); not reflected in the log-probs.
        max_new_tokens: completion length limit.
        num_return_sequences: samples per prompt (a GRPO group).
        seed: seeds torch's RNG for this call only (``generate`` takes no generator).
        model: the module to sample from (e.g. a DeepSpeed-wrapped or gathered copy);
            default ``bundle.model``.
        banned: token ids never sampled (``GenerationConfig.suppress_tokens``); their logits
            are masked in the returned log-probs too, so they match :func:`sequence_logprobs`
            called with the same ``banned`` (see :func:`banned_token_ids`).
        top_logprobs: also return the ``k`` most likely tokens of every step and their
            log-probs (``Rollout.top_ids`` / ``Rollout.top_logprobs``; 0: not computed).
        step_hook: called between decode steps (:class:`DecodeStepHook`); it may run other
            generations on the same model (the reward server answers short requests there
            while a long one is generating) without changing this one's tokens.
    """
    from transformers import GenerationConfig

    model = model if model is not None else bundle.model
    core = transformers_model(model)
    tokenizer = bundle.tokenizer
    prompts = expand_batch(batch, num_return_sequences)
    eos_ids = _eos_ids(core, tokenizer)
    greedy = temperature <= 0
    config = GenerationConfig(
        do_sample=not greedy,
        temperature=None if greedy else float(temperature),
        top_p=None if greedy else float(top_p),
        top_k=None if greedy else int(top_k),
        repetition_penalty=1.0,
        max_new_tokens=int(max_new_tokens),
        num_return_sequences=1,
        num_beams=1,
        pad_token_id=int(tokenizer.pad_token_id),
        eos_token_id=eos_ids,
        suppress_tokens=list(banned) or None,
        return_dict_in_generate=True,
        output_logits=True,
        use_cache=True,
    )
    with torch.random.fork_rng(devices=[]) if seed is not None else contextlib.nullcontext():
        if seed is not None:
            torch.manual_seed(seed)
        with shared_image_features(core):  # one vision pass per distinct image of the group
            extra = {} if step_hook is None else {"stopping_criteria": [DecodeStepHook(core, step_hook)]}
            out = core.generate(**prompts, generation_config=config, **extra)  # wrappers have no generate
    prompt_len = prompts["input_ids"].shape[1]
    completion_ids = out.sequences[:, prompt_len:]
    logits = _mask_banned(torch.stack(out.logits, dim=1).float(), banned)
    mask, finished = completion_mask_from_ids(completion_ids, eos_ids)
    temp = 1.0 if greedy else float(temperature)
    logp_all = torch.log_softmax(logits / temp, dim=-1)
    logprobs = logp_all.gather(-1, completion_ids.unsqueeze(-1)).squeeze(-1)
    top_values = top_ids = None
    if top_logprobs > 0:
        top_values, top_ids = logp_all.topk(min(int(top_logprobs), logp_all.shape[-1]), dim=-1)
    texts = tokenizer.batch_decode(
        completion_ids * mask + tokenizer.pad_token_id * (1 - mask), skip_special_tokens=True
    )
    n_prompts = batch["input_ids"].shape[0]
    group = torch.arange(n_prompts, device=completion_ids.device).repeat_interleave(num_return_sequences)
    return Rollout(
        prompt_batch=prompts,
        completion_ids=completion_ids,
        completion_mask=mask,
        logprobs=logprobs * mask,
        texts=texts,
        group=group,
        temperature=temp,
        finished=finished,
        top_ids=top_ids,
        top_logprobs=top_values,
    )


def position_ids_for(
    model: Any, input_ids: torch.Tensor, attention_mask: torch.Tensor, batch: Mapping[str, Any]
) -> torch.Tensor:
    """The positions ``generate`` uses for a (left-padded) sequence, for one full forward pass.

    With images: the model's 3-D M-RoPE positions (``get_rope_index``); text only: the
    attention-mask cumulative sum (padding at position 0).
    """
    core = transformers_model(model)
    grid = batch.get("image_grid_thw")
    if grid is not None:
        mm = batch["mm_token_type_ids"]
        positions, _ = core.model.get_rope_index(
            input_ids=input_ids, mm_token_type_ids=mm, image_grid_thw=grid, attention_mask=attention_mask
        )
        return positions
    positions = attention_mask.long().cumsum(dim=-1) - 1
    return positions.masked_fill(attention_mask == 0, 0)


def sequence_logprobs(
    model: Any,
    batch: Mapping[str, Any],
    completion_ids: torch.Tensor,
    completion_mask: torch.Tensor,
    temperature: float = 1.0,
    return_entropy: bool = False,
    banned: Sequence[int] = (),
    share_images: bool = True,
) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """Teacher-forced per-token log-probs of ``completion_ids`` after the prompts of ``batch``.

    Args:
        model: the VLM (may be wrapped by DDP / DeepSpeed / peft); gradients flow.
        batch: the prompt batch, one row per completion (``Rollout.prompt_batch``).
        completion_ids: ``[N, T]``.
        completion_mask: ``[N, T]`` 1 for real completion tokens.
        temperature: the logits are divided by it before the softmax (use the sampling
            temperature, so the result matches :func:`sample_vlm`'s log-probs).
        return_entropy: also return the per-token entropy of the tempered distribution.
        banned: token ids whose logits are masked, as in :func:`sample_vlm`.
        share_images: encode each distinct image once (:mod:`common.models.shared_images`).

    Returns:
        ``[N, T]`` log-probs (0 where the mask is 0) [and entropies].
    """
    prompt_ids = batch["input_ids"]
    input_ids = torch.cat([prompt_ids, completion_ids], dim=1)
    attention_mask = torch.cat(
        [batch["attention_mask"], completion_mask.to(batch["attention_mask"].dtype)], dim=1
    )
    mm = batch.get("mm_token_type_ids")
    inputs: dict[str, Any] = {"input_ids": input_ids, "attention_mask": attention_mask}
    if mm is not None:
        inputs["mm_token_type_ids"] = torch.cat([mm, torch.zeros_like(completion_ids, dtype=mm.dtype)], dim=1)
    for key in ("pixel_values", "image_grid_thw"):
        if batch.get(key) is not None:
            inputs[key] = batch[key]
    inputs["position_ids"] = position_ids_for(model, input_ids, attention_mask, inputs)
    length = completion_ids.shape[1]
    with shared_image_features(model, enabled=share_images):  # G copies: one vision pass
        out = model(**inputs, use_cache=False, logits_to_keep=length + 1)
    logits = out.logits[:, -length - 1 : -1].float() / (temperature if temperature > 0 else 1.0)
    logp_all = torch.log_softmax(_mask_banned(logits, banned), dim=-1)
    logprobs = logp_all.gather(-1, completion_ids.unsqueeze(-1)).squeeze(-1) * completion_mask
    if not return_entropy:
        return logprobs
    entropy = -(logp_all.exp() * torch.nan_to_num(logp_all, neginf=0.0)).sum(-1) * completion_mask
    return logprobs, entropy
