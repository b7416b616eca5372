"""FIRM's Base-and-Bonus RL of image generators and editors (docs/papers/firm.md §4-5).

* ``items``: :class:`RLItem` (a prompt or an edit, with the world's truth) and seeded sources.
* ``evaluate``: the held-out (prompt, noise) set scored by the world checker (never the reward
  model), paired-bootstrap gains, the report table, before/after contact sheets and curves.
"""
