"""Which evaluator to meta-evaluate: one spec, every backend behind the Annotator interface.

``task.evaluator`` (or :func:`build_evaluator`'s ``spec``) is one of

=====================================  =========================================================
spec                                   evaluator
=====================================  =========================================================
``"tiny_qwen2_5_vl"`` (a name in       the pretrained tiny base, built on first use and cached
``conf/pretrain``)                     (:func:`common.models.pretrain.ensure_base`): zero-shot
``"/runs/x/evaluator"`` (a directory)  a saved evaluator (e.g. ``+exp=t2ieval_r1_grpo``'s
                                       ``<run_dir>/evaluator``), :func:`common.models.load_vlm`
``"Qwen/Qwen2.5-VL-7B-Instruct"``      a hub id (from the local HF cache; nothing downloads)
``"<kind>:<name>"``                    the string form of a model source (``base:``, ``path:``,
                                       ``hub:``, ``preset:``; :mod:`common.models.source`)
``"oracle"``                           :class:`~t2ieval_r1.evaluate.oracle.OracleEvaluator`:
                                       the world's ground truth (a reference row)
``{base_url: ..., model: ...}``        an OpenAI-compatible endpoint (vLLM, hosted APIs):
                                       :class:`common.annotators.OpenAICompatibleAnnotator`,
                                       the other keys are its arguments
``{kind: ..., name: ...}``             a model source (:class:`common.models.source.ModelSource`:
                                       ``kind`` hub / path / base / preset); ``preset`` (+
                                       ``overrides``) is a ``conf/model`` preset with random
                                       weights (tests, smoke)
``{oracle: {noise, fail_share, ...}}``  the oracle with arguments
an ``Annotator`` / a ``VLMBundle``     used as it is (Python API)
=====================================  =========================================================

In-process models (all but the endpoint and the oracle) are wrapped in
:class:`common.annotators.TransformersVLMAnnotator` (batched greedy ``generate``), put on the
scale's device and dtype (``scale.device`` / ``scale.dtype`` of the run config) unless the spec
says otherwise (``device``, ``dtype``, ``batch_size`` keys of a mapping spec).

:func:`build_evaluator` returns the annotator and an :class:`EvaluatorInfo` (what it is, where it
came from: for a directory inside a training run, the run's ``exp_name`` and ``seed`` are read
from its ``config.yaml``, so result tables can group checkpoints by method and seed).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from common.annotators import Annotator, OpenAICompatibleAnnotator, TransformersVLMAnnotator
from common.config import InputError, plain
from common.models.pretrain.cache import is_built
from common.models.pretrain.cards import read_card
from common.models.pretrain.config import available_bases, load_pretrain_config
from common.models.source import ModelSource, ModelSourceError, load_source, resolve_path, role_model
from common.models.vlm_bundle import VLMBundle
from common.runtime import RunSettings
from t2ieval_r1.evaluate.oracle import OracleEvaluator

__all__ = ["EvaluatorInfo", "EvaluatorSpecError", "build_evaluator", "source_run"]

_RUNTIME_KEYS = ("device", "dtype", "batch_size", "cache_dir", "label", "overrides")
ROLE = "evaluator"
"""The scale role whose model a ``base`` / ``preset`` source without ``name`` means."""


class EvaluatorSpecError(InputError):
    """``task.evaluator`` is not a spec :func:`build_evaluator` understands (the message says why)."""


@dataclass
class EvaluatorInfo:
    """What was evaluated (written to ``metrics.json["evaluator"]``).

    Attributes:
        kind: ``base`` (by name, or a base's cached directory), ``checkpoint`` (another
            directory), ``hub``, ``preset``, ``endpoint``,
            ``oracle`` or ``object`` (an annotator / bundle passed in Python).
        name: a short name (base name, directory name, hub id, served model ...).
        path: the directory loaded, where there is one.
        source_run: ``{"run_dir", "exp_name", "seed"}`` of the training run the directory was
            exported from (its parent holds a ``config.yaml``), else ``None``.
        spec: the spec as given (JSON-able).
    """

    kind: str
    name: str
    path: str | None = None
    source_run: dict[str, Any] | None = None
    spec: Any = None
    settings: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def source_run(path: str | Path) -> dict[str, Any] | None:
    """The training run a saved evaluator came from: ``<path>/../config.yaml`` (or ``<path>``'s own)."""
    from omegaconf import OmegaConf

    p = Path(path).expanduser()
    for candidate in (p / "config.yaml", p.parent / "config.yaml"):
        if candidate.is_file():
            try:
                cfg = OmegaConf.load(candidate)
            except Exception:  # a foreign config.yaml (e.g. a hub repo's) is not a run's
                continue
            exp_name = cfg.get("exp_name")  # the saved config of that run
            if exp_name is None:
                continue
            return {
                "run_dir": str(candidate.parent),
                "exp_name": str(exp_name),
                "seed": cfg.get("seed"),
            }
    return None


def vlm_bases() -> list[str]:
    """The pretrained bases that can evaluate: the VLMs (not the generators or vision warm-ups)."""
    return [name for name in available_bases() if load_pretrain_config(name).objective == "vlm"]


def _scale_setting(settings: RunSettings | None, key: str) -> Any:
    """The scale's ``dtype`` / ``device`` (``None`` without settings: the checkpoint's own)."""
    if settings is None:
        return None
    value = getattr(settings.scale, key)
    return None if value is None else str(value)


def _vlm_annotator(
    bundle: VLMBundle,
    name: str,
    params: Mapping[str, Any],
    settings: RunSettings | None,
    max_tokens: int,
    batch_size: int,
) -> TransformersVLMAnnotator:
    device = params.get("device") or _scale_setting(settings, "device")
    if device is not None:
        bundle.model.to(device)
    bundle.model.eval()
    return TransformersVLMAnnotator(
        bundle,
        model=name,
        batch_size=int(params.get("batch_size") or batch_size),
        temperature=0.0,
        max_tokens=int(max_tokens),
        cache_dir=params.get("cache_dir"),
    )


def _classify_string(spec: str) -> dict[str, Any]:
    if spec == "oracle":
        return {"oracle": {}}
    source = ModelSource.parse(spec)
    return {"kind": source.kind, "name": source.name}


def build_evaluator(
    spec: Any,
    settings: RunSettings | None = None,
    *,
    max_tokens: int = 128,
    batch_size: int = 16,
    seed: int = 0,
) -> tuple[Annotator, EvaluatorInfo]:
    """The annotator for ``spec`` (table in the module docstring) and its :class:`EvaluatorInfo`.

    ``settings`` (the run's) give the cache directory, the scale's device and dtype;
    ``max_tokens`` is the completion length (an endpoint spec's own ``max_tokens`` wins);
    ``batch_size`` the prompts per ``generate`` call of in-process models (a mapping spec's own
    ``batch_size`` wins); ``seed`` seeds the oracle's noise.
    """
    spec = plain(spec)
    if isinstance(spec, VLMBundle):
        return _vlm_annotator(
            spec, type(spec.model).__name__, {}, settings, max_tokens, batch_size
        ), EvaluatorInfo("object", type(spec.model).__name__)
    if spec is not None and not isinstance(spec, str | Mapping) and callable(getattr(spec, "complete", None)):
        return spec, EvaluatorInfo(
            "object", str(getattr(spec, "model", getattr(spec, "name", type(spec).__name__)))
        )
    if isinstance(spec, str):
        if not spec.strip():
            raise EvaluatorSpecError(
                "task.evaluator is an empty string; give a path, a base name or an endpoint"
            )
        given: Any = spec
        try:
            spec = _classify_string(spec.strip())
        except ModelSourceError as e:
            raise EvaluatorSpecError(f"task.evaluator: {e}") from None
    elif isinstance(spec, Mapping):
        given = dict(spec)
        spec = dict(spec)
    else:
        raise EvaluatorSpecError(
            f"task.evaluator must be a string (directory, hub id, base name, 'oracle') or a mapping, got "
            f"{type(spec).__name__}: {spec!r}"
        )

    if "base_url" in spec or "endpoint" in spec:
        params = dict(spec.get("endpoint") or spec)
        params.pop("label", None)
        if "model" not in params:
            raise EvaluatorSpecError(
                "task.evaluator: an endpoint needs `model` (the served model name) beside `base_url`"
            )
        params.setdefault("temperature", 0.0)
        params.setdefault("max_tokens", max_tokens)
        if "cache_dir" not in params and settings is not None:
            params["cache_dir"] = str(settings.cache_dir / "annotator_responses")
        try:
            annotator = OpenAICompatibleAnnotator(**params)
        except TypeError as e:
            raise EvaluatorSpecError(f"task.evaluator (endpoint): {e}") from e
        info = EvaluatorInfo(
            "endpoint", str(params["model"]), spec=given, settings={"base_url": params.get("base_url")}
        )
        return annotator, info

    if "oracle" in spec:
        params = dict(spec.get("oracle") or {})
        params.setdefault("seed", seed)
        try:
            return OracleEvaluator(**params), EvaluatorInfo("oracle", "oracle", spec=given, settings=params)
        except TypeError as e:
            raise EvaluatorSpecError(f"task.evaluator (oracle): {e}") from e

    unknown = sorted(set(spec) - {"kind", "name"} - set(_RUNTIME_KEYS))
    if spec.get("kind") is None or unknown:
        raise EvaluatorSpecError(
            f"task.evaluator {given!r}: give a model source (kind: hub|path|base|preset, name: ...), "
            f"or base_url + model for an endpoint, or oracle"
            + (f" (unknown keys: {unknown})" if unknown else "")
        )
    try:
        source = ModelSource.from_config(
            {k: spec[k] for k in ("kind", "name", "overrides") if k in spec}, "task.evaluator"
        )
    except ModelSourceError as e:
        raise EvaluatorSpecError(str(e)) from None
    dtype = spec.get("dtype") or _scale_setting(settings, "dtype")
    path: str | None = None
    run: dict[str, Any] | None = None
    try:
        name = str(source.name) if source.name is not None else role_model(ROLE, settings)
        if source.kind == "base":
            path = str(resolve_path(source, settings, role=ROLE))
            kind = "base"
        elif source.kind == "preset":
            kind = "preset"
        elif source.kind == "path":
            resolved = resolve_path(source, settings, role=ROLE)
            path = str(Path(str(resolved)).expanduser().resolve())
            run = source_run(path)

            if is_built(Path(path)):  # a cached pretrained base given by its directory
                kind, name = "base", str(read_card(path).get("name") or Path(path).name)
            else:
                parent = Path(path).parent.name
                kind, name = "checkpoint", parent if Path(path).name == "evaluator" else Path(path).name
            source = ModelSource("path", str(resolved))
        else:
            kind = "hub"
    except ModelSourceError as e:
        raise EvaluatorSpecError(
            f"task.evaluator: {e.problem}; give a saved evaluator directory "
            "(e.g. a GRPO run's <run_dir>/evaluator), "
            f"a hub id, a VLM base name ({', '.join(vlm_bases())}) or an endpoint"
        ) from None
    if source.kind == "base":
        source = ModelSource("path" if Path(str(path)).is_dir() else "hub", str(path))
    if source.kind != "preset":  # a preset keeps its own dtype
        source = source.with_settings(dtype=dtype)
    bundle = load_source(source, settings, role=ROLE)
    if not isinstance(bundle, VLMBundle):
        raise EvaluatorSpecError(
            f"task.evaluator {given!r} is not a vision-language model (got {type(bundle).__name__})"
        )
    label = str(spec.get("label") or name)
    annotator = _vlm_annotator(
        bundle, label if kind != "checkpoint" else str(path), spec, settings, max_tokens, batch_size
    )
    used = {k: spec.get(k) for k in _RUNTIME_KEYS if spec.get(k) is not None}
    used["dtype"] = dtype
    return annotator, EvaluatorInfo(kind, label, path=path, source_run=run, spec=given, settings=used)
