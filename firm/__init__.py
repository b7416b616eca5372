"""FIRM (papers/firm.md): curation pipelines, reward models, FIRM-Bench, reward server, RL.

Built so far: :mod:`firm.prompts` (curation prompts), :mod:`firm.curation` (difference-first
edit curation, plan-then-score generation curation, dataset assembly) and the tasks behind
``+exp=firm_edit_curate`` / ``+exp=firm_gen_curate`` (:mod:`firm.tasks`).
"""
