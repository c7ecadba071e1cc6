"""The slurm backend: the study's jobs as one submitit job array (optional extra ``vaerobust[slurm]``).

``workers`` caps how many array tasks run at once (``slurm_array_parallelism``). Each task calls
the job function on one job folder with torch limited to ``cpus_per_task`` threads. A task that
Slurm preempts or times out is requeued by submitit (the callable is
:class:`submitit.helpers.Checkpointable`): as every job resumes from its own folder (training from
its last checkpoint, an attack sweep from its saved batches), requeuing is running the same call
again. Logs go to ``<study>/_submitit/<job id>/``. Without Slurm (no ``srun``), or with
``cluster="local"``, submitit's local executor runs the tasks as local processes (the tests use it).

Options (``--backend-option KEY=VALUE``): ``partition``, ``timeout_min`` (default 720),
``cpus_per_task`` (default 2), ``gpus_per_node`` (default 0), ``mem_gb`` (default 16), ``cluster``
(``slurm``, ``local`` or ``debug``; default: detected), ``max_requeue`` (default 3 timeouts).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from vaerobust.backends.local import backend_options
from vaerobust.errors import ConfigError

OPTIONS = {"partition": str, "timeout_min": int, "cpus_per_task": int, "gpus_per_node": int, "mem_gb": float,
           "cluster": str, "max_requeue": int}


def _submitit() -> Any:
    try:
        import submitit
    except ImportError:
        raise ConfigError("the slurm backend needs submitit: pip install 'vaerobust[slurm]'") from None
    return submitit


class _Task:
    """The callable each array task runs: the job function on one job folder, with ``threads`` threads.

    Made :class:`submitit.helpers.Checkpointable` when submitted (see :func:`_requeueable`), so
    that a preempted or timed-out task is requeued with the same call."""

    def __init__(self, fn: Callable[[str], dict[str, Any]], threads: int) -> None:
        self.fn, self.threads = fn, threads

    def __call__(self, job_dir: str) -> dict[str, Any]:
        import torch

        torch.set_num_threads(self.threads)
        return self.fn(job_dir)


def _requeueable(task: _Task) -> Any:
    submitit = _submitit()

    class RequeueableTask(_Task, submitit.helpers.Checkpointable):
        pass

    return RequeueableTask(task.fn, task.threads)


class SlurmBackend:
    """Run jobs as a submitit job array (see the module docstring)."""

    def __init__(self, workers: int | None = None, **options: Any) -> None:
        self.submitit = _submitit()
        self.options = backend_options("slurm", options, OPTIONS)
        self.workers = workers
        self.cpus = int(self.options.get("cpus_per_task", 2))
        if self.cpus < 1 or (workers is not None and workers < 1):
            raise ConfigError("slurm backend: cpus_per_task and --workers must be >= 1")

    def describe(self) -> str:
        where = self.options.get("cluster") or "detected cluster"
        return f"slurm ({where}): a job array, {self.cpus} cpu(s) per task, at most {self.workers or 'all'} at once"

    def close(self) -> None:
        """Nothing is kept between runs: each run submits its own array."""

    def run(self, jobs: Sequence[str], fn: Callable[[str], dict[str, Any]],
            on_result: Callable[[dict[str, Any]], None]) -> None:
        if not jobs:
            return
        folder = Path(jobs[0]).parent.parent / "_submitit" / "%j"
        ex = self.submitit.AutoExecutor(folder=str(folder), cluster=self.options.get("cluster"),
                                        slurm_max_num_timeout=int(self.options.get("max_requeue", 3)))
        params: dict[str, Any] = {"name": "vaerobust", "timeout_min": int(self.options.get("timeout_min", 720)),
                                  "cpus_per_task": self.cpus, "mem_gb": float(self.options.get("mem_gb", 16))}
        if self.options.get("gpus_per_node"):
            params["gpus_per_node"] = int(self.options["gpus_per_node"])
        if self.options.get("partition"):
            params["slurm_partition"] = self.options["partition"]
        if self.workers:
            params["slurm_array_parallelism"] = self.workers
        ex.update_parameters(**params)
        submitted = ex.map_array(_requeueable(_Task(fn, self.cpus)), list(jobs))
        by_id = dict(zip((j.job_id for j in submitted), jobs))
        try:
            for job in self.submitit.helpers.as_completed(submitted):
                try:
                    result = job.result()
                except Exception as e:  # the task failed outside the job function (killed, no requeue left)
                    result = {"job": Path(by_id[job.job_id]).name, "state": "failed",
                              "error": f"the {job.job_id} task ended abnormally: {str(e).splitlines()[-1][:300]}"}
                on_result(result)
        except KeyboardInterrupt:
            for job in submitted:
                job.cancel(check=False)  # every task stops at its own safe point (scancel sends SIGTERM)
            raise


__all__ = ["OPTIONS", "SlurmBackend"]
