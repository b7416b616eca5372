"""Dataset assembly shared by both curation pipelines.

* :func:`annotate`: send one stage's requests through an annotator in chunks, with a progress bar;
* :class:`RejectionLog`: every annotation that fails validation (:mod:`firm.curation.validate`)
  is written to ``rejected.jsonl`` with its sample id, stage, reason and the raw answer, counted,
  and dropped, never kept;
* :func:`select_mismatches` / :func:`assign_donors`: FIRM's rebalancing, rewriting a chosen share
  of instructions into mismatches so that low execution scores exist (docs/papers/firm.md §2.3);
* :func:`score_histogram`, :func:`histogram_table`, :func:`dataset_card`: the 5/4/3/2/1 score
  histogram in the layout of the paper's Table 6, with the published rows beside it;
* :func:`save_dataset`: an HF ``datasets.Dataset`` written with ``save_to_disk`` through a
  temporary directory (a crash never leaves half a dataset where a finished one is expected).
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from common.annotators.types import Annotator, ChatRequest, ChatResponse

__all__ = [
    "PUBLISHED_HISTOGRAMS",
    "SCORES",
    "RejectionLog",
    "annotate",
    "assign_donors",
    "dataset_card",
    "histogram_table",
    "save_dataset",
    "score_histogram",
    "select_mismatches",
]

SCORES: tuple[int, ...] = (5, 4, 3, 2, 1)
"""Score columns in the order of the paper's Table 6."""

PUBLISHED_HISTOGRAMS: dict[tuple[str, str], dict[int, int]] = {
    ("FIRM-Edit-370K", "Execution"): dict(zip(SCORES, (49995, 16004, 52661, 21695, 49819), strict=True)),
    ("FIRM-Edit-370K", "Consistency"): dict(zip(SCORES, (50823, 45720, 30999, 38486, 14053), strict=True)),
    ("FIRM-Gen-293K", "Instruction following"): dict(
        zip(SCORES, (116333, 41833, 56157, 59010, 19459), strict=True)
    ),
}
"""Score distributions published in the paper (docs/papers/firm.md §2)."""


ProgressFn = Callable[[Iterable[Any], str, int], Iterable[Any]]


def annotate(
    annotator: Annotator,
    requests: Sequence[ChatRequest],
    *,
    desc: str,
    chunk_size: int = 64,
    progress: ProgressFn | None = None,
) -> list[ChatResponse]:
    """Answer ``requests`` chunk by chunk (each chunk is cached before the next one is sent).

    ``progress(iterable, desc, total)`` wraps the chunk loop (e.g. ``RunContext.progress``);
    the bar counts requests.
    """
    requests = list(requests)
    ticks = iter(progress(range(len(requests)), desc, len(requests))) if progress is not None else None
    out: list[ChatResponse] = []
    for start in range(0, len(requests), chunk_size):
        chunk = requests[start : start + chunk_size]
        out.extend(annotator.complete(chunk))
        if ticks is not None:  # advance the bar by one tick per answered request
            for _ in chunk:
                next(ticks, None)
    if ticks is not None:
        for _ in ticks:  # let the bar finish and close
            pass
    return out


class RejectionLog:
    """``rejected.jsonl``: one line per dropped annotation, plus counts by dataset and reason."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_text("")  # a rerun writes its own log
        self.counts: Counter[tuple[str, str]] = Counter()

    def add(self, dataset: str, sample_id: str, stage: str, reason: str, response: str = "") -> None:
        """Log one rejection (``response`` is the raw answer, truncated to 2,000 characters)."""
        self.counts[(dataset, reason)] += 1
        record = {
            "dataset": dataset,
            "id": sample_id,
            "stage": stage,
            "reason": reason,
            "response": response[:2000],
            "time": round(time.time(), 3),
        }
        with self.path.open("a") as f:
            f.write(json.dumps(record, ensure_ascii=False) + "\n")

    def total(self, dataset: str | None = None) -> int:
        return sum(n for (d, _), n in self.counts.items() if dataset is None or d == dataset)

    def summary(self) -> dict[str, dict[str, int]]:
        """``{dataset: {reason: count}}``."""
        out: dict[str, dict[str, int]] = {}
        for (dataset, reason), n in sorted(self.counts.items()):
            out.setdefault(dataset, {})[reason] = n
        return out


def select_mismatches(n: int, share: float, rng: np.random.Generator) -> list[int]:
    """``round(share * n)`` distinct sample indices to rewrite into mismatches (sorted)."""
    if not 0.0 <= share <= 1.0:
        raise ValueError(f"mismatch share must be in [0, 1], got {share}")
    k = int(np.floor(share * n + 0.5))
    return sorted(int(i) for i in rng.choice(n, size=k, replace=False)) if k else []


def assign_donors(
    n: int, selected: Sequence[int], rng: np.random.Generator, differs: Callable[[int, int], bool]
) -> dict[int, int]:
    """For each selected index, a donor index ``j != i`` with ``differs(i, j)`` (random, seeded).

    Donors may be any sample (selected or not); an index without any valid donor is left out.
    """
    out: dict[int, int] = {}
    for i in selected:
        order = rng.permutation(n)
        donor = next((int(j) for j in order if j != i and differs(i, int(j))), None)
        if donor is not None:
            out[int(i)] = donor
    return out


def score_histogram(scores: Iterable[int]) -> dict[int, int]:
    """Counts of each score 5, 4, 3, 2, 1 (in that order; absent scores count 0)."""
    counts = Counter(int(s) for s in scores)
    unknown = set(counts) - set(SCORES)
    if unknown:
        raise ValueError(f"scores outside 1-5: {sorted(unknown)}")
    return {s: counts.get(s, 0) for s in SCORES}


def _cell(n: int, total: int) -> str:
    return f"{n:,} ({100 * n / total:.1f}%)" if total else "0"


def histogram_table(rows: Sequence[tuple[str, str, Mapping[int, int]]]) -> str:
    """A Markdown table in the layout of the paper's Table 6: one row per (dataset, dimension)."""
    lines = [
        "| Dataset | Dimension | 5 | 4 | 3 | 2 | 1 | Total |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for dataset, dimension, hist in rows:
        total = sum(hist.get(s, 0) for s in SCORES)
        cells = " | ".join(_cell(hist.get(s, 0), total) for s in SCORES)
        lines.append(f"| {dataset} | {dimension} | {cells} | {total:,} |")
    return "\n".join(lines)


def dataset_card(
    *,
    title: str,
    summary: str,
    histograms: Sequence[tuple[str, str, Mapping[int, int]]],
    published: Sequence[tuple[str, str]],
    subsets: Mapping[str, Mapping[str, Any]],
    config: Mapping[str, Any],
    rejected: Mapping[str, Mapping[str, int]],
    notes: Sequence[str] = (),
) -> str:
    """The README.md of a curated dataset directory (HF dataset-card front matter + Markdown).

    ``histograms`` are this run's rows; ``published`` names rows of :data:`PUBLISHED_HISTOGRAMS`
    printed beside them, labelled as published. ``subsets`` maps a subset directory to its
    ``{"rows": n, "columns": [...]}``.
    """
    rows = list(histograms) + [
        (f"{name} (published)", dim, PUBLISHED_HISTOGRAMS[(name, dim)]) for name, dim in published
    ]
    front = ["---", "pretty_name: " + json.dumps(title), "license: apache-2.0", "size_categories:"]
    front += ["- n<1K" if sum(int(s["rows"]) for s in subsets.values()) < 1000 else "- 1K<n<10K", "---", ""]
    body = [f"# {title}", "", summary.strip(), "", "## Score distribution", ""]
    body += [histogram_table(rows), ""]
    body += ["Scores are on FIRM's 1-5 scale; columns in the order of the paper's Table 6.", ""]
    body += ["## Subsets", ""]
    body += ["| Subset (directory, `datasets.load_from_disk`) | Rows | Columns |", "|---|---:|---|"]
    for name, info in subsets.items():
        body.append(f"| `{name}` | {int(info['rows']):,} | {', '.join(f'`{c}`' for c in info['columns'])} |")
    body += ["", "## Rejected annotations", ""]
    if any(rejected.values()):
        body += ["Malformed annotations were logged to `rejected.jsonl` and dropped:", ""]
        body += ["| Subset | Reason | Count |", "|---|---|---:|"]
        for subset, reasons in rejected.items():
            body += [f"| {subset} | `{reason}` | {n:,} |" for reason, n in reasons.items()]
    else:
        body.append("None: every annotation parsed and validated.")
    if notes:
        body += ["", "## Notes", "", *[f"- {n}" for n in notes]]
    body += ["", "## Configuration", "", "```json", json.dumps(config, indent=2, default=str), "```", ""]
    return "\n".join(front + body)


def save_dataset(records: Sequence[Mapping[str, Any]], features: Any, path: str | Path) -> Any:
    """Write ``records`` as a ``datasets.Dataset`` with ``features`` to ``path`` (replacing it)."""
    from datasets import Dataset

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if records:
        ds = Dataset.from_list([dict(r) for r in records], features=features)
    else:  # every annotation rejected: an empty dataset with the right columns
        ds = Dataset.from_dict({name: [] for name in features}, features=features)
    tmp = path.parent / f".{path.name}.tmp-{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    ds.save_to_disk(str(tmp), num_shards=1 if len(ds) == 0 else None)  # 0 shards would not load back
    if path.exists():
        shutil.rmtree(path)
    os.replace(tmp, path)
    return ds
