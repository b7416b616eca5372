"""A table's paired comparisons: two runs' per-item predictions, seed paired with seed.

For a :class:`~experiments.reproduction.spec.ComparisonSpec` the seeds that both runs finished are
paired (seed ``s`` of run ``a`` with seed ``s`` of run ``b``); each seed's predictions file is read
once with :func:`common.scoring.load_prediction_fields` (prediction and human score of the lines
where the ``where`` fields match) and the two runs' items matched by ``key``. The difference and
its interval come from :func:`common.scoring.paired_difference` (its docstring has the formula and
the resampling).

A comparison that cannot be computed (a missing or unreadable file, runs that scored different
items, no valid prediction) is rendered with its reason instead of numbers, so one bad comparison
does not stop the other tables.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from common.scoring import STATISTICS, BootstrapConfig, load_prediction_fields, paired_difference
from common.scoring.paired import PairedDifference
from experiments.reproduction.spec import ComparisonSpec

__all__ = ["Comparison", "compare_runs", "read_items"]


def _signed(x: float, fmt: str) -> str:
    return "undefined" if math.isnan(x) else f"{x:{fmt}}"


@dataclass(frozen=True)
class Comparison:
    spec: ComparisonSpec
    seeds: list[int]
    result: PairedDifference | None
    """``None``: not computed (``error`` says why, or no seed that both runs finished)."""
    error: str | None = None

    @property
    def status(self) -> str:
        return "ok" if self.result is not None else ("error" if self.error else "missing")

    def text(self, fmt: str = "+.3f") -> str:
        """One Markdown line: the mean difference and its interval, then every seed's."""
        head = f"**{self.spec.label}** ({self.spec.statistic}, {self.spec.a} - {self.spec.b})"
        r = self.result
        if r is None:
            return f"{head}: - ({self.error or 'no seed that both runs finished'})"
        per_seed = "; ".join(
            f"seed {s}: {_signed(d, fmt)} [{_signed(ci.low, fmt)}, {_signed(ci.high, fmt)}]"
            for s, d, ci in zip(self.seeds, r.per_seed, r.per_seed_ci, strict=True)
        )
        filled = ""
        if any(r.n_missing_a) or any(r.n_missing_b):
            filled = (
                f"; mean-filled predictions per seed: {self.spec.a} {'/'.join(map(str, r.n_missing_a))}, "
                f"{self.spec.b} {'/'.join(map(str, r.n_missing_b))}"
            )
        n = len(self.seeds)
        return (
            f"{head}: mean over {n} paired seed{'s' if n != 1 else ''} {_signed(r.mean, fmt)} "
            f"[{_signed(r.mean_ci.low, fmt)}, {_signed(r.mean_ci.high, fmt)}] "
            f"({r.n_items} items, {r.mean_ci.n_resamples} paired item resamples, "
            f"{round(100 * r.mean_ci.confidence)}% percentile interval{filled}); {per_seed}."
        )


def read_items(path: Path, spec: ComparisonSpec) -> dict[str, tuple[float | None, float]]:
    """``{item key: (prediction or None, human score)}`` of the lines of ``path`` that match ``where``,
    in file order."""
    items = load_prediction_fields(path, spec.key, (spec.prediction, spec.human), spec.where)
    if not items:
        raise ValueError(f"{path}: no line has the fields {spec.where}")
    unlabelled = [k for k, (_, h) in items.items() if h is None]
    if unlabelled:
        raise ValueError(
            f"{path}: item {unlabelled[0]!r} has no human score in field {spec.human!r} "
            f"({len(unlabelled)} such items); select single-wise items with `where`"
        )
    return {k: (p, float(h)) for k, (p, h) in items.items()}  # type: ignore[arg-type]


def _compare(
    spec: ComparisonSpec, dirs_a: Mapping[int, Path], dirs_b: Mapping[int, Path], seeds: list[int], seed: int
) -> PairedDifference:
    rows_a: list[list[float | None]] = []
    rows_b: list[list[float | None]] = []
    keys: list[str] = []
    human: dict[str, float] = {}
    for s in seeds:
        path_a, path_b = dirs_a[s] / spec.scores, dirs_b[s] / (spec.scores_b or spec.scores)
        ia, ib = read_items(path_a, spec), read_items(path_b, spec)
        if set(ia) != set(ib):
            only_a, only_b = len(set(ia) - set(ib)), len(set(ib) - set(ia))
            raise ValueError(
                f"seed {s}: the runs scored different items "
                f"({only_a} only in {path_a}, {only_b} only in {path_b})"
            )
        if not keys:
            keys = list(ia)  # run a's first seed's file order (resamples follow the benchmark's order)
            human = {k: ia[k][1] for k in keys}
        elif set(ia) != set(keys):
            raise ValueError(f"seed {s} scored other items than seed {seeds[0]} ({path_a})")
        for k in keys:
            if ia[k][1] != human[k] or ib[k][1] != human[k]:
                raise ValueError(
                    f"item {k!r} has different human scores across runs or seeds ({path_a}, {path_b})"
                )
        rows_a.append([ia[k][0] for k in keys])
        rows_b.append([ib[k][0] for k in keys])
    return paired_difference(
        rows_a, rows_b, [human[k] for k in keys], STATISTICS.get(spec.statistic), BootstrapConfig(seed=seed)
    )


def compare_runs(
    spec: ComparisonSpec, dirs_a: Mapping[int, Path], dirs_b: Mapping[int, Path], seed: int = 0
) -> Comparison:
    """The comparison over the seeds present in both ``dirs_a`` and ``dirs_b`` (seed -> run dir);
    a comparison that cannot be computed carries its reason in ``error``."""
    seeds = sorted(set(dirs_a) & set(dirs_b))
    if not seeds:
        return Comparison(spec, [], None)
    try:
        return Comparison(spec, seeds, _compare(spec, dirs_a, dirs_b, seeds, seed))
    except (OSError, ValueError) as e:  # PredictionsFormatError is a ValueError
        return Comparison(spec, seeds, None, error=str(e))
