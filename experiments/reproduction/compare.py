"""A table's paired comparisons: two runs' per-item predictions, seed paired with seed.

For a :class:`~experiments.reproduction.spec.ComparisonSpec` the seeds that both runs finished are
paired (seed ``s`` of run ``a`` with seed ``s`` of run ``b``); each seed's predictions file is read,
its lines kept where the ``where`` fields match, and the two runs' lines matched by ``key``. The
difference and its interval come from :func:`common.scoring.paired_difference` (its docstring has
the formula and the resampling).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from common.scoring import STATISTICS, BootstrapConfig, paired_difference
from common.scoring.paired import PairedDifference
from experiments.reproduction.spec import ComparisonSpec

__all__ = ["Comparison", "compare_runs", "read_items"]


@dataclass(frozen=True)
class Comparison:
    spec: ComparisonSpec
    seeds: list[int]
    result: PairedDifference | None
    """``None``: no seed that both runs finished."""

    def text(self, fmt: str = "+.3f") -> str:
        """One Markdown line: the mean difference and its interval, then every seed's."""
        head = f"**{self.spec.label}** ({self.spec.statistic}, {self.spec.a} - {self.spec.b})"
        r = self.result
        if r is None:
            return f"{head}: - (no seed that both runs finished)"
        per_seed = "; ".join(
            f"seed {s}: {d:{fmt}} [{ci.low:{fmt}}, {ci.high:{fmt}}]"
            for s, d, ci in zip(self.seeds, r.per_seed, r.per_seed_ci, strict=True)
        )
        return (
            f"{head}: mean over {len(self.seeds)} paired seed{'s' if len(self.seeds) != 1 else ''} "
            f"{r.mean:{fmt}} [{r.mean_ci.low:{fmt}}, {r.mean_ci.high:{fmt}}] "
            f"({r.n_items} items, {r.mean_ci.n_resamples} paired item resamples, "
            f"{round(100 * r.mean_ci.confidence)}% percentile interval); {per_seed}."
        )


def read_items(path: Path, spec: ComparisonSpec) -> dict[str, tuple[float | None, float]]:
    """``{item key: (prediction or None, human score)}`` of the lines of ``path`` that match ``where``."""
    if not path.is_file():
        raise FileNotFoundError(f"comparison {spec.label!r}: no predictions file {path}")
    items: dict[str, tuple[float | None, float]] = {}
    with path.open() as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            row: Mapping[str, Any] = json.loads(line)
            if any(str(row.get(k)) != v for k, v in spec.where.items()):
                continue
            for name in (spec.key, spec.human, spec.prediction):
                if name not in row:
                    raise KeyError(f"{path}:{n}: no field {name!r} (comparison {spec.label!r})")
            key = str(row[spec.key])
            if key in items:
                raise ValueError(f"{path}:{n}: item {key!r} appears twice")
            value = row[spec.prediction]
            items[key] = (None if value is None else float(value), float(row[spec.human]))
    if not items:
        raise ValueError(f"{path}: no line matches {spec.where} (comparison {spec.label!r})")
    return items


def compare_runs(
    spec: ComparisonSpec, dirs_a: Mapping[int, Path], dirs_b: Mapping[int, Path], seed: int = 0
) -> Comparison:
    """The comparison over the seeds present in both ``dirs_a`` and ``dirs_b`` (seed -> run dir)."""
    seeds = sorted(set(dirs_a) & set(dirs_b))
    if not seeds:
        return Comparison(spec, [], None)
    rows_a: list[Sequence[float | None]] = []
    rows_b: list[Sequence[float | None]] = []
    keys: list[str] | None = None
    human: dict[str, float] = {}
    for s in seeds:
        ia = read_items(dirs_a[s] / spec.scores, spec)
        ib = read_items(dirs_b[s] / (spec.scores_b or spec.scores), spec)
        if set(ia) != set(ib):
            only_a, only_b = len(set(ia) - set(ib)), len(set(ib) - set(ia))
            raise ValueError(
                f"comparison {spec.label!r}, seed {s}: the runs scored different items "
                f"({only_a} only in {dirs_a[s]}, {only_b} only in {dirs_b[s]})"
            )
        if keys is None:
            keys = list(ia)  # run a's first seed's file order (resamples follow the benchmark's order)
            human = {k: ia[k][1] for k in keys}
        elif set(ia) != set(keys):
            raise ValueError(f"comparison {spec.label!r}: seed {s} scored other items than seed {seeds[0]}")
        for k in keys:
            if ia[k][1] != human[k] or ib[k][1] != human[k]:
                raise ValueError(
                    f"comparison {spec.label!r}: item {k!r} has different human scores across runs"
                )
        rows_a.append([ia[k][0] for k in keys])
        rows_b.append([ib[k][0] for k in keys])
    assert keys is not None
    result = paired_difference(
        rows_a,
        rows_b,
        [human[k] for k in keys],
        STATISTICS.get(spec.statistic),
        BootstrapConfig(seed=seed),
    )
    return Comparison(spec, seeds, result)
