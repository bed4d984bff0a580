"""Tests of the Google 2011 downloader against a local HTTP server.

The server runs on 127.0.0.1 in a thread of the test process and serves bytes the
tests choose, with range requests, HEAD, and faults on request. Nothing here
connects anywhere else.
"""

from __future__ import annotations

import hashlib
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from muosm_perf.cli import main
from muosm_perf.errors import DownloadError, ParameterError
from muosm_perf.traces.download import (
    GOOGLE_2011_SHARDS,
    download_google_2011,
    google_2011_files,
    parse_checksums,
    parse_shards,
)

PREFIX = "/clusterdata-2011-2/"


@dataclass
class Bucket:
    """What the local server serves, and what it was asked."""

    files: dict[str, bytes] = field(default_factory=dict)
    fail: dict[str, list[int]] = field(default_factory=dict)
    """Error statuses to return, one per request, before serving a path."""
    truncate_once: set[str] = field(default_factory=set)
    ignore_range: bool = False
    requests: list[tuple[str, str, str | None]] = field(default_factory=list)

    def gets(self, path: str) -> list[str | None]:
        """Range headers of the GET requests of a path."""
        return [r for m, p, r in self.requests if m == "GET" and p == path]


def make_handler(bucket: Bucket) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def _serve(self, with_body: bool) -> None:
            method = "GET" if with_body else "HEAD"
            path = self.path.removeprefix(PREFIX)
            range_header = self.headers.get("Range")
            bucket.requests.append((method, path, range_header))
            if bucket.fail.get(path):
                status = bucket.fail[path].pop(0)
                self.send_error(status)
                return
            if not self.path.startswith(PREFIX) or path not in bucket.files:
                self.send_error(404)
                return
            body = bucket.files[path]
            start = 0
            if range_header and not bucket.ignore_range and with_body:
                start = int(range_header.removeprefix("bytes=").rstrip("-"))
                if start >= len(body):
                    self.send_error(416)
                    return
                self.send_response(206)
                self.send_header(
                    "Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}"
                )
            else:
                self.send_response(200)
            self.send_header("Content-Length", str(len(body) - start))
            self.end_headers()
            if not with_body:
                return
            if path in bucket.truncate_once:
                bucket.truncate_once.discard(path)
                self.wfile.write(body[start : start + (len(body) - start) // 2])
                self.wfile.flush()
                self.close_connection = True
                return
            self.wfile.write(body[start:])

        def do_GET(self) -> None:
            self._serve(with_body=True)

        def do_HEAD(self) -> None:
            self._serve(with_body=False)

    return Handler


@pytest.fixture
def bucket() -> Iterator[tuple[Bucket, str]]:
    state = Bucket()
    server = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(state))
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield state, f"http://127.0.0.1:{server.server_address[1]}{PREFIX.rstrip('/')}"
    finally:
        server.shutdown()
        server.server_close()


def fill(bucket: Bucket, paths: list[str], *, checksums: bool = True) -> None:
    """Serve a distinct body for each path, a schema.csv, and the SHA256SUM list."""
    for number, path in enumerate(paths):
        bucket.files[path] = (f"{path},{number}\n" * (3000 + number)).encode()
    bucket.files["schema.csv"] = b"file pattern,field number,content,format,mandatory\n"
    if checksums:
        lines = [
            f"{hashlib.sha256(body).hexdigest()}  ./{path}"
            for path, body in bucket.files.items()
            if path.endswith(".csv.gz")
        ]
        bucket.files["SHA256SUM"] = ("\n".join(lines) + "\n").encode()


SELECTED = google_2011_files(["task_events", "job_events", "machine_events"], [0, 1])


def fetch(url: str, out: Path, **options: object):
    options.setdefault("retry_wait_s", 0.0)
    return download_google_2011(
        out,
        tables=["task_events", "job_events", "machine_events"],
        shards=[0, 1],
        base_url=url,
        **options,
    )


# ------------------------------------------------------------------ selection


def test_parse_shards_ranges_and_lists():
    assert parse_shards("0-3") == [0, 1, 2, 3]
    assert parse_shards("0, 5,7-9,5") == [0, 5, 7, 8, 9]
    assert parse_shards("12") == [12]
    assert parse_shards("all") is None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a", r"invalid shard selection 'a' at 'a'"),
        ("3-1", r"invalid shard range '3-1'"),
        ("0,,2", r"invalid shard selection '0,,2' at ''"),
        ("-2", r"invalid shard selection '-2'"),
    ],
)
def test_parse_shards_rejects_bad_text(text: str, message: str):
    with pytest.raises(ParameterError, match=message):
        parse_shards(text)


def test_file_list_for_tables_and_shards():
    assert google_2011_files(["task_events", "machine_events"], [0, 3]) == [
        "task_events/part-00000-of-00500.csv.gz",
        "task_events/part-00003-of-00500.csv.gz",
        "machine_events/part-00000-of-00001.csv.gz",
    ]
    every = google_2011_files(list(GOOGLE_2011_SHARDS), None)
    assert len(every) == 4 * 500 + 2
    assert len(set(every)) == len(every)


def test_file_list_rejects_unknown_table_and_shard():
    with pytest.raises(ParameterError, match=r"invalid tables \['tasks'\]"):
        google_2011_files(["tasks"], None)
    with pytest.raises(ParameterError, match=r"invalid shard 500: .* 0 to 499"):
        google_2011_files(["job_events"], [1, 500])


def test_checksum_list_formats():
    digest = "ab" * 32
    text = (
        f"{digest}  ./task_events/a.csv.gz\n"
        f"{digest.upper()} *job_events/b.csv.gz\n"
        "not a checksum line\n\n"
    )
    assert parse_checksums(text) == {
        "task_events/a.csv.gz": digest,
        "job_events/b.csv.gz": digest,
    }


# ------------------------------------------------------------------ downloads


def test_download_writes_verified_files(bucket, tmp_path: Path):
    state, url = bucket
    fill(state, SELECTED)
    seen: dict[str, tuple[int, int | None]] = {}
    report = fetch(
        url, tmp_path / "t", progress=lambda p, d, t: seen.update({p: (d, t)})
    )

    assert report.checksums_available
    assert len(report.downloaded) == len(SELECTED) == 5
    assert report.checksum_verified == 5
    assert report.bytes_downloaded == sum(len(state.files[p]) for p in SELECTED)
    for path in SELECTED:
        assert (tmp_path / "t" / path).read_bytes() == state.files[path]
        assert seen[path] == (len(state.files[path]), len(state.files[path]))
    assert (tmp_path / "t" / "SHA256SUM").read_bytes() == state.files["SHA256SUM"]
    assert (tmp_path / "t" / "schema.csv").read_bytes() == state.files["schema.csv"]
    assert not list((tmp_path / "t").rglob("*.tmp-download"))


def test_rerun_skips_complete_files(bucket, tmp_path: Path):
    state, url = bucket
    fill(state, SELECTED)
    fetch(url, tmp_path / "t")
    state.requests.clear()

    report = fetch(url, tmp_path / "t")
    assert report.downloaded == []
    assert len(report.skipped) == 5
    assert report.checksum_verified == 5
    assert all(state.gets(p) == [] for p in SELECTED)


def test_rerun_replaces_corrupt_file(bucket, tmp_path: Path):
    state, url = bucket
    fill(state, SELECTED)
    fetch(url, tmp_path / "t")
    target = tmp_path / "t" / SELECTED[1]
    target.write_bytes(b"garbage")

    report = fetch(url, tmp_path / "t")
    assert report.downloaded == [target]
    assert target.read_bytes() == state.files[SELECTED[1]]


def test_partial_file_resumes_with_range(bucket, tmp_path: Path):
    state, url = bucket
    fill(state, SELECTED)
    path = SELECTED[0]
    body = state.files[path]
    partial = tmp_path / "t" / (path + ".tmp-download")
    partial.parent.mkdir(parents=True)
    partial.write_bytes(body[:1000])

    fetch(url, tmp_path / "t")
    assert state.gets(path) == ["bytes=1000-"]
    assert (tmp_path / "t" / path).read_bytes() == body
    assert not partial.exists()


def test_partial_file_restarts_when_range_ignored(bucket, tmp_path: Path):
    state, url = bucket
    fill(state, SELECTED)
    state.ignore_range = True
    path = SELECTED[0]
    partial = tmp_path / "t" / (path + ".tmp-download")
    partial.parent.mkdir(parents=True)
    partial.write_bytes(b"x" * 500)

    fetch(url, tmp_path / "t")
    assert (tmp_path / "t" / path).read_bytes() == state.files[path]


def test_partial_longer_than_file_restarts(bucket, tmp_path: Path):
    state, url = bucket
    fill(state, SELECTED)
    path = SELECTED[0]
    partial = tmp_path / "t" / (path + ".tmp-download")
    partial.parent.mkdir(parents=True)
    partial.write_bytes(b"x" * (len(state.files[path]) + 10))

    fetch(url, tmp_path / "t")
    assert state.gets(path) == [f"bytes={len(state.files[path]) + 10}-", None]
    assert (tmp_path / "t" / path).read_bytes() == state.files[path]


def test_dropped_connection_resumes(bucket, tmp_path: Path):
    state, url = bucket
    fill(state, SELECTED)
    path = SELECTED[2]
    state.truncate_once.add(path)

    fetch(url, tmp_path / "t")
    half = len(state.files[path]) // 2
    assert state.gets(path) == [None, f"bytes={half}-"]
    assert (tmp_path / "t" / path).read_bytes() == state.files[path]


def test_server_error_is_retried(bucket, tmp_path: Path):
    state, url = bucket
    fill(state, SELECTED)
    state.fail[SELECTED[0]] = [503, 500]

    report = fetch(url, tmp_path / "t", retries=2)
    assert len(report.downloaded) == 5
    assert len(state.gets(SELECTED[0])) == 3


def test_server_error_after_retries_fails(bucket, tmp_path: Path):
    state, url = bucket
    fill(state, SELECTED)
    state.fail[SELECTED[0]] = [500, 500, 500]

    with pytest.raises(DownloadError, match=r"HTTP 500 .* after 3 attempts; check"):
        fetch(url, tmp_path / "t", retries=2)
    assert not (tmp_path / "t" / SELECTED[0]).exists()


def test_missing_file_names_url_and_fix(bucket, tmp_path: Path):
    state, url = bucket
    fill(state, SELECTED)
    del state.files[SELECTED[3]]

    with pytest.raises(DownloadError, match=r"job_events/part-00001-of-00500\.csv\.gz: "
                       r"HTTP 404 .*check --base-url") as caught:  # fmt: skip
        fetch(url, tmp_path / "t")
    assert caught.value.status == 404
    assert (tmp_path / "t" / SELECTED[0]).is_file(), "earlier files are kept"


def test_forbidden_points_to_gsutil(bucket, tmp_path: Path):
    state, url = bucket
    fill(state, SELECTED)
    state.fail[SELECTED[0]] = [403]
    with pytest.raises(DownloadError, match=r"HTTP 403 .*gsutil"):
        fetch(url, tmp_path / "t")


def test_checksum_mismatch_deletes_download(bucket, tmp_path: Path):
    state, url = bucket
    fill(state, SELECTED)
    state.files[SELECTED[0]] = b"changed after the list was made\n"

    with pytest.raises(DownloadError, match=r"SHA-256 of the 32 bytes .* lists"):
        fetch(url, tmp_path / "t")
    assert not (tmp_path / "t" / SELECTED[0]).exists()
    assert not list((tmp_path / "t").rglob("*.tmp-download"))


def test_without_checksums_sizes_are_checked(bucket, tmp_path: Path):
    state, url = bucket
    fill(state, SELECTED, checksums=False)
    report = fetch(url, tmp_path / "t")
    assert not report.checksums_available
    assert report.checksum_verified == 0
    assert not (tmp_path / "t" / "SHA256SUM").exists()

    short = tmp_path / "t" / SELECTED[4]
    short.write_bytes(short.read_bytes()[:-1])
    report = fetch(url, tmp_path / "t")
    assert report.downloaded == [short]
    assert short.read_bytes() == state.files[SELECTED[4]]


def test_unreachable_server_fails_clearly(tmp_path: Path):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(DownloadError, match=r"after 2 attempts; check the network"):
        fetch(f"http://127.0.0.1:{port}/b", tmp_path / "t", retries=1, timeout_s=2)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"base_url": "ftp://127.0.0.1/x"}, r"invalid base_url 'ftp://127\.0\.0\.1/x'"),
        ({"base_url": "127.0.0.1"}, r"invalid base_url"),
        ({"timeout_s": 0}, r"invalid timeout_s=0"),
        ({"retries": -1}, r"invalid retries=-1"),
    ],
)
def test_invalid_options_rejected(tmp_path: Path, options: dict, message: str):
    options.setdefault("base_url", "http://127.0.0.1:9/b")
    with pytest.raises(ParameterError, match=message):
        fetch(options.pop("base_url"), tmp_path / "t", **options)


# ------------------------------------------------------------------------ CLI


def test_cli_downloads_selection(bucket, tmp_path: Path, capsys):
    state, url = bucket
    fill(state, google_2011_files(["task_events", "job_events"], [0, 1, 2, 3]))
    status = main(
        [
            "download", "google-2011", "--tables", "task_events,job_events",
            "--shards", "0-3", "-o", str(tmp_path / "t"), "--base-url", url,
        ]
    )  # fmt: skip
    assert status == 0
    files = sorted(p.name for p in (tmp_path / "t" / "task_events").iterdir())
    assert files == [f"part-{i:05d}-of-00500.csv.gz" for i in range(4)]
    assert len(list((tmp_path / "t" / "job_events").iterdir())) == 4
    assert "downloaded 8 files" in capsys.readouterr().out


def test_cli_lists_urls(capsys):
    status = main(
        [
            "download", "google-2011", "--tables", "machine_events,task_usage",
            "--shards", "7", "-o", "unused", "--base-url", "http://127.0.0.1:9/b",
            "--list",
        ]
    )  # fmt: skip
    assert status == 0
    assert capsys.readouterr().out.splitlines() == [
        "http://127.0.0.1:9/b/machine_events/part-00000-of-00001.csv.gz",
        "http://127.0.0.1:9/b/task_usage/part-00007-of-00500.csv.gz",
    ]


def test_cli_reports_error(bucket, tmp_path: Path, capsys):
    _, url = bucket
    status = main(
        [
            "download", "google-2011", "--tables", "job_events", "--shards", "0",
            "-o", str(tmp_path / "t"), "--base-url", url, "--retries", "0",
        ]
    )  # fmt: skip
    assert status == 2
    assert "muosm download: error: " in capsys.readouterr().err
