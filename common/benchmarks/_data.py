"""Locate a vendored data file of this package, installed or in a source checkout."""

from __future__ import annotations

from importlib.resources import as_file, files
from pathlib import Path


def package_data_path(package: str, *parts: str) -> Path:
    """The filesystem path of ``<package>/<parts...>`` (a package installed from a wheel included).

    Raises ``FileNotFoundError`` naming the file when the data did not ship with the package.
    """
    resource = files(package).joinpath(*parts)
    with as_file(resource) as path:  # a real path for ordinary (non-zipped) installs
        p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"vendored data file missing: {p} (was the package data installed?)")
    return p
