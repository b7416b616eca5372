"""``python -m firm.serve [options]``: the reward server for scripts (no Hydra run directory).

Examples::

    python -m firm.serve --port 0 --url-file /tmp/critic.json          # tiny random Qwen3-VL
    python -m firm.serve --model path:/ckpt/firm-gen-tiny --template tiny
    python -m firm.serve --upstream-url http://gpu-node:8000/v1 --template full   # in front of vLLM

Defaults come from :class:`firm.serve.config.ServeConfig` (the same as ``+exp=firm_serve``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from typing import Any

import yaml

from common.models.source import ModelSource, ModelSourceError
from common.runtime import set_threads
from firm.serve.config import ModelSpec, ServeConfig, config_from_mapping
from firm.serve.runner import serve

__all__ = ["main", "parse_args"]


def _pairs(items: Sequence[str], flag: str) -> dict[str, Any]:
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise SystemExit(f"{flag} takes KEY=VALUE, got {item!r}")
        out[key] = yaml.safe_load(value)
    return out


def _source(text: str, parser: argparse.ArgumentParser) -> dict[str, Any]:
    """``kind`` and ``name`` of the ``--model`` string (its one parser: ``ModelSource.parse``)."""
    try:
        source = ModelSource.parse(text)
    except ModelSourceError as e:
        parser.error(f"--model: {e}")
        raise  # unreachable: error() exits
    return {"kind": source.kind, "name": source.name}


def parse_args(argv: Sequence[str]) -> tuple[ServeConfig, argparse.Namespace]:
    """The :class:`ServeConfig` and the remaining run options (threads, duration) from ``argv``."""
    d, m = ServeConfig(), ModelSpec()
    p = argparse.ArgumentParser(prog="python -m firm.serve", description=__doc__.split("\n\n")[0])
    g = p.add_argument_group("model (--upstream-url instead of an in-process model)")
    g.add_argument(
        "--model",
        default=m.source().to_string(),
        metavar="KIND:NAME",
        help="model source (common.models.source): path:<dir>, hub:<id>, base:<conf/pretrain name>, "
        "preset:<conf/model name>, or a directory / hub id (default %(default)s)",
    )
    g.add_argument("--override", action="append", default=[], metavar="KEY=VALUE", help="preset key override")
    g.add_argument("--served-name", help="served model name")
    g.add_argument("--device")
    g.add_argument("--dtype")
    g.add_argument("--upstream-url", help="forward to this OpenAI-compatible base URL (e.g. vLLM's /v1)")
    g.add_argument("--upstream-model", help="model name at the upstream (default: its first)")
    g.add_argument(
        "--upstream-workers", type=int, default=d.upstream_workers, help="upstream batches in flight"
    )
    s = p.add_argument_group("serving")
    s.add_argument("--template", choices=("tiny", "full"), help="RM prompt template (default: by model)")
    s.add_argument("--host", default=d.host)
    s.add_argument("--port", type=int, default=d.port, help="0: ephemeral (default %(default)s)")
    s.add_argument("--backlog", type=int, default=d.backlog, help="listen backlog (default %(default)s)")
    s.add_argument("--max-connections", type=int, default=d.max_connections)
    s.add_argument("--keep-alive-s", type=float, default=d.keep_alive_s)
    s.add_argument("--access-log", help="append the JSON-lines access log to this file")
    s.add_argument("--max-batch-size", type=int, default=d.max_batch_size)
    s.add_argument("--max-wait-ms", type=float, default=d.max_wait_ms)
    s.add_argument("--score-max-tokens", action="append", default=[], metavar="MODE=N")
    s.add_argument("--limit", action="append", default=[], metavar="KEY=VALUE", help="a ServeLimits field")
    s.add_argument("--url-file", help="write {url, base_url, model} here once listening")
    s.add_argument(
        "--threads", type=int, default=int(os.environ.get("T2I_THREADS", "1")), help="torch threads"
    )
    s.add_argument("--duration-s", type=float, help="stop after this many seconds")
    a = p.parse_args(list(argv))
    values: dict[str, Any] = {
        "model": {
            **_source(a.model, p),
            "overrides": _pairs(a.override, "--override"),
            "served_name": a.served_name,
            "device": a.device,
            "dtype": a.dtype,
        },
        "upstream_url": a.upstream_url,
        "upstream_model": a.upstream_model,
        "upstream_workers": a.upstream_workers,
        "template": a.template,
        "host": a.host,
        "port": a.port,
        "backlog": a.backlog,
        "max_connections": a.max_connections,
        "keep_alive_s": a.keep_alive_s,
        "access_log": a.access_log,
        "max_batch_size": a.max_batch_size,
        "max_wait_ms": a.max_wait_ms,
        "score_max_tokens": _pairs(a.score_max_tokens, "--score-max-tokens"),
        "limits": _pairs(a.limit, "--limit"),
        "url_file": a.url_file,
        "duration_s": a.duration_s,
    }
    try:
        return config_from_mapping(values), a
    except (TypeError, ValueError) as e:
        p.error(str(e))
        raise  # unreachable: error() exits


def main(argv: Sequence[str] | None = None) -> int:
    config, args = parse_args(sys.argv[1:] if argv is None else argv)

    set_threads(args.threads)
    report = serve(config)
    print(json.dumps(report["counters"], indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
