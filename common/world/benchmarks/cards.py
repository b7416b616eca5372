"""Dataset cards (README.md) for the world benchmarks: what, columns, scales, agreement, histograms.

Everything in a card comes from the build arguments, the data and the statistics the builder
computed, so a rebuild writes the same card byte for byte.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import datasets
import numpy as np

from common.world.benchmarks.base import Benchmark, Built
from common.world.levels import get_level

BAR_WIDTH = 40


def _type_name(feature: Any) -> str:
    if isinstance(feature, datasets.Value):
        return feature.dtype
    if isinstance(feature, datasets.Image):
        return "image"
    if isinstance(feature, datasets.List):
        return f"list[{_type_name(feature.feature)}]"
    return type(feature).__name__


def histogram(values: list[Any]) -> list[tuple[str, int]]:
    """Value counts: strings by value, integers by value, other numbers rounded to integers."""
    if not values:
        return []
    if isinstance(values[0], str):
        counts = Counter(values)
        return sorted(counts.items())
    arr = np.asarray(values, dtype=np.float64)
    keys = np.floor(arr + 0.5).astype(int)
    lo, hi = int(keys.min()), int(keys.max())
    return [(str(k), int(np.sum(keys == k))) for k in range(lo, hi + 1)]


def histogram_text(values: list[Any]) -> str:
    """A fixed-width text histogram (one line per bin, a bar of '#' and the count)."""
    rows = histogram(values)
    if not rows:
        return "(empty)"
    top = max(c for _, c in rows) or 1
    width = max(len(k) for k, _ in rows)
    return "\n".join(
        f"{k.rjust(width)} | {'#' * round(BAR_WIDTH * c / top):<{BAR_WIDTH}} {c}" for k, c in rows
    )


def _stats_lines(stats: Any, indent: int = 0) -> list[str]:
    pad = "  " * indent
    if isinstance(stats, dict):
        out = []
        for k, v in stats.items():
            if isinstance(v, dict) and not all(not isinstance(x, dict) for x in v.values()):
                out.append(f"{pad}- {k}:")
                out += _stats_lines(v, indent + 1)
            elif isinstance(v, dict):
                out.append(f"{pad}- {k}: " + ", ".join(f"{a} {b}" for a, b in v.items()))
            else:
                out.append(f"{pad}- {k}: {v}")
        return out
    return [f"{pad}- {json.dumps(stats)}"]


def level_text(level: str) -> str:
    """The card's paragraph on the world level the data was built at."""
    lv = get_level(level)
    return f"World level: `{lv.name}` ({lv.role}; `common.world.levels`): {lv.describe()}"


def render_card(
    bench: Benchmark,
    built: Built,
    *,
    seed: int,
    canvas: int,
    version: int,
    fingerprints: dict[str, str],
    level: str = "full",
) -> str:
    """The README.md text of one built benchmark (built at world ``level``)."""
    data = built.data
    lines = [
        "---",
        f"pretty_name: {bench.title}",
        "license: apache-2.0",
        "tags: [t2i-critics, embedded-world, synthetic]",
        "---",
        "",
        f"# {bench.title}",
        "",
        bench.description,
        "",
        "Built by `common.world.benchmarks` (`python -m experiments.run +exp=world_build`) with "
        f"seed {seed}, canvas {canvas} px, world level `{get_level(level).name}`, build version {version}. "
        "Rebuilding with the same arguments reproduces these files byte for byte. Load with "
        "`datasets.load_from_disk(<this directory>)`.",
        "",
        level_text(level),
        "",
        "| split | rows | fingerprint |",
        "|---|---|---|",
    ]
    lines += [f"| {s} | {len(d)} | `{fingerprints.get(s, '')}` |" for s, d in data.items()]
    first = next(iter(data.values()))
    lines += ["", "## Columns", "", "| column | type | meaning |", "|---|---|---|"]
    for col, feat in first.features.items():
        lines.append(f"| `{col}` | {_type_name(feat)} | {bench.columns.get(col, '')} |")
    lines += ["", "## Statistics (rater agreement and more)", ""]
    lines += [
        "Agreement is the Spearman correlation of each rater with the mean of the other raters, averaged "
        "over raters (with two raters: their Spearman correlation).",
        "",
    ]
    lines += _stats_lines(built.stats)
    lines += ["", "## Score histograms", ""]
    for split, d in data.items():
        for col in bench.scores:
            if col not in d.column_names:
                continue
            lines += [f"`{col}` ({split}):", "", "```", histogram_text(list(d[col])), "```", ""]
    return "\n".join(lines).rstrip() + "\n"
