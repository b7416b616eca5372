"""Tables from the runs' metrics: cells with a mean and a 95% interval over seeds, the paper's
published rows beside them, and placeholders for what is not reproduced yet.

A cell's values are read from each seed's metrics.json (:class:`experiments.reproduction.spec.RowSpec`);
it shows their mean and the half-width of the two-sided Student-t interval over seeds
(:func:`t2ieval_r1.tables.seed_interval`), ``mean ± h``. With a single value the cell shows the run's
own interval where the row names one (e.g. TIFA's bootstrap over images), ``mean [lo, hi]``, else
the value alone. A missing value (the run failed, or did not report it) is ``-``; a value that is
``null`` in metrics.json (e.g. an undefined rank correlation) is left out and counted
(``(k/n)``: defined for k of n seeds).

A table's paired comparisons (:mod:`experiments.reproduction.compare`) follow it: a line each in
the Markdown, a line each in the CSV (the seeds' differences as its values).

Each table is written as ``<out>/<name>.md``, ``.csv`` (long format: one line per row and column,
mean, interval, kind, number of values and the values) and ``.tex`` (booktabs), with the caption
stating the scale, the profile and the seeds.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from common.scoring.tables import latex_escape, to_latex, to_markdown
from experiments.reproduction.compare import Comparison
from experiments.reproduction.paper import paper_rows
from experiments.reproduction.spec import ColumnSpec, PlaceholderSpec, RowSpec, TableSpec

__all__ = [
    "NOT_YET_REPRODUCED",
    "PAPER",
    "Cell",
    "RenderedTable",
    "build_table",
    "placeholder_table",
    "write_table",
]

NOT_YET_REPRODUCED = "not yet reproduced"
PAPER = "paper"
CONFIDENCE = 0.95


@dataclass
class Cell:
    values: list[float] = field(default_factory=list)
    n_expected: int = 0
    """Values expected (seeds x elements); fewer when some were null."""
    run_ci: tuple[float, float] | None = None
    published: float | None = None
    """A published number (paper rows)."""
    status: str = "ok"
    """``ok``, ``missing`` (no run produced it) or ``failed``."""

    @property
    def mean(self) -> float | None:
        return self.published if self.published is not None else _mean_h(self.values)[0]

    @property
    def half_width(self) -> float | None:
        return None if self.published is not None else _mean_h(self.values)[1]

    @property
    def ci_kind(self) -> str:
        if self.published is not None:
            return "published"
        if len(self.values) >= 2:
            return f"t{int(100 * CONFIDENCE)} over seeds"
        if self.run_ci is not None and len(self.values) == 1:
            return "run's own interval"
        return "none"

    def interval(self) -> tuple[float | None, float | None]:
        m, h = self.mean, self.half_width
        if m is None:
            return None, None
        if h is not None:
            return m - h, m + h
        if self.run_ci is not None and len(self.values) == 1:
            return self.run_ci
        return None, None

    def text(self, fmt: str) -> str:
        if self.published is not None:
            return format(self.published, fmt)
        m, h = _mean_h(self.values)
        if m is None:
            return "failed" if self.status == "failed" else "-"
        out = format(m, fmt)
        if h is not None:
            out += f" ± {format(h, fmt)}"
        elif self.run_ci is not None and len(self.values) == 1:
            out += f" [{format(self.run_ci[0], fmt)}, {format(self.run_ci[1], fmt)}]"
        if len(self.values) < self.n_expected:
            out += f" ({len(self.values)}/{self.n_expected})"
        return out


def _mean_h(values: Sequence[float]) -> tuple[float | None, float | None]:
    # lazy: torch + transformers (~4.6 s); the reproduce CLI imports this module at start
    from t2ieval_r1.tables import seed_interval

    return seed_interval(list(values), CONFIDENCE)


def _expand(path: Sequence[str], column: ColumnSpec) -> list[str]:
    """``path`` with a part that is exactly ``{col}`` replaced by the column's ``keys`` (if any)."""
    if column.keys is None:
        return list(path)
    return [k for part in path for k in (column.keys if part == "{col}" else [part])]


def _get(tree: Any, path: Sequence[str], col: str) -> tuple[bool, Any]:
    """``(found, value)`` at ``path`` (``{col}`` replaced) in ``tree``."""
    node = tree
    for part in path:
        part = part.replace("{col}", col)
        if isinstance(node, Mapping) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.lstrip("-").isdigit() and -len(node) <= int(part) < len(node):
            node = node[int(part)]
        else:
            return False, None
    return True, node


def _number(x: Any) -> float | None:
    if isinstance(x, bool) or x is None:
        return None
    if isinstance(x, int | float) and math.isfinite(float(x)):
        return float(x)
    return None


def _share(hist: Any, col: str) -> float | None:
    if not isinstance(hist, Mapping):
        return None
    counts = {str(k): v for k, v in hist.items()}
    total = sum(float(v) for v in counts.values())
    return 100.0 * float(counts.get(col, 0)) / total if total else None


def row_cell(
    row: RowSpec, column: ColumnSpec, metrics: Sequence[Mapping[str, Any] | None], failed: bool
) -> Cell:
    """The cell of ``row`` x ``column`` from the seeds' metrics (``None``: that seed has none)."""
    cell = Cell()
    path = _expand(column.path or row.path, column)
    for m in metrics:
        if m is None:
            cell.n_expected += 1
            continue
        found, value = _get(m, path, column.key)
        if row.transform == "share_pct":
            value = _share(value, column.key) if found else None
        items = value if isinstance(value, list) else [value]
        cell.n_expected += len(items) if found else 1
        cell.values += [v for v in (_number(x) for x in items) if v is not None]
        if row.ci_path is not None and len(metrics) == 1:
            ok, ci = _get(m, _expand(row.ci_path, column), column.key)
            if ok and isinstance(ci, list) and len(ci) == 2 and all(_number(c) is not None for c in ci):
                cell.run_ci = (float(ci[0]), float(ci[1]))
    if not cell.values:
        cell.status = "failed" if failed else "missing"
    return cell


@dataclass
class RenderedTable:
    name: str
    title: str
    caption: str
    columns: list[ColumnSpec]
    rows: list[tuple[str, str, list[Cell]]]
    """``(label, source, cells)``; source is the reproduction's label or the paper's."""
    floatfmt: str = ".3f"
    placeholder: str | None = None
    comparisons: list[Comparison] = field(default_factory=list)
    """Paired differences between two of the table's runs, shown below the table."""

    def display_rows(self) -> list[dict[str, Any]]:
        out = []
        for label, source, cells in self.rows:
            row: dict[str, Any] = {"row": label, "source": source}
            for col, cell in zip(self.columns, cells, strict=True):
                row[col.label] = cell.text(self.floatfmt)
            out.append(row)
        return out

    def markdown(self) -> str:
        head = f"## {self.title}\n\n"
        if self.placeholder is not None:
            return head + f"**{self.placeholder}**\n"
        table = to_markdown(self.display_rows(), columns=["row", "source", *(c.label for c in self.columns)])
        text = head + table + "\n\n" + self.caption + "\n"
        if self.comparisons:
            text += "\nPaired differences (items resampled jointly for both runs and every seed):\n\n"
            text += "".join(f"- {c.text()}\n" for c in self.comparisons)
        return text

    def csv(self) -> str:
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(
            [
                "table",
                "row",
                "source",
                "column",
                "mean",
                "ci_low",
                "ci_high",
                "ci_kind",
                "n",
                "values",
                "status",
            ]
        )
        if self.placeholder is not None:
            w.writerow([self.name, "", "", "", "", "", "", "", "", "", self.placeholder])
        for label, source, cells in self.rows:
            for col, cell in zip(self.columns, cells, strict=True):
                lo, hi = cell.interval()
                w.writerow(
                    [
                        self.name,
                        label,
                        source,
                        col.label,
                        "" if cell.mean is None else repr(cell.mean),
                        "" if lo is None else repr(lo),
                        "" if hi is None else repr(hi),
                        cell.ci_kind,
                        len(cell.values) if cell.published is None else "",
                        " ".join(repr(v) for v in cell.values),
                        "published" if cell.published is not None else cell.status,
                    ]
                )
        for c in self.comparisons:
            r = c.result
            w.writerow(
                [
                    self.name,
                    c.spec.label,
                    f"{c.spec.a} - {c.spec.b}",
                    c.spec.statistic,
                    "" if r is None else repr(r.mean),
                    "" if r is None else repr(r.mean_ci.low),
                    "" if r is None else repr(r.mean_ci.high),
                    "paired item bootstrap",
                    len(c.seeds),
                    "" if r is None else " ".join(repr(v) for v in r.per_seed),
                    c.status if c.error is None else f"error: {c.error}",
                ]
            )
        return buf.getvalue()

    def latex(self) -> str:
        if self.placeholder is not None:
            return (
                f"% {self.name}: {NOT_YET_REPRODUCED}\n"
                "\\begin{table}[t]\n\\centering\n"
                f"\\textit{{{latex_escape(self.title)}}}: {latex_escape(self.placeholder)}\n"
                "\\end{table}\n"
            )
        tex = to_latex(
            self.display_rows(),
            columns=["row", "source", *(c.label for c in self.columns)],
            caption=f"{self.title}. {self.caption}",
            label=f"tab:{self.name}",
        )
        return tex.replace("±", r"$\pm$")


def placeholder_table(
    table: TableSpec, placeholder: PlaceholderSpec, known_experiments: Sequence[str]
) -> RenderedTable:
    missing = [e for e in placeholder.requires if e not in known_experiments]
    text = f"{placeholder.reason}: {NOT_YET_REPRODUCED}"
    if missing:
        text += f" (experiment {' / '.join(missing)} missing)"
    elif placeholder.requires:
        text += f" (experiments {' / '.join(placeholder.requires)} exist; add the table's runs)"
    return RenderedTable(table.name, table.title, "", [], [], placeholder=text)


def build_table(
    table: TableSpec,
    run_metrics: Mapping[str, Sequence[Mapping[str, Any] | None]],
    failed: Mapping[str, bool],
    *,
    source_label: Callable[[str, list[Cell]], str],
    caption_extra: str = "",
) -> RenderedTable:
    """The table of ``table`` from each run id's per-seed metrics (``run_metrics``; a run id left
    out is a row left out: e.g. an ablation outside the profile). ``source_label(run id, cells)``
    is a reproduced row's source column (e.g. the scale and the number of seeds)."""
    published = paper_rows(table.paper.source) if table.paper is not None else {}
    paper_label = f"{PAPER}: {table.paper.label}" if table.paper is not None else PAPER
    rows: list[tuple[str, str, list[Cell]]] = []
    paired: set[str] = set()

    def paper_row(name: str) -> tuple[str, str, list[Cell]]:
        if name not in published:
            raise KeyError(f"table {table.name!r}: no published row {name!r} in {table.paper.source!r}")  # type: ignore[union-attr]
        values = published[name]
        return (
            f"{name} (paper)",
            paper_label,
            [
                Cell(published=_number(values.get(c.key)), status="ok" if c.key in values else "missing")
                for c in table.columns
            ],
        )

    for row in table.rows:
        if row.run not in run_metrics:
            continue
        cells = [row_cell(row, c, run_metrics[row.run], failed.get(row.run, False)) for c in table.columns]
        rows.append((row.label, source_label(row.run, cells), cells))
        if row.paper is not None:
            rows.append(paper_row(row.paper))
            paired.add(row.paper)
    if table.paper is not None:
        for name in table.paper.rows if table.paper.rows is not None else list(published):
            if name not in paired:
                rows.append(paper_row(name))
    caption = " ".join(p for p in (table.caption.strip(), caption_extra) if p)
    return RenderedTable(table.name, table.title, caption, list(table.columns), rows, table.floatfmt)


def write_table(rendered: RenderedTable, out_dir: Path) -> list[Path]:
    """``<out_dir>/<name>.md``, ``.csv`` and ``.tex``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for suffix, text in (("md", rendered.markdown()), ("csv", rendered.csv()), ("tex", rendered.latex())):
        path = out_dir / f"{rendered.name}.{suffix}"
        path.write_text(text)
        paths.append(path)
    return paths
