"""Argument types shared by subcommands: numbers checked at parse time.

Each type raises ``argparse.ArgumentTypeError``, so argparse reports the option as
the user typed it (``argument --partitions: must be >= 1, got 0``) and exits with
status 2.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable


def whole_number(minimum: int) -> Callable[[str], int]:
    """Return a parser of whole numbers >= ``minimum``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError as error:
            raise argparse.ArgumentTypeError(
                f"expected a whole number, got {text!r}"
            ) from error
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be >= {minimum}, got {value}")
        return value

    return parse


def finite_number(
    *, minimum: float = -math.inf, strict: bool = False
) -> Callable[[str], float]:
    """Return a parser of finite numbers >= ``minimum`` (> when ``strict``)."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError as error:
            raise argparse.ArgumentTypeError(
                f"expected a number, got {text!r}"
            ) from error
        if not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"must be a finite number, got {text!r}")
        if value < minimum or (strict and value == minimum):
            relation = ">" if strict else ">="
            raise argparse.ArgumentTypeError(
                f"must be {relation} {minimum:g}, got {value:g}"
            )
        return value

    return parse


def number_list(
    parse_item: Callable[[str], float | int],
) -> Callable[[str], list[float | int]]:
    """Return a parser of comma-separated values, each checked by ``parse_item``."""

    def parse(text: str) -> list[float | int]:
        items = [item.strip() for item in text.split(",") if item.strip()]
        if not items:
            raise argparse.ArgumentTypeError(
                f"expected comma-separated values, got {text!r}"
            )
        values = []
        for position, item in enumerate(items, start=1):
            try:
                values.append(parse_item(item))
            except argparse.ArgumentTypeError as error:
                raise argparse.ArgumentTypeError(
                    f"item {position} of {text!r}: {error}"
                ) from error
        return values

    return parse
