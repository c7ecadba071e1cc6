"""A tiny name -> object registry (no if/elif chains, no eval)."""

from __future__ import annotations

from typing import Callable, Generic, Iterator, TypeVar

from vaerobust.errors import UnknownNameError

T = TypeVar("T")


class Registry(Generic[T]):
    """Maps names to classes or factories; unknown names raise a one-line UnknownNameError.

    >>> MODELS = Registry("model")
    >>> @MODELS.register("tiny")
    ... class Tiny: ...
    >>> MODELS.get("tiny") is Tiny
    True
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._items: dict[str, T] = {}

    def register(self, name: str) -> Callable[[T], T]:
        def deco(obj: T) -> T:
            if name in self._items:
                raise ValueError(f"{self.kind} {name!r} is registered twice")
            self._items[name] = obj
            return obj

        return deco

    def get(self, name: str) -> T:
        try:
            return self._items[name]
        except KeyError:
            known = ", ".join(sorted(self._items)) or "(none)"
            raise UnknownNameError(f"unknown {self.kind} {name!r}; expected one of: {known}") from None

    def names(self) -> list[str]:
        return sorted(self._items)

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())


__all__ = ["Registry", "UnknownNameError"]
