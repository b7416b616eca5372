"""The autoencoder base and the latent generator built on it: normalised latents, a frozen VAE
carried into the generator's checkpoint, cache keys that follow the autoencoder's config, and
clear errors for mismatched presets."""

from __future__ import annotations

import pytest
import torch
from diffusers import AutoencoderKL

from common.models.builders import load_model
from common.models.pretrain.autoencoder import (
    STATS_SEED,
    posterior_means,
    set_latent_statistics,
)
from common.models.pretrain.cache import base_dir, ensure_base
from common.models.pretrain.cards import read_card
from common.models.pretrain.config import load_pretrain_config
from common.models.pretrain.data import world_scenes
from common.models.pretrain.flow import attach_autoencoder
from common.models.t2i.images import images_to_uint8
from common.models.tiny_generators import build_tiny_autoencoder, build_tiny_sd3
from common.runtime import RunSettings
from common.world.render import render_at
from tests.common.models.conftest import SMALL_IMAGE_MODEL
from tests.common.models.pretrain.conftest import TINY_BUDGET


def _state(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def test_autoencoder_base_normalises_its_latents_and_reports_reconstructions(
    run_settings: RunSettings,
) -> None:
    budget = TINY_BUDGET["tiny_autoencoder"]
    path = ensure_base("tiny_autoencoder", run_settings, overrides=budget)
    vae = AutoencoderKL.from_pretrained(str(path))
    cfg = load_pretrain_config("tiny_autoencoder", budget)
    pairs = world_scenes(cfg.stats_size, cfg.seed + STATS_SEED)
    images = images_to_uint8([render_at(s, 32) for _, s in pairs]).float() / 255.0
    z = posterior_means(vae.eval(), images)
    normalised = (z - vae.config.shift_factor) * vae.config.scaling_factor
    assert abs(float(normalised.mean())) < 1e-4 and float(normalised.std()) == pytest.approx(1.0, abs=1e-4)
    assert vae.config.scaling_factor != 1.0

    card = read_card(path)
    q = card["quality"]
    assert card["objective"] == "autoencoder" and card["model"]["latent_shape"] == [4, 16, 16]
    assert 0 < q["l1"] < 1 and q["psnr"] > 0
    assert q["original"]["geneval"] > q["reconstruction"]["geneval"] - 1e-9  # 4 steps cannot beat the truth
    assert (path / "samples.png").is_file()
    assert "AutoencoderKL.from_pretrained" in (path / "MODEL_CARD.md").read_text()


def test_latent_generator_trains_on_its_frozen_autoencoder(run_settings: RunSettings) -> None:
    budget = TINY_BUDGET["tiny_sd3_latent"]
    path = ensure_base("tiny_sd3_latent", run_settings, overrides=budget)
    vae_path = base_dir("tiny_autoencoder", run_settings, budget["autoencoder_overrides"])
    assert (vae_path / "config.json").is_file()  # built first, on demand
    trained_vae = AutoencoderKL.from_pretrained(str(vae_path))

    bundle = load_model(str(path))
    assert isinstance(bundle.vae, AutoencoderKL) and bundle.latent_shape(2) == (2, 4, 16, 16)
    saved, expected = _state(bundle.vae), _state(trained_vae)
    assert saved.keys() == expected.keys() and all(torch.equal(saved[k], expected[k]) for k in saved)
    assert bundle.vae.config.scaling_factor == trained_vae.config.scaling_factor
    card = read_card(path)
    assert card["model"]["vae_class"] == "AutoencoderKL"
    assert 0 <= card["quality"]["noise"]["geneval"] <= 1  # chance = decoded latent noise

    other = {**budget, "autoencoder_overrides": {**budget["autoencoder_overrides"], "lr": 2e-3}}
    assert base_dir("tiny_sd3_latent", run_settings, other) != path  # the VAE is part of the key
    assert base_dir("tiny_sd3", run_settings) == base_dir(
        "tiny_sd3", run_settings, {"autoencoder_overrides": {}}
    )


def test_latent_statistics_are_written_into_the_config_and_a_collapse_is_an_error() -> None:
    vae = build_tiny_autoencoder()
    latents = 3.0 + 2.0 * torch.randn(4000, generator=torch.Generator().manual_seed(0))
    stats = set_latent_statistics(vae, latents)
    assert vae.config.shift_factor == pytest.approx(stats["latent_mean"]) == pytest.approx(3.0, abs=0.1)
    assert vae.config.scaling_factor == pytest.approx(1 / stats["latent_std"]) == pytest.approx(0.5, abs=0.02)
    with pytest.raises(ValueError, match="diverged"):
        set_latent_statistics(vae, torch.zeros(10))


def test_attaching_an_autoencoder_checks_the_preset(tmp_path) -> None:
    build_tiny_autoencoder(latent_channels=8).save_pretrained(tmp_path / "vae8")
    build_tiny_autoencoder().save_pretrained(tmp_path / "vae4")
    with pytest.raises(ValueError, match="pixel space"):
        attach_autoencoder(build_tiny_sd3(**SMALL_IMAGE_MODEL), tmp_path / "vae4")
    latent = build_tiny_sd3(latent=True, patch_size=1, **SMALL_IMAGE_MODEL)
    with pytest.raises(ValueError, match="latent_channels is 8"):
        attach_autoencoder(latent, tmp_path / "vae8")
    attach_autoencoder(latent, tmp_path / "vae4")
    assert not any(p.requires_grad for p in latent.vae.parameters())
