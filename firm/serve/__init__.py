"""FIRM's reward server: the critics over HTTP for the RL trainers (docs/papers/firm.md §3).

* :class:`CriticServer` (:mod:`.server`): FastAPI (:mod:`.app`) on uvicorn (:mod:`.transport`,
  HTTP/1.1 keep-alive, a configurable backlog and connection limit) with ``GET /health``,
  ``GET /metrics`` (Prometheus), the OpenAI-compatible ``GET /v1/models`` +
  ``POST /v1/chat/completions`` (the model endpoint; ``vllm serve`` of the real FIRM-8B replaces
  it at paper scale) and ``POST /v1/score`` (RM modes execution / consistency / instruction /
  quality -> raw 1-5 score, ``(s - 1) / 4``, reasoning; a failed item is a result with ``error``);
* request and response bodies as strict pydantic models (:mod:`.schemas`), read with limits
  (:mod:`.body`); budgets checked before queueing: decoded pixels per request and PNG / JPEG /
  WebP only (:mod:`.images`), prompt tokens against the model's context (:mod:`.tokens`);
* :class:`DynamicBatcher` (:mod:`.batcher`): one model call per batch of queued items, one lane
  per route, short score batches answered between the decode steps of long generations;
* a JSON-lines access log and the Prometheus metrics (:mod:`.observability`);
* :func:`build_backend` (:mod:`.backend`): the model as an annotator, in-process
  (:class:`~common.annotators.TransformersVLMAnnotator`) or an upstream OpenAI-compatible server;
* :class:`ServeConfig` (:mod:`.config`): the settings behind ``+exp=firm_serve`` and
  ``python -m firm.serve``; :func:`serve` (:mod:`.runner`) runs it in the foreground.

The client is :class:`common.rewards.critic_client.CriticClient`.
"""

from firm.serve.backend import build_backend
from firm.serve.batcher import BatcherStats, DynamicBatcher
from firm.serve.config import ModelSpec, ServeConfig, ServeLimits, config_from_mapping, resolve_template
from firm.serve.errors import ServeError
from firm.serve.runner import serve
from firm.serve.server import CriticServer

__all__ = [
    "BatcherStats",
    "CriticServer",
    "DynamicBatcher",
    "ModelSpec",
    "ServeConfig",
    "ServeError",
    "ServeLimits",
    "build_backend",
    "config_from_mapping",
    "resolve_template",
    "serve",
]
