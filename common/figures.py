"""Figures runs and reports write: numeric series of logged records, and a grid of curves.

matplotlib is imported on use (an optional dependency of the reports) with the ``Agg`` backend,
so no display is needed.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

__all__ = ["curve_grid", "pyplot", "save_figure", "series_of"]

Series = dict[str, list[tuple[float, float]]]


def series_of(records: Iterable[Mapping[str, Any]], keys: Sequence[str] | None = None) -> Series:
    """``{name: [(step, value), ...]}`` of the finite numeric fields of ``records`` (``keys``: only
    those); a record's ``step`` is its x, its position where it has none."""
    series: Series = {}
    for i, rec in enumerate(records):
        step = rec.get("step", i)
        x = float(step) if isinstance(step, int | float) and not isinstance(step, bool) else float(i)
        for k, v in rec.items():
            if k == "step" or (keys is not None and k not in keys):
                continue
            if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
                continue
            series.setdefault(k, []).append((x, float(v)))
    return series


def pyplot() -> Any:
    """``matplotlib.pyplot`` on the non-interactive ``Agg`` backend."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(plt: Any, fig: Any, out: Path) -> Path:
    """Lay out ``fig``, write it to ``out`` (PNG, 100 dpi) and close it."""
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out


def curve_grid(series: Series, names: Sequence[str], out: Path, title: str = "") -> Path | None:
    """One panel per name of ``series`` (value over step, three panels a row) written to ``out``;
    ``None`` when ``names`` is empty."""
    names = [n for n in names if n in series]
    if not names:
        return None
    plt = pyplot()
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
    if title:
        fig.suptitle(title, fontsize=10)
    return save_figure(plt, fig, out)
