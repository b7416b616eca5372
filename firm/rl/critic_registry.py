"""Which critic scores FIRM's RL images: the registry of critics by name, and the config that picks one.

:data:`CRITICS` maps a name (``oracle``, ``server``, ``model``, ``openai``) to a
:class:`CriticEntry`: the critic's options dataclass (:class:`OracleOptions`,
:class:`ServerOptions`, :class:`ModelOptions`, :class:`OpenAIOptions`) and how to build it.
:class:`CriticConfig` (``conf/critic/*.yaml``) names one and its options, checked when the config is
built; :func:`build_critic` builds it for items of one kind. The critics themselves are in
:mod:`firm.rl.critics`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from common.config import to_dataclass
from common.models.builders import load_vlm
from common.registry import Registry
from common.runtime import RunSettings
from common.world.levels import get_level
from firm.bench.critics import endpoint_annotator, model_annotator
from firm.rl.critics import AnnotatorCritic, Critic, OracleCritic, ServerCritic, critic_modes
from firm.rm.cache import resolve_source
from firm.rm.sources import resolve_template

__all__ = [
    "CRITICS",
    "CriticConfig",
    "CriticEntry",
    "ModelOptions",
    "OpenAIOptions",
    "OracleOptions",
    "ServerOptions",
    "build_critic",
]


@dataclass
class OracleOptions:
    """``oracle``: rater noise std on 1-5 and its seed."""

    noise: float = 0.0
    seed: int = 0

    def __post_init__(self) -> None:
        if not (math.isfinite(self.noise) and self.noise >= 0):
            raise ValueError(f"noise must be a finite std >= 0, got {self.noise!r}")


@dataclass
class ServerOptions:
    """``server``: where the reward server listens and :class:`CriticClient`'s settings."""

    base_url: str = "http://127.0.0.1:8000"
    template: str | None = None
    """The RM template to ask for (``None``: the server's default)."""
    timeout: float = 120.0
    retries: int = 3
    backoff: float = 0.5
    backoff_max: float = 10.0
    deadline: float | None = 600.0
    batch_size: int = 32
    concurrency: int = 4


@dataclass
class ModelOptions:
    """``model``: an in-process VLM critic."""

    source: str = "base"
    """:func:`firm.rm.cache.resolve_source`: ``base`` (the scale's untrained RM base),
    ``rm:gen`` / ``rm:edit`` (the scale's trained FIRM-Gen / FIRM-Edit RM, trained on first use
    and cached: :func:`firm.rm.cache.ensure_rm`; ``rm`` alone: the one of the run's kind),
    ``base:<name>``, an RM run directory, a saved
    model directory or a hub id."""
    template: str | None = None
    """RM prompt template (``None``: the scale's, :func:`firm.rm.sources.resolve_template`)."""
    batch_size: int = 8
    max_tokens: dict[str, int] = field(default_factory=dict)
    """Completion budget per mode over the server's defaults."""
    chunk_size: int = 64


@dataclass
class OpenAIOptions:
    """``openai``: an OpenAI-compatible endpoint (e.g. vLLM serving FIRM-8B or a base VLM)."""

    base_url: str = "http://127.0.0.1:8000/v1"
    model: str = ""
    api_key_env: str | None = "OPENAI_API_KEY"
    concurrency: int = 8
    timeout: float = 120.0
    max_retries: int = 4
    template: str | None = None
    max_tokens: dict[str, int] = field(default_factory=dict)
    chunk_size: int = 64
    cache: bool = False
    """Cache responses under ``<cache_dir>/annotator_responses`` (RL images are new every step, so
    off by default)."""

    def __post_init__(self) -> None:
        if not self.model:
            raise ValueError("the openai critic needs options.model (the served model's name)")


@dataclass(frozen=True)
class CriticEntry:
    """A registered critic: its options dataclass and ``build(options, kind, settings, level)``."""

    options: type
    build: Callable[[Any, str, RunSettings, str | None], Critic]


CRITICS: Registry[CriticEntry] = Registry("RL critic")
"""``oracle``, ``server``, ``model``, ``openai`` (module docstring)."""


def _oracle(o: OracleOptions, kind: str, settings: RunSettings, level: str | None) -> Critic:
    return OracleCritic(kind, noise=o.noise, seed=o.seed, level=level)


def _server(o: ServerOptions, kind: str, settings: RunSettings, level: str | None) -> Critic:
    kw = asdict(o)
    return ServerCritic(kw.pop("base_url"), kind, **kw)


def _model(o: ModelOptions, kind: str, settings: RunSettings, level: str | None) -> Critic:
    path = resolve_source(f"rm:{kind}" if o.source == "rm" else o.source, settings)
    bundle = load_vlm(path, dtype=settings.scale.dtype, device=settings.scale.device)
    annotator = model_annotator(bundle, f"critic:{path}", o.batch_size)
    template = resolve_template(o.template, settings)
    return AnnotatorCritic(annotator, kind, template, max_tokens=o.max_tokens, chunk_size=o.chunk_size)


def _openai(o: OpenAIOptions, kind: str, settings: RunSettings, level: str | None) -> Critic:
    endpoint = {
        k: getattr(o, k)
        for k in ("base_url", "model", "api_key_env", "concurrency", "timeout", "max_retries")
    }
    cache_dir = str(settings.cache_dir / "annotator_responses") if o.cache else None
    annotator = endpoint_annotator(endpoint, cache_dir)
    template = resolve_template(o.template, settings)
    return AnnotatorCritic(annotator, kind, template, max_tokens=o.max_tokens, chunk_size=o.chunk_size)


CRITICS.register("oracle")(CriticEntry(OracleOptions, _oracle))
CRITICS.register("server")(CriticEntry(ServerOptions, _server))
CRITICS.register("model")(CriticEntry(ModelOptions, _model))
CRITICS.register("openai")(CriticEntry(OpenAIOptions, _openai))


@dataclass
class CriticConfig:
    """Which critic scores the RL images: a :data:`CRITICS` ``name`` and its ``options`` (the
    fields of its options dataclass: :class:`OracleOptions`, :class:`ServerOptions`,
    :class:`ModelOptions`, :class:`OpenAIOptions`), checked when the config is built."""

    name: str = "oracle"
    options: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        entry = CRITICS.get(self.name)  # KeyError lists the known critics
        to_dataclass(entry.options, self.options, f"critic.options ({self.name})")

    def parsed_options(self) -> Any:
        """The options as the critic's options dataclass."""
        entry = CRITICS.get(self.name)
        return to_dataclass(entry.options, self.options, f"critic.options ({self.name})")


def build_critic(
    config: CriticConfig | Mapping[str, Any],
    kind: str,
    settings: RunSettings | None = None,
    level: str | None = None,
) -> Critic:
    """The critic ``config`` names, for items of ``kind`` at world ``level`` (``None``: the run's,
    ``settings.world_level``)."""
    cfg = to_dataclass(CriticConfig, config, "critic")
    settings = RunSettings.of(settings)
    critic_modes(kind)
    level = get_level(settings.world_level if level is None else level).name
    return CRITICS.get(cfg.name).build(cfg.parsed_options(), kind, settings, level)
