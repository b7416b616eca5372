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


def module_name(path: Path) -> str:
    """The dotted module name of a project file (a package's init file is the package)."""
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported_modules(text: str, module: str, is_package: bool, known: set[str]) -> set[str]:
    """The project modules ``text`` imports anywhere: at top level, under ``if TYPE_CHECKING:`` and
    inside functions. ``from pkg import name`` counts as ``pkg.name`` when that is a module, else
    as ``pkg`` (the name comes from the package's ``__init__``)."""
    package = module if is_package else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name in known}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, *([base] if base else [])])
            for alias in node.names:
                target = f"{base}.{alias.name}"
                if target in known:
                    found.add(target)
                elif base in known:
                    found.add(base)
    found.discard(module)
    return found


def import_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for succ in graph.get(node, ()):
            if succ not in index:
                visit(succ)
                low[node] = min(low[node], low[succ])
            elif succ in on_stack:
                low[node] = min(low[node], index[succ])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return cycles


def project_import_graph() -> dict[str, set[str]]:
    files = [p for top in PROJECT for p in sorted((ROOT / top).rglob("*.py"))]
    known = {module_name(p) for p in files}
    return {
        module_name(p): imported_modules(
            p.read_text(encoding="utf-8"), module_name(p), p.name == "__init__.py", known
        )
        for p in files
    }


def test_no_import_cycles_even_through_type_checking_or_function_imports():
    """import-linter skips ``TYPE_CHECKING`` imports and cannot see what a function-level import
    hides; this graph counts every import, so two modules never need each other."""
    cycles = import_cycles(project_import_graph())
    assert not cycles, (
        "import cycles (break them with a Protocol, a moved definition or an argument):\n"
        + "\n".join(" <-> ".join(c) for c in cycles)
    )


def test_the_cycle_finder_sees_a_cycle_hidden_in_a_function_and_under_type_checking():
    known = {"common.a", "common.b", "common.c"}
    a = "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from common.b import B\n"
    b = "def f():\n    from common.c import g  # lazy\n"
    c = "import common.a\n"
    graph = {
        "common.a": imported_modules(a, "common.a", False, known),
        "common.b": imported_modules(b, "common.b", False, known),
        "common.c": imported_modules(c, "common.c", False, known),
    }
    assert import_cycles(graph) == [["common.a", "common.b", "common.c"]]
    graph["common.c"] = set()
    assert import_cycles(graph) == []
