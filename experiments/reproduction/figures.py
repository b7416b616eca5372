"""Figures of the runs behind the tables (matplotlib, no display needed).

* ``<out>/curves/<exp>-<key>.png``: the loss and reward curves of a run, read from its
  ``log.jsonl`` (every numeric series whose name holds ``loss`` or ``reward``, one panel each, at
  most :data:`MAX_PANELS`; a run without such series gets its other numeric series);
* ``<out>/scores/<exp>-<key>-<n>.png``: a histogram of the scores a run wrote
  (:class:`experiments.reproduction.spec.ScoreSource`: a JSON-lines file or a histogram in
  metrics.json).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from experiments.reproduction.spec import ScoreSource

__all__ = ["MAX_PANELS", "curve_figure", "read_log", "score_figure", "score_values"]

MAX_PANELS = 6
CURVE_KEYS = re.compile(r"loss|reward", re.IGNORECASE)


def read_log(run_dir: Path) -> dict[str, list[tuple[float, float]]]:
    """Numeric series of ``log.jsonl``: ``{name: [(step, value), ...]}`` (line number as the step
    where a record has none)."""
    series: dict[str, list[tuple[float, float]]] = {}
    path = run_dir / "log.jsonl"
    if not path.is_file():
        return series
    for i, line in enumerate(path.read_text().splitlines()):
        try:
            rec = json.loads(line)
        except ValueError:
            continue
        if not isinstance(rec, dict):
            continue
        step = rec.get("step")
        x = float(step) if isinstance(step, int | float) and not isinstance(step, bool) else float(i)
        for k, v in rec.items():
            if k == "step" or isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
                continue
            series.setdefault(k, []).append((x, float(v)))
    return series


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def curve_figure(run_dir: Path, out: Path, title: str) -> Path | None:
    """The loss / reward curves of the run in ``run_dir``; ``None`` when it logged no numbers."""
    series = read_log(run_dir)
    names = [k for k in series if CURVE_KEYS.search(k)] or list(series)
    names = names[:MAX_PANELS]
    if not names:
        return None
    plt = _pyplot()
    cols = min(3, len(names))
    rows = math.ceil(len(names) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4 * cols, 3 * rows), squeeze=False)
    for ax, name in zip(axes.flat, names, strict=False):
        xs, ys = zip(*series[name], strict=True)
        ax.plot(xs, ys, marker="o" if len(xs) < 20 else None, linewidth=1.2)
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(names) :]:
        ax.axis("off")
    fig.suptitle(title, fontsize=10)
    return _save(plt, fig, out)


def score_values(run_dir: Path, source: ScoreSource, metrics: Mapping[str, Any] | None) -> dict[float, float]:
    """``{score: count}`` of what the run wrote at ``source``."""
    counts: dict[float, float] = {}
    if source.histogram is not None:
        node: Any = metrics or {}
        for part in source.histogram:
            node = node.get(part) if isinstance(node, Mapping) else None
        if isinstance(node, Mapping):
            for k, v in node.items():
                try:
                    counts[float(k)] = counts.get(float(k), 0.0) + float(v)
                except (TypeError, ValueError):
                    continue
        return counts
    assert source.jsonl is not None
    for path in sorted(run_dir.glob(source.jsonl)):
        for line in path.read_text().splitlines():
            try:
                v = json.loads(line).get(source.field)
            except (ValueError, AttributeError):
                continue
            if isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v):
                counts[float(v)] = counts.get(float(v), 0.0) + 1.0
    return counts


def score_figure(counts: Mapping[float, float], out: Path, title: str) -> Path | None:
    """A histogram of ``counts`` (a bar per score when there are few distinct scores)."""
    if not counts:
        return None
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5, 3.2))
    xs: Sequence[float] = sorted(counts)
    if len(xs) <= 12:
        ax.bar([str(int(x)) if float(x).is_integer() else f"{x:g}" for x in xs], [counts[x] for x in xs])
    else:
        ax.hist(list(xs), bins=20, weights=[counts[x] for x in xs])
    ax.set_xlabel("score")
    ax.set_ylabel("count")
    ax.set_title(title, fontsize=9)
    return _save(plt, fig, out)


def _save(plt: Any, fig: Any, out: Path) -> Path:
    """Lay out ``fig``, write it to ``out`` (PNG, 100 dpi) and close it."""
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out
