"""Numba compile caching in an install whose package folder cannot be written."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import muosm_perf

RUN_KERNEL = textwrap.dedent(
    """
    import logging, sys
    logging.basicConfig(level=logging.DEBUG, stream=sys.stdout)
    import numpy as np
    import muosm_perf
    from muosm_perf.kernels import _numba
    from muosm_perf.kernels.lifecycle import derive_attempts
    attempts, _ = derive_attempts(
        np.array([0, 2]), np.ones(2, np.int8), np.array([1, 2]),
        np.array([0, 3], np.int8), *(np.zeros(2, np.int64) for _ in range(3)),
        *(np.zeros(2) for _ in range(3)),
    )
    print("package", muosm_perf.__file__)
    print("attempts", len(attempts["attempt"]))
    print("cache", _numba.CACHE, _numba.CACHE_LOCATION)
    """
)

PLAIN_NUMBA = textwrap.dedent(
    """
    import numba
    @numba.njit(cache=True)
    def add(a, b):
        return a + b
    print(add(1, 2))
    """
)


def _read_only_install(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """Copy the package where no cache folder can be created, even by root.

    Every ``__pycache__`` is a plain file, and HOME and XDG_CACHE_HOME point below a
    plain file, so neither Numba's in-tree nor its per-user cache folder can exist.
    """
    site = tmp_path / "site"
    package = site / "muosm_perf"
    shutil.copytree(
        Path(muosm_perf.__file__).parent,
        package,
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    for folder in [package, *(p for p in package.rglob("*") if p.is_dir())]:
        (folder / "__pycache__").write_text("not a folder")
    blocker = tmp_path / "blocker"
    blocker.write_text("a file, so nothing can be created below it")
    env = dict(os.environ)
    env.pop("NUMBA_CACHE_DIR", None)
    env.update(
        PYTHONPATH=str(site),
        PYTHONDONTWRITEBYTECODE="1",
        HOME=str(blocker / "home"),
        XDG_CACHE_HOME=str(blocker / "cache"),
    )
    return site, env


def _run(code: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", code],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_plain_numba_cache_fails_in_this_setup(tmp_path):
    site, env = _read_only_install(tmp_path)
    module = site / "plain_kernel.py"
    module.write_text(PLAIN_NUMBA)
    (site / "__pycache__").write_text("not a folder")
    result = _run("import plain_kernel", env, tmp_path)
    assert result.returncode != 0
    assert "no locator available" in result.stderr


def test_kernels_run_with_fallback_cache(tmp_path):
    site, env = _read_only_install(tmp_path)
    result = _run(RUN_KERNEL, env, tmp_path)
    assert result.returncode == 0, result.stderr
    assert f"package {site / 'muosm_perf' / '__init__.py'}" in result.stdout
    assert "attempts 1" in result.stdout
    assert "cache True" in result.stdout
    assert "Numba compile cache:" in result.stdout


def test_kernels_run_without_any_cache(tmp_path):
    _, env = _read_only_install(tmp_path)
    env["NUMBA_CACHE_DIR"] = str(tmp_path / "blocker" / "numba")
    result = _run(RUN_KERNEL, env, tmp_path)
    assert result.returncode == 0, result.stderr
    assert "attempts 1" in result.stdout
    assert "cache False" in result.stdout
    assert "Numba compile cache off: NUMBA_CACHE_DIR=" in result.stdout
