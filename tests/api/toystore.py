"""A small store defined by the tests: the generic route/client machinery is checked on it
without depending on any domain."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel

from modelyard.errors import AlreadyExists, NotFound
from modelyard.transport import endpoint


class Thing(BaseModel):
    name: str
    size: int
    tags: dict[str, str] = {}
    kind: Literal["a", "b"] = "a"
    seen_at: datetime | None = None
    schema_: str | None = None


class ToyStore:
    """Things in memory."""

    def __init__(self) -> None:
        self.things: dict[str, Thing] = {}

    @endpoint("POST", "/things", status_code=201, permission="write")
    def add(
        self,
        name: str,
        size: int = 1,
        tags: dict[str, str] | None = None,
        kind: Literal["a", "b"] = "a",
        seen_at: datetime | None = None,
        schema: str | None = None,
    ) -> Thing:
        """Add a thing."""
        if name in self.things:
            raise AlreadyExists(f"A thing named {name!r} exists.", field="name")
        thing = Thing(
            name=name, size=size, tags=tags or {}, kind=kind, seen_at=seen_at, schema_=schema
        )
        self.things[name] = thing
        return thing

    @endpoint("GET", "/things/{name}", permission="read")
    def get(self, name: str) -> Thing:
        """One thing by name."""
        if name not in self.things:
            raise NotFound(f"No thing named {name!r}.", field="name")
        return self.things[name]

    @endpoint("GET", "/things", permission="read")
    def find(
        self, min_size: int = 0, names: list[str] | None = None, big: bool | None = None
    ) -> list[Thing]:
        """Things at least ``min_size`` big, optionally only some names."""
        out = [t for t in self.things.values() if t.size >= min_size]
        if names:
            out = [t for t in out if t.name in names]
        if big is not None:
            out = [t for t in out if (t.size > 10) == big]
        return out

    @endpoint("PUT", "/things/{name}/size/{size}", permission="write")
    def resize(self, name: str, size: int) -> Thing:
        thing = self.get(name)
        self.things[name] = thing.model_copy(update={"size": size})
        return self.things[name]

    @endpoint("DELETE", "/things/{name}", status_code=204, permission="write")
    def remove(self, name: str) -> None:
        """Forget a thing (no error when there is none)."""
        self.things.pop(name, None)

    @endpoint("POST", "/things/count", permission="read")
    def count(self) -> int:
        return len(self.things)

    @endpoint("GET", "/boom", permission="read")
    def boom(self) -> int:
        """A bug: raises something that is not a modelyard error."""
        raise RuntimeError("secret internals: password=hunter2")

    @endpoint("GET", "/as-dicts", permission="read")
    def as_dicts(self) -> list[Thing]:
        """Returns dicts where the annotation says Things (validated on the way out)."""
        return [t.model_dump() for t in self.things.values()]  # type: ignore[misc]

    def local_only(self) -> str:
        """Not an endpoint."""
        return "local"
