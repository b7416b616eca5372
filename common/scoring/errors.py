"""Absolute-error statistics between predictions and human scores (same scale assumed).

* MAE: ``mean_i |x_i - y_i|``.
* RMSE: ``sqrt(mean_i (x_i - y_i)^2)``.

Like :mod:`common.scoring.correlation`, both work along the last axis of ``(..., n)`` arrays and
return a ``float`` for 1-D inputs, so the bootstrap can evaluate a batch of resamples at once.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from common.scoring.correlation import as_result, check_pair


def mae(x: ArrayLike, y: ArrayLike) -> float | NDArray[np.float64]:
    """Mean absolute error ``mean_i |x_i - y_i|`` along the last axis (``nan`` when n = 0)."""
    xa, ya = check_pair(x, y)
    if xa.shape[-1] == 0:
        return as_result(np.full(xa.shape[:-1], np.nan))
    return as_result(np.abs(xa - ya).mean(axis=-1))


def rmse(x: ArrayLike, y: ArrayLike) -> float | NDArray[np.float64]:
    """Root mean squared error ``sqrt(mean_i (x_i - y_i)^2)`` along the last axis."""
    xa, ya = check_pair(x, y)
    if xa.shape[-1] == 0:
        return as_result(np.full(xa.shape[:-1], np.nan))
    return as_result(np.sqrt(((xa - ya) ** 2).mean(axis=-1)))
