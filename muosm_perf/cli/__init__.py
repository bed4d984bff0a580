"""The ``muosm`` command: one subcommand per module of this package.

Each subcommand module defines ``register(subparsers)``, which adds its parser and
sets ``handler`` to a function taking the parsed arguments and returning the exit
status.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

from muosm_perf import __version__
from muosm_perf.errors import MuosmError

logger = logging.getLogger("muosm_perf")

COMMAND_MODULES: tuple[str, ...] = (
    "muosm_perf.cli.ingest",
    "muosm_perf.cli.analyze",
    "muosm_perf.cli.report",
    "muosm_perf.cli.compare",
    "muosm_perf.cli.run",
    "muosm_perf.cli.queue",
    "muosm_perf.cli.bus",
    "muosm_perf.cli.download",
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
    except KeyboardInterrupt:
        print("muosm: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
