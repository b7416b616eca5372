"""``+exp=firm_serve``: FIRM's reward server (:mod:`firm.serve`) in the foreground.

Listens until SIGINT / SIGTERM (or ``duration_s``), writes ``<run_dir>/server.json`` (``url``,
``base_url``, ``model``) as soon as it listens and the JSON-lines access log to
``<run_dir>/access.jsonl``, and returns the final counters as the run's metrics. The RM template
defaults to the scale's (``tiny`` at ``scale=tiny``, else ``full``).
"""

from __future__ import annotations

from typing import Any

from omegaconf import DictConfig

from common.config import plain
from common.runtime import RunContext
from firm.serve.config import config_from_mapping
from firm.serve.runner import serve

__all__ = ["run"]


def run(cfg: DictConfig, ctx: RunContext, **server: Any) -> dict[str, Any]:
    """Serve with the settings in ``server`` (the fields of :class:`firm.serve.ServeConfig`, the
    dataclass ``task`` names)."""
    values = {k: plain(v) for k, v in server.items()}
    if not values.get("url_file"):
        values["url_file"] = str(ctx.path("server.json"))
    if not values.get("access_log"):
        values["access_log"] = str(ctx.path("access.jsonl"))
    config = config_from_mapping(values, "task")
    report = serve(config, settings=ctx.settings, scale_name=ctx.settings.scale.name)
    return {
        "url": report["url"],
        "model": report["model"],
        "template": report["template"],
        **report["counters"],
    }
