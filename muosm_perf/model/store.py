"""The trace store: a folder of Parquet tables and a ``manifest.json``.

Layout::

    STORE/
      manifest.json          source, files read, row counts, units, time range
      transitions/part-00000.parquet ...
      processes/part-00000.parquet
      ...

A store is written into a hidden sibling folder and renamed into place only when it
is complete, so a failed ingest leaves an existing store as it was.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import shutil
import uuid
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

import polars as pl

from muosm_perf import __version__
from muosm_perf.errors import OutputError, StoreError
from muosm_perf.model import schema

logger = logging.getLogger(__name__)

MANIFEST = "manifest.json"
STORE_FORMAT_VERSION = 1
STORE_MARKER = ".muosm-store"
"""File that marks a folder as a store muosm-perf wrote, so it may be replaced."""
_MANIFEST_KEYS = ("store_format_version", "tool", "source", "files", "tables")


class TraceStore:
    """A canonical trace store opened for reading.

    Parameters
    ----------
    path
        The store folder, as written by a reader (``muosm ingest``).

    Raises
    ------
    StoreError
        If the folder or its manifest is missing, or the store format is newer than
        this version of muosm-perf understands.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        manifest_path = self.path / MANIFEST
        if not self.path.is_dir():
            raise StoreError(
                f"trace store not found: {self.path}; create one with "
                "'muosm ingest FORMAT TRACE_DIR -o STORE'"
            )
        if not manifest_path.is_file():
            raise StoreError(
                f"{self.path} is not a trace store: {MANIFEST} is missing; "
                "ingest the trace again with 'muosm ingest'"
            )
        try:
            with manifest_path.open(encoding="utf-8") as handle:
                manifest = json.load(handle)
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
            raise StoreError(
                f"{manifest_path} cannot be read ({error}); the store is damaged: "
                "ingest the trace again"
            ) from error
        if not isinstance(manifest, dict):
            raise StoreError(
                f"{manifest_path} is not a store manifest (a JSON object was "
                "expected); ingest the trace again"
            )
        version = manifest.get("store_format_version")
        if version != STORE_FORMAT_VERSION:
            raise StoreError(
                f"{manifest_path}: store format version {version!r} is not "
                f"{STORE_FORMAT_VERSION}; ingest the trace again with this version"
            )
        missing = [key for key in _MANIFEST_KEYS if key not in manifest]
        if missing:
            raise StoreError(
                f"{manifest_path} lacks {', '.join(missing)}; the store is damaged: "
                "ingest the trace again"
            )
        self.manifest: dict[str, Any] = manifest
        absent = [
            table
            for table in manifest["tables"]
            if not any((self.path / table).glob("*.parquet"))
        ]
        if absent:
            raise StoreError(
                f"{self.path} is damaged: table {', '.join(absent)} has no Parquet "
                "parts; ingest the trace again"
            )

    def __repr__(self) -> str:
        return f"TraceStore({str(self.path)!r})"

    @property
    def tables(self) -> list[str]:
        """Names of the tables in the store."""
        return sorted(self.manifest["tables"])

    @property
    def source_format(self) -> str:
        """Trace format the store was read from, for example ``google-2011``."""
        return self.manifest["source"]["format"]

    def has(self, table: str) -> bool:
        """Return whether the store has ``table`` (it may still have no rows)."""
        return table in self.manifest["tables"]

    def scan(self, table: str) -> pl.LazyFrame:
        """Scan one table lazily.

        Raises
        ------
        StoreError
            If the store has no such table.
        """
        if not self.has(table):
            raise StoreError(
                f"{self.path} has no table {table!r}; it has: {', '.join(self.tables)}"
            )
        return pl.scan_parquet(self.path / table / "*.parquet")

    def read(self, table: str, columns: list[str] | None = None) -> pl.DataFrame:
        """Read one table (or some of its columns) into memory.

        Raises
        ------
        StoreError
            If a Parquet part of the table cannot be read.
        """
        frame = self.scan(table)
        if columns is not None:
            frame = frame.select(columns)
        try:
            return frame.collect()
        except (OSError, pl.exceptions.PolarsError) as error:
            raise StoreError(
                f"{self.path}: table {table!r} cannot be read ({error}); the store "
                "is damaged: ingest the trace again"
            ) from error


class StoreWriter:
    """Write a trace store atomically.

    Use as a context manager. Parts are written into a temporary sibling folder; on a
    clean exit the manifest is written and the folder renamed to ``path``, replacing
    an earlier store there. On an exception the temporary folder is removed and
    ``path`` is left untouched.

    Parameters
    ----------
    path
        Destination folder.
    source_format
        Name of the trace format, recorded in the manifest.
    inputs
        Paths read to build the store; none of them may lie inside ``path``.

    Raises
    ------
    OutputError
        If ``path`` exists and is neither a store muosm-perf wrote nor an empty
        folder, or holds one of ``inputs``: replacing it would destroy them.
    """

    def __init__(
        self, path: str | Path, source_format: str, *, inputs: Sequence[Path] = ()
    ) -> None:
        self.path = Path(path)
        check_replaceable(self.path, STORE_MARKER, inputs, kind="trace store")
        self.source_format = source_format
        self.temp_path = self.path.parent / f".{self.path.name}.tmp-{uuid.uuid4().hex}"
        self.manifest: dict[str, Any] = {
            "store_format_version": STORE_FORMAT_VERSION,
            "tool": {"name": "muosm-perf", "version": __version__},
            "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "source": {"format": source_format},
            "files": [],
            "tables": {},
        }
        self._parts: dict[str, int] = {}

    def __enter__(self) -> StoreWriter:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.temp_path.mkdir()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if exc_type is not None:
            shutil.rmtree(self.temp_path, ignore_errors=True)
            logger.debug("discarded partial store %s", self.temp_path)
            return
        try:
            self._finish()
        except BaseException:
            shutil.rmtree(self.temp_path, ignore_errors=True)
            raise

    def write_part(self, table: str, frame: pl.DataFrame) -> Path:
        """Append ``frame`` to ``table`` as a new Parquet part and return its path."""
        expected = schema.CANONICAL.get(table) or schema.OPTIONAL.get(table)
        if expected is not None and frame.schema != expected:
            raise StoreError(
                f"table {table!r}: frame schema {dict(frame.schema)} does not match "
                f"the canonical schema {dict(expected)}"
            )
        number = self._parts.get(table, 0)
        self._parts[table] = number + 1
        folder = self.temp_path / table
        folder.mkdir(exist_ok=True)
        part = folder / f"part-{number:05d}.parquet"
        frame.write_parquet(part, statistics=True)
        return part

    def replace_table(self, table: str, frame: pl.DataFrame) -> Path:
        """Replace every part of ``table`` written so far by ``frame``.

        Readers use it to correct a derived table in a way only their format needs;
        the store is still written atomically at the end.
        """
        folder = self.temp_path / table
        if folder.exists():
            shutil.rmtree(folder)
        self._parts[table] = 0
        return self.write_part(table, frame)

    def sink_part(self, table: str, frame: pl.LazyFrame) -> Path:
        """Stream a lazy ``frame`` into a new Parquet part of ``table``."""
        number = self._parts.get(table, 0)
        self._parts[table] = number + 1
        folder = self.temp_path / table
        folder.mkdir(exist_ok=True)
        part = folder / f"part-{number:05d}.parquet"
        frame.sink_parquet(part)
        return part

    def scan(self, table: str) -> pl.LazyFrame:
        """Scan the parts of ``table`` written so far."""
        if not self._parts.get(table):
            expected = schema.CANONICAL.get(table)
            if expected is None:
                raise StoreError(f"no parts of table {table!r} were written")
            return pl.LazyFrame(schema=expected)
        return pl.scan_parquet(self.temp_path / table / "*.parquet")

    def _finish(self) -> None:
        for table, table_schema in schema.CANONICAL.items():
            if not self._parts.get(table):
                self.write_part(table, pl.DataFrame(schema=table_schema))
        for table in self._parts:
            info = self.manifest["tables"].setdefault(table, {})
            if "rows" not in info:
                info["rows"] = self.scan(table).select(pl.len()).collect().item()
        manifest_path = self.temp_path / MANIFEST
        with manifest_path.open("w", encoding="utf-8") as handle:
            json.dump(self.manifest, handle, indent=2, sort_keys=False)
            handle.write("\n")
        write_marker(self.temp_path, STORE_MARKER, "trace store")
        replace_directory(self.temp_path, self.path)
        logger.info("wrote trace store %s", self.path)


def _files_below(folder: Path, marker: str) -> set[str]:
    """Return the paths of the files below ``folder``, relative, without ``marker``."""
    return {
        path.relative_to(folder).as_posix()
        for path in folder.rglob("*")
        if path.is_file() or path.is_symlink()
    } - {marker}


def write_marker(folder: Path, marker: str, kind: str) -> None:
    """Mark ``folder`` as a muosm-perf output of ``kind`` and list its files.

    :func:`check_replaceable` reads the list back, so a later run replaces the
    folder only while it contains nothing but what muosm-perf wrote there.
    """
    record = {
        "written_by": "muosm-perf",
        "kind": kind,
        "files": sorted(_files_below(folder, marker)),
    }
    (folder / marker).write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")


def check_replaceable(
    destination: Path,
    marker: str,
    inputs: Sequence[str | Path] = (),
    *,
    kind: str | None = None,
) -> None:
    """Check that writing ``destination`` as a whole destroys nothing else.

    The destination may be absent, an empty folder, or a folder that contains the
    file ``marker``, left by an earlier muosm-perf output of the same ``kind``,
    that contains no file the marker does not list. None of ``inputs`` may lie inside
    it, because it is replaced as a whole.

    Raises
    ------
    OutputError
        Otherwise, naming the destination and what it holds.
    """
    resolved = destination.resolve()
    for item in inputs:
        source = Path(item).resolve()
        if source == resolved or source.is_relative_to(resolved):
            raise OutputError(
                f"{destination} contains the input {item}; writing it would replace "
                "that input. Choose an output folder outside the input"
            )
    if not destination.exists():
        return
    if not destination.is_dir():
        raise OutputError(
            f"{destination} exists and is not a folder; choose another output path"
        )
    if not any(destination.iterdir()):
        return
    if not (destination / marker).is_file():
        raise OutputError(
            f"{destination} exists and contains files that muosm-perf did not "
            "write; refusing to replace it. Choose another output path or remove it"
        )
    try:
        record = json.loads((destination / marker).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return  # a marker of an earlier version: a plain line, no file list
    if not isinstance(record, dict):
        return
    if kind is not None and record.get("kind") not in (None, kind):
        raise OutputError(
            f"{destination} contains a muosm-perf {record['kind']}, not a {kind}, "
            "so it was not replaced. Choose another output path"
        )
    listed = record.get("files")
    if not isinstance(listed, list):
        return
    added = sorted(_files_below(destination, marker) - set(listed))
    if added:
        examples = ", ".join(added[:3]) + (", ..." if len(added) > 3 else "")
        raise OutputError(
            f"{destination} contains {len(added)} file(s) muosm-perf did not write "
            f"there ({examples}), so it was not replaced. Move them out, or choose "
            "another output path"
        )


def replace_directory(source: Path, destination: Path) -> None:
    """Move the complete folder ``source`` to ``destination``, replacing it.

    The old destination is first renamed aside, so at every instant ``destination``
    is either the old complete folder, absent for the moment between two renames, or
    the new complete folder. Both paths must be on one file system.
    """
    old = None
    if destination.exists():
        old = destination.parent / f".{destination.name}.old-{uuid.uuid4().hex}"
        os.rename(destination, old)
    try:
        os.rename(source, destination)
    except BaseException:
        if old is not None:
            os.rename(old, destination)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
