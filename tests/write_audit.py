"""Which process wrote which file: a record of every write under a folder, by rank, for the
multi-rank tests ("files written once", "rank 0 writes, the others do not").

:func:`install` adds a Python audit hook (:func:`sys.addaudithook`) that appends one JSON line per
file opened for writing (``open``, ``os.open``) and per rename / replace target under
``$T2I_AUDIT_ROOT`` to ``$T2I_AUDIT_DIR/<pid>.jsonl``, with the process's rank as its launcher set
it (``LOCAL_RANK``; unset counts as rank 0, the process the test started). Nothing is mocked: the
code under test runs as it is and the interpreter reports what it did. Writes from native code
(safetensors' tensor files) are not seen; the JSON and config files beside them are.

``python -m tests.write_audit <experiments.run arguments>`` runs the real entry point
(:func:`experiments.run.main`) under the hook; the ranks Lightning's launcher starts re-run the
same module, so they are recorded too. :func:`read` collects the records.
"""

from __future__ import annotations

import json
import os
import sys
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT_VARIABLE = "T2I_AUDIT_ROOT"
DIR_VARIABLE = "T2I_AUDIT_DIR"
_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC


def _is_write(mode: Any, flags: Any) -> bool:
    if isinstance(mode, str):
        return any(c in mode for c in "wax+")
    return isinstance(flags, int) and bool(flags & _WRITE_FLAGS)


def install() -> None:
    """Record this process's writes under ``$T2I_AUDIT_ROOT`` (no-op when the variables are unset)."""
    root, out = os.environ.get(ROOT_VARIABLE), os.environ.get(DIR_VARIABLE)
    if not root or not out:
        return
    root = os.path.realpath(root)
    fd = os.open(os.path.join(out, f"{os.getpid()}.jsonl"), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    busy = [False]

    def record(kind: str, target: Any) -> None:
        if isinstance(target, int) or target is None:
            return
        path = os.path.realpath(os.path.abspath(os.fsdecode(target)))
        if path != root and not path.startswith(root + os.sep):
            return
        rank = os.environ.get("LOCAL_RANK", "").strip() or "0"
        line = json.dumps({"pid": os.getpid(), "rank": int(rank), "event": kind, "path": path})
        os.write(fd, (line + "\n").encode())

    def hook(event: str, args: tuple[Any, ...]) -> None:
        if busy[0] or event not in ("open", "os.rename"):
            return
        busy[0] = True
        try:
            if event == "open" and len(args) >= 3 and _is_write(args[1], args[2]):
                record("open", args[0])
            elif event == "os.rename" and len(args) >= 2:
                record("rename", args[1])
        finally:
            busy[0] = False

    sys.addaudithook(hook)


@dataclass
class Writes:
    """The recorded writes: ``by_path[path]`` the set of (pid, rank) that wrote it."""

    by_path: dict[str, set[tuple[int, int]]] = field(default_factory=dict)

    def writers(self, path: str | Path) -> set[tuple[int, int]]:
        """(pid, rank) of every process that wrote ``path``."""
        return self.by_path.get(os.path.realpath(path), set())

    def under(self, folder: str | Path) -> dict[str, set[tuple[int, int]]]:
        """The paths written under ``folder`` (relative) and their writers."""
        base = os.path.realpath(folder)
        return {os.path.relpath(p, base): w for p, w in self.by_path.items() if p.startswith(base + os.sep)}

    def by_rank(self, rank: int, folder: str | Path) -> list[str]:
        """The paths under ``folder`` (relative) that a process of ``rank`` wrote."""
        return sorted(p for p, w in self.under(folder).items() if any(r == rank for _, r in w))


def read(log_dir: str | Path) -> Writes:
    """Collect what every audited process recorded in ``log_dir``."""
    out: dict[str, set[tuple[int, int]]] = defaultdict(set)
    for file in Path(log_dir).glob("*.jsonl"):
        for line in file.read_text().splitlines():
            if line.strip():
                rec = json.loads(line)
                out[rec["path"]].add((int(rec["pid"]), int(rec["rank"])))
    return Writes(dict(out))


def environment(root: str | Path, log_dir: str | Path) -> dict[str, str]:
    """The variables that turn the recording on (for a subprocess's environment)."""
    Path(log_dir).mkdir(parents=True, exist_ok=True)
    return {ROOT_VARIABLE: str(root), DIR_VARIABLE: str(log_dir)}


if __name__ == "__main__":
    install()
    from experiments.run import main

    main()
