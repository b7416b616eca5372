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

from common.figures import curve_grid, pyplot, save_figure, series_of
from experiments.reproduction.spec import ScoreSource

__all__ = ["MAX_PANELS", "curve_figure", "read_log", "score_figure", "score_values"]

MAX_PANELS = 6
CURVE_KEYS = re.compile(r"loss|reward", re.IGNORECASE)


def read_log(run_dir: Path) -> dict[str, list[tuple[float, float]]]:
    """Numeric series of ``log.jsonl``: ``{name: [(step, value), ...]}`` (line number as the step
    where a record has none)."""
    path = run_dir / "log.jsonl"
    if not path.is_file():
        return {}
    records = []
    for line in path.read_text().splitlines():
        try:
            rec = json.loads(line)
        except ValueError:
            rec = None
        records.append(rec if isinstance(rec, dict) else {})
    return series_of(records)


def curve_figure(run_dir: Path, out: Path, title: str) -> Path | None:
    """The loss / reward curves of the run in ``run_dir``; ``None`` when it logged no numbers."""
    series = read_log(run_dir)
    names = [k for k in series if CURVE_KEYS.search(k)] or list(series)
    return curve_grid(series, names[:MAX_PANELS], out, title)


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
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5, 3.2))
    xs: Sequence[float] = sorted(counts)
    if len(xs) <= 12:
        ax.bar([str(int(x)) if float(x).is_integer() else f"{x:g}" for x in xs], [counts[x] for x in xs])
    else:
        ax.hist(list(xs), bins=20, weights=[counts[x] for x in xs])
    ax.set_xlabel("score")
    ax.set_ylabel("count")
    ax.set_title(title, fontsize=9)
    return save_figure(plt, fig, out)
