"""EMA old-policy updater (docs/papers/firm.md §5; FIRM decay min(0.001 * step, 0.5))."""

from __future__ import annotations

import pytest
import torch

from common.rl import EMA_SCHEDULES, EMAUpdater, firm_decay, make_schedule


def test_firm_schedule_values() -> None:
    # min(0.001 * step, 0.5): 0 -> 0, 100 -> 0.1, 1000 -> min(1.0, 0.5) = 0.5
    assert firm_decay(0) == 0.0
    assert firm_decay(100) == pytest.approx(0.1)
    assert firm_decay(1000) == 0.5
    assert firm_decay(400) == pytest.approx(0.4)
    assert EMA_SCHEDULES.get("firm") is firm_decay
    assert make_schedule("firm")(100) == pytest.approx(0.1)
    assert make_schedule("firm", max_decay=0.9)(800) == pytest.approx(0.8)
    assert make_schedule(0.9)(12345) == 0.9
    assert make_schedule("constant", decay=0.3)(7) == 0.3
    assert make_schedule(lambda s: 0.25)(3) == 0.25


def test_update_by_hand() -> None:
    old, new = [torch.tensor([0.0])], [torch.tensor([1.0])]
    ema = EMAUpdater(old, new)
    # step 100: decay 0.1 -> 0.1 * 0 + 0.9 * 1 = 0.9
    assert ema.update(100) == pytest.approx(0.1)
    assert old[0].item() == pytest.approx(0.9)
    # step 1000: decay 0.5, new = 2 -> 0.5 * 0.9 + 0.5 * 2 = 1.45
    new[0].fill_(2.0)
    ema.update(1000)
    assert old[0].item() == pytest.approx(1.45)
    # step 0: decay 0 -> exact copy
    new[0].fill_(-3.0)
    ema.update(0)
    assert old[0].item() == -3.0


def test_constant_decay_and_dtype_mix() -> None:
    old = [torch.ones(3, dtype=torch.float32)]
    new = [torch.zeros(3, dtype=torch.bfloat16)]
    EMAUpdater(old, new, 0.9).update(5)  # 0.9 * 1 + 0.1 * 0
    torch.testing.assert_close(old[0], torch.full((3,), 0.9))


class _LoraToy(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.base = torch.nn.Linear(3, 3)
        self.lora_A = torch.nn.Parameter(torch.zeros(2, 3))
        self.lora_B = torch.nn.Parameter(torch.zeros(3, 2))


def test_lora_subset_state_dict_no_grad() -> None:
    torch.manual_seed(0)
    live, old = _LoraToy(), _LoraToy()
    old.load_state_dict(live.state_dict())
    with torch.no_grad():
        live.lora_A.fill_(1.0)
        live.lora_B.fill_(2.0)
        live.base.weight.add_(5.0)
    base_before = old.base.weight.detach().clone()

    def lora(m: torch.nn.Module) -> dict[str, torch.Tensor]:
        return {n: p for n, p in m.named_parameters() if "lora" in n}

    ema = EMAUpdater(lora(old), lora(live), "firm")
    ema.update(300)  # decay 0.3 -> old = 0.7 * live
    torch.testing.assert_close(old.lora_A.detach(), torch.full((2, 3), 0.7))
    torch.testing.assert_close(old.lora_B.detach(), torch.full((3, 2), 1.4))
    torch.testing.assert_close(old.base.weight.detach(), base_before)  # non-LoRA untouched
    assert old.lora_A.grad_fn is None and old.lora_A.is_leaf and old.lora_A.requires_grad


def test_errors() -> None:
    with pytest.raises(ValueError, match="keys"):
        EMAUpdater({"a": torch.zeros(1)}, {"b": torch.zeros(1)})
    with pytest.raises(ValueError, match="shape"):
        EMAUpdater([torch.zeros(2)], [torch.zeros(3)])
    with pytest.raises(ValueError, match="tensors"):
        EMAUpdater([torch.zeros(2)], [])
    with pytest.raises(TypeError):
        EMAUpdater({"a": torch.zeros(1)}, [torch.zeros(1)])
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        EMAUpdater([torch.zeros(1)], [torch.zeros(1)], 1.5).update(0)
