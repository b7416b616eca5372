"""The project's YAML presets and Hydra config tree (data, not code).

A package only so that the tree ships inside the wheel and is found the same way from a checkout
and from an installed copy; read it through :mod:`common.presets`, never by a file path.
"""
