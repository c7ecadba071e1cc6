"""The ray backend: the study's jobs as Ray core tasks (optional extra ``vaerobust[ray]``).

With ``address`` it joins an existing cluster (``ray start --head`` elsewhere; ``address=auto``
for the one this machine belongs to); without, it starts a local instance with an explicit
``num_cpus`` (default: the cores this process may use), and stops it at the end. Each job is
one task asking for ``cpus_per_job`` CPUs (default 1; torch uses that many threads) and
``gpus_per_job`` GPUs (default 0); at most ``workers`` run at once (default: as many as the
resources allow). A task whose worker dies fails its job only. Ctrl-C cancels the running
tasks (each receives a KeyboardInterrupt and stops at its own safe point).

A job that asks for more CPUs or GPUs than the cluster has is refused before anything runs.
For ``--device cuda`` give each job a GPU (``gpus_per_job=1``, or a fraction to share one): with
``gpus_per_job=0`` some Ray versions hide every GPU from the task (``CUDA_VISIBLE_DEVICES=""``).

Options (``--backend-option KEY=VALUE``): ``address``, ``num_cpus``, ``cpus_per_job``, ``gpus_per_job``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from vaerobust.backends.local import backend_options
from vaerobust.errors import ConfigError

OPTIONS = {"address": str, "num_cpus": int, "cpus_per_job": float, "gpus_per_job": float}


def _ray() -> Any:
    try:
        import ray
    except ImportError:
        raise ConfigError("the ray backend needs Ray: pip install 'vaerobust[ray]'") from None
    return ray


def _task(fn: Callable[[str], dict[str, Any]], job_dir: str, threads: int) -> dict[str, Any]:
    import torch

    torch.set_num_threads(max(1, threads))
    return fn(job_dir)


class RayBackend:
    """Run jobs as Ray tasks (see the module docstring)."""

    def __init__(self, workers: int | None = None, **options: Any) -> None:
        self.ray = _ray()
        self.options = backend_options("ray", options, OPTIONS)
        self.workers = workers
        if workers is not None and workers < 1:
            raise ConfigError(f"--workers {workers}: expected an integer >= 1")
        self.cpus = float(self.options.get("cpus_per_job", 1))
        self.gpus = float(self.options.get("gpus_per_job", 0))
        self._started = False

    def describe(self) -> str:
        where = self.options.get("address") or f"a local instance of {self._num_cpus()} CPU(s)"
        return f"ray ({where}): {self.cpus:g} CPU(s) and {self.gpus:g} GPU(s) per job"

    def _num_cpus(self) -> int:
        from vaerobust.backends.local import available_cores

        return int(self.options.get("num_cpus", available_cores()))

    def _connect(self) -> None:
        if self.ray.is_initialized():
            return
        if self.options.get("address"):
            self.ray.init(address=self.options["address"], log_to_driver=False)
        else:
            self.ray.init(num_cpus=self._num_cpus(), include_dashboard=False, log_to_driver=False)
            self._started = True

    def close(self) -> None:
        """Stop the local instance this backend started (a cluster joined by address is left running)."""
        if self._started and self.ray.is_initialized():
            self.ray.shutdown()
        self._started = False

    def run(self, jobs: Sequence[str], fn: Callable[[str], dict[str, Any]],
            on_result: Callable[[dict[str, Any]], None]) -> None:
        if not jobs:
            return
        self._connect()
        ray = self.ray
        have = ray.cluster_resources()
        if self.cpus > have.get("CPU", 0) or self.gpus > have.get("GPU", 0):
            self.close()
            raise ConfigError(f"the ray backend asks for {self.cpus:g} CPU(s) and {self.gpus:g} GPU(s) per job, but "
                              f"the cluster has {have.get('CPU', 0):g} CPU(s) and {have.get('GPU', 0):g} GPU(s): "
                              "lower cpus_per_job / gpus_per_job (no task could ever start)")
        remote = ray.remote(num_cpus=self.cpus, num_gpus=self.gpus, max_retries=0)(_task)
        queue, refs = list(jobs), {}
        cap = self.workers or len(jobs)
        try:
            while queue or refs:
                while queue and len(refs) < cap:
                    job = queue.pop(0)
                    refs[remote.remote(fn, job, int(self.cpus))] = job
                done, _ = ray.wait(list(refs), num_returns=1)
                for ref in done:
                    job = refs.pop(ref)
                    try:
                        result = ray.get(ref)
                    except Exception as e:  # the worker died, or Ray could not run the task
                        result = {"job": Path(job).name, "state": "failed",
                                  "error": f"the ray task ended abnormally ({type(e).__name__}: "
                                           f"{str(e).splitlines()[0][:200]})"}
                    on_result(result)
        except KeyboardInterrupt:
            for ref in refs:
                ray.cancel(ref)  # a KeyboardInterrupt in each task: it stops at its safe point
            if refs:  # at most 2 minutes in all for them to save what they have
                ray.wait(list(refs), num_returns=len(refs), timeout=120)
            self.close()
            raise


__all__ = ["OPTIONS", "RayBackend"]
