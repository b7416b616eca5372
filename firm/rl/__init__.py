"""FIRM's Base-and-Bonus RL of image generators and editors (docs/papers/firm.md §4-5).

* ``items``: :class:`RLItem` (a prompt or an edit, with the world's truth) and seeded sources.
"""
