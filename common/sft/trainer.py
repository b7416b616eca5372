"""The SFT trainer: answer-only fine-tuning of a chat VLM on the shared resumable Fabric loop.

Usage::

    trainer = SFTTrainer(bundle, examples, SFTConfig(lr=1e-5, epochs=1), work_dir, engine_cfg=cfg.engine)
    result = trainer.fit()          # resumes from work_dir/checkpoint.pt if a previous call was killed
    trainer.export(run_dir / "model")   # load_vlm reads it

Training is :func:`common.train.fit` over :class:`common.sft.objective.SFTObjective`
(AdamW with ``betas`` / ``eps``, linear warm-up then cosine, gradient accumulation,
global-norm clipping, checkpoints every ``checkpoint_every`` steps, ``max_time_s``). The same
code runs on one CPU process, under DDP, or under DeepSpeed ZeRO-3 (build the model inside
:func:`common.engine.sharded_init` of the same Fabric and pass that Fabric in; set
``engine.deepspeed.gradient_accumulation_steps`` to ``grad_accum``).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from common.engine import export_pretrained
from common.sft.config import SFTConfig, SFTSchedule
from common.sft.data import SFTExample
from common.sft.objective import SFTObjective
from common.train import StepHook, fit, make_fabric

__all__ = ["SFTTrainer", "freeze_vision"]


def freeze_vision(model: Any) -> int:
    """Set ``requires_grad=False`` on the vision tower (parameters under ``.visual.``); returns how many."""
    n = 0
    for name, p in model.named_parameters():
        if ".visual." in f".{name}":
            p.requires_grad_(False)
            n += 1
    return n


class SFTTrainer:
    """Supervised fine-tuning of ``bundle`` (a :class:`common.models.vlm_bundle.VLMBundle`) in place.

    Args:
        bundle: the model to train (its weights change in place).
        examples: ``Sequence[SFTExample]`` (e.g. :class:`common.sft.data.LazyExamples` over a dataset).
        cfg: the :class:`SFTConfig`.
        work_dir: where ``checkpoint.pt`` lives; a later trainer with the same directory resumes.
        fabric: a launched Fabric (default: built from ``engine_cfg`` and launched here).
        engine_cfg: ``cfg.engine`` (default: one CPU process).
        progress: show a progress bar (rank 0).
        hooks: called after every optimizer step with ``(steps done, loss)``.
    """

    def __init__(
        self,
        bundle: Any,
        examples: Sequence[SFTExample],
        cfg: SFTConfig,
        work_dir: str | Path,
        *,
        fabric: Any = None,
        engine_cfg: Any = None,
        progress: bool = True,
        hooks: Sequence[StepHook] = (),
    ) -> None:
        self.bundle = bundle
        self.examples = examples
        self.cfg = cfg.validate()
        self.work_dir = Path(work_dir)
        self.fabric = fabric if fabric is not None else make_fabric(engine_cfg)
        self.progress = progress
        self.hooks = tuple(hooks)
        self.schedule: SFTSchedule = cfg.schedule(len(examples), self.fabric.world_size)
        if not cfg.train_vision:
            freeze_vision(bundle.model)
        if not any(p.requires_grad for p in bundle.model.parameters()):
            raise ValueError("the model has no trainable parameters")
        self.objective = SFTObjective(
            examples,
            cfg,
            self.schedule,
            rank=self.fabric.global_rank,
            world_size=self.fabric.world_size,
        )

    def fit(self) -> dict[str, Any]:
        """Train (or resume) to the end of the schedule or ``max_time_s``.

        Returns the loop's summary (``steps``, ``resumed_from``, ``train_s``, ``history``,
        ``first_loss``, ``final_loss``, ``stopped_by_time``) plus ``planned_steps``,
        ``global_batch``, ``n_examples``, ``epochs`` (planned) and ``warmup_steps``.
        """
        out = fit(
            self.objective,
            self.schedule,
            self.bundle,
            self.work_dir,
            fabric=self.fabric,
            progress=self.progress,
            hooks=self.hooks,
        )
        s = self.schedule
        return {
            **out,
            "planned_steps": s.steps,
            "warmup_steps": s.warmup_steps,
            "global_batch": s.global_batch,
            "n_examples": s.n_examples,
            "epochs": round(s.epochs, 4),
            "examples_seen": int(out["steps"]) * s.global_batch,
        }

    def export(self, path: str | Path) -> Path:
        """Save the trained model + processor as a hub-style directory (``load_vlm`` reads it):
        :func:`common.engine.export_pretrained` (ZeRO-3 shards gathered, rank 0 writes, every
        rank waits). Collective: every rank must call it."""
        return export_pretrained(self.bundle, path)
