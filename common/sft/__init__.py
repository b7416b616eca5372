"""Supervised fine-tuning of chat VLMs: one trainer for FIRM's reward models and T2I-Eval-R1's SFT.

Public API:

- :class:`SFTExample` ``(messages, target)``: a prompt conversation (content parts may hold PIL
  images) and the answer to learn; :class:`LazyExamples` maps dataset rows to examples on access,
  :class:`ConcatExamples` joins several example sequences.
- :class:`SFTConfig` (a :class:`common.train.LoopConfig`): lr, steps or epochs, batch size per
  device, gradient accumulation, warm-up ratio + cosine, weight decay, AdamW betas / eps,
  clipping, seed, checkpoint / log intervals, ``max_time_s``, ``train_vision``;
  ``SFTConfig.from_dict`` checks keys.
- :class:`SFTTrainer` ``(bundle, examples, cfg, work_dir, engine_cfg=...)``: ``fit()`` trains or
  resumes (loss on the target tokens and the closing ``<|im_end|>`` only), ``export(path)`` saves a
  directory ``common.models.builders.load_vlm`` reads.
- :func:`encode_sft_batch`: examples -> a model batch with answer-only ``labels``.

Training runs on :func:`common.train.fit` (the loop pretraining runs too) through the
engine's Fabric (``conf/engine``).
"""

from common.sft.config import SFTConfig, SFTSchedule
from common.sft.data import (
    ConcatExamples,
    ExampleOrder,
    LazyExamples,
    SFTExample,
    encode_sft_batch,
    sft_conversation,
    target_token_count,
)
from common.sft.objective import SFTObjective
from common.sft.trainer import SFTTrainer, freeze_vision

__all__ = [
    "ConcatExamples",
    "ExampleOrder",
    "LazyExamples",
    "SFTConfig",
    "SFTExample",
    "SFTObjective",
    "SFTSchedule",
    "SFTTrainer",
    "encode_sft_batch",
    "freeze_vision",
    "sft_conversation",
    "target_token_count",
]
