"""FIRM's Base-and-Bonus RL of image generators and editors (docs/papers/firm.md §4-5).

* ``items``: :class:`RLItem` (a prompt or an edit, with the world's truth) and seeded sources.
* ``critics``: :class:`Critic` (1-5 scores per RM mode): world oracle, reward server, annotators.
* ``critic_registry``: the critics by name, their options and ``CriticConfig`` / ``build_critic``.
* ``rewards``: :class:`RewardConfig` presets (CME, QMA, linear ablations): scores -> rewards in [0, 1].
* ``policy``: the policy's source (the scale's generator / editor) and its evaluation sampler.
* ``evaluate``: the held-out (prompt, noise) set scored by the world checker (never the reward
  model); ``eval_stats``: its aggregates and paired-bootstrap gains; ``eval_report``: the report
  table, before/after contact sheets and curves.

The trainer itself is model- and task-agnostic: :mod:`common.flow_rl.trainer`.
"""
