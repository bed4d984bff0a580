"""Help of the queue and bus subcommands: plain text, and every option's default."""

import argparse

import pytest

from muosm_perf.cli import build_parser, main


def _subparser(name: str) -> argparse.ArgumentParser:
    parser = build_parser()
    (commands,) = [
        action
        for action in parser._actions
        if isinstance(action, argparse._SubParsersAction)
    ]
    return commands.choices[name]


@pytest.mark.parametrize("command", ["queue", "bus"])
def test_help_starts_with_plain_sentence(command, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([command, "--help"])
    assert exit_info.value.code == 0
    output = capsys.readouterr().out
    description = output.split("\n\n")[1]
    assert description[0].isupper(), description
    for markup in ("``", ":mod:", ":func:", ":class:"):
        assert markup not in output, markup


# Options that the top-level parser adds to every subcommand.
SHARED_OPTIONS = (["-h", "--help"], ["-v", "--verbose"])


@pytest.mark.parametrize("command", ["queue", "bus"])
def test_every_option_shows_default(command):
    checked = 0
    for action in _subparser(command)._actions:
        if not action.option_strings or action.option_strings in SHARED_OPTIONS:
            continue
        assert "(default: " in action.help, action.option_strings
        checked += 1
    assert checked >= 10


@pytest.mark.parametrize(
    ("option", "unit"),
    [
        ("--linger-ms", "milliseconds"),
        ("--replication-ms", "milliseconds"),
        ("--consumer-ms", "milliseconds"),
        ("--outage-start", "seconds"),
        ("--outage-duration", "seconds"),
        ("--failover", "seconds"),
    ],
)
def test_bus_time_options_name_unit(option, unit):
    (action,) = [a for a in _subparser("bus")._actions if option in a.option_strings]
    assert unit in action.help


def test_bus_defaults_match_config():
    defaults = {
        action.dest: action.default
        for action in _subparser("bus")._actions
        if action.option_strings
    }
    assert defaults["partitions"] == 8
    assert defaults["brokers"] == 3
    assert defaults["consumers"] == 4
    assert defaults["consumer_ms"] == pytest.approx(10.0)
    assert defaults["linger_ms"] == pytest.approx(5.0)
