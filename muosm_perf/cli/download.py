"""``muosm download``: fetch a public trace into a folder the readers understand."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tqdm import tqdm

from muosm_perf.traces.download import (
    DEFAULT_BASE_URL,
    GOOGLE_2011_SHARDS,
    download_google_2011,
    file_urls,
    google_2011_files,
    parse_shards,
)


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``download`` subcommand."""
    parser = subparsers.add_parser(
        "download",
        help="download a public trace, resumably",
        description=(
            "Download tables and shards of a public trace over HTTPS. Complete "
            "files are skipped, interrupted ones resume, and every file is checked "
            "against its size and the bucket's SHA-256 list before it gets its "
            "final name."
        ),
    )
    parser.add_argument("trace", choices=["google-2011"], help="which trace")
    parser.add_argument(
        "--tables",
        default=",".join(GOOGLE_2011_SHARDS),
        help="comma-separated tables (default: all of "
        f"{', '.join(GOOGLE_2011_SHARDS)})",
    )
    parser.add_argument(
        "--shards",
        default="all",
        help="shards of the sharded tables, such as 0-3 or 0,5,7-9 (default: all "
        "500); machine_events and machine_attributes are one file each and are "
        "always downloaded whole",
    )
    parser.add_argument(
        "-o", "--output", type=Path, required=True, help="trace folder to fill"
    )
    parser.add_argument(
        "--base-url",
        default=DEFAULT_BASE_URL,
        help=f"address of the bucket (default: {DEFAULT_BASE_URL})",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=60.0,
        help="seconds to wait for the server on each request (default: 60)",
    )
    parser.add_argument(
        "--retries",
        type=int,
        default=3,
        help="further attempts after a network or server error (default: 3)",
    )
    parser.add_argument(
        "--no-verify-existing",
        action="store_true",
        help="trust a file already present when its size matches the server's, "
        "instead of checking its SHA-256",
    )
    parser.add_argument(
        "--list",
        action="store_true",
        help="print the URLs of the selected files and exit without downloading",
    )
    parser.set_defaults(handler=run)


class _ProgressBars:
    """One byte-counting progress bar per file, on standard error."""

    def __init__(self) -> None:
        self.path: str | None = None
        self.bar: tqdm | None = None
        self.done = 0

    def __call__(self, path: str, done: int, total: int | None) -> None:
        if path != self.path:
            self.close()
            self.path = path
            self.done = 0
            self.bar = tqdm(
                total=total,
                initial=0,
                unit="B",
                unit_scale=True,
                unit_divisor=1024,
                desc=path,
                leave=False,
                disable=None,
            )
        if self.bar is not None:
            self.bar.update(done - self.done)
        self.done = done

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
        self.bar = None


def run(args: argparse.Namespace) -> int:
    """Download the selected files and print a summary."""
    tables = [t.strip() for t in args.tables.split(",") if t.strip()]
    shards = parse_shards(args.shards)
    if args.list:
        paths = google_2011_files(tables, shards)
        for url in file_urls(paths, args.base_url):
            print(url)
        return 0

    progress = _ProgressBars()
    try:
        report = download_google_2011(
            args.output,
            tables=tables,
            shards=shards,
            base_url=args.base_url,
            timeout_s=args.timeout,
            retries=args.retries,
            verify_existing=not args.no_verify_existing,
            progress=progress,
        )
    finally:
        progress.close()
    checks = (
        f"SHA-256 verified for {report.checksum_verified}"
        if report.checksums_available
        else "no SHA256SUM on the server, sizes checked only"
    )
    print(
        f"{args.output}: downloaded {len(report.downloaded)} files "
        f"({report.bytes_downloaded / 2**20:.1f} MiB), skipped "
        f"{len(report.skipped)} complete files; {checks}",
        file=sys.stdout,
    )
    return 0
