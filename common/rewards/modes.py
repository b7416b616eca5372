"""The modes a FIRM reward model (critic) is asked in, defined once for the prompts, the reward
server and its client (docs/papers/firm.md §3-4).

* edit RM: ``execution`` (E, was the edit done) and ``consistency`` (C, was the rest kept),
  combined by CME;
* gen RM: ``instruction`` (I, does the image follow the prompt) and ``quality`` (Q, from the
  aesthetics / quality / structure sub-scores), combined by QMA.

Modes are plain strings (they travel in JSON bodies, dataset folder names and configs).
"""

from __future__ import annotations

__all__ = [
    "CONSISTENCY",
    "EDIT_MODES",
    "EXECUTION",
    "GEN_MODES",
    "INSTRUCTION",
    "KIND_MODES",
    "QUALITY",
    "RM_MODES",
]

EXECUTION = "execution"
CONSISTENCY = "consistency"
INSTRUCTION = "instruction"
QUALITY = "quality"

EDIT_MODES: tuple[str, ...] = (EXECUTION, CONSISTENCY)
"""The edit RM's modes (CME's E and C)."""
GEN_MODES: tuple[str, ...] = (INSTRUCTION, QUALITY)
"""The gen RM's modes (QMA's I and Q)."""
RM_MODES: tuple[str, ...] = (*EDIT_MODES, *GEN_MODES)
"""What a critic can be asked: the edit RM's two modes and the gen RM's two."""
KIND_MODES: dict[str, tuple[str, ...]] = {"edit": EDIT_MODES, "gen": GEN_MODES}
"""The modes of each RM kind (``edit``, ``gen``); one curated subset per mode."""
