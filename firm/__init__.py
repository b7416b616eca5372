"""FIRM (docs/papers/firm.md): curation pipelines, reward models, FIRM-Bench, reward server, RL.

Built so far: :mod:`firm.prompts` (curation prompts, RM prompts), :mod:`firm.curation`
(difference-first edit curation, plan-then-score generation curation, dataset assembly),
:mod:`firm.rm` (reward-model SFT data and model sources), :mod:`firm.bench` (FIRM-Bench MAE) and
the tasks behind ``+exp=firm_edit_curate`` / ``+exp=firm_gen_curate`` / ``+exp=firm_edit_rm`` /
``+exp=firm_gen_rm`` / ``+exp=firm_bench`` (:mod:`firm.tasks`).
"""
