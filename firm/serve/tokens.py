"""Prompt-token budgets: how many tokens a chat request's prompt is for the served model.

The server checks every model call against ``limits.max_prompt_tokens`` (default: the model's
context length) and ``prompt + max_tokens <= context`` *before* queueing it, so a 32k-word prompt
is a quick 400 instead of a minute of the model's time and a gigabyte of activations.

:class:`VLMPromptCounter` counts exactly what :meth:`~common.models.vlm_bundle.VLMBundle.encode_chat`
would feed the model: the chat template's text tokens plus, per image, the image tokens the
processor expands its placeholder into (from the image size alone; no pixels are processed).
An upstream server has no counter here: it enforces its own context.
"""

from __future__ import annotations

import copy
import threading
from typing import Any, Protocol

from common.annotators.types import ChatRequest, request_images

__all__ = ["PromptCounter", "VLMPromptCounter", "prompt_counter"]


class PromptCounter(Protocol):
    """Counts a request's prompt tokens for one model."""

    context: int

    def count(self, request: ChatRequest, limit: int) -> int:
        """The prompt's token count, or any number above ``limit`` once it is known to exceed it."""
        ...


class VLMPromptCounter:
    """Prompt tokens of an in-process Qwen-VL bundle (see the module docstring).

    Uses its own copy of the tokenizer: a fast tokenizer shared with the model thread can fail
    with "Already borrowed" when two threads use it at once.
    """

    def __init__(self, bundle: Any) -> None:
        self.processor = bundle.processor
        self.tokenizer = copy.deepcopy(bundle.tokenizer)
        config = getattr(bundle.model.config, "text_config", bundle.model.config)
        self.context = int(config.max_position_embeddings)
        image_processor = self.processor.image_processor
        self._image_processor = image_processor
        self._merge = int(getattr(image_processor, "merge_size", 1))
        self._image_token = str(getattr(self.processor, "image_token", "<|image_pad|>"))
        # no token is longer than this many characters: a bound that needs no tokenizing
        self._max_token_chars = max((len(t) for t in self.tokenizer.get_vocab()), default=1)
        self._lock = threading.Lock()

    def image_tokens(self, width: int, height: int) -> int:
        """Tokens one image of this size becomes."""
        patches = int(self._image_processor.get_number_of_image_patches(height, width))
        return patches // (self._merge * self._merge)

    def count(self, request: ChatRequest, limit: int) -> int:
        text = self.processor.apply_chat_template(
            [request.messages], add_generation_prompt=True, tokenize=False
        )[0]
        if len(text) > (limit + 1) * self._max_token_chars:
            return limit + 1  # too long for any tokenization: no need to tokenize megabytes
        with self._lock:
            n_text = len(self.tokenizer(text, add_special_tokens=False)["input_ids"])
        images = request_images(request)
        placeholders = text.count(self._image_token)
        expanded = sum(self.image_tokens(*im.size) for im in images)
        return n_text - placeholders + expanded


def prompt_counter(annotator: Any) -> PromptCounter | None:
    """A counter for ``annotator``'s model if it is in-process (``None`` for an upstream server)."""
    bundle = getattr(annotator, "bundle", None)
    if bundle is None or not hasattr(bundle, "processor"):
        return None
    return VLMPromptCounter(bundle)
