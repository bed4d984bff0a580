"""Detection of a trace's format from the names of its files.

Each format leaves a distinctive layout:

- ``google-2011``: folders ``task_events/``, ``job_events/`` and
  ``machine_events/`` of ``part-NNNNN-of-NNNNN.csv.gz`` shards;
- ``google-2019``: export files named after a v3 table
  (``machine_events-000000000000.json.gz``, ``instance_events-*.parquet`` ...),
  in the folder or in a folder named after the table;
- ``alibaba-2018``: ``machine_meta.csv``, ``batch_task.csv`` ... (or ``.csv.gz``,
  or parts named ``<table>*.csv``);
- ``swf``: one ``.swf`` or ``.swf.gz`` log (the path itself, or the only one in the
  folder).

A path that matches exactly one layout is that format. A path that matches none or
several is reported with what was found, so that the caller can name the format.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from muosm_perf.errors import ParameterError, TraceNotFoundError
from muosm_perf.traces import alibaba2018_tables, google2011, google2019
from muosm_perf.traces._csv import list_shards
from muosm_perf.traces.google2019_exports import export_format
from muosm_perf.traces.swf import is_swf_name

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Detection:
    """A detected format and the files that show it."""

    format: str
    evidence: list[str]

    def describe(self) -> str:
        """Return the format and up to three files, for messages."""
        shown = ", ".join(self.evidence[:3])
        more = len(self.evidence) - 3
        if more > 0:
            shown += f" and {more} more"
        return f"{self.format} ({shown})"


def _google_2011(folder: Path) -> list[str]:
    evidence = []
    for spec in google2011.REQUIRED_TABLES:
        table = folder / spec.name
        shards = list_shards(table, spec) if table.is_dir() else []
        if not shards:
            return []
        evidence.append(f"{spec.name}/{shards[0].name}")
    return evidence


def _google_2019(folder: Path) -> list[str]:
    evidence = []
    for spec in google2019.TABLE_SPECS:
        places = [folder, folder / spec.name]
        for place in places:
            if not place.is_dir():
                continue
            for path in sorted(place.glob(f"{spec.name}*")):
                if path.is_file() and export_format(path) is not None:
                    evidence.append(str(path.relative_to(folder)))
    return evidence


def _alibaba_2018(folder: Path) -> list[str]:
    return [
        path.name
        for spec in alibaba2018_tables.TABLE_SPECS
        for path in alibaba2018_tables.table_files(folder, spec)
    ]


def _swf(folder: Path) -> list[str]:
    return sorted(
        p.name for p in folder.iterdir() if p.is_file() and is_swf_name(p.name)
    )


def detect_format(path: str | Path) -> Detection:
    """Detect the trace format of a file or folder from its file names.

    Raises
    ------
    TraceNotFoundError
        If the path does not exist.
    ParameterError
        If no format or more than one matches, or a folder contains several SWF
        logs; the message lists what was found.
    """
    path = Path(path)
    if not path.exists():
        raise TraceNotFoundError(f"trace path not found: {path}")
    if path.is_file():
        if is_swf_name(path.name):
            return Detection("swf", [path.name])
        raise ParameterError(
            f"cannot tell the trace format of the file {path}: only SWF logs "
            "(.swf, .swf.gz) are single files; pass a trace folder, or name the "
            "format instead of auto"
        )

    found = [
        Detection(name, evidence)
        for name, evidence in (
            ("google-2011", _google_2011(path)),
            ("google-2019", _google_2019(path)),
            ("alibaba-2018", _alibaba_2018(path)),
            ("swf", _swf(path)),
        )
        if evidence
    ]
    if not found:
        raise ParameterError(
            f"cannot tell the trace format of {path}: it contains no task_events/ "
            "shards (google-2011), no exported v3 table such as "
            "machine_events-*.json.gz (google-2019), no machine_meta.csv or "
            "batch_task.csv (alibaba-2018) and no .swf log; name the format "
            "instead of auto"
        )
    if len(found) > 1:
        listed = "; ".join(d.describe() for d in found)
        raise ParameterError(
            f"the trace format of {path} is ambiguous: it contains files of "
            f"{len(found)} formats: {listed}. Name the format instead of auto, or "
            "move the other files away"
        )
    detection = found[0]
    if detection.format == "swf" and len(detection.evidence) > 1:
        raise ParameterError(
            f"{path} contains {len(detection.evidence)} SWF logs "
            f"({', '.join(detection.evidence)}); a store contains one log: pass the "
            "file to ingest"
        )
    logger.info("detected trace format %s", detection.describe())
    return detection
