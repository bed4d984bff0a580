"""What does losing the largest platform do, and does buying other machines help?

Replays the Google 2011 sample three ways. The baseline is the sample as it is.
The second removes the platform whose machines have the most CPU capacity, and the
third replaces those machines one for one by copies of the remaining ones. Prints
the delays per band and saves them as ``lose_platform.png``.

Usage: python scripts/whatif_lose_platform.py [SAMPLES] [--store STORE]
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
    RemovePlatform,
    ReplayEvaluation,
    Scenario,
    load_base,
    open_runner,
    run_sweep,
)

OUTPUTS = (
    "production_delay_p95_s",
    "middle_delay_p95_s",
    "free_delay_p95_s",
    "all_unscheduled_fraction",
    "cpu_capacity_mean",
    "machines",
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_arguments(parser)
    parser.add_argument("--seed", type=int, default=2011, help="machines copied")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        model = replay_model(args)
        base = load_base(
            sample_store(args, Path(scratch)), unscheduled=model["unscheduled"]
        )
    platforms = base.platforms()
    scenarios = [
        Scenario(name="baseline", seed=args.seed, calibrated=model["calibrated"]),
        Scenario(
            name="lost",
            transforms=(RemovePlatform(),),
            seed=args.seed,
            calibrated=model["calibrated"],
        ),
        Scenario(
            name="replaced",
            transforms=(RemovePlatform(replace=True),),
            seed=args.seed,
            calibrated=model["calibrated"],
        ),
    ]
    evaluation = ReplayEvaluation(outputs=OUTPUTS)
    with open_runner(base, evaluation, workers=args.workers) as runner:
        table = run_sweep(base, scenarios, evaluation, runner=runner, progress=True)

    largest = platforms.row(0, named=True)
    print(
        f"largest platform {largest['platform'][:12]}...: {largest['machines']:,} "
        f"of {base.present_machines:,} machines, CPU capacity "
        f"{largest['cpu_capacity']:,.1f} of {platforms['cpu_capacity'].sum():,.1f}"
    )
    with pl.Config(tbl_rows=-1, tbl_cols=-1, tbl_hide_dataframe_shape=True):
        print(table.select("scenario", *OUTPUTS))
    Path(args.output).mkdir(parents=True, exist_ok=True)
    figure = Path(args.output) / "lose_platform.png"
    plot_sweep(table, "scenario", OUTPUTS, figure)
    print(f"wrote {figure}")


if __name__ == "__main__":
    main()
