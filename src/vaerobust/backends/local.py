"""The local backend: a pool of worker processes on this machine.

``workers`` processes (default: 2, or 1 on a single core) each run one job at a time, with ``torch`` limited to
``max(1, cores // workers)`` threads so that workers x threads never exceed the cores (the
cores this process may use: ``os.sched_getaffinity``). Workers are started with ``spawn``
(no fork of a process that holds torch threads). A worker that dies (a crash, the OOM killer)
fails its job with that reason; the other jobs go on. A worker ends without tearing down its
interpreter (see ``_exit_now``). Ctrl-C stops the pool: each job's own
handler saves what it can, and the study resumes when run again.

``workers=0`` runs the jobs one after another in this process, with ``torch`` at one thread per
core (as a DataLoader's ``num_workers=0``): no process to start, a debugger stops inside a job,
and a failing job still only fails itself; but a crash of the process (a segfault, the OOM
killer) ends the study with it.
"""

from __future__ import annotations

import atexit
import multiprocessing
import os
import signal
import sys
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from vaerobust.errors import ConfigError


def available_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def backend_options(backend: str, options: dict[str, Any], types: dict[str, type]) -> dict[str, Any]:
    """A backend's ``--backend-option`` values converted to their types; an unknown key or a value
    of the wrong type is a one-line :class:`ConfigError` naming it."""
    unknown = sorted(set(options) - set(types))
    if unknown:
        raise ConfigError(f"the {backend} backend has no option {unknown[0]!r}; its options: {', '.join(types)}")
    out = {}
    for key, value in options.items():
        try:
            out[key] = types[key](value)
        except (TypeError, ValueError):
            raise ConfigError(f"{backend} backend option {key} = {value!r}: expected {types[key].__name__}") from None
    return out


def _failed(job: str, e: BaseException) -> dict[str, Any]:
    """The result of a job whose function could not run or return (the job's own errors are its records')."""
    return {"job": job, "state": "failed", "error": f"{type(e).__name__}: {e}"}


def _exit_now() -> None:
    """A worker's last exit handler: flush its output and end the process without the interpreter's
    teardown of every module (torch's included): a pool's shutdown 0.62 s -> 0.06 s on idle 2 cores,
    1.2 s -> 0.1 s with the other core busy (``benchmarks/bench_worker_exit.py``). Registered before anything
    else in the worker, so every handler that torch, logging or a job registers still runs first
    (``atexit`` runs the last registered first); a worker's exit status is not read by the pool."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (AttributeError, OSError, ValueError):  # closed or replaced
            pass
    os._exit(0)


def _init_worker(threads: int) -> None:
    atexit.register(_exit_now)  # first, so that it runs last
    import torch

    torch.set_num_threads(threads)
    os.environ["OMP_NUM_THREADS"] = str(threads)


class LocalBackend:
    """Run jobs in ``workers`` processes of this machine (see the module docstring)."""

    def __init__(self, workers: int | None = None, **options: Any) -> None:
        if options:
            raise ConfigError(f"the local backend has no option {sorted(options)[0]!r}")
        self.cores = available_cores()
        # default: 2 workers (measured: a 4-job study ran 1.19-1.27x faster with 2 workers x 1 thread than
        # with 1 worker x 2 threads on 2 cores, benchmarks/bench_study.py); never more than the cores
        self.workers = min(2, self.cores) if workers is None else int(workers)
        if self.workers < 0:
            raise ConfigError(f"--workers {self.workers}: expected an integer >= 1, or 0 for this process")
        self.threads = max(1, self.cores // max(1, self.workers))
        self._executor: ProcessPoolExecutor | None = None  # kept across run() calls until close()

    def close(self) -> None:
        """Stop the worker processes (they are kept between :meth:`run` calls of one study)."""
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
            self._executor = None

    def _pool(self, n_jobs: int) -> ProcessPoolExecutor:
        ctx = multiprocessing.get_context("spawn")
        return ProcessPoolExecutor(max_workers=max(1, min(self.workers, n_jobs)), mp_context=ctx,
                                   initializer=_init_worker, initargs=(self.threads,))

    def describe(self) -> str:
        if self.workers == 0:
            return f"local: in this process, one job at a time, {self.threads} torch thread(s) on {self.cores} core(s)"
        return f"local: {self.workers} worker(s) x {self.threads} torch thread(s) on {self.cores} core(s)"

    def run(self, jobs: Sequence[str], fn: Callable[[str], dict[str, Any]],
            on_result: Callable[[dict[str, Any]], None]) -> None:
        if not jobs:
            return
        if self.workers == 0:
            self._run_here(jobs, fn, on_result)
            return
        pool = self._executor = self._executor or self._pool(self.workers)
        pending: dict[Future, str] = {}
        try:
            queue = list(jobs)
            while queue and len(pending) < self.workers:
                job = queue.pop(0)
                pending[pool.submit(fn, job)] = job
            while pending:
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for f in done:
                    job = pending.pop(f)
                    try:
                        result = f.result()
                    except BrokenProcessPool as e:  # a worker died: its pool is gone, start another
                        result = {"job": job, "state": "failed",
                                  "error": f"the worker process ended abnormally ({e or 'killed'})"}
                        pool.shutdown(wait=False, cancel_futures=True)
                        pool = self._executor = self._pool(self.workers)
                        for g, other in list(pending.items()):  # in flight on the dead pool: resubmit
                            del pending[g]
                            pending[pool.submit(fn, other)] = other
                    except Exception as e:  # the function could not run at all (e.g. it cannot be pickled)
                        result = _failed(job, e)
                    on_result(result)
                    if queue:
                        nxt = queue.pop(0)
                        pending[pool.submit(fn, nxt)] = nxt
        except KeyboardInterrupt:
            # a signal sent to this process alone (a scheduler, `kill`): pass it on, so that every
            # running job stops at its own safe point (a checkpoint) instead of running to its end
            for proc in list(getattr(pool, "_processes", {}).values()):
                try:
                    os.kill(proc.pid, signal.SIGINT)
                except (ProcessLookupError, PermissionError):
                    pass
            self.close()
            raise

    def _run_here(self, jobs: Sequence[str], fn: Callable[[str], dict[str, Any]],
                  on_result: Callable[[dict[str, Any]], None]) -> None:
        import torch

        before = torch.get_num_threads()
        torch.set_num_threads(self.threads)
        try:
            for job in jobs:
                try:
                    result = fn(job)
                except Exception as e:  # noqa: BLE001 - as a worker's: the function itself failed, the study goes on
                    result = _failed(job, e)
                on_result(result)
                if result.get("state") == "interrupted":  # the job caught Ctrl-C and saved what it could
                    raise KeyboardInterrupt
        finally:
            torch.set_num_threads(before)


__all__ = ["LocalBackend", "available_cores", "backend_options"]
