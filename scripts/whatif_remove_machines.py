"""How many machines can be removed before production p95 delay passes 10 s?

Bisects over replays of the Google 2011 sample for the fewest machines at which
the production band's p95 scheduling delay is at most ``--threshold`` seconds.
Machines are removed at random with one seed, so each smaller cluster is a subset
of the larger ones. Prints the evaluated points and the answer, and saves the curve as
``remove_machines.png``.

Usage: python scripts/whatif_remove_machines.py [SAMPLES] [--threshold 10]
       [--store STORE] [--workers N] [-o OUT]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import polars as pl
from whatif_sample import add_arguments, replay_model, sample_store

from muosm_perf.report.whatif import plot_search
from muosm_perf.whatif import (
    ReplayEvaluation,
    Scenario,
    find_min_machines,
    load_base,
    open_runner,
)

OBJECTIVE = "production_delay_p95_s"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_arguments(parser)
    parser.add_argument("--threshold", type=float, default=10.0, help="seconds")
    parser.add_argument("--seed", type=int, default=2011, help="machines removed")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        model = replay_model(args)
        base = load_base(
            sample_store(args, Path(scratch)), unscheduled=model["unscheduled"]
        )
    evaluation = ReplayEvaluation(outputs=(OBJECTIVE, "production_unscheduled"))
    with open_runner(base, evaluation, workers=args.workers) as runner:
        result = find_min_machines(
            base,
            evaluation,
            objective=OBJECTIVE,
            threshold=args.threshold,
            template=Scenario(
                name="remove", seed=args.seed, calibrated=model["calibrated"]
            ),
            runner=runner,
            progress=True,
        )

    with pl.Config(tbl_rows=-1, tbl_hide_dataframe_shape=True):
        points = result.points.with_columns(pl.col("value").cast(pl.Int64))
        print(points.rename({"value": "machines", "objective": OBJECTIVE}))
    present = base.present_machines
    if result.answer is None:
        print(f"no machine count up to {result.high:,.0f} meets the objective")
    else:
        spare = present - result.answer
        verdict = (
            f"{spare:,} can be removed"
            if spare >= 0
            else f"{-spare:,} more are needed under this replay model"
        )
        print(
            f"{present:,} machines present; the fewest with {OBJECTIVE} <= "
            f"{args.threshold:g} s is {result.answer:,}: {verdict}"
            + ("" if result.monotone else " (not monotone: conservative answer)")
        )
    Path(args.output).mkdir(parents=True, exist_ok=True)
    figure = plot_search(result, Path(args.output) / "remove_machines.png")
    print(f"wrote {figure}")


if __name__ == "__main__":
    main()
