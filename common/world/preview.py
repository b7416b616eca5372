"""Contact sheets of the world benchmarks: PNG grids of items with captions and scores.

:func:`contact_sheet` picks ``n`` items spread over the score range (sorted by the dataset's main
score, evenly spaced), draws each as a tile (the image upscaled 1.5x, or source | edited and
a | b side by side for edits and pairs) with its prompt or instruction and its scores underneath,
and returns one RGB image. :func:`write_contact_sheets` writes one PNG per split.

Public API:
    contact_sheet(name, split_data, *, n=12, cols=4) -> PIL.Image.Image
    write_contact_sheets(name, data, out_dir, *, n=12, cols=4) -> list[Path]
"""

from __future__ import annotations

import json
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import datasets
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from common.world.render import render
from common.world.scene import Scene

TILE_SCALE = 1.5
FONT_SIZE = 14
LINE_HEIGHT = 17
PAD = 8
WRAP = 34
CHAR_WIDTH = 6.6
"""Average advance of the caption font in px (used to wrap captions to the tile width)."""
BG = (255, 255, 255)
INK = (20, 20, 20)
MUTED = (90, 90, 90)


def _font(size: int = FONT_SIZE) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    try:
        return ImageFont.load_default(size=size)
    except (TypeError, OSError):  # Pillow without FreeType: the small bitmap font
        return ImageFont.load_default()


def _img(value: Any, scale: float = TILE_SCALE) -> Image.Image:
    im = value if isinstance(value, Image.Image) else Image.open(value)
    im = im.convert("RGB")
    side = round(im.width * scale)
    return im.resize((side, side), Image.Resampling.NEAREST)


def _ratings(values: list[float]) -> str:
    return ",".join(f"{v:g}" for v in values)


def _f(x: float) -> str:
    return f"{x:.1f}"


# Each describer: row -> (images, title text, score lines)
Describer = Callable[[dict[str, Any]], tuple[list[Image.Image], str, list[str]]]


def _t2i(row: dict[str, Any]) -> tuple[list[Image.Image], str, list[str]]:
    lines = [
        f"overall {_f(row['overall'])} ({_ratings(row['overall_ratings'])}) truth {_f(row['overall_truth'])}",
        f"appear {_f(row['appearance'])}  intrin {_f(row['intrinsic'])}  relation {_f(row['relationship'])}",
        f"{row['tag']} / {row['mode']}  {_defects(row['defects'])}",
    ]
    return [_img(row["image"])], row["prompt"], lines


def _defects(text: str) -> str:
    d = {k: v for k, v in json.loads(text).items() if v}
    return "clean" if not d else " ".join(f"{k}{v}" for k, v in d.items())


def _pair(row: dict[str, Any]) -> tuple[list[Image.Image], str, list[str]]:
    lines = [
        f"a {_f(row['score_a'])} ({_ratings(row['ratings_a'])})  "
        f"b {_f(row['score_b'])} ({_ratings(row['ratings_b'])})",
        f"truth a {_f(row['truth_a'])} b {_f(row['truth_b'])}  -> {row['preference']}",
    ]
    return [_img(row["image_a"], 1.0), _img(row["image_b"], 1.0)], row["prompt"], lines


def _tifa(row: dict[str, Any]) -> tuple[list[Image.Image], str, list[str]]:
    lines = [
        f"human {_ratings(row['human_scores'])} avg {row['human_avg']:g}  truth {row['truth']:.2f}",
        f"{row['tag']} / {row['mode']}  {_defects(row['defects'])}",
    ]
    return [_img(row["image"])], row["text"], lines


def _edit(row: dict[str, Any]) -> tuple[list[Image.Image], str, list[str]]:
    lines = [
        f"{row['task']} {row['score']} ({_ratings(row['human_scores'])}) truth {row['truth']}",
        f"exec {row['execution_truth']} cons {row['consistency_truth']}  "
        f"[{row['execution_variant']} / {row['consistency_variant']}]",
    ]
    return [_img(row["source_image"], 1.0), _img(row["edited_image"], 1.0)], row["instruction"], lines


def _gen(row: dict[str, Any]) -> tuple[list[Image.Image], str, list[str]]:
    lines = [
        f"score {row['score']} ({_ratings(row['human_scores'])}) truth {row['truth']}  {row['difficulty']}",
        f"quality {row['aesthetics']}/{row['quality']}/{row['structure']}  {_defects(row['defects'])}",
    ]
    return [_img(row["image"])], row["prompt"], lines


def _edit_prompt(row: dict[str, Any]) -> tuple[list[Image.Image], str, list[str]]:
    target = render(Scene.from_dict(json.loads(row["target_scene"])))
    lines = [f"{row['kind']}  (source | perfect edit)", f"source prompt: {row['source_prompt']}"]
    return [_img(row["source_image"], 1.0), _img(target, 1.0)], row["instruction"], lines


DESCRIBERS: dict[str, tuple[Describer, str | None]] = {
    "t2i_eval": (_t2i, "overall"),
    "pairwise": (_pair, "score_a"),
    "imagereward": (_pair, "score_a"),
    "tifa": (_tifa, "human_avg"),
    "firm_bench_edit": (_edit, "score"),
    "firm_bench_gen": (_gen, "score"),
    "prompts_edit": (_edit_prompt, None),
}
"""Benchmark name -> (tile describer, column the sample is spread over)."""


def _pick(data: datasets.Dataset, n: int, key: str | None) -> list[int]:
    m = len(data)
    if m <= n:
        return list(range(m))
    if key is None:
        return [int(i) for i in np.linspace(0, m - 1, n).round()]
    order = np.argsort(np.asarray(data[key], dtype=np.float64), kind="stable")
    return [int(order[int(i)]) for i in np.linspace(0, m - 1, n).round()]


def _tile(images: list[Image.Image], title: str, lines: list[str], width: int) -> Image.Image:
    font = _font()
    chars = max(WRAP, int((width - 2 * PAD) / CHAR_WIDTH))
    wrapped = textwrap.wrap(title, chars) or [""]
    lines = [part for line in lines for part in (textwrap.wrap(line, chars) or [""])]
    h_img = max(im.height for im in images)
    height = PAD + h_img + PAD + LINE_HEIGHT * (len(wrapped) + len(lines)) + PAD
    tile = Image.new("RGB", (width, height), BG)
    x = PAD
    for im in images:
        tile.paste(im, (x, PAD))
        x += im.width + 4
    draw = ImageDraw.Draw(tile)
    y = PAD + h_img + PAD
    for text in wrapped:
        draw.text((PAD, y), text, fill=INK, font=font)
        y += LINE_HEIGHT
    for text in lines:
        draw.text((PAD, y), text, fill=MUTED, font=font)
        y += LINE_HEIGHT
    return tile


def _text_sheet(title: str, rows: list[str], cols: int = 2) -> Image.Image:
    font = _font()
    col_w = 420
    per_col = -(-len(rows) // cols)
    height = PAD * 3 + LINE_HEIGHT * (per_col + 1)
    sheet = Image.new("RGB", (PAD * 2 + col_w * cols, height), BG)
    draw = ImageDraw.Draw(sheet)
    draw.text((PAD, PAD), title, fill=INK, font=_font(16))
    for i, text in enumerate(rows):
        c, r = divmod(i, per_col)
        draw.text((PAD + c * col_w, PAD * 2 + LINE_HEIGHT * (r + 1)), text, fill=INK, font=font)
    return sheet


def contact_sheet(
    name: str, data: datasets.Dataset, *, n: int = 12, cols: int = 4, title: str = ""
) -> Image.Image:
    """A grid of ``n`` items of one split of benchmark ``name`` (prompt sets: a list of texts)."""
    if name not in DESCRIBERS:  # text-only sets (prompts_gen)
        idx = _pick(data, min(len(data), 3 * n), None)
        rows = [f"[{data[i]['tag']}] {data[i]['prompt']}" for i in idx]
        return _text_sheet(title or name, rows)
    describe, key = DESCRIBERS[name]
    idx = _pick(data, n, key)
    parts = [describe(data[i]) for i in idx]
    width = max(PAD * 2 + sum(im.width for im in p[0]) + 4 * (len(p[0]) - 1) for p in parts)
    width = max(width, 300)
    tiles = [_tile(*p, width=width) for p in parts]
    rows = -(-len(tiles) // cols)
    tile_h = max(t.height for t in tiles)
    head = LINE_HEIGHT + 2 * PAD
    sheet = Image.new("RGB", (cols * width + (cols + 1) * 2, head + rows * (tile_h + 2) + 2), (200, 200, 200))
    draw = ImageDraw.Draw(sheet)
    draw.rectangle([0, 0, sheet.width, head], fill=BG)
    draw.text((PAD, PAD), title or name, fill=INK, font=_font(16))
    for k, t in enumerate(tiles):
        r, c = divmod(k, cols)
        sheet.paste(t, (2 + c * (width + 2), head + 2 + r * (tile_h + 2)))
    return sheet


def write_contact_sheets(
    name: str, data: datasets.DatasetDict, out_dir: str | Path, *, n: int = 12, cols: int = 4
) -> list[Path]:
    """One ``<out_dir>/<name>-<split>.png`` per split; returns the paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for split, d in data.items():
        spread = DESCRIBERS.get(name, (None, None))[1]
        shown = min(n if name in DESCRIBERS else 3 * n, len(d))
        how = f"spread over the range of `{spread}`" if spread else "evenly spaced"
        title = f"{name} / {split}: {shown} of {len(d)} items, {how}"
        sheet = contact_sheet(name, d, n=n, cols=cols, title=title)
        p = out / f"{name}-{split}.png"
        sheet.save(p, format="PNG", compress_level=6)
        paths.append(p)
    return paths
