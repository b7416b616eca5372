"""Resumable training checkpoints of the RL and reward-model trainers, and where they live.

Layout under a run's checkpoint root::

    step_00000020/                 a complete checkpoint (appears by an atomic rename)
        state/ or state.ckpt       model + optimizer, written by ``fabric.save`` (a DeepSpeed
                                   directory under ZeRO-3, one file otherwise)
        trainer_state.json         step, data-stream position, log history, config, resume key
        rng_rank<r>.json           python / numpy / torch (/ CUDA) RNG states of rank r
    .step_00000020.partial/        a checkpoint being written (or killed while written): ignored

A checkpoint is written into the ``.partial`` directory and renamed into place only when
complete, so a kill at any moment leaves either the previous checkpoints or the new one, never a
half one. Only the newest ``keep`` checkpoints are kept.

The root is keyed by :func:`resume_key`, a hash of everything in the run config that changes
what the run computes (not its length, logging or paths: each task names those keys, e.g.
:data:`t2ieval_r1.grpo.checkpoint.NOT_IN_RESUME_KEY`), so rerunning the same command after a
kill, or with a larger ``steps``, finds the checkpoints and continues from the last one.

What the config does not hold but the trajectory depends on (the engine, the world size, the
global batch: :func:`common.engine.training_layout`) is recorded in ``trainer_state.json`` by
:func:`save_checkpoint_dir` and checked by :func:`load_checkpoint_dir` before anything is loaded:
a checkpoint written under another layout is refused with a message saying what differs and
what to do (:func:`common.engine.check_resume_layout`). The key itself is unchanged by this, so
existing runs keep their checkpoints.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import random
import re
import shutil
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from common.config import without_config_keys
from common.engine import check_resume_layout, is_zero3
from common.engine.layout import LAYOUT_KEY
from common.jsonio import to_jsonable, write_json_atomic

__all__ = [
    "checkpoints",
    "get_rng_state",
    "latest_checkpoint",
    "load_checkpoint_dir",
    "resume_key",
    "run_checkpoint_root",
    "save_checkpoint_dir",
    "set_rng_state",
]

STATE_FILE = "trainer_state.json"
_STEP_RE = re.compile(r"^step_(\d{8})$")


def _drop(tree: dict[str, Any], dotted: str) -> None:
    *parents, leaf = dotted.split(".")
    node: Any = tree
    for key in parents:
        if not isinstance(node, dict) or key not in node:
            return
        node = node[key]
    if isinstance(node, dict):
        node.pop(leaf, None)


def resume_key(config: Mapping[str, Any], exclude: Iterable[str] = ()) -> str:
    """A 12-hex-digit hash of ``config`` (a plain, resolved mapping) without the ``exclude`` keys
    and without the ``_config_`` keys that name a node's dataclass (a schema, not a setting)."""
    tree = json.loads(json.dumps(to_jsonable(dict(config)), sort_keys=True, default=str))
    tree = without_config_keys(tree)
    for key in exclude:
        _drop(tree, key)
    payload = json.dumps(tree, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:12]


def run_checkpoint_root(
    cfg: Any,
    resume: str,
    checkpoint_dir: str | None,
    never_dir: Path,
    model_source: str | None,
    exclude: Iterable[str] = (),
) -> tuple[Path, str]:
    """The checkpoint directory of a run and its resume key.

    The key hashes the resolved run config plus ``model_source`` (what the weights start from:
    a base's directory name carries its config hash, so a rebuilt base never resumes another
    base's run). ``resume="never"``: ``never_dir`` (inside the run directory); an explicit
    ``checkpoint_dir`` wins otherwise; by default ``${paths.output_dir}/checkpoints/<exp_name>-<key>``.
    """
    from omegaconf import OmegaConf

    tree = {**OmegaConf.to_container(cfg, resolve=True), "_model_source": model_source}  # type: ignore[dict-item]
    key = resume_key(tree, exclude)
    if resume not in ("auto", "never"):
        raise ValueError(f"task.resume must be 'auto' or 'never', got {resume!r}")
    if resume == "never":
        return never_dir, key
    if checkpoint_dir is not None:
        return Path(checkpoint_dir).expanduser(), key
    return Path(str(cfg.paths.output_dir)) / "checkpoints" / f"{cfg.exp_name}-{key}", key


def checkpoints(root: str | Path) -> list[tuple[int, Path]]:
    """Complete checkpoints under ``root`` as ``(step, path)``, oldest first."""
    root = Path(root)
    if not root.is_dir():
        return []
    found = []
    for child in root.iterdir():
        m = _STEP_RE.match(child.name)
        if m and (child / STATE_FILE).is_file():
            found.append((int(m.group(1)), child))
    return sorted(found)


def latest_checkpoint(root: str | Path) -> Path | None:
    """The newest complete checkpoint under ``root``, or None."""
    found = checkpoints(root)
    return found[-1][1] if found else None


# ---------------------------------------------------------------------------------- RNG state


def _b64(t: torch.Tensor) -> str:
    return base64.b64encode(t.cpu().numpy().tobytes()).decode()


def _tensor(s: str) -> torch.Tensor:
    return torch.from_numpy(np.frombuffer(base64.b64decode(s), dtype=np.uint8).copy())


def get_rng_state() -> dict[str, Any]:
    """Python, numpy, torch CPU (and CUDA) RNG states as JSON-able data."""
    py = random.getstate()
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    state: dict[str, Any] = {
        "python": [py[0], list(py[1]), py[2]],
        "numpy": [kind, keys.tolist(), int(pos), int(has_gauss), float(gauss)],
        "torch": _b64(torch.get_rng_state()),
    }
    if torch.cuda.is_available():
        state["cuda"] = [_b64(s) for s in torch.cuda.get_rng_state_all()]
    return state


def set_rng_state(state: Mapping[str, Any]) -> None:
    """Restore what :func:`get_rng_state` saved."""
    py = state["python"]
    random.setstate((py[0], tuple(py[1]), py[2]))
    kind, keys, pos, has_gauss, gauss = state["numpy"]
    np.random.set_state((kind, np.asarray(keys, dtype=np.uint32), pos, has_gauss, gauss))
    torch.set_rng_state(_tensor(state["torch"]))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([_tensor(s) for s in state["cuda"]])


# ---------------------------------------------------------------------------------- save / load


def _state_path(directory: Path, fabric: Any) -> Path:
    return directory / ("state" if is_zero3(fabric) else "state.ckpt")


def save_checkpoint_dir(
    fabric: Any,
    root: str | Path,
    step: int,
    model: Any,
    optimizer: Any,
    trainer_state: Mapping[str, Any],
    *,
    keep: int = 2,
    layout: Mapping[str, Any] | None = None,
) -> Path:
    """Write checkpoint ``step`` under ``root`` atomically (every rank must call it); prune old ones.

    ``layout`` (:func:`common.engine.training_layout`) is stored in the trainer state, for
    :func:`load_checkpoint_dir` to check."""
    root = Path(root)
    if layout is not None:
        trainer_state = {**trainer_state, LAYOUT_KEY: dict(layout)}
    final = root / f"step_{step:08d}"
    tmp = root / f".step_{step:08d}.partial"
    rank0 = fabric.global_rank == 0
    if rank0:
        root.mkdir(parents=True, exist_ok=True)
        if tmp.exists():
            shutil.rmtree(tmp)
        tmp.mkdir()
    fabric.barrier()
    fabric.save(_state_path(tmp, fabric), {"model": model, "optimizer": optimizer})
    write_json_atomic(tmp / f"rng_rank{fabric.global_rank}.json", get_rng_state())
    fabric.barrier()
    if rank0:
        write_json_atomic(tmp / STATE_FILE, dict(trainer_state))
        if final.exists():  # re-saving a step (a rerun of a finished run): replace it
            shutil.rmtree(final)
        os.replace(tmp, final)
        for _, old in checkpoints(root)[:-keep]:
            shutil.rmtree(old, ignore_errors=True)
    fabric.barrier()
    return final


def load_checkpoint_dir(
    fabric: Any, path: str | Path, model: Any, optimizer: Any, *, layout: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """Restore model, optimizer and this rank's RNG from ``path``; returns the trainer state.

    With ``layout`` (this run's :func:`common.engine.training_layout`), a checkpoint recorded
    under another one is refused before anything is loaded
    (:class:`common.engine.ResumeMismatchError`)."""
    path = Path(path)
    state = json.loads((path / STATE_FILE).read_text())
    if layout is not None:
        check_resume_layout(state.get(LAYOUT_KEY), layout, path)
    fabric.load(_state_path(path, fabric), {"model": model, "optimizer": optimizer})
    rng = path / f"rng_rank{fabric.global_rank}.json"
    if rng.is_file():
        set_rng_state(json.loads(rng.read_text()))
    return state
