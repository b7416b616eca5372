"""The critics FIRM-Bench compares, and how each becomes an :class:`~common.annotators.Annotator`.

A :class:`JudgeSpec` is a table row: a name and, per domain, a list of model sources (one per
training seed; :func:`firm.rm.cache.resolve_source`: ``base``, an RM run directory, a model
directory, a hub id) or one OpenAI-compatible endpoint that answers both domains. In-process
models answer through :class:`~common.annotators.TransformersVLMAnnotator` (no response cache:
weights change between runs under the same path); endpoints through
:class:`~common.annotators.OpenAICompatibleAnnotator` with the on-disk response cache.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from common.annotators import OpenAICompatibleAnnotator, TransformersVLMAnnotator
from common.annotators.types import Annotator

__all__ = ["JudgeSpec", "build_judges", "endpoint_annotator", "model_annotator"]


@dataclass
class JudgeSpec:
    """One row of the table (see the module docstring).

    Attributes:
        name: the row label.
        edit / gen: model sources per seed for the edit / gen columns (empty: not judged).
        endpoint: keyword arguments of :class:`OpenAICompatibleAnnotator` (``base_url``,
            ``model``, ``api_key_env``, ``concurrency``, ...) for an HTTP critic; it then judges
            both domains once and ``edit`` / ``gen`` must be empty.
    """

    name: str
    edit: list[str] = field(default_factory=list)
    gen: list[str] = field(default_factory=list)
    endpoint: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        self.edit = [str(s) for s in self.edit]
        self.gen = [str(s) for s in self.gen]
        if self.endpoint is not None:
            if self.edit or self.gen:
                raise ValueError(f"judge {self.name!r}: give either an endpoint or model sources, not both")
            missing = [k for k in ("base_url", "model") if not self.endpoint.get(k)]
            if missing:
                raise ValueError(f"judge {self.name!r}: the endpoint needs {missing}")
        elif not self.edit and not self.gen:
            raise ValueError(f"judge {self.name!r} has no model source and no endpoint")

    def seeds(self) -> int:
        """How many per-seed results this row has."""
        return 1 if self.endpoint is not None else max(len(self.edit), len(self.gen))


def _as_list(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    return [str(v) for v in value]


def build_judges(
    *,
    base: bool = True,
    base_name: str = "base (zero-shot)",
    rm_name: str = "FIRM RM (ours)",
    rm_edit: Any = None,
    rm_gen: Any = None,
    models: Sequence[Mapping[str, Any]] = (),
    endpoints: Sequence[Mapping[str, Any]] = (),
) -> list[JudgeSpec]:
    """The rows of a FIRM-Bench run: the base zero-shot, the trained RMs, other models, endpoints."""
    judges: list[JudgeSpec] = []
    if base:
        judges.append(JudgeSpec(base_name, edit=["base"], gen=["base"]))
    edit, gen = _as_list(rm_edit), _as_list(rm_gen)
    if edit or gen:
        judges.append(JudgeSpec(rm_name, edit=edit, gen=gen))
    for m in models:
        m = dict(m)
        judges.append(JudgeSpec(str(m["name"]), edit=_as_list(m.get("edit")), gen=_as_list(m.get("gen"))))
    for e in endpoints:
        e = dict(e)
        name = str(e.pop("name", e.get("model", "endpoint")))
        judges.append(JudgeSpec(name, endpoint=e))
    names = [j.name for j in judges]
    if len(set(names)) != len(names):
        raise ValueError(f"judge names must be unique, got {names}")
    if not judges:
        raise ValueError("nothing to judge: enable base, give rm_edit / rm_gen, models or endpoints")
    return judges


def model_annotator(bundle: Any, name: str, batch_size: int) -> Annotator:
    """An in-process critic over a loaded bundle (greedy, no response cache)."""
    return TransformersVLMAnnotator(bundle, model=name, batch_size=int(batch_size), cache_dir=None)


def endpoint_annotator(endpoint: Mapping[str, Any], cache_dir: str | None) -> Annotator:
    """An OpenAI-compatible critic (responses cached in ``cache_dir`` unless the endpoint sets its own)."""
    kwargs = {"cache_dir": cache_dir, **dict(endpoint)}
    return OpenAICompatibleAnnotator(**kwargs)
