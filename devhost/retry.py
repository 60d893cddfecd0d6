"""Function retry policies as the host applies them: `fixed_delay` or `exponential_backoff`,
a maximum retry count, and delays in `hh:mm:ss` time spans."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

_TIMESPAN = re.compile(r"^(?:(\d+)\.)?(\d+):(\d+):(\d+(?:\.\d+)?)$")


def timespan(text: str) -> float:
    """Seconds in a .NET time span such as `00:00:02`, `00:01:00.5` or `1.02:00:00`."""
    match = _TIMESPAN.match(text.strip())
    if match is None:
        raise ValueError(f"not a time span: {text!r}")
    days, hours, minutes, seconds = match.groups()
    return int(days or 0) * 86400 + int(hours) * 3600 + int(minutes) * 60 + float(seconds)


@dataclass(frozen=True)
class RetryPolicy:
    max_retry_count: int = 0  # retries after the first attempt; 0: none
    strategy: str = "fixed_delay"
    delay: float = 0.0
    minimum: float = 0.0
    maximum: float = 0.0

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any] | None) -> RetryPolicy:
        """From `get_settings_dict("retry_policy")` (None: no retries)."""
        if not settings:
            return cls()
        strategy = str(settings["strategy"])
        count = int(settings.get("max_retry_count", 0))
        if count == -1:  # "retry forever" in Azure; a local run stops somewhere
            count = 1_000_000
        if strategy == "fixed_delay":
            return cls(count, strategy, delay=timespan(settings["delay_interval"]))
        if strategy == "exponential_backoff":
            return cls(
                count,
                strategy,
                minimum=timespan(settings["minimum_interval"]),
                maximum=timespan(settings["maximum_interval"]),
            )
        raise ValueError(f"unknown retry strategy {strategy!r}")

    def delay_before(self, retry: int) -> float:
        """Seconds to wait before retry number `retry` (1 for the first retry)."""
        if self.strategy == "fixed_delay":
            return self.delay
        return min(self.maximum, self.minimum * 2 ** (retry - 1))
