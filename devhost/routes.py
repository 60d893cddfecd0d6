"""HTTP route templates as the Functions host matches them: `{name}` segments, an optional
`{name?}`, a trailing catch-all `{*name}`, constraints `{name:int}` (int, alpha, guid, and
others accepted unchecked). Literal segments win over parameters; catch-alls come last."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from urllib.parse import unquote

_PARAM = re.compile(r"^\{(\*?)([A-Za-z_][A-Za-z0-9_]*)(\?)?(?::([A-Za-z]+)(?:\(.*\))?)?\}$")


@dataclass(frozen=True)
class Segment:
    literal: str | None = None  # lower-cased literal, or None for a parameter
    name: str = ""
    optional: bool = False
    catch_all: bool = False
    constraint: str | None = None

    def accepts(self, value: str) -> bool:
        if self.literal is not None:
            return value.lower() == self.literal
        match self.constraint:
            case "int" | "long":
                return re.fullmatch(r"-?\d+", value) is not None
            case "alpha":
                return value.isalpha()
            case "guid":
                try:
                    uuid.UUID(value)
                except ValueError:
                    return False
                return True
            case _:
                return True


@dataclass(frozen=True)
class Route:
    template: str
    segments: tuple[Segment, ...]

    @classmethod
    def parse(cls, template: str) -> Route:
        segments = []
        parts = [p for p in template.strip("/").split("/") if p]
        for index, part in enumerate(parts):
            match = _PARAM.match(part)
            if match is None:
                if "{" in part:
                    raise ValueError(f"route {template!r}: unsupported segment {part!r}")
                segments.append(Segment(literal=part.lower()))
                continue
            star, name, optional, constraint = match.groups()
            if star and index != len(parts) - 1:
                raise ValueError(f"route {template!r}: a catch-all must be the last segment")
            segments.append(
                Segment(None, name, bool(optional) or bool(star), bool(star), constraint)
            )
        return cls(template, tuple(segments))

    def precedence(self) -> tuple[int, ...]:
        """Sort key: literal segments before parameters before catch-alls, segment by segment,
        then longer templates first."""
        ranks = [0 if s.literal is not None else 2 if s.catch_all else 1 for s in self.segments]
        return (*ranks, 3, -len(self.segments))

    def match(self, parts: list[str]) -> dict[str, str] | None:
        """Route parameters for a path below the route prefix, given as its decoded segments
        (`path_parts`: a request is split once, not once per route tried), or None."""
        params: dict[str, str] = {}
        for index, segment in enumerate(self.segments):
            if segment.catch_all:
                rest = "/".join(parts[index:])
                if rest:
                    params[segment.name] = rest
                return params
            if index >= len(parts):
                if all(s.optional for s in self.segments[index:]):
                    return params
                return None
            if not segment.accepts(parts[index]):
                return None
            if segment.literal is None:
                params[segment.name] = parts[index]
        return params if len(parts) == len(self.segments) else None


def path_parts(path: str) -> list[str]:
    """A path's non-empty segments, percent-decoded, as `Route.match` takes them."""
    return [unquote(p) for p in path.split("/") if p]
