"""Run scenarios in worker processes or on a Dask cluster, with one code path.

A runner keeps a *payload*, the base and the evaluation function, and ships it to
each worker once. A local pool pickles it once and passes it to every process when
the process starts; a Dask runner scatters it to every worker (``broadcast=True``).
Tasks then carry only a scenario and return only its outputs. Both runners call
:func:`evaluate_payload` on the worker, so a sweep gives the same outputs however it
runs. Only the order in which scenarios finish differs, and results are put back in
scenario order.

Local worker processes are started with the ``spawn`` method, which behaves alike
on every platform and does not copy the parent's threads. As with any spawned
process, a script that runs a sweep at import time must guard it with
``if __name__ == "__main__":``.
"""

from __future__ import annotations

import concurrent.futures
import logging
import multiprocessing
import os
import pickle
import signal
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from tqdm import tqdm

from muosm_perf.errors import MuosmError, ParameterError, ScenarioError
from muosm_perf.whatif.scenario import Scenario

logger = logging.getLogger(__name__)

Evaluation = Callable[[Any, Scenario], dict[str, Any]]
"""A function of (base, scenario) returning the scenario's outputs by name."""

LOCAL_DASK = "local"
"""Dask address that starts a local cluster on 127.0.0.1 for the run."""


@dataclass(frozen=True)
class Payload:
    """The base and the evaluation function, which every worker needs once."""

    base: Any
    evaluation: Evaluation


def evaluate_payload(
    payload: Payload, index: int, scenario: Scenario
) -> tuple[int, dict[str, Any]]:
    """Evaluate one scenario on a worker and return its index and outputs.

    Raises
    ------
    ScenarioError
        If the evaluation raises a muosm-perf error; the message names the
        scenario. Other exceptions propagate with a note naming it.
    """
    try:
        outputs = payload.evaluation(payload.base, scenario)
    except MuosmError as error:
        raise ScenarioError(f"scenario {scenario.name!r}: {error}") from error
    except Exception as error:
        error.add_note(f"while evaluating what-if scenario {scenario.name!r}")
        raise
    return index, dict(outputs)


_INSTALLED: Payload | None = None


def _install_payload(pickled: bytes) -> None:
    global _INSTALLED  # noqa: PLW0603 - one payload per worker process, by design
    # Ctrl-C reaches the whole process group. Only the parent handles it, so a
    # worker is never stopped inside a pickle read and the parent ends the pool.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _INSTALLED = pickle.loads(pickled)


def _evaluate_installed(index: int, scenario: Scenario) -> tuple[int, dict[str, Any]]:
    if _INSTALLED is None:
        raise RuntimeError("no what-if payload was installed in this worker")
    return evaluate_payload(_INSTALLED, index, scenario)


def default_workers() -> int:
    """Return the number of CPUs this process may use (at least 1)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:
        return max(1, os.cpu_count() or 1)


def _check_workers(workers: int | None) -> int:
    if workers is None:
        return default_workers()
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 0:
        raise ParameterError(
            f"workers must be a whole number >= 0 (0: run in this process), got "
            f"{workers!r}"
        )
    return workers


class _Runner:
    """Shared part of the runners: progress, ordering and clean-up."""

    description = ""
    workers = 0

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, traceback) -> None:
        if exc_type is KeyboardInterrupt:
            self.abort()
        self.close()

    def abort(self) -> None:
        """Stop the scenarios still running, on an interrupt; ``close`` follows."""

    def close(self) -> None:
        """Release the workers."""

    def _completed(self, scenarios: Sequence[Scenario]) -> Iterator[tuple[int, dict]]:
        raise NotImplementedError

    def run(
        self,
        scenarios: Sequence[Scenario],
        *,
        progress: bool = False,
        label: str = "scenarios",
    ) -> list[dict[str, Any]]:
        """Evaluate ``scenarios`` and return their outputs in scenario order.

        Parameters
        ----------
        scenarios
            The scenarios.
        progress
            Show a progress bar on standard error.
        label
            Text in front of the progress bar.
        """
        results: list[dict[str, Any] | None] = [None] * len(scenarios)
        with tqdm(
            total=len(scenarios),
            desc=label,
            unit="scenario",
            file=sys.stderr,
            disable=not progress,
        ) as bar:
            for index, outputs in self._completed(scenarios):
                results[index] = outputs
                bar.update(1)
        return results  # type: ignore[return-value]


class LocalRunner(_Runner):
    """Run scenarios in local worker processes, or in this process.

    Parameters
    ----------
    base
        What every scenario starts from, passed to ``evaluation``.
    evaluation
        Picklable function of (base, scenario) returning outputs by name.
    workers
        Worker processes; 0 runs every scenario in this process; None uses every
        CPU this process may use.
    """

    def __init__(
        self, base: Any, evaluation: Evaluation, *, workers: int | None = None
    ):
        self.workers = _check_workers(workers)
        self.payload = Payload(base, evaluation)
        self._pool: concurrent.futures.ProcessPoolExecutor | None = None
        self.description = (
            "this process" if self.workers == 0 else f"{self.workers} local processes"
        )

    def _ensure_pool(self) -> concurrent.futures.ProcessPoolExecutor:
        if self._pool is None:
            pickled = pickle.dumps(self.payload, protocol=pickle.HIGHEST_PROTOCOL)
            logger.info(
                "starting %d worker processes; payload %.1f MB",
                self.workers,
                len(pickled) / 1e6,
            )
            self._pool = concurrent.futures.ProcessPoolExecutor(
                max_workers=self.workers,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_install_payload,
                initargs=(pickled,),
            )
        return self._pool

    def _completed(self, scenarios: Sequence[Scenario]) -> Iterator[tuple[int, dict]]:
        if self.workers == 0:
            for index, scenario in enumerate(scenarios):
                yield evaluate_payload(self.payload, index, scenario)
            return
        pool = self._ensure_pool()
        futures = [
            pool.submit(_evaluate_installed, index, scenario)
            for index, scenario in enumerate(scenarios)
        ]
        pending = set(futures)
        try:
            while pending:
                # A wait with a timeout, so that Ctrl-C is seen within half a
                # second: an untimed wait was seen to hold the interrupt until
                # a scenario finished.
                done, pending = concurrent.futures.wait(
                    pending,
                    timeout=0.5,
                    return_when=concurrent.futures.FIRST_COMPLETED,
                )
                for future in sorted(done, key=futures.index):
                    yield future.result()
        finally:
            for future in futures:
                future.cancel()

    def abort(self) -> None:
        """Terminate the worker processes, whose scenarios would run to the end.

        The workers ignore Ctrl-C, so that only this process handles it; on an
        interrupt they are stopped here instead of waited for.
        """
        if self._pool is None:
            return
        # Before Python 3.14 (terminate_workers) ProcessPoolExecutor has no public
        # way to stop busy workers, so this reads its private process table. If
        # the table is missing, the workers finish their scenarios first.
        for process in list(getattr(self._pool, "_processes", {}).values()):
            process.terminate()
        self._pool.shutdown(wait=True, cancel_futures=True)
        self._pool = None

    def close(self) -> None:
        """Shut the worker processes down."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None


class DaskRunner(_Runner):
    """Run scenarios on a Dask distributed cluster.

    Parameters
    ----------
    base, evaluation
        As for :class:`LocalRunner`; scattered to every worker once.
    address
        A scheduler address such as ``tcp://10.0.0.5:8786``, or ``local`` to
        start a local cluster of ``workers`` single-threaded worker processes
        for this runner, listening on 127.0.0.1 only, without a dashboard.
    workers
        Workers of a local cluster (None: every CPU); ignored for an address.
    timeout_s
        Seconds to wait for the connection to a scheduler.
    """

    def __init__(
        self,
        base: Any,
        evaluation: Evaluation,
        address: str,
        *,
        workers: int | None = None,
        timeout_s: float = 30.0,
    ):
        # distributed is an optional dependency (the "dask" extra), needed only here.
        from distributed import Client, LocalCluster  # noqa: PLC0415

        self._cluster = None
        if address == LOCAL_DASK:
            count = _check_workers(workers) or 1
            self._cluster = LocalCluster(
                n_workers=count,
                threads_per_worker=1,
                processes=True,
                host="127.0.0.1",
                # The scheduler always serves HTTP (health, metrics): keep it on
                # the loopback interface, on a free port, without the dashboard.
                dashboard_address="127.0.0.1:0",
                scheduler_kwargs={"dashboard": False},
                silence_logs=logging.WARNING,
            )
            self._client = Client(self._cluster, timeout=timeout_s)
        else:
            try:
                self._client = Client(address, timeout=timeout_s)
            except ValueError as error:
                raise ParameterError(
                    f"--dask {address!r} is not a Dask scheduler address: {error}; "
                    f"give one such as 'tcp://127.0.0.1:8786', or {LOCAL_DASK!r} "
                    "for a local cluster"
                ) from error
            except (OSError, TimeoutError) as error:
                raise ParameterError(
                    f"could not connect to the Dask scheduler at {address!r} within "
                    f"{timeout_s:g} s: {error}; check the address, or use "
                    f"{LOCAL_DASK!r} for a local cluster"
                ) from error
        self.workers = len(self._client.scheduler_info()["workers"])
        self.description = (
            f"Dask at {self._client.scheduler.address}, {self.workers} workers"
        )
        logger.info("connected to %s", self.description)
        self._payload = self._client.scatter(
            Payload(base, evaluation), broadcast=True, hash=False
        )

    def _completed(self, scenarios: Sequence[Scenario]) -> Iterator[tuple[int, dict]]:
        from distributed import as_completed  # noqa: PLC0415

        futures = [
            self._client.submit(
                evaluate_payload, self._payload, index, scenario, pure=False
            )
            for index, scenario in enumerate(scenarios)
        ]
        try:
            for future in as_completed(futures):
                yield future.result()
        finally:
            self._client.cancel(futures)

    def close(self) -> None:
        """Close the client, and the local cluster if this runner started it."""
        self._client.close()
        if self._cluster is not None:
            self._cluster.close()


def open_runner(
    base: Any,
    evaluation: Evaluation,
    *,
    workers: int | None = None,
    dask: str | None = None,
) -> LocalRunner | DaskRunner:
    """Return a runner: a Dask one when ``dask`` names an address, else local.

    Use it as a context manager so the workers are shut down.
    """
    if dask:
        return DaskRunner(base, evaluation, dask, workers=workers)
    return LocalRunner(base, evaluation, workers=workers)
