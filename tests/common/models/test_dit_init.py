"""DiT (adaLN-Zero) initialisation of the tiny diffusion transformers."""

from __future__ import annotations

import pytest
import torch

from common.models.dit_init import dit_initialise
from common.models.t2i import T2IBundle
from common.models.tiny_generators import build_tiny_editor, build_tiny_sd3
from common.rl.flow_sde import interpolate, velocity_target

ZEROED = ("norm1.linear", "norm1_context.linear", "img_mod.1", "txt_mod.1")
OUTPUT = ("proj_out", "norm_out.linear")


def _build(which: str) -> T2IBundle:
    build = build_tiny_sd3 if which == "sd3" else build_tiny_editor
    return build(num_layers=2, init="dit")


def _cond(bundle: T2IBundle, prompts: list[str]):
    sources = torch.rand(len(prompts), 3, 32, 32) if bundle.is_editor else None
    return bundle.encode_prompt(prompts, sources)


@pytest.mark.parametrize("which", ["sd3", "editor"])
def test_dit_init_zeroes_modulation_and_output(which: str) -> None:
    bundle = _build(which)
    t = bundle.transformer
    for name, module in t.named_modules():
        if isinstance(module, torch.nn.Linear) and (name.endswith(ZEROED) or name in OUTPUT):
            assert module.weight.abs().max() == 0, name
        elif isinstance(module, torch.nn.Linear) and module.bias is not None:
            assert module.bias.abs().max() == 0, name
    x = torch.randn(bundle.latent_shape(2), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        v = bundle.velocity(x, torch.tensor([0.2, 0.9]), _cond(bundle, ["a red circle", "a blue square"]))
    assert v.abs().max() == 0  # every residual branch is gated off and the output projection is zero


@pytest.mark.parametrize("which", ["sd3", "editor"])
def test_dit_init_trains_and_opens_the_prompt_path(which: str) -> None:
    torch.manual_seed(0)
    bundle = _build(which)
    params = [p for m in (bundle.transformer, bundle.text_encoder) for p in m.parameters()]
    opt = torch.optim.AdamW(params, lr=1e-3)
    prompts = ["a photo of a red circle", "a photo of a blue square"] * 2
    x0 = torch.rand(bundle.latent_shape(4), generator=torch.Generator().manual_seed(1)) * 2 - 1
    losses = []
    for step in range(30):
        noise = torch.randn(x0.shape, generator=torch.Generator().manual_seed(100 + step))
        sigma = torch.full((4,), 0.6)
        v = bundle.velocity(interpolate(x0, noise, sigma), sigma, _cond(bundle, prompts))
        loss = torch.nn.functional.mse_loss(v, velocity_target(x0, noise))
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.8 * losses[0]
    x = torch.randn(bundle.latent_shape(1), generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        a = bundle.velocity(x, 0.6, _cond(bundle, ["a photo of a red circle"]))
        b = bundle.velocity(x, 0.6, _cond(bundle, ["a photo of a blue square"]))
    assert (a - b).abs().mean() > 1e-4


def test_unknown_architecture_and_init_name_raise() -> None:
    with pytest.raises(ValueError, match="no adaLN modulation layers"):
        dit_initialise(torch.nn.Sequential(torch.nn.Linear(2, 2)))
    with pytest.raises(ValueError, match="init must be one of"):
        build_tiny_sd3(num_layers=1, init="xavier")
