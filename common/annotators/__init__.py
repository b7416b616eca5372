"""Annotators: one interface over an OpenAI-compatible endpoint, an in-process VLM and the world oracle.

Shared by both papers' data pipelines. See :mod:`common.annotators.types` for the request and
response types and the :class:`Annotator` protocol; :mod:`common.annotators.cache` for the
on-disk response cache that lets a killed run resume without paying twice.
"""

from common.annotators.base import AnnotatorStats, CachedAnnotator
from common.annotators.cache import ResponseCache, image_digest, request_key
from common.annotators.openai_compat import OpenAICompatibleAnnotator, image_data_url, to_openai_messages
from common.annotators.oracle import ORACLE_FORMATS, WorldOracleAnnotator, oracle_meta
from common.annotators.types import (
    Annotator,
    AnnotatorError,
    AnnotatorUnavailableError,
    ChatRequest,
    ChatResponse,
    image_part,
    request_images,
    system_message,
    text_part,
    user_message,
)
from common.annotators.vlm import TransformersVLMAnnotator

__all__ = [
    "ORACLE_FORMATS",
    "Annotator",
    "AnnotatorError",
    "AnnotatorStats",
    "AnnotatorUnavailableError",
    "CachedAnnotator",
    "ChatRequest",
    "ChatResponse",
    "OpenAICompatibleAnnotator",
    "ResponseCache",
    "TransformersVLMAnnotator",
    "WorldOracleAnnotator",
    "image_data_url",
    "image_digest",
    "image_part",
    "oracle_meta",
    "request_images",
    "request_key",
    "system_message",
    "text_part",
    "to_openai_messages",
    "user_message",
]
