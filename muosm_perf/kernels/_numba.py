"""Numba options for every kernel, and a compile cache that works in any install.

``@njit(cache=True)`` writes compiled code next to the source file. In a read-only
install (a system site-packages, a container image) Numba then tries a per-user
folder, and if that fails too it raises "cannot cache function ...: no locator
available" at import. This module picks a writable cache folder before any kernel is
decorated, in this order, and turns caching off if none can be written:

1. ``NUMBA_CACHE_DIR`` if the user set it;
2. the ``__pycache__`` folder beside the kernels (Numba's default);
3. ``$XDG_CACHE_HOME/muosm-perf/numba`` (``~/.cache/muosm-perf/numba``);
4. ``muosm-perf-numba-<uid>`` in the system temporary folder.

The choice is logged at debug level under ``muosm_perf.kernels``.
"""

from __future__ import annotations

import functools
import logging
import os
import tempfile
import uuid
from pathlib import Path

import numba

logger = logging.getLogger("muosm_perf.kernels")

NULL_INT = -(2**63)
"""Null marker for int64 kernel arrays (Polars nulls become this value)."""


def _is_writable(folder: Path) -> bool:
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / f".write-probe-{uuid.uuid4().hex}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError:
        return False
    return True


def _user_cache_folder() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(
        os.path.expanduser("~"), ".cache"
    )
    return Path(base) / "muosm-perf" / "numba"


def _temp_cache_folder() -> Path | None:
    try:
        return Path(tempfile.gettempdir()) / f"muosm-perf-numba-{os.getuid()}"
    except (FileNotFoundError, OSError):
        return None


def configure_cache() -> tuple[bool, str]:
    """Choose the compile-cache folder and set ``numba.config.CACHE_DIR``.

    Returns
    -------
    tuple of (bool, str)
        Whether caching is on, and the folder used (or why caching is off).
    """
    user_choice = os.environ.get("NUMBA_CACHE_DIR")
    if user_choice:
        if _is_writable(Path(user_choice)):
            numba.config.CACHE_DIR = user_choice
            return True, user_choice
        return False, f"NUMBA_CACHE_DIR={user_choice} is not writable"

    in_tree = Path(__file__).resolve().parent / "__pycache__"
    if _is_writable(in_tree):
        return True, str(in_tree)

    for folder in (_user_cache_folder(), _temp_cache_folder()):
        if folder is not None and _is_writable(folder):
            numba.config.CACHE_DIR = str(folder)
            return True, str(folder)
    return False, "no writable cache folder was found"


CACHE, CACHE_LOCATION = configure_cache()
if CACHE:
    logger.debug("Numba compile cache: %s", CACHE_LOCATION)
else:
    logger.debug("Numba compile cache off: %s", CACHE_LOCATION)

njit = functools.partial(numba.njit, cache=CACHE, nogil=True, fastmath=False)
"""``numba.njit`` with the package's options: cached where possible, no fastmath,
because sums of times and capacities must be exact and reproducible."""
