"""Start the per-rank worker processes of the distributed tests, with hard timeouts and no leftovers."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
# Variables through which an outer launcher (SLURM, torchrun, ...) would leak into the workers.
_SCRUB_PREFIXES = ("SLURM_", "TORCHELASTIC_", "LSB_", "OMPI_", "PMI_")
_SCRUB = {"RANK", "LOCAL_RANK", "WORLD_SIZE", "LOCAL_WORLD_SIZE", "GROUP_RANK", "NODE_RANK", "MASTER_ADDR"}


def free_port() -> int:
    """A TCP port that was free a moment ago on 127.0.0.1."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def worker_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """A clean single-thread CPU environment for a worker process."""
    env = {k: v for k, v in os.environ.items() if k not in _SCRUB and not k.startswith(_SCRUB_PREFIXES)}
    env.update(
        OMP_NUM_THREADS="1",
        MKL_NUM_THREADS="1",
        T2I_THREADS="1",
        TOKENIZERS_PARALLELISM="false",
        HF_HUB_OFFLINE="1",
        TRANSFORMERS_VERBOSITY="error",
        DS_ACCELERATOR="cpu",
        CUDA_VISIBLE_DEVICES="",
        PYTHONPATH=str(REPO) + os.pathsep + env.get("PYTHONPATH", ""),
        MASTER_ADDR="127.0.0.1",
    )
    env.update(extra or {})
    return env


@dataclass
class Finished:
    """Exit codes and combined output of the processes of one run."""

    returncodes: list[int]
    logs: list[str]
    seconds: float

    def check(self) -> None:
        """Raise with every process's log tail when any process failed."""
        if any(code != 0 for code in self.returncodes):
            tails = "\n".join(
                f"--- process {i} (rc {c}) ---\n{log[-6000:]}"
                for i, (c, log) in enumerate(zip(self.returncodes, self.logs, strict=True))
            )
            raise AssertionError(f"worker processes failed:\n{tails}")

    def require(self, paths: list[Path]) -> None:
        """Raise with the logs when a process exited cleanly but an expected output is missing."""
        missing = [str(p) for p in paths if not p.exists()]
        if missing:
            raise AssertionError(f"missing worker outputs {missing}; logs:\n" + "\n".join(self.logs))


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def _finish_group(proc: subprocess.Popen[bytes], deadline: float) -> None:
    """Let the process's group (ranks it started itself) exit until ``deadline``, then kill what is left."""
    while _group_alive(proc.pid) and time.perf_counter() < deadline:
        proc.poll()  # reap the leader so it does not keep the group alive as a zombie
        time.sleep(0.1)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)


def run_workers(
    args: list[str],
    envs: list[dict[str, str]],
    log_dir: Path,
    timeout: float,
    module: str = "tests.common.engine._workers",
) -> Finished:
    """Run ``python -m <module> *args`` once per env; kill all on timeout or failure.

    Each process gets its own session, so everything it starts (Fabric's launcher starts the other
    ranks itself) is killed with it.
    """
    log_dir.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    procs: list[subprocess.Popen[bytes]] = []
    codes: list[int | None] = []
    log_paths = [log_dir / f"process{i}.log" for i in range(len(envs))]
    handles = [open(p, "wb") for p in log_paths]  # noqa: SIM115 - closed in finally
    try:
        for env, handle in zip(envs, handles, strict=True):
            procs.append(
                subprocess.Popen(
                    [sys.executable, "-m", module, *args],
                    cwd=REPO,
                    env=env,
                    stdout=handle,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            )
        deadline = start + timeout
        codes = [None] * len(procs)
        while any(c is None for c in codes):
            for i, proc in enumerate(procs):
                if codes[i] is None:
                    codes[i] = proc.poll()
            if any(c not in (None, 0) for c in codes):
                break  # one rank failed: the others would wait for it forever
            if time.perf_counter() > deadline:
                break
            time.sleep(0.1)
    finally:
        all_ok = bool(codes) and all(c == 0 for c in codes)
        # after a clean exit, give ranks that a process started itself time to finish writing;
        # after a failure, a timeout or an interrupt, kill at once
        grace = start + timeout if all_ok else time.perf_counter()
        for proc in procs:
            _finish_group(proc, grace)  # also ends ranks the process started itself
            proc.wait(timeout=10)
        for handle in handles:
            handle.close()
    final = [proc.returncode if c is None else c for proc, c in zip(procs, codes, strict=True)]
    logs = [p.read_text(errors="replace") for p in log_paths]
    if time.perf_counter() > start + timeout and any(c is None for c in codes):
        logs = [f"[timed out after {timeout:.0f} s]\n{log}" for log in logs]
    return Finished(returncodes=[int(c) for c in final], logs=logs, seconds=time.perf_counter() - start)


def rank_envs(world: int, port: int) -> list[dict[str, str]]:
    """torchrun-style environments for ``world`` local ranks."""
    return [
        worker_env(
            {
                "RANK": str(r),
                "LOCAL_RANK": str(r),
                "WORLD_SIZE": str(world),
                "LOCAL_WORLD_SIZE": str(world),
                "LOCAL_SIZE": str(world),
                "MASTER_PORT": str(port),
            }
        )
        for r in range(world)
    ]
