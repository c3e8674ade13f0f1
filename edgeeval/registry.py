"""Parts registered by name on the controller (model sources, build steps, host meters): a second
part under a taken name is an error at import, never a silent replacement; an unknown name lists
the known ones."""

from __future__ import annotations

from typing import Generic, TypeVar

T = TypeVar("T")


class Registry(Generic[T]):
    def __init__(self, kind: str):
        self.kind = kind
        self._parts: dict[str, T] = {}

    def register(self, name: str):
        def add(part: T) -> T:
            if name in self._parts:
                raise RuntimeError(f"two {self.kind}s are registered as {name!r}: {self._parts[name]!r} and {part!r}")
            self._parts[name] = part
            return part
        return add

    def __getitem__(self, name: str) -> T:
        try:
            return self._parts[name]
        except KeyError:
            raise KeyError(f"no {self.kind} named {name!r}; known: {', '.join(sorted(self._parts))}") from None

    def __contains__(self, name: object) -> bool:
        return name in self._parts

    def names(self) -> list[str]:
        return sorted(self._parts)
