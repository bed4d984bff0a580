"""What does doubling the batch (middle band) load do to every band?

Replays the Google 2011 sample with the jobs of the middle priority band
replicated 1x to 2x (copies submitted within ``--jitter`` seconds of their
original, one seed for every point) and prints the delays per band. Saves the
outputs against the load factor as ``double_batch.png``.

Usage: python scripts/whatif_double_batch.py [SAMPLES] [--store STORE]
       [--workers N] [-o OUT]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import polars as pl
from whatif_sample import add_arguments, replay_model, sample_store

from muosm_perf.report.whatif import plot_sweep
from muosm_perf.whatif import (
    ReplayEvaluation,
    ScaleLoad,
    Scenario,
    expand_sweep,
    load_base,
    open_runner,
    run_sweep,
)

OUTPUTS = (
    "production_delay_p95_s",
    "middle_delay_p50_s",
    "middle_delay_p95_s",
    "free_delay_p95_s",
    "middle_unscheduled_fraction",
    "cpu_utilization_mean",
)
FACTORS = [1.0, 1.25, 1.5, 1.75, 2.0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_arguments(parser)
    parser.add_argument("--jitter", type=float, default=60.0, help="seconds")
    parser.add_argument("--seed", type=int, default=2011, help="jobs copied")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        model = replay_model(args)
        base = load_base(
            sample_store(args, Path(scratch)), unscheduled=model["unscheduled"]
        )
    batch = ScaleLoad(factor=1.0, bands=("middle",), jitter_s=args.jitter)
    template = Scenario(
        name="batch",
        transforms=(batch,),
        seed=args.seed,
        calibrated=model["calibrated"],
    )
    scenarios = expand_sweep(template, {"scale_load.factor": FACTORS})
    evaluation = ReplayEvaluation(outputs=OUTPUTS)
    with open_runner(base, evaluation, workers=args.workers) as runner:
        table = run_sweep(base, scenarios, evaluation, runner=runner, progress=True)

    shown = table.select(pl.col("scale_load.factor").alias("middle load"), *OUTPUTS)
    with pl.Config(tbl_rows=-1, tbl_cols=-1, tbl_hide_dataframe_shape=True):
        print(shown)
    Path(args.output).mkdir(parents=True, exist_ok=True)
    figure = Path(args.output) / "double_batch.png"
    plot_sweep(table, "scale_load.factor", OUTPUTS, figure)
    print(f"wrote {figure}")


if __name__ == "__main__":
    main()
