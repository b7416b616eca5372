"""Flow-matching image models (generators and editors) behind one interface.

- :mod:`~common.models.t2i.spec`: :class:`T2ISpec`, the project-level settings of a bundle.
- :mod:`~common.models.t2i.images`: PIL <-> tensor conversions, patch packing.
- :mod:`~common.models.t2i.conditioning`: :class:`Conditioning`, what the transformer sees.
- :mod:`~common.models.t2i.vae`: the VAE layout facts the families and the bundle need.
- :mod:`~common.models.t2i.families`: one :class:`T2IFamily` per architecture and their registry.
- :mod:`~common.models.t2i.bundle`: :class:`T2IBundle`, the four methods trainers use, saving.
"""

from common.models.t2i.bundle import T2I_COMPONENTS, T2IBundle
from common.models.t2i.conditioning import Conditioning
from common.models.t2i.families import (
    T2I_FAMILIES,
    FlowUNetEditFamily,
    FlowUNetFamily,
    QwenImageEditFamily,
    SD3Family,
    T2IFamily,
    family_of_pipeline,
)
from common.models.t2i.images import ImagesLike, pack_patches, pil_to_tensor, tensor_to_pil, unpack_patches
from common.models.t2i.spec import BUNDLE_FILE, PREDICTIONS, SAMPLE_PREDICTION_MIN_SIGMA, T2ISpec
from common.models.t2i.vae import is_video_vae, vae_scale_factor

__all__ = [
    "BUNDLE_FILE",
    "PREDICTIONS",
    "SAMPLE_PREDICTION_MIN_SIGMA",
    "T2I_COMPONENTS",
    "T2I_FAMILIES",
    "Conditioning",
    "FlowUNetEditFamily",
    "FlowUNetFamily",
    "ImagesLike",
    "QwenImageEditFamily",
    "SD3Family",
    "T2IBundle",
    "T2IFamily",
    "T2ISpec",
    "family_of_pipeline",
    "is_video_vae",
    "pack_patches",
    "pil_to_tensor",
    "tensor_to_pil",
    "unpack_patches",
    "vae_scale_factor",
]
