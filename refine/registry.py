"""Name registries for backends and formats: an unknown name raises, it never returns None."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

from refine.errors import UnknownNameError

T = TypeVar("T")


class Registry(Generic[T]):
    """A mapping from names to objects of one kind.

    Parameters
    ----------
    kind
        What the registry holds, for error messages ("pattern format", "profile function", ...).
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._items: dict[str, T] = {}

    def register(self, name: str, obj: T | None = None) -> Callable[[T], T] | T:
        """Register ``obj`` under ``name``; without ``obj`` return a decorator."""
        key = name.lower()

        def _add(item: T) -> T:
            if key in self._items:
                raise ValueError(f"{self.kind} {name!r} is registered twice")
            self._items[key] = item
            return item

        return _add if obj is None else _add(obj)

    def get(self, name: str) -> T:
        """Return the object registered under ``name`` (case-insensitive)."""
        try:
            return self._items[name.lower()]
        except KeyError:
            known = ", ".join(sorted(self._items)) or "none"
            raise UnknownNameError(f"unknown {self.kind} {name!r}; known: {known}") from None

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._items))

    def names(self) -> list[str]:
        """Sorted registered names."""
        return sorted(self._items)
