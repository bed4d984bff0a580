"""The ``muosm`` command: one subcommand per module of this package.

Each subcommand module defines ``register(subparsers)``, which adds its parser and
sets ``handler`` to a function taking the parsed arguments and returning the exit
status.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from collections.abc import Sequence

import polars as pl

from muosm_perf import __version__
from muosm_perf.errors import MuosmError

logger = logging.getLogger("muosm_perf")

COMMAND_MODULES: tuple[str, ...] = (
    "muosm_perf.cli.ingest",
    "muosm_perf.cli.analyze",
    "muosm_perf.cli.report",
    "muosm_perf.cli.compare",
    "muosm_perf.cli.run",
    "muosm_perf.cli.replay",
    "muosm_perf.cli.queue",
    "muosm_perf.cli.bus",
    "muosm_perf.cli.download",
    "muosm_perf.cli.faults",
    "muosm_perf.cli.fault_whatif",
    "muosm_perf.cli.whatif",
)
"""Modules that register subcommands, in the order ``muosm --help`` lists them."""


def build_parser() -> argparse.ArgumentParser:
    """Build the argument parser with every subcommand."""
    parser = argparse.ArgumentParser(
        prog="muosm",
        description=(
            "Performance modelling and trace analysis of distributed systems in the "
            "Micro-Operating System Model."
        ),
    )
    parser.add_argument("--version", action="version", version=__version__)
    parser.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=0,
        help="log more: -v for progress messages, -vv for debugging",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    subparsers.required = True
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    for subparser in subparsers.choices.values():
        # Accept -v after the subcommand too; SUPPRESS keeps an absent flag from
        # resetting a count given before the subcommand.
        subparser.add_argument(
            "-v",
            "--verbose",
            action="count",
            default=argparse.SUPPRESS,
            help="log more: -v for progress messages, -vv for debugging",
        )
    return parser


def configure_logging(verbosity: int) -> None:
    """Send log records to standard error; warnings by default, more with ``-v``."""
    level = {0: logging.WARNING, 1: logging.INFO}.get(verbosity, logging.DEBUG)
    logging.basicConfig(
        level=level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``muosm`` command and return its exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    configure_logging(args.verbose)
    try:
        return args.handler(args)
    except MuosmError as error:
        print(f"muosm {args.command}: error: {error}", file=sys.stderr)
        return 2
    except pl.exceptions.PolarsError as error:
        # A table that cannot be read, most often a damaged store part.
        logger.debug("Polars error", exc_info=True)
        print(
            f"muosm {args.command}: error: reading a table failed: {error}. If the "
            "table is part of a trace store, the store is damaged: ingest the trace "
            "again",
            file=sys.stderr,
        )
        return 2
    except BrokenPipeError:
        # The reader of standard output went away (for example `| head`).
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    except KeyboardInterrupt:
        print("muosm: interrupted", file=sys.stderr)
        return 130
    except SystemError as error:
        # An interrupt inside a compiled kernel surfaces as a SystemError whose
        # context is the KeyboardInterrupt.
        if isinstance(error.__context__, KeyboardInterrupt):
            print("muosm: interrupted", file=sys.stderr)
            return 130
        raise


if __name__ == "__main__":
    sys.exit(main())
