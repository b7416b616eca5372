"""End-to-end consistency of the flow-matching objective and the Euler sampler.

The tiny generator trained with :class:`FlowMatchingLoss` on two world images must sample each
image back from its own prompt, and not the other one: a sign, scale or timestep convention that
differs between training and sampling (the classic rectified-flow bug) fails this test, while
every unit test of either side alone could still pass. (Measured: errors 7.8 / 12.9 against
the own image, 35.8 / 29.4 against the other one; x-prediction 6.1 / 8.2 vs 35.2 / 36.3.)
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from common.models.image_sampling import sample_images
from common.models.pretrain.data import world_scenes
from common.models.pretrain.flow import FlowMatchingLoss
from common.models.t2i.images import images_to_uint8
from common.models.tiny_generators import build_tiny_sd3
from common.world.render import render_at


@pytest.mark.parametrize("prediction", ["velocity", pytest.param("sample", marks=pytest.mark.slow)])
def test_generator_samples_back_the_images_it_was_trained_on(prediction: str) -> None:
    torch.manual_seed(0)
    bundle = build_tiny_sd3(prediction=prediction)
    pairs = world_scenes(2, 3, modes=("match",), distractors=(0, 0))
    prompts = [p.prompt for p, _ in pairs]
    assert prompts[0] != prompts[1]
    targets = images_to_uint8([render_at(s, bundle.spec.resolution) for _, s in pairs])
    loss_fn = FlowMatchingLoss(bundle)
    opt = torch.optim.AdamW([p for p in loss_fn.parameters() if p.requires_grad], lr=2e-3)
    g = torch.Generator().manual_seed(0)
    idx = torch.arange(2).repeat(8)
    losses = []
    for _ in range(250):
        batch = {
            "prompts": [prompts[i] for i in idx],
            "x0": targets[idx].float() / 255.0,
            "noise": torch.randn(bundle.latent_shape(len(idx)), generator=g),
            "sigma": torch.sigmoid(torch.randn(len(idx), generator=g)),
        }
        loss = loss_fn(batch)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    assert np.mean(losses[-20:]) < 0.5 * np.mean(losses[:20])
    for m in bundle.modules().values():
        m.eval()
    res = sample_images(
        bundle, prompts, num_steps=20, guidance_scale=1.0, generator=torch.Generator().manual_seed(1)
    )
    samples = np.stack([np.asarray(im.convert("RGB"), dtype=np.float64) for im in res.pil])
    truth = targets.permute(0, 2, 3, 1).numpy().astype(np.float64)
    # err[i, j]: mean absolute error (0-255) of the sample for prompt i against image j, over the
    # pixels where the two images differ (their objects; the grey background is shared).
    differ = np.abs(truth[0] - truth[1]).sum(axis=-1) > 60
    err = np.abs(samples[:, None] - truth[None])[:, :, differ].mean(axis=(2, 3))
    assert err[0, 0] < 0.6 * err[0, 1] and err[1, 1] < 0.6 * err[1, 0], err
