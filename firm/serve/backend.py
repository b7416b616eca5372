"""The model behind the server, always as an :class:`~common.annotators.types.Annotator`.

* in-process (default): a :class:`~common.annotators.TransformersVLMAnnotator` over the model
  source ``model`` (``kind``: ``path`` / ``hub`` a checkpoint, ``base`` a pretrained tiny base,
  ``preset`` a model preset; :mod:`common.models.source`);
* upstream: an :class:`~common.annotators.OpenAICompatibleAnnotator` forwarding to another
  OpenAI-compatible server (``upstream_url``), e.g. ``vllm serve`` of FIRM-8B at paper scale.
  Only the OpenAI protocol is assumed of it.

Neither caches responses: a reward server answers fresh every time.
"""

from __future__ import annotations

from typing import Any

from common.annotators import OpenAICompatibleAnnotator, TransformersVLMAnnotator
from common.annotators.types import Annotator
from common.models.source import load_source
from common.runtime import RunSettings

__all__ = ["UNSUPPORTED_BY_VLM", "build_backend", "unsupported_params"]

UNSUPPORTED_BY_VLM: frozenset[str] = frozenset({"stop", "presence_penalty", "frequency_penalty"})
"""Sampling parameters the in-process VLM annotator cannot honour (it raises on them)."""


def build_backend(config: Any, *, settings: RunSettings | None = None) -> Annotator:
    """The annotator ``config`` (a :class:`~firm.serve.config.ServeConfig`) asks for.

    ``settings`` are the run's, read only to locate and build a pretrained base
    (:func:`common.models.pretrain.ensure_base`; ``None``: the defaults).
    """
    if config.upstream_url:
        model = config.upstream_model
        client = OpenAICompatibleAnnotator(
            config.upstream_url,
            model or "unset",
            api_key_env="OPENAI_API_KEY",
            concurrency=int(config.max_batch_size),
            timeout=float(config.upstream_timeout),
            max_retries=int(config.upstream_retries),
            temperature=None,
            max_tokens=None,
        )
        if model is None:  # ask the upstream what it serves
            served = client.check()
            if not served:
                raise ValueError(f"{config.upstream_url}/models lists no model; set upstream_model")
            client.model = served[0]
        return client

    spec = config.model
    bundle = load_source(spec.source(), settings, role="reward_model")
    return TransformersVLMAnnotator(
        bundle, model=spec.model_name(), batch_size=int(config.max_batch_size), cache_dir=None
    )


def unsupported_params(annotator: Annotator) -> frozenset[str]:
    """Sampling parameters ``annotator`` cannot honour (a chat request setting them gets a 400)."""
    return UNSUPPORTED_BY_VLM if isinstance(annotator, TransformersVLMAnnotator) else frozenset()
