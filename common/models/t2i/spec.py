"""Project-level settings of a T2I bundle: :class:`T2ISpec`, saved as :data:`BUNDLE_FILE`."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

BUNDLE_FILE = "t2i_bundle.json"
"""Project-specific settings of a T2I bundle (absent from hub repos: defaults apply)."""


PREDICTIONS: tuple[str, ...] = ("velocity", "sample")
"""What a T2I transformer may be trained to output (:attr:`T2ISpec.prediction`)."""
SAMPLE_PREDICTION_MIN_SIGMA = 0.05
"""Floor of ``sigma`` when an x-prediction is turned into a velocity (JiT clips ``1 - t`` at 0.05)."""


@dataclass
class T2ISpec:
    """Project-level settings of a T2I bundle (saved as ``t2i_bundle.json``).

    Attributes:
        family: key of :data:`T2I_FAMILIES` (``"sd3"`` or ``"qwen_image_edit"``).
        resolution: side in pixels of the images the model makes (32 for the tiny pixel models).
        text_max_length: tokens per prompt of a CLIP-style encoder (padding to this length).
        text_hidden_layer: which hidden state of the CLIP encoders is used (SD3: -2).
        t5_max_length: tokens of the T5 encoder, when the bundle has one.
        encode_template: the editor's chat template for its VL text encoder (``{}`` = user turn).
        encode_image_template: how each source image enters the user turn (``{}`` = image index).
        encode_drop_idx: leading tokens (the system prompt) dropped from the encoder's output.
        condition_resolution: side in pixels of the source image shown to the VL text encoder.
        prediction: what the transformer outputs: ``"velocity"`` (``v = noise - x_0``, as SD3 and
            Qwen-Image are trained) or ``"sample"`` (the clean ``x_0``, "x-prediction" of Li & He,
            JiT, 2025), turned into the velocity ``v = (x_t - x0_hat) / max(sigma, 0.05)`` by
            :meth:`T2IBundle.velocity`, so losses, samplers and RL see a velocity either way.
    """

    family: str
    resolution: int = 32
    text_max_length: int = 77
    text_hidden_layer: int = -2
    t5_max_length: int = 256
    encode_template: str | None = None
    encode_image_template: str | None = None
    encode_drop_idx: int = 0
    condition_resolution: int = 128
    prediction: str = "velocity"

    def __post_init__(self) -> None:
        if self.prediction not in PREDICTIONS:
            raise ValueError(f"T2ISpec.prediction must be one of {PREDICTIONS}, got {self.prediction!r}")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> T2ISpec:
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})
