"""``manifest.json`` declared like the tables: every top-level member is one :class:`Section`, owned by the
feature or core module that writes it, with a version and typed fields (SI units, as in the tables).

From these declarations come (one declaration, three uses):

- the check on read (:func:`manifest_schema`, JSON Schema; ``lowprof.rundir.schema.MANIFEST_SCHEMA``): a
  manifest whose declared members have other types is refused, one line per problem;
- the check on write (:func:`write_problems`, called by ``rundir.manifest.write_manifest``): a member that
  is no declared section, or a field of another type, is a lowprof bug;
- the typed view readers get (:class:`Manifest`, ``Run.section(name)``): attributes of the declared types,
  None for a missing field (or one of another type), an empty view for a missing section.

Fields declared after schema 1's first readers (``read_check=False``) are checked when written, not when
read: a manifest written before they were declared still reads, and its view says None where its value
has another type. Members a section does not declare are free (a probe adds its own facts). A section's
``version`` is raised when the meaning of its fields changes; the manifest's ``schema`` stays 1 while what
older versions wrote still reads (their fields stay declared as they were, new ones with ``read_check=False``).

A feature lists its own sections: ``Feature(..., manifest=(SECTIONS["marks_file"],))`` or ``owned_by("marks")``.

``python -m lowprof.rundir.sections`` prints the Markdown README.md embeds between
``<!-- manifest:begin -->`` and ``<!-- manifest:end -->`` (a test keeps them equal). Standard library only.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property, lru_cache
from typing import Any, Iterator, Mapping

from lowprof.rundir.schema import errors, is_type
from lowprof.rundir.spec import TYPES

__all__ = ["Field", "Section", "SECTIONS", "owned_by", "Manifest", "View", "Entries", "manifest_schema", "write_problems", "markdown",
           "PID_MAX"]

PID_MAX = 2**31 - 1  # a pid_t; Linux's own limit is 2^22

# type words -> JSON Schema types. A trailing "?" lets the value be null; "list[T]" an array of T, "map[T]" an
# object whose every member is a T; "object" has the node's own ``fields``; "any" is not checked.
_JSON = {"str": "string", "int": "integer", "float": "number", "bool": "boolean", "object": "object"}


class _Node:
    """What a :class:`Field` and a :class:`Section` share: their ``fields`` by name (built on first use)."""

    @cached_property
    def by_name(self) -> dict[str, "Field"]:
        return {f.name: f for f in self.fields}


@dataclass(frozen=True)
class Field(_Node):
    """One member of a section (or of an object inside one).

    ``type``: ``str``, ``int``, ``float`` (any number), ``bool``, ``object`` (members: ``fields``),
    ``list[T]``, ``map[T]`` (T one of those; ``object`` items have ``fields``), ``any``; a trailing ``?``
    admits null. ``unit``: SI (``s``, ``ns``, ``B``, ``W``, ``Hz``), empty when none. ``enum``: the only
    values allowed. ``read_check``: False for a field declared after manifests were written without it
    (checked when written only)."""

    name: str
    type: str
    unit: str = ""
    doc: str = ""
    fields: tuple["Field", ...] = ()
    minimum: float | None = None
    maximum: float | None = None
    enum: tuple | None = None
    required: bool = False
    needs: tuple[tuple[str, tuple[str, ...]], ...] = ()  # (member, members that must come with it)
    read_check: bool = True


@dataclass(frozen=True)
class Section(_Node):
    """One top-level member of ``manifest.json``: who writes it (``owner``: a feature's name, or ``core``),
    its ``version`` (raised when its meaning changes; readers keep reading older ones), its fields.

    Most sections are objects (``type="object"``); a few are one value (``kind``: ``type="str"``) or a map
    of entries (``probes``: ``type="map[object]"``, each entry's ``fields``)."""

    name: str
    owner: str
    version: int
    fields: tuple[Field, ...] = ()
    doc: str = ""
    type: str = "object"
    unit: str = ""
    minimum: float | None = None
    maximum: float | None = None
    enum: tuple | None = None
    required: bool = False
    needs: tuple[tuple[str, tuple[str, ...]], ...] = ()
    read_check: bool = True


def _f(name, type, unit="", doc="", **kw) -> Field:
    return Field(name, type, unit, doc, **kw)


_STR_LIST = "list[str]"
_PID = dict(minimum=1, maximum=PID_MAX)

_PROBE_FIELDS = (
    _f("status", "str", doc="ok, unavailable, failed, off"),
    _f("reason", "str?", doc="why it did not record"),
    _f("error", "str?", doc="what broke it"),
    _f("tables", _STR_LIST, doc="tables it wrote"),
    _f("samples", "int?", minimum=0, doc="ticks it answered"),
    _f("interval_s", "float?", "s", "its sampling interval"),
    _f("stop_error", "str?", doc="what its stop raised", read_check=False),
    _f("devices", "list[object]?", doc="per device facts (nvml: index, name, power_w)", read_check=False,
       fields=(_f("index", "int?", read_check=False), _f("name", "str?", read_check=False))),
    _f("refused", "map[map[str]]?", doc="nvml: reading -> {GPU index: the driver's error}", read_check=False),
    _f("host_cpu", "object?", doc="whole-run host CPU figure (system): percent", read_check=False,
       fields=(_f("percent", "float?", "%", read_check=False),)),
    _f("sensors", "list[object]?", doc="hwmon: sensor, chip, label, average_interval_ms (ms)", read_check=False,
       fields=(_f("sensor", "str?", read_check=False), _f("chip", "str?", read_check=False),
               _f("label", "str?", read_check=False),
               _f("average_interval_ms", "int?", "ms", "the sensor's averaging window", read_check=False))),
)

_COLUMN_FIELDS = (
    _f("type", "str", enum=TYPES, required=True),
    _f("unit", "str"),
    _f("doc", "str"),
)

_TABLE_FIELDS = (
    _f("version", "int", minimum=0),
    _f("doc", "str"),
    _f("columns", "map[object]", fields=_COLUMN_FIELDS, doc="name -> type, unit, doc"),
    _f("rows", "int?", minimum=0, doc="rows written (null while streaming)"),
)

_REACH = (_f("bytes", "any", "B", "the level's reach (a number)", read_check=False),
          _f("status", "str?", doc="ok or uncertain", read_check=False), _f("reason", "str?", read_check=False))

_CORE: tuple[Section, ...] = (
    Section("schema", "core", 1, type="int", required=True, doc="manifest format version"),
    Section("kind", "core", 1, type="str", required=True, doc="what recorded it: run, attach, profile, import, bench"),
    Section("lowprof_version", "core", 1, type="str", doc="lowprof version that wrote it"),
    Section("status", "core", 1, type="str", required=True,
            doc="running until a clean finish sets complete (interrupted: a sweep point cut short)"),
    Section("recorder", "core", 1, doc="the process that wrote the run", fields=(
        _f("pid", "int?", **_PID), _f("hostname", "str?"),
        _f("start_ticks", "int", "clock ticks", "its start since boot (/proc/PID/stat field 22)", minimum=0),
        _f("boot_id", "str"))),
    Section("started_utc", "core", 1, type="str?", doc="UTC ISO-8601"),
    Section("ended_utc", "core", 1, type="str?", doc="UTC ISO-8601"),
    Section("clock", "core", 1, doc="the run clock every t_ns is on", fields=(
        _f("origin_monotonic_ns", "int", "ns", "CLOCK_MONOTONIC at t_ns = 0"),
        _f("origin_realtime_ns", "int", "ns", "CLOCK_REALTIME at t_ns = 0"),
        _f("origin_trace_ns", "int", "ns", "an imported trace's own time at t_ns = 0"),
        _f("name", "str"), _f("unit", "str"), _f("doc", "str"),
        _f("trace_clock", "object", doc="an imported trace's clock", fields=(
            _f("precision_ns", "int?", "ns", "its timestamps' resolution", read_check=False),)))),
    Section("end_t_ns", "core", 1, type="int?", unit="ns", doc="end on the run clock"),
    Section("duration_s", "core", 1, type="float?", unit="s", doc="end_t_ns in seconds"),
    Section("probes", "sampler", 1, type="map[object]", fields=_PROBE_FIELDS, doc="per probe: what it recorded"),
    Section("tables", "core", 1, type="map[object]", fields=_TABLE_FIELDS, doc="per table: its declared columns"),
    Section("command", "core", 1, type="list[str]?", doc="the workload's argv (attach: the target's)"),
    Section("lowprof_argv", "core", 1, type="list[str]?", doc="lowprof's own argv"),
    Section("cwd", "core", 1, type="str?", doc="working directory of the recording"),
    Section("host", "core", 1, doc="the machine (lowprof.inventory)", fields=(
        _f("hostname", "str?"), _f("cpu_model", "str?"), _f("cpu_logical", "int?", doc="logical CPUs"),
        _f("memory_bytes", "int?", "B"), _f("os", "str?", read_check=False), _f("kernel", "str?", read_check=False),
        _f("arch", "str?", read_check=False), _f("cpu_physical", "int?", read_check=False),
        _f("caches", "list[object]?", read_check=False, doc="level, type, size_bytes (B), line_bytes (B)"),
        _f("numa_nodes", "any", read_check=False))),
    Section("gpus", "core", 1, doc="GPUs via NVML at the start", fields=(
        _f("available", "bool"), _f("reason", "str?", doc="why none"),
        _f("devices", "list[object]", doc="name, uuid, memory_bytes (B), power_limit_w (W), pcie_gen/width",
           fields=(_f("name", "str?"), _f("index", "int?", read_check=False),
                   _f("memory_bytes", "int?", "B", read_check=False),
                   _f("power_limit_w", "float?", "W", read_check=False))),
        _f("driver_version", "str?", read_check=False), _f("cuda_driver_version", "str?", read_check=False))),
    Section("software", "core", 1, doc="Python and the packages that shape results", fields=(
        _f("python", "str?", read_check=False), _f("executable", "str?", read_check=False),
        _f("packages", "object?", read_check=False))),
    Section("workload", "core", 1, needs=(("user_s", ("system_s", "maxrss_bytes")),),
            doc="the process recorded and how it ended", fields=(
        _f("pid", "int?", **_PID), _f("exit_code", "int?"), _f("signal", "str?", doc="signal name, e.g. SIGTERM"),
        _f("user_s", "float", "s", "CPU time in user mode (wait4)"),
        _f("system_s", "float", "s", "CPU time in the kernel (wait4)"),
        _f("maxrss_bytes", "int", "B", "peak resident set (wait4)"),
        _f("maxrss_source", "str?", doc="where maxrss_bytes came from", read_check=False),
        _f("attach_ended_by", "str", doc="attach: duration, process exited, Ctrl-C"),
        _f("error", "str", doc="why it could not start"),
        _f("env", "map[str]", doc="ENV_FACTS of the target (attach)"))),
    Section("env", "core", 1, type="map[str]", doc="distributed ranks and performance knobs (lowprof.record.ENV_FACTS)"),
    Section("trace", "kernels", 1, doc="the kernel trace (--trace kernels, lowprof import, lowprof.trace)", fields=(
        _f("distributed", "object?", doc="a trace's distributedInfo as the trace gives it: rank, world_size", fields=(
            _f("rank", "any", doc="an int where the trace is right", read_check=False),
            _f("world_size", "any", doc="an int where the trace is right", read_check=False))),
        _f("parser", "object", doc="what the importer skipped"),
        _f("mode", "str?", doc="on-demand when windows were asked for", read_check=False),
        _f("trace", "str?", doc="the imported file", read_check=False),
        _f("source", "str?", doc="what made it: kineto, nsys-sqlite, ...", read_check=False),
        _f("events", "int?", doc="events in the imported trace", read_check=False),
        _f("errors", "list[any]?", doc="losses: a segment lost, a file missing", read_check=False),
        _f("error", "str?", doc="the error that stopped the trace", read_check=False),
        _f("no_launches_note", "str?", doc="an importer's line on a trace without GPU launches", read_check=False),
        _f("launches_empty_reason", "str?", read_check=False), _f("no_gpu_reason", "str?", read_check=False),
        _f("device_properties", "any", doc="the trace's deviceProperties as it gives them (a list: name, ...)",
           read_check=False),
        _f("on_demand", "object?", doc="windows, windows_lost", read_check=False))),
    Section("sampler", "sampler", 1, doc="how the sampler kept its schedule", fields=(
        _f("interval_s", "float?", "s", read_check=False),
        _f("started_t_ns", "int?", "ns", "when sampling began, on the run clock", read_check=False), _f("flush_s", "float?", "s", read_check=False),
        _f("ticks", "int?", read_check=False), _f("missed_ticks", "int?", doc="deadlines skipped", read_check=False),
        _f("late_ticks", "int?", read_check=False),
        _f("cpu_s", "float?", "s", "the sampler thread's own CPU time", read_check=False),
        _f("write_error", "str?", read_check=False))),
    Section("extension_errors", "core", 1, type="list[str]", doc="what a recording feature raised (the run is kept)"),
    Section("probes_requested", "core", 1, type="list[str]", doc="--probes as given"),
    Section("marks_file", "marks", 1, doc="--marks FILE", fields=(
        _f("path", "str?", read_check=False), _f("status", "str?", doc="ok or failed", read_check=False),
        _f("rows", "int?", read_check=False), _f("reason", "str?", read_check=False))),
)

_FEATURES: tuple[Section, ...] = (
    Section("pystacks_timeline", "stacks", 1, read_check=False, doc="--stacks: py-spy's timeline", fields=(
        _f("status", "str?", read_check=False), _f("reason", "str?", read_check=False),
        _f("rate_hz", "float?", "Hz", "py-spy's sampling rate", read_check=False),
        _f("samples", "int?", read_check=False), _f("align", "object?", read_check=False))),
    Section("allocator", "allocator", 1, read_check=False, doc="--allocator: oobmalloc's counters", fields=(
        _f("name", "str?", read_check=False), _f("library", "str?", read_check=False),
        _f("status", "str?", read_check=False), _f("processes", "int?", read_check=False),
        _f("allocs", "int?", read_check=False), _f("workload", "object?", read_check=False))),
    Section("microbench", "microbench", 1, read_check=False, doc="lowprof bench: what was measured, on which GPU"),
    Section("tlb", "tlb", 1, read_check=False, doc="lowprof bench tlb: detected figures per page size", fields=(
        _f("sweeps", "map[object]?", doc="page size (B, as text) -> each level's reach", read_check=False,
           fields=tuple(_f(k, "object?", read_check=False, fields=_REACH) for k in
                        ("l1_dtlb", "l2_stlb", "l1_dtlb_verdict", "l2_stlb_verdict"))),
        _f("tsc", "object?", doc="TSC rate: hz (Hz), status, reason", read_check=False, fields=(
            _f("hz", "float?", "Hz", read_check=False), _f("status", "str?", read_check=False),
            _f("reason", "str?", read_check=False))))),
    Section("job", "import", 1, read_check=False, doc="lowprof import FOLDER: this rank of the job", fields=(
        _f("rank", "int?", read_check=False), _f("rank_from", "str?", read_check=False),
        _f("trace", "str?", read_check=False))),
    Section("power_log", "import", 1, read_check=False, doc="lowprof import of a power log",
            fields=(_f("interval_s", "float?", "s", read_check=False),)),
    Section("replay_of", "nvml", 1, type="str", read_check=False, doc="the NVML recording replayed"),
    Section("synthetic", "nvml", 1, type="bool", read_check=False, doc="the replayed recording was synthetic"),
    Section("interrupted", "sweep", 1, type="any", read_check=False, doc="how a sweep point was cut short"),
    Section("error", "kernels", 1, type="str", read_check=False, doc="lowprof.trace: why nothing was traced"),
)

SECTIONS: dict[str, Section] = {s.name: s for s in _CORE + _FEATURES}


def owned_by(owner: str) -> tuple[Section, ...]:
    """The sections ``owner`` writes (what its ``Feature(manifest=...)`` lists), in declaration order."""
    return tuple(s for s in SECTIONS.values() if s.owner == owner)


# --- JSON Schema (the checks) -------------------------------------------------------------------------------

@lru_cache(maxsize=None)
def _json_types(word: str) -> tuple[str, ...] | None:
    """The JSON Schema types type word ``word`` admits at its top level; None for ``any`` (every value). The one
    definition of what a type word accepts: the schemas (the checks) and the views (:func:`_matches`) use it."""
    nullable = word.endswith("?")
    word = word.rstrip("?")
    if word == "any":
        return None
    top = "array" if word.startswith("list[") else "object" if word.startswith("map[") else _JSON[word]
    return (top, "null") if nullable else (top,)


def _type_schema(word: str, node, read: bool) -> dict:
    types = _json_types(word)
    if types is None:
        return {}
    out: dict = {"type": types[0] if len(types) == 1 else list(types)}
    word = word.rstrip("?")
    if word.startswith(("list[", "map[")):
        inner = _type_schema(word[word.index("[") + 1:-1], node, read)
        if inner:
            out["items" if word.startswith("list[") else "additionalProperties"] = inner
    elif word == "object":
        out |= _members(node, read)
    return out


def _members(node, read: bool) -> dict:
    out: dict = {}
    fields = [f for f in node.fields if f.read_check or not read]
    if any(f.required for f in fields):
        out["required"] = [f.name for f in fields if f.required]
    if node.needs:
        out["dependencies"] = {k: list(v) for k, v in node.needs}
    if fields:
        out["properties"] = {f.name: _node_schema(f, read) for f in fields}
    return out


def _node_schema(node, read: bool) -> dict:
    if node.enum is not None:
        return {"enum": list(node.enum)}
    out = _type_schema(node.type, node, read)
    if node.minimum is not None:
        out["minimum"] = node.minimum
    if node.maximum is not None:
        out["maximum"] = node.maximum
    return out


@lru_cache(maxsize=None)
def manifest_schema(schema: int = 1, *, read: bool = True) -> dict:
    """The JSON Schema (draft 7) of a manifest: ``read`` (the check on read: fields with ``read_check``),
    else every declared field (the check on write). Built once per argument set: the same dict each call
    (do not change it)."""
    sections = [s for s in SECTIONS.values() if s.read_check or not read]
    return {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "title": f"lowprof manifest.json, schema {schema}",
        "type": "object",
        "required": [s.name for s in sections if s.required],
        "properties": {s.name: _node_schema(s, read) for s in sections},
    }


def write_problems(manifest: dict) -> list[str]:
    """Every way a manifest about to be written breaks its declaration, one line each: a member that is no
    declared section, a field of another type. Empty when it is as declared."""
    if not isinstance(manifest, dict):
        return [f"(top level): expected object, found {type(manifest).__name__}"]
    out = [f"{k}: not a declared manifest section (lowprof.rundir.sections.SECTIONS)"
           for k in manifest if k not in SECTIONS]
    return out + errors(manifest, manifest_schema(read=False))


# --- typed views (the readers) ------------------------------------------------------------------------------

def _matches(word: str, value) -> bool:
    """Whether ``value`` is of type word ``word`` at its top level, as the schemas check it (items aside)."""
    types = _json_types(word)
    if types is None:
        return True
    for t in types:  # (a loop, not any(): a view's attribute is read often)
        if is_type(value, t):
            return True
    return False


def _typed(node, value):
    """``value`` as ``node`` declares it: a :class:`View` for an object, a dict of views for a map of objects,
    a list of views for a list of objects; None when missing or of another type (an empty view or map for a
    missing object or map)."""
    word = node.type.rstrip("?")
    if not _matches(node.type, value) or (value is None and word != "any"):
        if word == "object":
            return View(node, {})
        if word.startswith("map["):
            return Entries(node, {}) if word == "map[object]" else {}
        return None
    if word == "object":
        return View(node, value)
    inner = word[word.index("[") + 1:-1] if "[" in word else None
    if word.startswith("map["):
        if inner == "object":
            return Entries(node, {k: View(node, v if isinstance(v, dict) else {}) for k, v in value.items()})
        return {k: v for k, v in value.items() if _matches(inner, v)}
    if word.startswith("list["):
        if inner == "object":
            return [View(node, v) for v in value if isinstance(v, dict)]
        return [v for v in value if _matches(inner, v)]
    return value


class Entries(dict):
    """A map of declared entries (``probes``, ``tables``): name -> :class:`View`. ``entry(name)`` is the
    entry, or an empty view when there is none."""

    def __init__(self, node, items: dict) -> None:
        super().__init__(items)
        self._node = node

    def entry(self, name: str) -> "View":
        return self.get(name) or View(self._node, {})


class View:
    """One section (or object in it) of a manifest, read as declared: ``view.pid`` is the declared field's
    value of its declared type, or None (missing, or of another type in an old manifest); a declared object
    is a View (empty when missing). A name the section does not declare raises AttributeError.

    ``"name" in view`` says whether the member is present; ``view.raw`` is the object itself (every member,
    declared or not); an empty view is falsy."""

    __slots__ = ("_node", "_data")

    def __init__(self, node, data: dict) -> None:
        self._node = node
        self._data = data

    def __getattr__(self, name: str):
        f = self._node.by_name.get(name)
        if f is not None:
            return _typed(f, self._data.get(name))
        raise AttributeError(f"manifest {self._node.name!r} declares no field {name!r} "
                             f"(declared: {', '.join(f.name for f in self._node.fields) or 'none'})")

    def __contains__(self, name: object) -> bool:
        return name in self._data

    def __bool__(self) -> bool:
        return bool(self._data)

    @property
    def raw(self) -> dict:
        return self._data

    def __repr__(self) -> str:
        return f"View({self._node.name!r}, {self._data!r})"


class Manifest(Mapping):
    """A manifest read through its declaration: ``Manifest(m).workload.pid``, ``Manifest(m).section("probes")``.
    Each attribute is a declared section, typed (see :class:`View`); it is also the mapping itself
    (``Manifest(m)["kind"]``), for code that passes the whole document on."""

    __slots__ = ("_data",)

    def __init__(self, manifest: Mapping | None) -> None:
        self._data = manifest if isinstance(manifest, Mapping) else {}

    def section(self, name: str):
        """Section ``name`` of its declared type: a View, a dict of entries, or one value (None if missing)."""
        if name not in SECTIONS:
            raise KeyError(f"{name!r} is not a declared manifest section; declared: {', '.join(SECTIONS)}")
        return _typed(SECTIONS[name], self._data.get(name))

    def __getattr__(self, name: str):
        if name.startswith("_"):
            raise AttributeError(name)
        try:
            return self.section(name)
        except KeyError as e:
            raise AttributeError(e.args[0]) from None

    def __getitem__(self, key: str) -> Any:
        return self._data[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    @property
    def raw(self) -> Mapping:
        return self._data


# --- README ---------------------------------------------------------------------------------------------------

def _fields_text(fields: tuple[Field, ...]) -> str:
    parts = []
    for f in fields:
        text = f"`{f.name}`" + (f" ({f.unit})" if f.unit else "")
        parts.append(text)
    return ", ".join(parts)


def markdown() -> str:
    """README's manifest reference: one row per section (owner, version, type, fields with units)."""
    out = ["| section | owner | version | type | fields (unit) | meaning |", "|---|---|---|---|---|---|"]
    for s in SECTIONS.values():
        kind = s.type + (f" ({s.unit})" if s.unit else "")
        out.append(f"| `{s.name}` | {s.owner} | {s.version} | {kind} | {_fields_text(s.fields) or '-'} | {s.doc} |")
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    print(markdown())
