"""Exceptions raised by muosm-perf.

Every exception the package raises on purpose derives from :class:`MuosmError`, so a
caller can catch them all with one clause and let programming errors through.
"""

from __future__ import annotations

from pathlib import Path


class MuosmError(Exception):
    """Base class of every error muosm-perf raises on purpose."""


class TraceFormatError(MuosmError):
    """A trace file that cannot be read as the format it claims to be.

    Parameters
    ----------
    path
        The file.
    message
        What is wrong and what to do about it.
    line
        1-based line number, when the fault is on one line.
    column
        Column name (and 1-based field number) when the fault is in one field.
    value
        The offending text, quoted in the message.
    """

    def __init__(
        self,
        path: str | Path,
        message: str,
        *,
        line: int | None = None,
        column: str | None = None,
        value: str | None = None,
    ) -> None:
        self.path = str(path)
        self.line = line
        self.column = column
        self.value = value
        where = self.path
        if line is not None:
            where += f", line {line}"
        if column is not None:
            where += f", column {column}"
        if value is not None:
            where += f", value {value!r}"
        super().__init__(f"{where}: {message}")


class TraceNotFoundError(MuosmError, FileNotFoundError):
    """A trace folder or a table inside it that does not exist."""


class StoreError(MuosmError):
    """A trace store that is missing, incomplete or from an incompatible version."""


class OutputError(MuosmError):
    """An output folder that cannot be written or would destroy unrelated files."""


class UnstableSystemError(MuosmError, ValueError):
    """A queueing model whose offered load has no steady state (load >= capacity)."""


class ParameterError(MuosmError, ValueError):
    """An invalid argument to a public function, named with its value."""


class DownloadError(MuosmError):
    """A trace file that could not be downloaded or failed its size or checksum.

    Parameters
    ----------
    message
        What failed, on which URL or file, and what to do.
    status
        The HTTP status code, when the server answered with an error.
    """

    def __init__(self, message: str, *, status: int | None = None) -> None:
        self.status = status
        super().__init__(message)


_NO_VALUE = object()


class ScenarioError(ParameterError):
    """An invalid what-if scenario, named by its file, key and value.

    Parameters
    ----------
    message
        What is wrong and what to do about it.
    path
        The scenario file, when the scenario came from one.
    key
        Dotted key of the offending entry, for example ``transforms[2].factor``.
    value
        The offending value, quoted in the message.
    """

    def __init__(
        self,
        message: str,
        *,
        path: str | Path | None = None,
        key: str | None = None,
        value: object = _NO_VALUE,
    ) -> None:
        self.reason = message
        self.path = None if path is None else str(path)
        self.key = key
        self.value = None if value is _NO_VALUE else value
        self.has_value = value is not _NO_VALUE
        where = []
        if self.path is not None:
            where.append(self.path)
        if key is not None:
            where.append(f"{key} = {value!r}" if self.has_value else key)
        prefix = ": ".join(where)
        super().__init__(f"{prefix}: {message}" if prefix else message)

    def located(
        self, *, path: str | Path | None = None, prefix: str = ""
    ) -> ScenarioError:
        """Return this error with ``path`` set and ``prefix`` put before its key."""
        key = self.key
        if prefix:
            key = f"{prefix}.{self.key}" if self.key else prefix
        value = self.value if self.has_value else _NO_VALUE
        return ScenarioError(self.reason, path=path or self.path, key=key, value=value)
