"""Task functions of the T2I-Eval-R1 experiments (``run(cfg, ctx, **params) -> dict``), each
named by ``task._target_`` in a ``conf/exp/<name>.yaml``."""
