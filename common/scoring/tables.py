"""Render a results table to Markdown, CSV and LaTeX.

A table comes in as either

* a list of rows, each a mapping column -> value (columns in first-seen order), or
* a nested mapping ``{row_name: {column: value}}``, whose row names become a first column
  called ``index_name``.

Cells are formatted the same way in all three formats: ``None`` and ``nan`` are missing (``-`` in
Markdown and LaTeX, empty in CSV); floats use ``floatfmt`` (CSV defaults to full precision);
integers and strings are written as they are; a list or tuple of numbers (a confidence
interval) becomes ``[lo, hi]``. A column whose present cells are all numbers (or number lists) is
right-aligned in Markdown and LaTeX. LaTeX output is a ``booktabs`` tabular (``\\toprule``,
``\\midrule``, ``\\bottomrule``) with the special characters of text cells escaped.
"""

from __future__ import annotations

import csv
import io
import math
import numbers
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

TableData = Sequence[Mapping[str, Any]] | Mapping[str, Mapping[str, Any]]

_LATEX_SPECIALS = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
}


@dataclass(frozen=True)
class Table:
    """Column names and rows of raw (unformatted) cell values."""

    columns: list[str]
    rows: list[list[Any]]


def as_table(data: TableData, columns: Sequence[str] | None = None, index_name: str = "name") -> Table:
    """Normalise ``data`` (see module doc) to a :class:`Table`; ``columns`` selects and orders them."""
    if isinstance(data, Mapping):
        records = [{index_name: name, **dict(row)} for name, row in data.items()]
    else:
        records = [dict(row) for row in data]
    if columns is None:
        cols: list[str] = []
        for rec in records:
            cols += [c for c in rec if c not in cols]
    else:
        cols = list(columns)
    return Table(columns=[str(c) for c in cols], rows=[[rec.get(c) for c in cols] for rec in records])


def _is_number(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _is_missing(value: Any) -> bool:
    return value is None or (_is_number(value) and math.isnan(float(value)))


def _is_numeric_cell(value: Any) -> bool:
    if isinstance(value, list | tuple):
        return len(value) > 0 and all(_is_number(v) or _is_missing(v) for v in value)
    return _is_number(value)


def format_cell(value: Any, floatfmt: str | None = ".3f", missing: str = "-") -> str:
    """One cell as text (``floatfmt=None`` writes floats with full precision, ``repr``-style)."""
    if _is_missing(value):
        return missing
    if _is_number(value):
        if isinstance(value, numbers.Integral):
            return str(int(value))
        return repr(float(value)) if floatfmt is None else format(float(value), floatfmt)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(format_cell(v, floatfmt, missing) for v in value) + "]"
    return str(value)


def _numeric_columns(table: Table) -> list[bool]:
    out = []
    for k in range(len(table.columns)):
        present = [row[k] for row in table.rows if not _is_missing(row[k])]
        out.append(bool(present) and all(_is_numeric_cell(v) for v in present))
    return out


def to_markdown(
    data: TableData, columns: Sequence[str] | None = None, floatfmt: str = ".3f", index_name: str = "name"
) -> str:
    """A GitHub-flavoured Markdown table, columns padded to equal width, numbers right-aligned."""
    table = as_table(data, columns, index_name)
    numeric = _numeric_columns(table)
    header = [c.replace("|", r"\|") for c in table.columns]
    body = [[format_cell(v, floatfmt).replace("|", r"\|") for v in row] for row in table.rows]
    widths = [max(3, len(header[k]), *(len(r[k]) for r in body)) for k in range(len(header))]

    def line(cells: list[str]) -> str:
        padded = [c.rjust(w) if num else c.ljust(w) for c, w, num in zip(cells, widths, numeric, strict=True)]
        return "| " + " | ".join(padded) + " |"

    rule = "| " + " | ".join(
        ("-" * (w - 1) + ":") if num else "-" * w for w, num in zip(widths, numeric, strict=True)
    )
    return "\n".join([line(header), rule + " |", *(line(r) for r in body)]) + "\n"


def to_csv(
    data: TableData,
    columns: Sequence[str] | None = None,
    floatfmt: str | None = None,
    index_name: str = "name",
) -> str:
    """CSV text (``\\n`` line ends, minimal quoting); floats at full precision unless ``floatfmt``."""
    table = as_table(data, columns, index_name)
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(table.columns)
    for row in table.rows:
        writer.writerow([format_cell(v, floatfmt, missing="") for v in row])
    return buf.getvalue()


def latex_escape(text: str) -> str:
    """Escape LaTeX's special characters in plain text."""
    return "".join(_LATEX_SPECIALS.get(ch, ch) for ch in text)


def to_latex(
    data: TableData,
    columns: Sequence[str] | None = None,
    floatfmt: str = ".3f",
    index_name: str = "name",
    caption: str | None = None,
    label: str | None = None,
) -> str:
    """A ``booktabs`` tabular; with ``caption`` or ``label`` it is wrapped in a ``table`` float."""
    table = as_table(data, columns, index_name)
    spec = "".join("r" if num else "l" for num in _numeric_columns(table))
    lines = [
        f"\\begin{{tabular}}{{{spec}}}",
        r"\toprule",
        " & ".join(latex_escape(c) for c in table.columns) + r" \\",
        r"\midrule",
        *(" & ".join(latex_escape(format_cell(v, floatfmt)) for v in row) + r" \\" for row in table.rows),
        r"\bottomrule",
        r"\end{tabular}",
    ]
    if caption is not None or label is not None:
        inner = [r"\begin{table}[t]", r"\centering", *lines]
        if caption is not None:
            inner.append(f"\\caption{{{latex_escape(caption)}}}")
        if label is not None:
            inner.append(f"\\label{{{label}}}")
        lines = [*inner, r"\end{table}"]
    return "\n".join(lines) + "\n"


def write_tables(
    data: TableData,
    stem: str | Path,
    columns: Sequence[str] | None = None,
    floatfmt: str = ".3f",
    index_name: str = "name",
    caption: str | None = None,
) -> dict[str, Path]:
    """Write ``<stem>.md``, ``<stem>.csv`` (full precision) and ``<stem>.tex``; returns the paths."""
    stem = Path(stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    paths = {fmt: stem.with_name(stem.name + "." + fmt) for fmt in ("md", "csv", "tex")}
    paths["md"].write_text(to_markdown(data, columns, floatfmt, index_name))
    paths["csv"].write_text(to_csv(data, columns, None, index_name))
    paths["tex"].write_text(to_latex(data, columns, floatfmt, index_name, caption=caption))
    return paths
