"""What a comparable metric is, and how an area declares one beside its analysis (standard library only).

A metric is a figure ``compare``, ``export`` and ``plot`` set side by side: a name (with the unit's suffix,
as in tables), a unit, which way is better (``higher``, ``lower``, or ``""`` for neither: a description,
not a goal), a one-line definition, and the function that computes it. Each metric is defined exactly
once, in the module of the analysis it comes from, with the :func:`metric` (or :func:`sweep_metric`)
decorator::

    @metric("tklqt_s", "s", "lower", "median per pass of TKLQT ...")
    def tklqt(run): ...

    def metrics() -> tuple[Metric, ...]:
        return (tklqt, ...)

The decorated name *is* the :class:`Metric` (still callable as the function). An area lists its metrics
in ``metrics()``; the feature it belongs to lists it (``Feature.metrics``), :mod:`lowprof.metrics` puts the
features' lists and the core ones together, and :mod:`lowprof.analysis.metrics` evaluates them.

The function returns a number, ``None`` when the run has no data for it, or a list of ``(value, params)``
for a figure measured per parameter (per page size, per device). A list item may carry a third element,
``{"unit": ..., "better": ...}``, for rows with units of their own (microbenchmark figures). A per-run
metric takes the :class:`~lowprof.rundir.Run`; one declared with ``signal=True`` also takes the GPU power
signal (``auto``, ``instant`` or ``average``) as its second argument, and one declared with ``devices=True``
the power devices asked for (a ``--devices`` selection, :mod:`lowprof.analysis.devices`, or None) as its
last; a sweep metric takes the sweep folder's path.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

__all__ = ["Metric", "metric", "sweep_metric", "BETTER", "BANDWIDTH_UNIT", "bandwidth_gb_per_s", "params_key",
           "better_of"]

BETTER = ("higher", "lower", "")

# Units: SI throughout (s, J, W, B). Bandwidth, the one rate of bytes a person reads (tables, CSV, figures, and
# `lowprof bench` figures alike), is in decimal gigabytes per second: 1 GB/s = 10^9 bytes per second (never binary).
BANDWIDTH_UNIT = "GB/s"


def bandwidth_gb_per_s(nbytes: float, seconds: float) -> float:
    """Bandwidth in :data:`BANDWIDTH_UNIT`: ``nbytes / seconds / 1e9`` (decimal GB/s)."""
    return float(nbytes) / float(seconds) / 1e9


def _check_better(name: str, better: str) -> None:
    if better not in BETTER:
        raise ValueError(f"metric {name!r}: better must be 'higher', 'lower' or '', got {better!r}")


@dataclass(frozen=True)
class Metric:
    """A comparable figure and its definition.

    ``fn(run)`` (``fn(run, signal)`` when ``signal``, ``fn(run, signal, devices)`` when also ``devices``;
    ``fn(path)`` for a sweep metric) -> value, None, or
    ``[(value, params), ...]``. ``of`` is ``"run"`` or ``"sweep"``: what the function is given.
    """

    name: str
    unit: str
    better: str  # "higher", "lower" or "" (neither: a description, not a goal)
    doc: str
    fn: Callable[..., Any]
    of: str = "run"
    signal: bool = False  # the figure depends on the GPU power signal: fn(run, signal)
    devices: bool = False  # the figure takes the power devices asked for (--devices, or None): its last argument

    def __post_init__(self) -> None:
        _check_better(self.name, self.better)
        if self.of not in ("run", "sweep"):
            raise ValueError(f"metric {self.name!r}: of must be 'run' or 'sweep', got {self.of!r}")

    def __call__(self, *args: Any) -> Any:
        return self.fn(*args)

    @property
    def source(self) -> str:
        """Where the metric is defined: ``module.function``."""
        return f"{self.fn.__module__}.{self.fn.__qualname__}"


def metric(name: str, unit: str, better: str, doc: str, *, signal: bool = False,
           devices: bool = False) -> Callable[[Callable], Metric]:
    """Declare a per-run metric (decorator): the function becomes a :class:`Metric` of that name.
    ``signal``: the function also takes the GPU power signal (``fn(run, signal)``); ``devices``: and then the
    power devices asked for (``fn(run, signal, devices)``; None: the figure's default)."""
    _check_better(name, better)
    return lambda fn: Metric(name, unit, better, doc, fn, "run", signal, devices)


def sweep_metric(name: str, unit: str, better: str, doc: str) -> Callable[[Callable], Metric]:
    """Declare a per-sweep metric (decorator): the function takes the sweep folder's path."""
    _check_better(name, better)
    return lambda fn: Metric(name, unit, better, doc, fn, "sweep")


def params_key(params: dict) -> str:
    """``{"page_size_bytes": 4096}`` -> ``"page_size_bytes=4096"`` (sorted; ``""`` when empty)."""
    return ",".join(f"{k}={params[k]}" for k in sorted(params))


def _missing(v: Any) -> bool:
    """None, NaN (of any float type) or pandas' NA."""
    if v is None:
        return True
    try:
        return bool(v != v)
    except TypeError:  # pandas' NA: its comparisons are NA
        return True


def better_of(better: str, a: float | None, b: float | None) -> str:
    """``"A"``, ``"B"``, ``"="`` or ``""`` (no direction, or a value missing)."""
    if not better or _missing(a) or _missing(b):
        return ""
    if a == b:
        return "="
    return "B" if (b > a) == (better == "higher") else "A"
