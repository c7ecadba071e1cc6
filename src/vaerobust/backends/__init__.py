"""Where the jobs of a study run: one job function, several executors (registered in :data:`BACKENDS`).

A backend receives job folders and a job function ``fn(job_dir) -> dict`` (a module-level
function, so it can be sent to another process or machine) and calls ``on_result(result)``
once per job as it ends. It knows nothing of what a job does: the study recipe
(:mod:`vaerobust.pipelines.study`) chooses the function.

- ``local`` (:mod:`.local`): a process pool on this machine, torch threads per worker chosen
  so that workers x threads never exceed the cores;
- ``slurm`` (:mod:`.slurm`, extra ``vaerobust[slurm]``): a submitit job array, requeued on
  preemption (each job resumes from its folder);
- ``ray`` (:mod:`.ray`, extra ``vaerobust[ray]``): Ray core tasks with CPU/GPU resources per job,
  on an existing cluster (``address``) or a local instance with an explicit ``num_cpus``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol

from vaerobust.backends.local import LocalBackend
from vaerobust.backends.ray import RayBackend
from vaerobust.backends.slurm import SlurmBackend
from vaerobust.registry import Registry

JobFn = Callable[[str], dict[str, Any]]


class Backend(Protocol):
    """Runs jobs; may keep workers between :meth:`run` calls of one study until :meth:`close`."""

    def run(self, jobs: Sequence[str], fn: JobFn, on_result: Callable[[dict[str, Any]], None]) -> None: ...

    def close(self) -> None: ...


BACKENDS: Registry[type] = Registry("backend")
BACKENDS.register("local")(LocalBackend)
BACKENDS.register("slurm")(SlurmBackend)
BACKENDS.register("ray")(RayBackend)


def build_backend(name: str, workers: int | None = None, **options: Any) -> Backend:
    """The backend ``name`` (an unknown name lists the known ones)."""
    return BACKENDS.get(name)(workers=workers, **options)


__all__ = ["BACKENDS", "Backend", "JobFn", "LocalBackend", "RayBackend", "SlurmBackend", "build_backend"]
