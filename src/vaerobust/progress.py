"""Progress bars on stderr (tqdm), off when asked or when stderr is not a terminal."""

from __future__ import annotations

import sys
from typing import Any


def progress_bar(total: int, initial: int = 0, desc: str = "", enabled: bool = True) -> Any:
    """A tqdm bar of ``total`` steps starting at ``initial``; ``enabled=False`` gives a silent one."""
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=initial, desc=desc, disable=None if enabled else True, file=sys.stderr,
                leave=False)


__all__ = ["progress_bar"]
