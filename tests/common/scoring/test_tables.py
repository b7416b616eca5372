"""Exact Markdown / CSV / LaTeX output for a small table."""

from __future__ import annotations

from pathlib import Path

from common.scoring.tables import as_table, format_cell, to_csv, to_latex, to_markdown, write_tables

NESTED = {
    "a_b": {"r": 0.5, "ci": [0.1, 0.9], "n": 3},
    "c|d": {"r": None, "ci": (0.2, 0.3), "n": 4},
}
ROWS = [{"name": "a_b", "r": 0.5, "ci": [0.1, 0.9], "n": 3}, {"name": "c|d", "ci": (0.2, 0.3), "n": 4}]


def test_rows_and_nested_mapping_agree() -> None:
    assert as_table(NESTED) == as_table(ROWS)
    assert as_table(ROWS).columns == ["name", "r", "ci", "n"]
    assert as_table(ROWS, columns=["n", "name"]).rows == [[3, "a_b"], [4, "c|d"]]


def test_markdown_exact() -> None:
    expected = (
        "| name |     r |             ci |   n |\n"
        "| ---- | ----: | -------------: | --: |\n"
        "| a_b  | 0.500 | [0.100, 0.900] |   3 |\n"
        "| c\\|d |     - | [0.200, 0.300] |   4 |\n"
    )
    assert to_markdown(NESTED) == expected


def test_csv_exact() -> None:
    expected = 'name,r,ci,n\na_b,0.5,"[0.1, 0.9]",3\nc|d,,"[0.2, 0.3]",4\n'
    assert to_csv(ROWS) == expected
    assert to_csv(ROWS, floatfmt=".2f").splitlines()[1] == 'a_b,0.50,"[0.10, 0.90]",3'


def test_latex_exact() -> None:
    expected = (
        "\\begin{tabular}{lrrr}\n"
        "\\toprule\n"
        "name & r & ci & n \\\\\n"
        "\\midrule\n"
        "a\\_b & 0.500 & [0.100, 0.900] & 3 \\\\\n"
        "c|d & - & [0.200, 0.300] & 4 \\\\\n"
        "\\bottomrule\n"
        "\\end{tabular}\n"
    )
    assert to_latex(NESTED) == expected
    wrapped = to_latex(NESTED, caption="50% & more", label="tab:x")
    assert wrapped.startswith("\\begin{table}[t]\n\\centering\n\\begin{tabular}{lrrr}\n")
    assert wrapped.endswith("\\end{tabular}\n\\caption{50\\% \\& more}\n\\label{tab:x}\n\\end{table}\n")


def test_cells() -> None:
    import numpy as np

    assert format_cell(float("nan")) == "-"
    assert format_cell(np.float32(0.25), ".2f") == "0.25"
    assert format_cell(np.int64(7)) == "7"
    assert format_cell(0.1, None) == "0.1"
    assert format_cell(True) == "True"


def test_write_tables(tmp_path: Path) -> None:
    paths = write_tables(NESTED, tmp_path / "sub" / "t")
    assert sorted(p.name for p in paths.values()) == ["t.csv", "t.md", "t.tex"]
    assert paths["md"].read_text() == to_markdown(NESTED)
    assert paths["csv"].read_text() == to_csv(NESTED)
    assert paths["tex"].read_text() == to_latex(NESTED)
