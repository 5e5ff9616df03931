"""What a feature of lowprof declares, once, beside its code.

A feature is one thing a user can ask lowprof for: a probe (``system``, ``nvml``), a tracer (``--trace
kernels``), the workload's phase marks, an experiment's results. Its module ends with one
:class:`Feature` value, ``FEATURE``, and :mod:`lowprof.features` lists every feature with plain imports;
nothing else names it. From that list come the tables a run directory can hold (README's catalogue), the
manifest sections, the recording verbs' options, the hooks a recording calls, the report sections and the
comparable metrics of ``compare``, ``export`` and ``plot`` (:mod:`lowprof.metrics`). A metric is defined in
the area of :mod:`lowprof.analysis` it is computed by; the feature's ``metrics`` lists the ones it owns.

Declarations are cheap to import (the standard library and other declarations only): building the command
line reads every one of them. The work itself sits in functions that import what they need (pandas,
pyarrow, py-spy, NVML) when called.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Mapping, Protocol

if TYPE_CHECKING:  # declarations only: none of these is imported at run time here
    import threading

    from lowprof.analysis.metric import Metric
    from lowprof.probes.base import Probe
    from lowprof.record import Recording
    from lowprof.rundir import Run
    from lowprof.rundir.sections import Section
    from lowprof.rundir.spec import TableSpec

__all__ = ["Feature", "Option", "Recorder", "RECORDING_VERBS"]

# The verbs that record a workload; a feature's options are offered by all of them unless it says otherwise.
RECORDING_VERBS: tuple[str, ...] = ("run", "attach", "sweep")


@dataclass(frozen=True)
class Option:
    """A command-line option a feature adds, as data: ``cli/`` turns it into a flag.

    ``type`` turns the text into the value and raises ValueError with the reason on bad text; ``switch``
    is a flag without value (False unless given). ``aliases`` are older spellings still accepted, not
    shown in --help. ``verb_help``: ``(verb, help)`` pairs, for a verb whose flag does something else than
    ``help`` says (attach's ``--trace kernels`` traces a window).
    """

    flag: str
    help: str
    metavar: str | None = None
    type: Callable[[str], Any] | None = None
    default: Any = None
    choices: tuple[str, ...] | None = None
    switch: bool = False
    aliases: tuple[str, ...] = ()
    verbs: tuple[str, ...] = RECORDING_VERBS
    verb_help: tuple[tuple[str, str], ...] = ()

    def help_for(self, verb: str) -> str:
        """The option's help in ``verb``'s --help."""
        return dict(self.verb_help).get(verb, self.help)

    @property
    def dest(self) -> str:
        """The option's key in the values a feature's hooks receive: ``--stacks-rate`` -> ``stacks_rate``."""
        return self.flag.lstrip("-").replace("-", "_")


class Recorder(Protocol):
    """What a feature does during one recording. Made by ``Feature.record``; every method is optional.

    The order: ``env``, the workload runs, ``started``, the probes take their first sample, ``sampling``, the
    window (``wait``, or the verb's own), ``finished``; ``sampling`` and ``wait`` are ``attach``'s (``run`` and
    ``sweep`` record until the workload ends)."""

    def env(self) -> dict[str, str]:
        """Variables added to the workload's environment (called before it starts)."""

    def started(self, pid: int, quiet: bool) -> None:
        """Called once the workload runs (its process id); may print one line unless ``quiet``."""

    def sampling(self, duration_s: float | None, quiet: bool) -> str | None:
        """``attach`` calls it once the probes sample (``duration_s``: the window asked for, ``--duration``; None:
        until stopped); returns a few words for the verb's start line, or None. A raise (LowprofError) ends the
        recording as failed: the others' ``finished`` run, the run directory is closed as failed, the error is
        said."""

    def wait(self, stop: "threading.Event", duration_s: float | None, quiet: bool) -> str:
        """Owns the end of the recording window, for a feature whose window ends on its own (an agent's
        ``done``): blocks until it ended (``stop``: set on Ctrl-C or SIGTERM; ``duration_s`` as ``sampling``)
        and returns why, as the verb's ``attach_ended_by`` says it (``duration``, ``signal``, ``process
        exited``, ...). Only ``attach`` asks, of the first recorder that has it; without one, the verb waits
        itself. That recorder's ``finished`` is called last, once the others stopped recording."""

    def finished(self, recording: "Recording", ended: Any) -> str | None:
        """Called after the workload ended (``ended``: its exit, or None for ``attach``), before the run
        directory is closed; writes the feature's tables and manifest section. A raise is recorded
        (``extension_errors``) and said, and never loses the run. May return a line saying what it failed to
        record that its own manifest section keeps already: said as an error (exit 1), not recorded again."""


@dataclass(frozen=True)
class Feature:
    """One feature's declaration. Every field but ``name`` and ``doc`` is optional.

    - ``tables``: the tables it writes (specs from :mod:`lowprof.rundir`);
    - ``manifest``: the manifest sections it owns;
    - ``options``: its flags on the recording verbs (values reach ``check`` and ``record`` as a mapping
      ``Option.dest -> value``, this feature's options only);
    - ``check(values)``: refuses a bad combination before any run directory is made (raise LowprofError);
    - ``claim(values, pid)``: for a recording of a process already running (``attach``), what the feature must
      hold of it before any run directory is made (an agent's connection), or None when not asked for; a
      LowprofError refuses (one line, no run directory). What it returns reaches ``record`` as a third
      argument (None where nothing was claimed: ``run``, ``sweep``) and is closed (its ``close()``) when the
      recording ends, whatever happened;
    - ``record(values, recording)``: a :class:`Recorder` for this recording, or None when not asked for
      (``recording.verb``: the verb recording, for a feature that records differently per verb: ``stacks``,
      ``kernels``);
    - ``probe()``: the sampler class, for a feature ``--probes`` can name (imported when called);
    - ``report(run)``: its section of ``lowprof report`` (under the feature's name), a dict, or None when the
      run has nothing of it; a report whose figures depend on the GPU power signal takes it as the keyword
      ``signal`` (``auto``, ``instant``, ``average``), one whose figures select power devices the keyword
      ``devices`` (``--devices``, :mod:`lowprof.analysis.devices`; None: its default);
    - ``metrics()``: the comparable figures it owns (``compare``, ``export``, ``plot``), each a
      :class:`~lowprof.analysis.metric.Metric` defined in its analysis area; called when the registry is
      built (:mod:`lowprof.metrics`), so the area is imported then, not with the declaration.
    """

    name: str
    doc: str
    tables: tuple["TableSpec", ...] = ()
    manifest: tuple["Section", ...] = ()
    options: tuple[Option, ...] = ()
    check: Callable[[Mapping[str, Any]], None] | None = None
    claim: Callable[[Mapping[str, Any], int], Any] | None = None
    record: Callable[..., "Recorder | None"] | None = None
    probe: Callable[[], "type[Probe]"] | None = None
    report: Callable[["Run"], dict | None] | None = None
    metrics: Callable[[], tuple["Metric", ...]] | None = None

    def values(self, options: Any, verb: str | None = None) -> dict[str, Any]:
        """This feature's option values out of a verb's parsed options (an object with one attribute per dest).
        With ``verb``, an option that verb does not offer has its default (a verb's own flag of the same
        name is not this feature's)."""
        return {o.dest: (getattr(options, o.dest, o.default) if verb is None or verb in o.verbs else o.default)
                for o in self.options}
