"""The reward server's settings: one dataclass tree behind both ``+exp=firm_serve`` and the CLI.

A default lives here only: ``conf/exp/firm_serve.yaml`` starts from these defaults (the
``defaults_of/serve`` node, :func:`common.config.register_defaults`) and sets only its own keys;
``python -m firm.serve`` builds its argument parser from them; :class:`firm.serve.batcher.DynamicBatcher`
takes its batching defaults from them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from common.config import to_dataclass
from common.models.source import ModelSource
from common.rewards.modes import CONSISTENCY, EXECUTION, INSTRUCTION, QUALITY

__all__ = [
    "DEFAULT_SCORE_MAX_TOKENS",
    "ModelSpec",
    "ServeConfig",
    "ServeLimits",
    "config_from_mapping",
    "resolve_template",
]

DEFAULT_SCORE_MAX_TOKENS: dict[str, int] = {
    EXECUTION: 256,
    CONSISTENCY: 256,
    INSTRUCTION: 1024,
    QUALITY: 256,
}
"""Completion budget per RM mode for ``/v1/score``. FIRM serves its edit RM with 256 tokens and
its gen RM with up to 8192 (docs/papers/firm.md §3); raise ``instruction`` at paper scale."""


@dataclass
class ModelSpec:
    """Which in-process model answers (ignored when ``ServeConfig.upstream_url`` is set).

    ``kind`` / ``name`` / ``overrides`` / ``device`` / ``dtype`` are a
    :class:`common.models.source.ModelSource` (the keys every model source uses), resolved for the
    ``reward_model`` role: ``kind: path`` (a checkpoint directory) or ``hub`` (a hub id),
    :func:`common.models.load_vlm`; ``base`` (a pretrained tiny base of ``conf/pretrain``, built
    on first use); ``preset`` (a ``conf/model`` preset; random weights for the tiny ones) with
    ``overrides``.

    Attributes:
        served_name: the served model name (``/v1/models``, responses, what clients put in
            ``model``); default: the path or hub id, ``base:<name>`` or ``preset:<name>``.
        device / dtype: where and in what precision the model runs (``None``: the preset's or
            the checkpoint's own).
    """

    kind: str = "preset"
    name: str | None = "tiny_qwen3_vl"
    overrides: dict[str, Any] = field(default_factory=dict)
    served_name: str | None = None
    device: str | None = None
    dtype: str | None = None

    def __post_init__(self) -> None:
        self.source()  # a bad kind / name is an error here, naming task.model

    def source(self) -> ModelSource:
        """The model that will be loaded."""
        return ModelSource.from_config(
            {k: getattr(self, k) for k in ("kind", "name", "overrides", "device", "dtype")}, "model"
        )

    def model_name(self) -> str:
        """The served model name (``served_name``, else the source's: module docstring)."""
        if self.served_name:
            return str(self.served_name)
        source = self.source()
        return str(source.name) if source.kind in ("hub", "path") else source.to_string()


@dataclass
class ServeLimits:
    """What one request may ask for; anything beyond is refused with a 4xx that says which limit.

    Attributes:
        max_body_bytes: request body size (HTTP 413 above it).
        max_items: items per ``/v1/score`` request.
        max_image_side / max_image_pixels: per decoded image (checked before decoding pixels).
        max_request_pixels: decoded pixels of all images of one request together (checked from
            the image headers before any pixel is decoded, so memory per request is bounded).
        max_aspect_ratio: the longer side over the shorter one (Qwen-VL's processor fails
            above 200, so such an image is a 400, not a model failure).
        max_images: images per chat-completions request.
        max_tokens: the largest ``max_tokens`` a chat request may set.
        max_prompt_tokens: prompt tokens (text and image tokens) of one model call; ``None``:
            the served model's context length (unknown, so unchecked, for an upstream server,
            which enforces its own). A prompt plus its ``max_tokens`` must fit the context too.
        max_queue: model items waiting for the batcher (HTTP 503 "busy" above it).
        request_timeout_s: how long a request waits for its answers (HTTP 504 after).
        read_timeout_s: how long reading a request body may take (HTTP 408 after).
    """

    max_body_bytes: int = 64 * 1024 * 1024
    max_items: int = 64
    max_image_side: int = 4096
    max_image_pixels: int = 4096 * 4096
    max_request_pixels: int = 64 * 1024 * 1024
    max_aspect_ratio: float = 200.0
    max_images: int = 8
    max_tokens: int = 8192
    max_prompt_tokens: int | None = None
    max_queue: int = 1024
    request_timeout_s: float = 600.0
    read_timeout_s: float = 30.0

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if value is None and f.name == "max_prompt_tokens":
                continue
            if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value < float("inf"):
                raise ValueError(f"limits.{f.name} must be a positive number, got {value!r}")
        if self.max_aspect_ratio < 1:
            raise ValueError(f"limits.max_aspect_ratio must be >= 1, got {self.max_aspect_ratio}")


@dataclass
class ServeConfig:
    """Everything the server needs (``+exp=firm_serve``'s ``task``, ``python -m firm.serve``'s options).

    Attributes:
        model: the in-process model (:class:`ModelSpec`).
        upstream_url: an OpenAI-compatible endpoint to forward model calls to (e.g. ``vllm
            serve`` at ``http://gpu-node:8000/v1``); the in-process model is then not loaded.
        upstream_model: the model name to ask the upstream for (default: its first served model).
        upstream_timeout / upstream_retries: per-call timeout and retries of the upstream client.
        upstream_workers: batches in flight at once to the upstream (an in-process model has one).
        template: the RM prompt template (``tiny`` / ``full``); ``None`` picks by model.
        host / port: where to listen (``port=0``: an ephemeral port, printed and written to
            ``url_file``).
        backlog: the listen backlog (connections the kernel queues before they are accepted).
        max_connections: open connections at once; one more is answered 503 and closed.
        keep_alive_s: how long an idle HTTP/1.1 keep-alive connection stays open.
        access_log: a file to append the JSON-lines access log to (``None``: not written;
            ``+exp=firm_serve`` writes ``<run_dir>/access.jsonl``).
        max_batch_size / max_wait_ms: dynamic batching: the worker takes up to
            ``max_batch_size`` items, waiting at most ``max_wait_ms`` for more.
        score_max_tokens: completion budget per mode for ``/v1/score``.
        limits: :class:`ServeLimits`.
        url_file: where to write ``{"url", "base_url", "model"}`` once listening (``None``: nowhere).
        duration_s: stop by itself after this many seconds (``None``: only on SIGINT / SIGTERM).
    """

    model: ModelSpec = field(default_factory=ModelSpec)
    upstream_url: str | None = None
    upstream_model: str | None = None
    upstream_timeout: float = 300.0
    upstream_retries: int = 2
    upstream_workers: int = 4
    template: str | None = None
    host: str = "127.0.0.1"
    port: int = 8000
    backlog: int = 1024
    max_connections: int = 1024
    keep_alive_s: float = 5.0
    access_log: str | None = None
    max_batch_size: int = 8
    max_wait_ms: float = 10.0
    score_max_tokens: dict[str, int] = field(default_factory=lambda: dict(DEFAULT_SCORE_MAX_TOKENS))
    limits: ServeLimits = field(default_factory=ServeLimits)
    url_file: str | None = None
    duration_s: float | None = None

    def __post_init__(self) -> None:
        if not 0 <= int(self.port) <= 65535:
            raise ValueError(f"port must be in 0-65535 (0: ephemeral), got {self.port}")
        if int(self.max_batch_size) < 1:
            raise ValueError(f"max_batch_size must be >= 1, got {self.max_batch_size}")
        if int(self.backlog) < 1 or int(self.max_connections) < 1 or float(self.keep_alive_s) <= 0:
            raise ValueError(
                "need backlog >= 1, max_connections >= 1 and keep_alive_s > 0, got "
                f"{self.backlog}, {self.max_connections}, {self.keep_alive_s}"
            )
        if int(self.upstream_workers) < 1:
            raise ValueError(f"upstream_workers must be >= 1, got {self.upstream_workers}")
        if float(self.max_wait_ms) < 0:
            raise ValueError(f"max_wait_ms must be >= 0, got {self.max_wait_ms}")
        unknown = set(self.score_max_tokens) - set(DEFAULT_SCORE_MAX_TOKENS)
        if unknown:
            raise ValueError(
                f"score_max_tokens has unknown mode(s) {sorted(unknown)}; "
                f"modes: {list(DEFAULT_SCORE_MAX_TOKENS)}"
            )
        self.score_max_tokens = {
            **DEFAULT_SCORE_MAX_TOKENS,
            **{k: int(v) for k, v in self.score_max_tokens.items()},
        }


def config_from_mapping(values: Mapping[str, Any], where: str = "server") -> ServeConfig:
    """A :class:`ServeConfig` from nested mappings (e.g. a Hydra node) by the one converter,
    :func:`common.config.to_dataclass` (``where``: the node's key path in errors)."""
    return to_dataclass(ServeConfig, values, where)


def resolve_template(template: str | None, config: ServeConfig, scale_name: str | None = None) -> str:
    """The RM template to use: ``template`` if given; else ``tiny`` for a tiny model (``scale=tiny``,
    a ``tiny_*`` preset or a pretrained base) and ``full`` for everything else."""
    if template:
        return str(template)
    if scale_name is not None:
        return "tiny" if scale_name == "tiny" else "full"
    if config.upstream_url:
        return "full"
    source = config.model.source()
    name = str(source.name or "")
    return (
        "tiny" if source.kind == "base" or (source.kind == "preset" and name.startswith("tiny")) else "full"
    )
