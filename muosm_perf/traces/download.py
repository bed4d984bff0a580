"""Download the public Google 2011 trace (``clusterdata-2011-2``) over HTTP(S).

The bucket is readable without credentials at
``https://storage.googleapis.com/clusterdata-2011-2/<path>``. Files are fetched
table by table and shard by shard into the layout the Google 2011 reader expects:

- A file only gets its final name after its size, and its SHA-256 where the
  bucket publishes one, have been checked. A rerun checks it again and skips it.
- A download goes to ``<name>.tmp-download`` beside the final name. An interrupted
  one resumes where it stopped, with an HTTP range request.
- The bucket's ``SHA256SUM`` file, when it exists, gives the digests to verify.
"""

from __future__ import annotations

import hashlib
import http.client
import logging
import os
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from muosm_perf.errors import DownloadError, ParameterError

logger = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://storage.googleapis.com/clusterdata-2011-2"
"""Public HTTPS address of the Google 2011 trace bucket."""

GOOGLE_2011_SHARDS = {
    "job_events": 500,
    "task_events": 500,
    "machine_events": 1,
    "machine_attributes": 1,
    "task_constraints": 500,
    "task_usage": 500,
}
"""Tables of the trace and their number of shards."""

CHECKSUM_FILE = "SHA256SUM"
SCHEMA_FILE = "schema.csv"
TEMPORARY_SUFFIX = ".tmp-download"
CHUNK_BYTES = 1 << 20

ProgressCallback = Callable[[str, int, int | None], None]
"""Called as ``progress(relative_path, bytes_done, bytes_total_or_None)``."""


@dataclass
class DownloadReport:
    """Files and byte counts of one download run."""

    downloaded: list[Path] = field(default_factory=list)
    skipped: list[Path] = field(default_factory=list)
    bytes_downloaded: int = 0
    checksum_verified: int = 0
    """Files (downloaded or skipped) whose SHA-256 matched the bucket's list."""
    checksums_available: bool = False


def parse_shards(text: str) -> list[int] | None:
    """Parse a shard selection such as ``0-3``, ``0,5,7-9`` or ``all``.

    Returns
    -------
    list of int or None
        Sorted distinct shard numbers, or None for all shards.

    Raises
    ------
    ParameterError
        If the text is not a comma-separated list of numbers and ranges.
    """
    text = text.strip()
    if text.lower() == "all":
        return None
    shards: set[int] = set()
    for part in text.split(","):
        piece = part.strip()
        first, dash, last = piece.partition("-")
        try:
            low = int(first)
            high = int(last) if dash else low
        except ValueError:
            raise ParameterError(
                f"invalid shard selection {text!r} at {piece!r}: expected numbers "
                "and ranges such as 0-3 or 0,5,7-9, or 'all'"
            ) from None
        if low < 0 or high < low:
            raise ParameterError(
                f"invalid shard range {piece!r} in {text!r}: expected FIRST-LAST "
                "with 0 <= FIRST <= LAST"
            )
        shards.update(range(low, high + 1))
    return sorted(shards)


def google_2011_files(tables: Sequence[str], shards: Sequence[int] | None) -> list[str]:
    """List the relative paths of the selected shards of the selected tables.

    A table of one shard (``machine_events``, ``machine_attributes``) is listed
    whole whatever the selection.

    Raises
    ------
    ParameterError
        If a table is unknown or a shard number is beyond the last shard (499).
    """
    unknown = [t for t in tables if t not in GOOGLE_2011_SHARDS]
    if unknown or not tables:
        raise ParameterError(
            f"invalid tables {list(tables)!r}: expected one or more of "
            f"{', '.join(GOOGLE_2011_SHARDS)}"
        )
    largest = max(GOOGLE_2011_SHARDS.values())
    if shards is not None and any(s >= largest for s in shards):
        raise ParameterError(
            f"invalid shard {max(shards)}: the sharded tables have shards 0 to "
            f"{largest - 1}"
        )
    paths = []
    for table in dict.fromkeys(tables):
        count = GOOGLE_2011_SHARDS[table]
        chosen = range(count) if shards is None or count == 1 else shards
        paths.extend(f"{table}/part-{s:05d}-of-{count:05d}.csv.gz" for s in chosen)
    return paths


def parse_checksums(text: str) -> dict[str, str]:
    """Parse ``sha256sum`` output: ``<64 hex digits> [ *]<path>`` per line.

    Paths are normalized by removing a leading ``./``; lines that do not match are
    skipped with a warning.
    """
    digests: dict[str, str] = {}
    skipped = 0
    for line in text.splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        digest, _, rest = line.strip().partition(" ")
        path = rest.lstrip(" ").removeprefix("*").removeprefix("./")
        if (
            len(digest) != 64
            or not path
            or any(c not in "0123456789abcdefABCDEF" for c in digest)
        ):
            skipped += 1
            continue
        digests[path] = digest.lower()
    if skipped:
        logger.warning(
            "%s: skipped %d lines that are not 'DIGEST  PATH'", CHECKSUM_FILE, skipped
        )
    return digests


def download_google_2011(
    out_dir: str | Path,
    *,
    tables: Sequence[str] = tuple(GOOGLE_2011_SHARDS),
    shards: Sequence[int] | None = None,
    base_url: str = DEFAULT_BASE_URL,
    timeout_s: float = 60.0,
    retries: int = 3,
    retry_wait_s: float = 2.0,
    verify_existing: bool = True,
    progress: ProgressCallback | None = None,
) -> DownloadReport:
    """Download selected tables and shards of the Google 2011 trace.

    Parameters
    ----------
    out_dir
        Trace folder to fill (created if missing): ``schema.csv``, ``SHA256SUM``
        and one folder per table.
    tables
        Table names (see :data:`GOOGLE_2011_SHARDS`); all six by default.
    shards
        Shard numbers (0-499) of the sharded tables, or None for all 500.
    base_url
        Address of the bucket, ``http://`` or ``https://``.
    timeout_s
        Seconds to wait for the server on each connection and read.
    retries
        Further attempts after a network error, an HTTP 5xx or 429, or a short
        read; each resumes the partial file.
    retry_wait_s
        Seconds before the first retry, doubled for each further one.
    verify_existing
        Check the SHA-256 of files already present; if false, a present file whose
        size equals the server's is trusted.
    progress
        Called after every chunk with the path, bytes done and bytes expected.

    Returns
    -------
    DownloadReport

    Raises
    ------
    ParameterError
        If a table, shard, URL or number is invalid.
    DownloadError
        On the first file that cannot be downloaded or fails its size or
        SHA-256 check. Complete files stay; running the same call again resumes.
    """
    paths = google_2011_files(tables, shards)
    parsed = urllib.parse.urlsplit(base_url)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise ParameterError(
            f"invalid base_url {base_url!r}: expected an http:// or https:// address"
        )
    if not timeout_s > 0:
        raise ParameterError(f"invalid timeout_s={timeout_s!r}: expected seconds > 0")
    if not isinstance(retries, int) or retries < 0:
        raise ParameterError(f"invalid retries={retries!r}: expected an integer >= 0")

    client = _Client(base_url.rstrip("/"), timeout_s, retries, retry_wait_s)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    report = DownloadReport()

    checksum_text = client.fetch_small(CHECKSUM_FILE, missing_ok=True)
    digests: dict[str, str] = {}
    if checksum_text is None:
        logger.warning(
            "%s/%s not found: files are checked by size only",
            client.base,
            CHECKSUM_FILE,
        )
    else:
        digests = parse_checksums(checksum_text.decode("utf-8", errors="replace"))
        report.checksums_available = True
        _write_atomically(out / CHECKSUM_FILE, checksum_text)
    schema_path = out / SCHEMA_FILE
    if not schema_path.is_file():
        schema_text = client.fetch_small(SCHEMA_FILE, missing_ok=True)
        if schema_text is not None:
            _write_atomically(schema_path, schema_text)

    logger.info("downloading %d files from %s into %s", len(paths), client.base, out)
    for number, relative in enumerate(paths, start=1):
        expected = _lookup_digest(digests, relative)
        destination = out / relative
        if destination.is_file() and _is_complete(
            client, relative, destination, expected, verify_existing
        ):
            report.skipped.append(destination)
            report.checksum_verified += expected is not None and verify_existing
            logger.info("[%d/%d] %s is complete, skipped", number, len(paths), relative)
            continue
        size = client.download(relative, destination, expected, progress)
        report.downloaded.append(destination)
        report.bytes_downloaded += size
        report.checksum_verified += expected is not None
        logger.info(
            "[%d/%d] %s downloaded (%d bytes%s)",
            number,
            len(paths),
            relative,
            size,
            ", SHA-256 verified" if expected else "",
        )
    return report


def _lookup_digest(digests: dict[str, str], relative: str) -> str | None:
    if relative in digests:
        return digests[relative]
    suffix = "/" + relative
    for path, digest in digests.items():
        if path.endswith(suffix):
            return digest
    return None


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


def _is_complete(
    client: _Client,
    relative: str,
    destination: Path,
    expected: str | None,
    verify_existing: bool,
) -> bool:
    """Check a file already at its final name; False means download it again."""
    if expected is not None and verify_existing:
        actual = _sha256(destination)
        if actual == expected:
            return True
        logger.warning(
            "%s: SHA-256 %s does not match %s from %s; downloading it again",
            destination,
            actual,
            expected,
            CHECKSUM_FILE,
        )
        return False
    remote = client.remote_size(relative)
    local = destination.stat().st_size
    if remote is None or remote == local:
        return True
    logger.warning(
        "%s: %d bytes here, %d on the server; downloading it again",
        destination,
        local,
        remote,
    )
    return False


def _write_atomically(path: Path, payload: bytes) -> None:
    temporary = path.with_name(path.name + TEMPORARY_SUFFIX)
    try:
        temporary.write_bytes(payload)
        os.replace(temporary, path)
    except OSError as error:
        raise DownloadError(
            f"cannot write {path}: {error}; free some space or choose another "
            "output folder, then run again"
        ) from error


class _RetryableError(Exception):
    """A failure worth retrying: network error, HTTP 5xx or 429, short read."""


class _Client:
    """Plain ``urllib`` requests with retries, range resumption and clear errors."""

    def __init__(
        self, base: str, timeout_s: float, retries: int, retry_wait_s: float
    ) -> None:
        self.base = base
        self.timeout_s = timeout_s
        self.retries = retries
        self.retry_wait_s = retry_wait_s

    def url(self, relative: str) -> str:
        return f"{self.base}/{urllib.parse.quote(relative)}"

    def _open(self, request: urllib.request.Request) -> http.client.HTTPResponse:
        """Open a request; raise DownloadError on a final HTTP error."""
        try:
            return urllib.request.urlopen(request, timeout=self.timeout_s)
        except urllib.error.HTTPError as error:
            error.close()
            if error.code == 429 or error.code >= 500:
                raise _RetryableError(f"HTTP {error.code} {error.reason}") from error
            raise _http_error(
                request.full_url, error.code, str(error.reason)
            ) from error
        except (urllib.error.URLError, OSError, http.client.HTTPException) as error:
            reason = getattr(error, "reason", error)
            raise _RetryableError(str(reason)) from error

    def _with_retries(self, url: str, action: Callable[[], object]) -> object:
        wait = self.retry_wait_s
        for attempt in range(self.retries + 1):
            try:
                return action()
            except _RetryableError as error:
                if attempt == self.retries:
                    raise DownloadError(
                        f"{url}: {error} after {attempt + 1} attempts; check the "
                        "network and the base URL, then run the same command "
                        "again: complete files are kept and the partial one resumes"
                    ) from error
                logger.warning(
                    "%s: %s; retrying in %.1f s (%d of %d)",
                    url,
                    error,
                    wait,
                    attempt + 1,
                    self.retries,
                )
                time.sleep(wait)
                wait *= 2
        raise AssertionError("unreachable")

    def fetch_small(self, relative: str, *, missing_ok: bool) -> bytes | None:
        """Fetch a small file whole; None if it is missing and ``missing_ok``."""
        url = self.url(relative)

        def action() -> bytes | None:
            try:
                with self._open(urllib.request.Request(url)) as response:
                    return response.read()
            except DownloadError as error:
                if missing_ok and error.status == 404:
                    return None
                raise
            except (OSError, http.client.HTTPException) as error:
                raise _RetryableError(str(error)) from error

        return self._with_retries(url, action)  # type: ignore[return-value]

    def remote_size(self, relative: str) -> int | None:
        """Return the server's Content-Length for a file (HEAD), if it sends one."""
        url = self.url(relative)

        def action() -> int | None:
            request = urllib.request.Request(url, method="HEAD")
            with self._open(request) as response:
                length = response.headers.get("Content-Length")
            return int(length) if length and length.isdigit() else None

        return self._with_retries(url, action)  # type: ignore[return-value]

    def download(
        self,
        relative: str,
        destination: Path,
        expected: str | None,
        progress: ProgressCallback | None,
    ) -> int:
        """Download one file through its temporary name; return its size."""
        url = self.url(relative)
        temporary = destination.with_name(destination.name + TEMPORARY_SUFFIX)
        try:
            destination.parent.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise DownloadError(
                f"cannot create {destination.parent}: {error}"
            ) from error

        self._with_retries(
            url, lambda: self._fetch_into(url, relative, temporary, progress)
        )
        size = temporary.stat().st_size
        if expected is not None:
            actual = _sha256(temporary)
            if actual != expected:
                temporary.unlink(missing_ok=True)
                raise DownloadError(
                    f"{url}: SHA-256 of the {size} bytes received is {actual}, but "
                    f"{CHECKSUM_FILE} lists {expected}; the download was deleted. "
                    "Run the same command again; if it fails again, the bucket's "
                    "file or its checksum list has changed"
                )
        try:
            os.replace(temporary, destination)
        except OSError as error:
            raise DownloadError(f"cannot rename {temporary}: {error}") from error
        return size

    def _fetch_into(
        self,
        url: str,
        relative: str,
        temporary: Path,
        progress: ProgressCallback | None,
    ) -> int | None:
        """Fetch into the temporary file, resuming it; return the expected size.

        Raises _RetryableError when the connection drops or the body is short,
        leaving the partial file to resume from.
        """
        done = temporary.stat().st_size if temporary.is_file() else 0
        request = urllib.request.Request(url)
        if done:
            request.add_header("Range", f"bytes={done}-")
        try:
            response = self._open(request)
        except DownloadError as error:
            if error.status == 416 and done:
                # The partial file is not a prefix of the current file: restart.
                temporary.unlink()
                return self._fetch_into(url, relative, temporary, progress)
            raise
        with response:
            total = _expected_total(response, done)
            if response.status == 200 and done:
                logger.info("%s: the server ignored the range; restarting", url)
                done = 0
            mode = "ab" if done else "wb"
            try:
                with temporary.open(mode) as handle:
                    while True:
                        try:
                            chunk = response.read(CHUNK_BYTES)
                        except (OSError, http.client.HTTPException) as error:
                            raise _RetryableError(
                                f"connection lost after {done} bytes ({error})"
                            ) from error
                        if not chunk:
                            break
                        handle.write(chunk)
                        done += len(chunk)
                        if progress is not None:
                            progress(relative, done, total)
            except OSError as error:
                raise DownloadError(
                    f"cannot write {temporary}: {error}; free some space or choose "
                    "another output folder, then run again to resume"
                ) from error
        if total is not None and done < total:
            raise _RetryableError(f"short read: {done} of {total} bytes")
        if total is not None and done > total:
            temporary.unlink()
            raise DownloadError(
                f"{url}: received {done} bytes, more than the {total} announced; "
                "the partial file was deleted, run again"
            )
        return total


def _expected_total(response: http.client.HTTPResponse, done: int) -> int | None:
    """Read the full size of the file from a 200 or 206 response's headers."""
    if response.status == 206:
        content_range = response.headers.get("Content-Range", "")
        _, _, full = content_range.rpartition("/")
        if full.isdigit():
            return int(full)
        length = response.headers.get("Content-Length")
        return done + int(length) if length and length.isdigit() else None
    length = response.headers.get("Content-Length")
    return int(length) if length and length.isdigit() else None


_HTTP_ADVICE = {
    401: "the bucket asks for credentials: check --base-url (the public bucket "
    "needs none), or use gsutil as described in traces/README.md",
    403: "the server refused access: check --base-url, or use gsutil as described "
    "in traces/README.md",
    404: "the file does not exist there: check --base-url and the table and shard "
    "names (sharded tables have shards 0-499)",
    416: "the server rejected the resume range: delete the .tmp-download file and "
    "run again",
}


def _http_error(url: str, status: int, reason: str) -> DownloadError:
    advice = _HTTP_ADVICE.get(status, "check --base-url and run again")
    return DownloadError(f"{url}: HTTP {status} {reason}; {advice}", status=status)


def file_urls(paths: Iterable[str], base_url: str = DEFAULT_BASE_URL) -> list[str]:
    """Return the URL of each relative path under ``base_url``."""
    base = base_url.rstrip("/")
    return [f"{base}/{urllib.parse.quote(p)}" for p in paths]
