"""A saga's timeline as the terminal shows it: `python -m devhost demo` and `show` print it."""

from __future__ import annotations

from datetime import datetime
from typing import Any


def timeline(entries: list[dict[str, Any]]) -> str:
    """One line per event: time offset from the first, stream, event type, reason."""
    if not entries:
        return "   (no events)"
    first = datetime.fromisoformat(entries[0]["timestamp"])
    width = max(len(e["streamId"]) for e in entries)
    lines = []
    for entry in entries:
        offset = (datetime.fromisoformat(entry["timestamp"]) - first).total_seconds() * 1000
        reason = f"  - {entry['reason']}" if entry.get("reason") else ""
        lines.append(
            f"   +{offset:7.1f} ms  {entry['streamId']:<{width}}  {entry['eventType']}{reason}"
        )
    return "\n".join(lines)
