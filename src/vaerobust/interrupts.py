"""Ctrl-C and SIGTERM: stop at a safe point, or say where the work stopped.

- :func:`stop_requests`: inside the block, the first Ctrl-C (or SIGTERM) only sets a flag that a
  loop checks at the end of each step (training checkpoints there and stops); a second one
  interrupts at once.
- :func:`interruptible`: a Ctrl-C inside the block becomes :class:`~vaerobust.errors.Interrupted`
  with a message saying where the work stopped and how to resume it.
"""

from __future__ import annotations

import signal
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from vaerobust.errors import Interrupted


class StopRequest:
    """Set by the first Ctrl-C or SIGTERM inside :func:`stop_requests`: stop at the next safe point."""

    def __init__(self) -> None:
        self.requested = False


@contextmanager
def stop_requests() -> Iterator[StopRequest]:
    """Within the block, a first Ctrl-C or SIGTERM only sets ``.requested`` (the loop checkpoints at
    the end of its step and stops); a second one interrupts at once (KeyboardInterrupt).

    Outside the main thread, signals cannot be caught: ``.requested`` stays False and Ctrl-C
    raises KeyboardInterrupt as usual.
    """
    req = StopRequest()

    def handler(signum: int, frame: Any) -> None:
        if req.requested:
            raise KeyboardInterrupt
        req.requested = True

    previous: dict[int, Any] = {}
    try:
        for sig in (signal.SIGINT, signal.SIGTERM):
            previous[sig] = signal.signal(sig, handler)
    except ValueError:  # not the main thread
        pass
    try:
        yield req
    finally:
        for sig, h in previous.items():
            signal.signal(sig, h)


@contextmanager
def interruptible(where: Callable[[], str]) -> Iterator[None]:
    """Turn Ctrl-C or SIGTERM inside the block into :class:`~vaerobust.errors.Interrupted`.

    ``where()`` says where the work stopped and how to resume it (the last checkpoint, the
    batches saved). SIGTERM is handled like Ctrl-C while the block runs (in the main thread).
    """
    previous = None
    try:
        if signal.getsignal(signal.SIGTERM) == signal.SIG_DFL:  # leave a handler someone installed alone
            previous = signal.signal(signal.SIGTERM, signal.default_int_handler)
    except ValueError:  # not the main thread: leave SIGTERM alone
        previous = None
    try:
        yield
    except Interrupted:
        raise  # already says where it stopped
    except KeyboardInterrupt:
        raise Interrupted(where()) from None
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


__all__ = ["StopRequest", "interruptible", "stop_requests"]
