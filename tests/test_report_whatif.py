"""Figures of what-if sweeps."""

from __future__ import annotations

import polars as pl
import pytest
from matplotlib.image import imread

from muosm_perf.report.whatif import plot_sweep


@pytest.mark.parametrize(
    "values",
    [[True, False, True, False], ["fifo", "priority", "fifo", "priority"]],
)
def test_category_sweep_draws_bars(tmp_path, values):
    table = pl.DataFrame(
        {
            "replay.calibrated": values,
            "seed": [1, 1, 2, 2],
            "delay_s": [1.0, 3.0, 2.0, 5.0],
        }
    )
    path = plot_sweep(
        table, "replay.calibrated", ["delay_s"], tmp_path / "sweep.png", others=()
    )
    image = imread(path)
    assert image.shape[0] > 100
    assert image.shape[1] > 100
    # Two categories, each a bar of the mean over its replicates.
    assert image.std() > 0
