"""The one clock of a run: nanoseconds since the run's start on CLOCK_MONOTONIC.

Every timestamp in every table of a run directory is ``t_ns``: an integer number of
nanoseconds since ``origin_monotonic_ns``, read from ``time.monotonic_ns()`` (Linux
CLOCK_MONOTONIC, system-wide, so a workload process can stamp events on the same clock).
``origin_realtime_ns`` (CLOCK_REALTIME, Unix epoch) was read at the same instant, so
``realtime_ns = origin_realtime_ns + t_ns`` converts to wall time.
"""

from __future__ import annotations

import os
import time
from dataclasses import asdict, dataclass

__all__ = ["RunClock", "ENV_ORIGIN", "field_ns", "origin_from_env"]

ENV_ORIGIN = "LOWPROF_CLOCK_ORIGIN_NS"


def origin_from_env(raw: str | None = None) -> tuple[int, int] | None:
    """(origin_monotonic_ns, origin_realtime_ns) of the run this process records into, from ``raw`` (default:
    the ``ENV_ORIGIN`` variable, ``MONO:REAL`` as :meth:`RunClock.env_value` writes it; REAL may be absent:
    0); None where it is unset or not integers."""
    if raw is None:
        raw = os.environ.get(ENV_ORIGIN)
    mono, _, real = (raw or "").partition(":")
    try:
        return int(mono), int(real or 0)
    except ValueError:
        return None


def field_ns(name: str, value) -> int:
    """A time read from a field named by its unit (``t_ns``, ``t_s``, ``unix_s``, ``unix_ns``: a user's
    marks or power log) as integer ns: a ``_s`` value x 1e9 rounded, an ``_ns`` value rounded (an int as
    it is, every digit kept). The clock (run or Unix) is the caller's to know from the name."""
    if name.endswith("_s"):
        return round(float(value) * 1e9)
    return value if isinstance(value, int) and not isinstance(value, bool) else round(float(value))


@dataclass(frozen=True)
class RunClock:
    """Origin of a run's time axis; ``t_ns()`` is nanoseconds since it."""

    origin_monotonic_ns: int
    origin_realtime_ns: int
    name: str = "CLOCK_MONOTONIC"
    unit: str = "ns"

    @classmethod
    def start(cls) -> "RunClock":
        """Read both clocks back to back (the pair is taken with the smaller gap of three tries)."""
        best = None
        for _ in range(3):
            m0 = time.monotonic_ns()
            r = time.time_ns()
            m1 = time.monotonic_ns()
            if best is None or m1 - m0 < best[0]:
                best = (m1 - m0, (m0 + m1) // 2, r)
        return cls(origin_monotonic_ns=best[1], origin_realtime_ns=best[2])

    @classmethod
    def from_env(cls) -> "RunClock | None":
        """The clock of the run that launched this process, if any (set by ``lowprof run``)."""
        origin = origin_from_env()
        return None if origin is None else cls(origin_monotonic_ns=origin[0], origin_realtime_ns=origin[1])

    def env_value(self) -> str:
        return f"{self.origin_monotonic_ns}:{self.origin_realtime_ns}"

    def t_ns(self) -> int:
        """Now, in ns since the origin (CLOCK_MONOTONIC)."""
        return time.monotonic_ns() - self.origin_monotonic_ns

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, d: dict) -> "RunClock":
        return cls(**{k: d[k] for k in ("origin_monotonic_ns", "origin_realtime_ns", "name", "unit") if k in d})
