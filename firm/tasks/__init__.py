"""FIRM experiment tasks (``run(cfg, ctx, **params) -> dict``), named by ``conf/exp/firm_*.yaml``."""
