"""How long a local worker takes to end: with the backend's fast exit (``_exit_now``) and without.

A pool of one spawned worker runs one job that imports the pipelines and holds ``--mb`` MB of
tensors (as a job that trained a model would); then the pool shuts down, and this prints how
long the first result and the shutdown took, alternating the two kinds of worker ``--repeats``
times:

- ``fast``: the backend's own worker initializer (``vaerobust.backends.local._init_worker``),
  which ends the worker without the interpreter's teardown once every exit handler ran;
- ``teardown``: the same initializer with that hook taken off again (``atexit.unregister``).

    python benchmarks/bench_worker_exit.py [--repeats 2] [--mb 200]
"""

from __future__ import annotations

import argparse
import atexit
import multiprocessing
import time
from concurrent.futures import ProcessPoolExecutor

from vaerobust.backends.local import _exit_now, _init_worker


def _init_with_teardown(threads: int) -> None:
    _init_worker(threads)
    atexit.unregister(_exit_now)


def _job(mb: int) -> int:
    import torch

    import vaerobust.pipelines.attack  # noqa: F401 - what a model job imports
    import vaerobust.pipelines.evaluate  # noqa: F401
    import vaerobust.pipelines.train  # noqa: F401

    global _KEPT
    _KEPT = [torch.randn(1024, 256) for _ in range(mb)]  # 1 MB each, alive until the worker ends
    return len(_KEPT)


def once(init, mb: int) -> tuple[float, float]:
    t0 = time.perf_counter()
    pool = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"), initializer=init, initargs=(1,))
    pool.submit(_job, mb).result()
    t1 = time.perf_counter()
    pool.shutdown(wait=True)
    return t1 - t0, time.perf_counter() - t1


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--mb", type=int, default=200)
    args = ap.parse_args()
    shut: dict[str, list[float]] = {"fast": [], "teardown": []}
    for r in range(args.repeats):
        for name, init in (("teardown", _init_with_teardown), ("fast", _init_worker)):
            first, down = once(init, args.mb)
            shut[name].append(down)
            print(f"run {r}  {name:8s}  first result {first:5.2f} s  shutdown {down:5.2f} s")
    best = {k: min(v) for k, v in shut.items()}
    print(f"shutdown, best of {args.repeats}: teardown {best['teardown']:.2f} s, fast {best['fast']:.2f} s "
          f"(saved {best['teardown'] - best['fast']:.2f} s per worker at the end of a study)")


if __name__ == "__main__":
    main()
