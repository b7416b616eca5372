"""The exact linear patch embedding of the Qwen-VL vision towers (a CPU speed-up, same weights).

The Qwen2.5-VL and Qwen3-VL vision towers embed patches with a ``Conv3d`` whose kernel equals
its stride, ``(T, P, P)`` = ``(temporal_patch_size, patch_size, patch_size)``, and their
``PatchEmbed.forward`` first views ``pixel_values`` ``[N, C*T*P*P]`` as ``[N, C, T, P, P]``: each
row is exactly one kernel window, flattened in the weight's own ``(C, T, P, P)`` order. The
convolution then has one output position per row, so with ``W`` the ``[E, C, T, P, P]`` kernel
and ``b`` the bias (zero when absent)

    conv3d(x, W, b)[n, e, 0, 0, 0] = b[e] + sum_{c,t,i,j} W[e, c, t, i, j] x[n, c, t, i, j]
                                  = F.linear(x.reshape(N, -1), W.reshape(E, -1), b)[n, e],

the same sum in a different order (float32 results agree to ~1e-6). Why: on CPU the ``Conv3d``
is slow for this shape. Issue 17 measured 3.85 s of a 7.7 s vision-tower forward + backward in
the Conv3d and 0.46 s as ``F.linear`` (batch 64, 224 px, one thread); ``make bench``
(``experiments/bench/bench_vlm_patch_embed.py``) measured the patch embedding's forward +
backward at 1.09 -> 0.17 s (tiny Qwen3-VL) and 1.01 -> 0.14 s (tiny Qwen2.5-VL), the whole
vision tower at 2.12 -> 1.08 s and 1.39 -> 0.89 s, on a loaded 2-core machine.

:class:`LinearPatchConv3d` is an ``nn.Conv3d`` subclass with that ``forward``; it keeps the
module, its parameters, their names (``...patch_embed.proj.weight`` / ``.bias``) and shapes,
so ``state_dict`` keys and ``save_pretrained`` checkpoints are unchanged and the real
``from_pretrained`` classes load them. :func:`set_linear_patch_embed` switches a model's
patch embeddings either way in place and records the choice in ``model.config`` as
:data:`CONFIG_KEY` (saved in ``config.json``), which the project's loaders read back
(:func:`apply_linear_patch_embed`). Inputs that are not one window per row (which these towers
never produce) fall back to the convolution.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

CONFIG_KEY = "linear_patch_embed"
"""Attribute of the model's (top-level) config recording whether the patch embedding runs as a
linear map; absent means ``False`` (the library's ``Conv3d`` path)."""


class LinearPatchConv3d(nn.Conv3d):
    """A ``Conv3d`` with kernel == stride that computes one-window inputs as ``F.linear``.

    Same parameters and state as ``nn.Conv3d``; ``forward(x)`` with ``x`` ``[N, C, *kernel]``
    returns ``F.linear(x.reshape(N, -1), weight.reshape(out_channels, -1), bias)`` viewed as
    ``[N, out_channels, 1, 1, 1]``, which equals the convolution (module docstring). Any other
    input shape goes through the convolution.
    """

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        if input.dim() != 5 or tuple(input.shape[2:]) != tuple(self.kernel_size):
            return super().forward(input)
        n = input.shape[0]
        out = F.linear(input.reshape(n, -1), self.weight.reshape(self.out_channels, -1), self.bias)
        return out.view(n, self.out_channels, 1, 1, 1)


def is_patch_conv(module: nn.Module) -> bool:
    """A ``Conv3d`` whose windows tile its input without overlap or gaps: kernel == stride, no
    padding, dilation 1, one group (the Qwen-VL patch embeddings), where the linear form is exact."""
    return (
        isinstance(module, nn.Conv3d)
        and tuple(module.kernel_size) == tuple(module.stride)
        and tuple(module.dilation) == (1, 1, 1)
        and module.groups == 1
        and (module.padding == "valid" or tuple(module.padding) == (0, 0, 0))
    )


def set_linear_patch_embed(model: nn.Module, enabled: bool = True) -> int:
    """Switch every patch-embedding ``Conv3d`` of ``model`` to :class:`LinearPatchConv3d`
    (``enabled``) or back to ``nn.Conv3d``, in place, and record ``enabled`` in ``model.config``.

    The switch changes only the modules' class: parameters, buffers, hooks, device and dtype are
    untouched. Returns how many modules are patch convolutions (switched or already in the
    requested form). Raises ``ValueError`` when ``enabled`` and the model has none (the flag
    would do nothing).
    """
    convs = [m for m in model.modules() if is_patch_conv(m)]
    if enabled and not convs:
        raise ValueError(f"{type(model).__name__} has no patch-embedding Conv3d to run as a linear map")
    for module in convs:
        module.__class__ = LinearPatchConv3d if enabled else nn.Conv3d
    config = getattr(model, "config", None)
    if config is not None:
        setattr(config, CONFIG_KEY, bool(enabled))
    return len(convs)


def apply_linear_patch_embed(model: Any, enabled: bool | None = None) -> bool:
    """What builders and loaders call: ``enabled`` if given, else the choice saved in
    ``model.config`` (:data:`CONFIG_KEY`; absent = ``False``). A model with neither the linear
    form nor a recorded choice is left untouched when ``enabled`` is false (its config gains no
    key). Returns the setting applied."""
    recorded = bool(getattr(getattr(model, "config", None), CONFIG_KEY, False))
    enabled = recorded if enabled is None else bool(enabled)
    if enabled or recorded or uses_linear_patch_embed(model):
        set_linear_patch_embed(model, enabled)
    return enabled


def uses_linear_patch_embed(model: nn.Module) -> bool:
    """Whether any patch embedding of ``model`` runs as :class:`LinearPatchConv3d`."""
    return any(isinstance(m, LinearPatchConv3d) for m in model.modules())
