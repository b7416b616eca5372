"""Reports of FIRM's held-out evaluation (:mod:`firm.rl.evaluate`) for a person to read.

:func:`report_table` (Markdown: start / end / chance / ceiling / gain rows, from
:mod:`firm.rl.eval_stats`), :func:`before_after_sheet` (a contact sheet for a person to look at),
:func:`plot_curves` (training reward and held-out metric over steps; matplotlib, imported on use).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw

from common.figures import curve_grid, series_of
from firm.rl.eval_stats import EDIT_COLUMNS, paired_gain, summarize

__all__ = ["GAP", "LABEL_HEIGHT", "before_after_sheet", "plot_curves", "report_table"]


def _pct(v: float | None) -> str:
    return "-" if v is None or not math.isfinite(v) else f"{100 * v:.1f}"


def _gain_cell(g: Mapping[str, Any] | None) -> str:
    if g is None or not math.isfinite(g["gain"]):
        return "-"
    lo, hi = g["ci95"]
    return f"{100 * g['gain']:+.1f} [{100 * lo:+.1f}, {100 * hi:+.1f}]"


def report_table(
    start: Sequence[Mapping[str, Any]],
    end: Sequence[Mapping[str, Any]],
    *,
    ceiling: Sequence[Mapping[str, Any]] | None = None,
    baselines: Mapping[str, Sequence[Mapping[str, Any]]] | None = None,
    trained_texts: Iterable[str] | None = None,
    n_resamples: int = 1000,
    seed: int = 0,
) -> str:
    """A Markdown table of the run's held-out evaluation, numbers in percent.

    gen: columns ``overall`` (strict, mean over tags), one per tag and ``objects / image`` (a policy
    that draws extra objects to raise its odds shows here; the ceiling row is the world's); rows
    ``start``, ``end``,
    ``chance`` (the end images against prompts shuffled within tag), ``ceiling`` (ground-truth
    renders, when given), ``gain`` (``+x [lo, hi]``, percentage points, paired 95% interval) and,
    with ``trained_texts``, ``gain (unseen prompts)``. edit: columns execution / consistency /
    correct / lazy rate, same rows without chance. ``baselines``: more reference rows by name
    (e.g. ``copy source``, the edit analogue of chance), after ``ceiling``.
    """
    gen = bool(start) and start[0]["kind"] == "gen"
    texts = list(trained_texts) if trained_texts is not None else None
    kw: dict[str, Any] = {"n_resamples": n_resamples, "seed": seed, "trained_texts": texts}
    rows: list[tuple[str, list[str]]] = []
    if gen:
        tags = list(summarize(start)["per_tag"])
        header = ["", "overall", *tags, "objects / image"]

        def row(s: Mapping[str, Any]) -> list[str]:
            objects = s.get("objects_per_image")
            return [
                _pct(s["strict"]),
                *(_pct(s["per_tag"].get(t)) for t in tags),
                "-" if objects is None else f"{objects:.2f}",
            ]

        rows += [("start", row(summarize(start))), ("end", row(summarize(end)))]
        rows.append(("chance", row(summarize(end)["chance"])))
        if ceiling:
            rows.append(("ceiling", row(summarize(ceiling))))
        rows += [(name, row(summarize(recs))) for name, recs in (baselines or {}).items()]
        g = paired_gain(start, end, "strict", **kw)
        rows.append(("gain", [_gain_cell(g), *(_gain_cell(g["per_tag"].get(t)) for t in tags), "-"]))
        if texts is not None:
            u = g.get("unseen")
            cells = [_gain_cell(u), *(_gain_cell(u["per_tag"].get(t) if u else None) for t in tags), "-"]
            rows.append((f"gain (unseen prompts, n={g['n_unseen_prompts']})", cells))
    else:
        header = ["", *EDIT_COLUMNS]

        def row(s: Mapping[str, Any]) -> list[str]:
            return [_pct(s[c]) for c in EDIT_COLUMNS]

        rows += [("start", row(summarize(start))), ("end", row(summarize(end)))]
        if ceiling:
            rows.append(("ceiling", row(summarize(ceiling))))
        rows += [(name, row(summarize(recs))) for name, recs in (baselines or {}).items()]
        gains = {c: paired_gain(start, end, c, **kw) for c in EDIT_COLUMNS}
        rows.append(("gain", [_gain_cell(gains[c]) for c in EDIT_COLUMNS]))
        if texts is not None:
            n_u = gains[EDIT_COLUMNS[0]]["n_unseen_prompts"]
            rows.append(
                (
                    f"gain (unseen prompts, n={n_u})",
                    [_gain_cell(gains[c].get("unseen")) for c in EDIT_COLUMNS],
                )
            )
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join([name, *cells]) + " |" for name, cells in rows]
    return "\n".join(lines) + "\n"


#: Height of the label strip above each tile of :func:`before_after_sheet` (pixels).
LABEL_HEIGHT = 12
#: Gap between images of a tile and between tiles (pixels).
GAP = 2


def before_after_sheet(
    start: Sequence[Image.Image],
    end: Sequence[Image.Image],
    *,
    sources: Sequence[Image.Image] | None = None,
    scale: int = 4,
    columns: int = 4,
    labels: Sequence[str] | None = None,
) -> Image.Image:
    """A contact sheet: per pair a tile ``start | end`` (edit: ``source | start | end``), each image
    upscaled ``scale`` x with nearest neighbour, a label strip (``labels``, default the prompt
    index) above it; ``columns`` tiles per row.

    Size: a tile is ``m * w * scale + (m - 1) * GAP`` wide (``m`` images) and ``LABEL_HEIGHT + h *
    scale`` high; the sheet is ``columns * (tile_w + GAP) - GAP`` by ``rows * (tile_h + GAP) - GAP``.
    """
    if len(start) != len(end) or (sources is not None and len(sources) != len(start)):
        raise ValueError("start, end (and sources) must hold the same number of images")
    if not start:
        raise ValueError("no images")
    groups = [[*([sources[i]] if sources is not None else []), start[i], end[i]] for i in range(len(start))]
    m = len(groups[0])
    w, h = (d * scale for d in start[0].size)
    tile_w, tile_h = m * w + (m - 1) * GAP, LABEL_HEIGHT + h
    columns = max(1, min(columns, len(groups)))
    rows = (len(groups) + columns - 1) // columns
    sheet = Image.new("RGB", (columns * (tile_w + GAP) - GAP, rows * (tile_h + GAP) - GAP), (255, 255, 255))
    draw = ImageDraw.Draw(sheet)
    for k, group in enumerate(groups):
        r, c = divmod(k, columns)
        x0, y0 = c * (tile_w + GAP), r * (tile_h + GAP)
        draw.text((x0 + 1, y0 + 1), labels[k] if labels is not None else f"#{k}", fill=(0, 0, 0))
        for j, im in enumerate(group):
            sheet.paste(
                im.convert("RGB").resize((w, h), Image.Resampling.NEAREST),
                (x0 + j * (w + GAP), y0 + LABEL_HEIGHT),
            )
    return sheet


def plot_curves(
    records: Sequence[Mapping[str, Any]],
    out: Path,
    *,
    keys: Sequence[str] | None = None,
    title: str = "",
) -> Path | None:
    """A PNG with one panel per numeric key of ``records`` (e.g. the training ``reward`` and the
    held-out ``heldout/strict``) over ``step`` (the record's position when absent); records lacking
    a key (held-out evaluated every few steps) are skipped for it. ``None`` when nothing to plot.
    Drawn by :func:`common.figures.curve_grid`."""
    series = series_of(records, keys)
    return curve_grid(series, list(keys) if keys is not None else list(series), out, title)
