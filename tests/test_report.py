"""Store report: files, numbers, atomic replacement and rendering in Chromium."""

from __future__ import annotations

import functools
import http.server
import json
import shutil
import subprocess
import threading
from html.parser import HTMLParser
from pathlib import Path

import pytest

from muosm_perf.errors import OutputError
from muosm_perf.model.store import TraceStore
from muosm_perf.report import figures
from muosm_perf.report.document import MARKER
from muosm_perf.report.store_report import write_report


class _Collector(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.images: list[str] = []
        self.headings: list[str] = []
        self._in_heading = False

    def handle_starttag(self, tag, attrs):
        if tag == "img":
            self.images.append(dict(attrs)["src"])
        self._in_heading = tag in ("h1", "h2")

    def handle_data(self, data):
        if self._in_heading:
            self.headings.append(data)
            self._in_heading = False


@pytest.fixture(scope="module")
def report(google_2011_store, tmp_path_factory) -> Path:
    return write_report(
        google_2011_store, tmp_path_factory.mktemp("reports") / "report"
    )


def test_report_files(report):
    for name in ("index.html", "report.md", "analysis.json", MARKER):
        assert (report / name).is_file()
    parser = _Collector()
    parser.feed((report / "index.html").read_text())
    assert len(parser.images) == 7
    for image in parser.images:
        assert (report / image).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "Scheduling delay per priority band" in parser.headings


def test_report_numbers_match_analysis(report):
    analysis = json.loads((report / "analysis.json").read_text())
    markdown = (report / "report.md").read_text()
    assert f"| fault cells (machines) | {analysis['cells']:,} |" in markdown
    production = analysis["scheduling_delay_s"]["production"]
    assert f"| production | observed | {production['n']:,} |" in markdown
    for event, count in analysis["events_by_type"].items():
        assert f"| {event} | {count:,} |" in markdown


def test_report_replaces_earlier_report(google_2011_store, tmp_path):
    destination = tmp_path / "report"
    write_report(google_2011_store, destination)
    (destination / "index.html").write_text("an earlier report")
    write_report(google_2011_store, destination)
    assert "an earlier report" not in (destination / "index.html").read_text()
    (destination / "notes.txt").write_text("added by hand")
    with pytest.raises(OutputError, match=r"contains 1 file\(s\) .*\(notes.txt\)"):
        write_report(google_2011_store, destination)
    assert (destination / "notes.txt").read_text() == "added by hand"


def test_report_refuses_unrelated_folder(google_2011_store, tmp_path):
    destination = tmp_path / "notes"
    destination.mkdir()
    (destination / "todo.txt").write_text("keep")
    with pytest.raises(
        OutputError, match="contains files that muosm-perf did not write"
    ):
        write_report(google_2011_store, destination)
    assert (destination / "todo.txt").read_text() == "keep"


def test_report_refuses_to_replace_its_store(google_2011_store, tmp_path):
    out = tmp_path / "out"
    write_report(google_2011_store, out)
    copy = out / "store"
    shutil.copytree(google_2011_store.path, copy)
    with pytest.raises(OutputError, match="contains the input"):
        write_report(TraceStore(copy), out)
    assert (copy / "manifest.json").is_file()


def test_failed_report_keeps_earlier_one(google_2011_store, tmp_path, monkeypatch):
    destination = tmp_path / "report"
    write_report(google_2011_store, destination)
    before = (destination / "report.md").read_text()

    def broken(*args, **kwargs):
        raise RuntimeError("figure failed")

    monkeypatch.setattr(figures, "machine_churn", broken)
    with pytest.raises(RuntimeError, match="figure failed"):
        write_report(google_2011_store, destination)
    assert (destination / "report.md").read_text() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report"]


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    requested: list[tuple[str, int]]

    def log_message(self, format, *args):
        pass

    def log_request(self, code="-", size="-"):
        self.requested.append((self.path, int(code)))


@pytest.mark.skipif(_chromium() is None, reason="chromium is not installed")
def test_report_renders_in_chromium(report, tmp_path):
    requested: list[tuple[str, int]] = []
    handler = functools.partial(_QuietHandler, directory=str(report))
    _QuietHandler.requested = requested
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_port}/index.html"
    flags = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        f"--user-data-dir={tmp_path / 'profile'}",
    ]
    try:
        dom = subprocess.run(
            [_chromium(), *flags, "--dump-dom", url],
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        ).stdout
        screenshot = tmp_path / "page.png"
        subprocess.run(
            [
                _chromium(),
                *flags,
                f"--screenshot={screenshot}",
                "--window-size=1200,2400",
                url,
            ],
            capture_output=True,
            timeout=120,
            check=True,
        )
    finally:
        server.shutdown()
    assert "<h1>muosm-perf report: google-2011 trace</h1>" in dom
    assert dom.count("<table>") >= 4
    loaded = {path for path, code in requested if code == 200}
    for image in ("delay_cdf.png", "occupancy.png", "event_mix.png", "churn.png"):
        assert f"/{image}" in loaded
    assert screenshot.stat().st_size > 10_000
