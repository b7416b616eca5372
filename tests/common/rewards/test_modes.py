"""The RM modes are defined once (common.rewards.modes) and every user agrees with them."""

from __future__ import annotations

from common.rewards import critic_client
from common.rewards.modes import EDIT_MODES, GEN_MODES, KIND_MODES, RM_MODES
from firm.prompts.rm import RM_TEMPLATES
from firm.rm.examples import REQUIRED_COLUMNS
from firm.serve.config import DEFAULT_SCORE_MAX_TOKENS


def test_modes_by_hand() -> None:
    assert EDIT_MODES == ("execution", "consistency")
    assert GEN_MODES == ("instruction", "quality")
    assert (*EDIT_MODES, *GEN_MODES) == RM_MODES
    assert KIND_MODES == {"edit": EDIT_MODES, "gen": GEN_MODES}


def test_prompts_server_and_data_cover_exactly_the_modes() -> None:
    for name in RM_TEMPLATES:
        template = RM_TEMPLATES.get(name)
        assert set(template.texts) == set(RM_MODES) == set(template.systems), name
    assert set(DEFAULT_SCORE_MAX_TOKENS) == set(RM_MODES)
    assert set(REQUIRED_COLUMNS) == set(RM_MODES)
    assert critic_client.EDIT_MODES is EDIT_MODES
