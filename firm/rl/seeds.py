"""Learning claims over several RL seeds: the per-seed gains and two intervals for their mean.

Each FIRM RL run writes its held-out checker records (``heldout_records.json``, :mod:`firm.tasks.rl`):
one record per (prompt, noise seed) pair for the start policy and for the trained one. Runs that
differ only in their training seed share the start policy and the held-out pairs, so their gains
are paired on the same pairs and can be pooled:

* **per seed**: the paired gain of each run with its 95% prompt bootstrap
  (:func:`firm.rl.eval_stats.paired_gain`);
* **seed mean, prompt bootstrap**: the gain of the seed-averaged end records (each pair's value
  averaged over the runs; the aggregate is linear, so this gain is the mean of the per-seed
  gains) with the same prompt bootstrap: how sure the mean is given *these* seeds;
* **seed mean, t interval**: ``mean +- t_{0.975, n-1} * sd / sqrt(n)`` over the per-seed gains:
  how far another draw of seeds could move it (wide with 3 seeds; it is the honest one for "the
  method learns", the bootstrap for "these runs learned").

``python -m firm.rl.seeds RUN_DIR [RUN_DIR ...] [--key strict]`` prints the table in Markdown.
"""

from __future__ import annotations

import argparse
import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from scipy import stats

from common.config import InputError
from firm.rl.eval_stats import paired_gain

__all__ = ["RECORDS_FILE", "load_records", "mean_records", "pool_seeds", "seed_table"]

RECORDS_FILE = "heldout_records.json"
"""The per-pair held-out records of a FIRM RL run (``start``, ``end``, ...; :mod:`firm.tasks.rl`)."""

_ID_FIELDS = ("pair", "item", "index", "seed", "kind", "prompt", "tag")


def load_records(run_dir: str | Path) -> dict[str, Any]:
    """The records file of a finished FIRM RL run directory (a clear error when it has none)."""
    path = Path(run_dir) / RECORDS_FILE
    if not path.is_file():
        raise InputError(
            f"{path}: no held-out records; point at the directory of a finished +exp=firm_*_rl run "
            "(runs before the records were written can be re-evaluated with task.rl.steps=0 "
            "task.policy=path:<run_dir>/policy)"
        )
    return json.loads(path.read_text())


def mean_records(runs: Sequence[Sequence[Mapping[str, Any]]]) -> list[dict[str, Any]]:
    """Per pair, every numeric field averaged over ``runs`` (booleans as 0 / 1; a field missing or
    not finite in one run stays out of that pair's mean). The runs must hold the same pairs."""
    if not runs:
        raise ValueError("no runs to average")
    by_pair = [{r["pair"]: r for r in recs} for recs in runs]
    pairs = list(by_pair[0])
    for i, other in enumerate(by_pair[1:], start=1):
        if set(other) != set(pairs):
            raise ValueError(
                f"run {i} holds other held-out pairs than run 0 ({len(set(other) ^ set(pairs))} differ)"
            )
    out: list[dict[str, Any]] = []
    for p in pairs:
        first = by_pair[0][p]
        rec: dict[str, Any] = {k: first[k] for k in _ID_FIELDS if k in first}
        fields = {k: v for run in by_pair for k, v in run[p].items() if v is not None}
        for k, v in fields.items():
            if k in rec or not isinstance(v, bool | int | float):
                continue
            vals = [float(run[p][k]) for run in by_pair if run[p].get(k) is not None]
            vals = [v for v in vals if math.isfinite(v)]
            rec[k] = float(np.mean(vals)) if vals else None
        out.append(rec)
    return out


def _same_start(starts: Sequence[Sequence[Mapping[str, Any]]], key: str) -> None:
    ref = {r["pair"]: r.get(key) for r in starts[0]}

    def same(a: Any, b: Any) -> bool:
        if isinstance(a, int | float) and isinstance(b, int | float):
            return math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=1e-9) or (a != a and b != b)
        return a == b

    for i, recs in enumerate(starts[1:], start=1):
        values = {r["pair"]: r.get(key) for r in recs}
        if set(values) != set(ref):
            raise ValueError(
                f"run {i} was evaluated on other held-out pairs than run 0 ({len(set(values) ^ set(ref))} "
                "differ): pool only runs with the same task.eval"
            )
        if not all(same(values[p], v) for p, v in ref.items()):
            raise ValueError(
                f"run {i} starts from another policy than run 0 (its start records differ on {key!r}): "
                "pool only runs that differ in their training seed"
            )


def pool_seeds(records: Sequence[Mapping[str, Any]], key: str) -> dict[str, Any]:
    """Per-seed and pooled gains of ``key`` for the records files of several runs (module doc)."""
    if not records:
        raise ValueError("no runs to pool")
    starts = [r["start"] for r in records]
    ends = [r["end"] for r in records]
    _same_start(starts, key)
    per_seed = [paired_gain(s, e, key) for s, e in zip(starts, ends, strict=True)]
    pooled = paired_gain(starts[0], mean_records(ends), key)
    gains = np.array([g["gain"] for g in per_seed], dtype=np.float64)
    n = len(gains)
    if n > 1:
        half = float(stats.t.ppf(0.975, n - 1) * gains.std(ddof=1) / math.sqrt(n))
        t_ci = [float(gains.mean() - half), float(gains.mean() + half)]
    else:
        t_ci = [float("nan"), float("nan")]
    return {
        "key": key,
        "n_seeds": n,
        "per_seed": [
            {"gain": g["gain"], "ci95": g["ci95"], "before": g["before"], "after": g["after"]}
            for g in per_seed
        ],
        "mean_gain": float(gains.mean()),
        "prompt_bootstrap_ci95": pooled["ci95"],
        "seed_t_ci95": t_ci,
        "before": pooled["before"],
        "after_mean": pooled["after"],
        "n_pairs": pooled["n_pairs"],
    }


def _pct(v: float) -> str:
    return "-" if v is None or not math.isfinite(v) else f"{100 * v:+.1f}"


def seed_table(pooled: Mapping[str, Any], labels: Sequence[str]) -> str:
    """A Markdown table of :func:`pool_seeds`' result (percentage points), one row per run."""
    lines = [
        f"| run | start | end | gain of `{pooled['key']}` [95% CI, prompt bootstrap] |",
        "|---|---|---|---|",
    ]
    for label, g in zip(labels, pooled["per_seed"], strict=True):
        lo, hi = g["ci95"]
        gain = f"{_pct(g['gain'])} [{_pct(lo)}, {_pct(hi)}]"
        lines.append(f"| {label} | {100 * g['before']:.1f} | {100 * g['after']:.1f} | {gain} |")
    lo, hi = pooled["prompt_bootstrap_ci95"]
    tlo, thi = pooled["seed_t_ci95"]
    lines.append(
        f"| mean of {pooled['n_seeds']} | {100 * pooled['before']:.1f} | {100 * pooled['after_mean']:.1f} | "
        f"**{_pct(pooled['mean_gain'])}** [{_pct(lo)}, {_pct(hi)}]; "
        f"over seeds (t): [{_pct(tlo)}, {_pct(thi)}] |"
    )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m firm.rl.seeds", description=__doc__.split("\n\n")[0])
    parser.add_argument("run_dirs", nargs="+", help="directories of finished FIRM RL runs (one per seed)")
    parser.add_argument(
        "--key",
        default=None,
        help="the record field (default: strict for gen; correct, execution, consistency, lazy for edit)",
    )
    args = parser.parse_args(argv)
    records = [load_records(d) for d in args.run_dirs]
    kind = records[0]["start"][0]["kind"] if records[0]["start"] else "gen"
    edit_keys = ["correct", "execution", "consistency", "lazy"]
    keys = [args.key] if args.key else (["strict"] if kind == "gen" else edit_keys)
    for key in keys:
        print(seed_table(pool_seeds(records, key), [str(d) for d in args.run_dirs]))
        print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
