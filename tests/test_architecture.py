"""Project imports live at module top level (issue 16).

A function-level import of a project module can hide an import cycle. The few that stay defer a
heavy third-party chain (torch, transformers, scipy) on a start-up path, and each says so in a
comment on its own line or the line above (for a block of such imports: above the block).
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LIBRARIES = ("common", "t2ieval_r1", "firm")
PROJECT = ("common", "t2ieval_r1", "firm", "experiments")


def _is_project_import(node: ast.AST) -> bool:
    if isinstance(node, ast.ImportFrom):
        return node.level > 0 or (node.module or "").split(".")[0] in PROJECT
    if isinstance(node, ast.Import):
        return any(alias.name.split(".")[0] in PROJECT for alias in node.names)
    return False


def uncommented_function_imports(text: str, rel: str = "<text>") -> list[str]:
    """``rel:line`` of each function-level project import in ``text`` without a reason comment."""
    tree = ast.parse(text, filename=rel)
    lines = text.splitlines()
    imports = [
        node
        for fn in ast.walk(tree)
        if isinstance(fn, ast.FunctionDef | ast.AsyncFunctionDef)
        for node in ast.walk(fn)
        if _is_project_import(node)
    ]
    # lines covered by any function-level import: a comment above a block covers the whole block
    covered = {
        line
        for fn in ast.walk(tree)
        if isinstance(fn, ast.FunctionDef | ast.AsyncFunctionDef)
        for node in ast.walk(fn)
        if isinstance(node, ast.Import | ast.ImportFrom)
        for line in range(node.lineno, (node.end_lineno or node.lineno) + 1)
    }
    bad = []
    for node in imports:
        span = range(node.lineno, (node.end_lineno or node.lineno) + 1)
        if any("#" in lines[i - 1] for i in span):
            continue
        above = node.lineno - 1
        while above in covered:
            above -= 1
        if above >= 1 and lines[above - 1].strip().startswith("#"):
            continue
        bad.append(f"{rel}:{node.lineno}: {lines[node.lineno - 1].strip()}")
    return bad


def test_no_uncommented_function_level_project_imports():
    bad = []
    for lib in LIBRARIES:
        for path in sorted((ROOT / lib).rglob("*.py")):
            rel = path.relative_to(ROOT).as_posix()
            bad += uncommented_function_imports(path.read_text(encoding="utf-8"), rel)
    assert not bad, (
        "function-level imports of project modules (lift them to the top, or give the reason in a "
        "comment on the same or previous line):\n" + "\n".join(bad)
    )


def test_scan_flags_a_bare_function_level_import():
    text = "def f():\n    from common.world.render import render\n    return render\n"
    assert uncommented_function_imports(text) == ["<text>:2: from common.world.render import render"]


def test_scan_accepts_reasoned_imports_and_third_party_ones():
    text = (
        "def f():\n"
        "    import torch\n"
        "    from common.a import b  # lazy: cycle\n"
        "    # lazy: pulls in transformers\n"
        "    from common.c import (\n"
        "        d,\n"
        "    )\n"
        "    from common.e import g\n"
        "\n"
        "    from . import h\n"
    )
    assert uncommented_function_imports(text) == ["<text>:10: from . import h"]
