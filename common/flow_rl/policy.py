"""A flow-matching policy for online RL: the trained, old and reference velocities of one model.

:class:`FlowPolicy` wraps a :class:`~common.models.t2i.T2IBundle` (a generator or an editor: the
family sits behind the bundle's interface, so nothing here branches on it) and keeps three
policies in one transformer, as DiffusionNFT's and FIRM's code do with peft adapters:

* ``current``: the trained LoRA adapter (``default``), the only trainable parameters;
* ``old``: a second adapter (``old``), kept an EMA of ``current`` by :class:`~common.rl.ema.EMAUpdater`
  (FIRM's decay ``min(0.001 step, 0.5)``, docs/papers/firm.md §5); DiffusionNFT samples with it;
* ``reference``: the frozen base, the adapters switched off (the KL anchor).

With ``lora=None`` the whole transformer is trained and the old policy / reference are frozen
copies of it (fine for the tiny models; at paper scale LoRA is the setting). The text encoder is
always frozen: prompts are encoded once per batch.
"""

from __future__ import annotations

import contextlib
import copy
import warnings
from collections.abc import Iterator
from typing import Any, Literal

import torch

from common.models.lora import LoRASettings, adapters_disabled, add_lora, fold_lora, lora_state_dict
from common.models.t2i import Conditioning, T2IBundle
from common.rl.ema import EMAUpdater

__all__ = ["OLD_ADAPTER", "POLICIES", "FlowPolicy", "PolicyName"]

OLD_ADAPTER = "old"
"""Name of the peft adapter that holds the old (EMA) policy."""
PolicyName = Literal["current", "old", "reference"]
POLICIES: tuple[str, ...] = ("current", "old", "reference")


class FlowPolicy(torch.nn.Module):
    """The velocities of the current, old and reference policies of one flow-matching model.

    ``forward(x, sigma, cond)`` is the current policy's velocity (what Fabric / DDP wrap);
    :meth:`velocity` picks any of the three. ``ema_update(step)`` moves the old policy.
    """

    def __init__(
        self,
        bundle: T2IBundle,
        lora: LoRASettings | None,
        ema_schedule: str | float = "firm",
    ) -> None:
        super().__init__()
        self.bundle = bundle
        self.transformer = bundle.transformer
        for module in bundle.modules().values():
            module.requires_grad_(False)
        self.uses_lora = lora is not None
        # a policy trained by an earlier run (its adapters saved with it) is this run's base
        fold_lora(self.transformer)
        if lora is not None:
            add_lora(self.transformer, lora)
            with warnings.catch_warnings():  # peft warns that a second adapter is being added: intended
                warnings.filterwarnings("ignore", message="Already found a `peft_config`")
                add_lora(self.transformer, lora, adapter_name=OLD_ADAPTER)
            self.transformer.set_adapter(lora.adapter_name)
            self._adapter = lora.adapter_name
            self.copies = torch.nn.ModuleDict()
            old = lora_state_dict(self.transformer, OLD_ADAPTER)
            new = lora_state_dict(self.transformer, self._adapter)
            with torch.no_grad():
                for key, value in old.items():
                    value.copy_(new[key])
            targets, sources = self._adapter_pairs()
        else:
            self.transformer.requires_grad_(True)
            self._adapter = ""
            # old policy and reference: frozen copies (saved with the module, never trained)
            self.copies = torch.nn.ModuleDict(
                {
                    "old": copy.deepcopy(self.transformer).requires_grad_(False),
                    "reference": copy.deepcopy(self.transformer).requires_grad_(False),
                }
            )
            targets = list(self.copies["old"].parameters())
            sources = list(self.transformer.parameters())
        self.ema = EMAUpdater(targets, sources, ema_schedule)

    def _adapter_pairs(self) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        params = dict(self.transformer.named_parameters())
        marker = f".{self._adapter}."
        sources = [p for n, p in params.items() if "lora_" in n and marker in n]
        targets = [
            params[n.replace(marker, f".{OLD_ADAPTER}.")]
            for n, p in params.items()
            if "lora_" in n and marker in n
        ]
        return targets, sources

    # ---- parameters ----------------------------------------------------------------------------

    def trainable_parameters(self) -> list[torch.nn.Parameter]:
        """What the optimiser gets: the current adapter (or the whole transformer without LoRA)."""
        if self.uses_lora:
            return self._adapter_pairs()[1]
        return list(self.transformer.parameters())

    def trainable_state(self) -> dict[str, torch.Tensor]:
        """The current policy's trained weights (adapter or transformer), detached copies."""
        if self.uses_lora:
            return {
                k: v.detach().clone() for k, v in lora_state_dict(self.transformer, self._adapter).items()
            }
        return {k: v.detach().clone() for k, v in self.transformer.state_dict().items()}

    def old_state(self) -> dict[str, torch.Tensor]:
        """The old policy's weights (for checkpoints)."""
        if self.uses_lora:
            return {k: v.detach().clone() for k, v in lora_state_dict(self.transformer, OLD_ADAPTER).items()}
        return {k: v.detach().clone() for k, v in self.copies["old"].state_dict().items()}

    def load_old_state(self, state: dict[str, torch.Tensor]) -> None:
        """Restore the old policy's weights from :meth:`old_state`."""
        if self.uses_lora:
            target = lora_state_dict(self.transformer, OLD_ADAPTER)
        else:
            target = self.copies["old"].state_dict()
        missing = set(target) ^ set(state)
        if missing:
            raise ValueError(f"old-policy state does not match the model: {sorted(missing)[:5]} ...")
        with torch.no_grad():
            for key, value in target.items():
                value.copy_(state[key].to(value.device, value.dtype))

    @torch.no_grad()
    def ema_update(self, step: int) -> float:
        """``old = decay * old + (1 - decay) * current`` with the schedule's decay at ``step``."""
        return self.ema.update(step)

    # ---- velocities ----------------------------------------------------------------------------

    @contextlib.contextmanager
    def use(self, policy: PolicyName) -> Iterator[None]:
        """Within the block the bundle computes ``policy`` (``current`` is the default state)."""
        if policy not in POLICIES:
            raise ValueError(f"policy must be one of {POLICIES}, got {policy!r}")
        if policy == "current":
            yield
            return
        if not self.uses_lora:
            self.bundle.transformer = self.copies[policy]
            try:
                yield
            finally:
                self.bundle.transformer = self.transformer
            return
        if policy == "reference":
            with adapters_disabled(self.transformer):
                yield
            return
        self.transformer.set_adapter(OLD_ADAPTER)
        try:
            yield
        finally:
            self.transformer.set_adapter(self._adapter)  # also makes its parameters trainable again

    def velocity(
        self, x: torch.Tensor, sigma: torch.Tensor | float, cond: Conditioning, policy: PolicyName = "current"
    ) -> torch.Tensor:
        """``v(x, sigma | cond)`` of ``policy``."""
        with self.use(policy):
            return self.bundle.velocity(x, sigma, cond)

    def forward(self, x: torch.Tensor, sigma: torch.Tensor | float, cond: Conditioning) -> torch.Tensor:
        return self.bundle.velocity(x, sigma, cond)

    @torch.no_grad()
    def encode(self, prompts: list[str], source_images: Any = None) -> Conditioning:
        """Prompts (and the editor's source images) -> conditioning, without gradient."""
        return self.bundle.encode_prompt(prompts, source_images).detach()
