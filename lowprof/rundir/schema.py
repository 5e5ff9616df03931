"""The declared shapes of ``manifest.json`` and ``sweep.json``, and a small validator for them.

The schemas are JSON Schema (draft 7) documents restricted to the keywords :func:`errors` knows:
``type``, ``properties``, ``required``, ``additionalProperties``, ``items``, ``enum``, ``minimum``,
``maximum``, ``pattern`` and ``dependencies`` (the array form). One deliberate difference: an
``integer`` is an integer literal (``1.0`` is a number, not an integer), since readers pass these
values on to the OS. Readers may then rely on every declared member having its declared type;
members not declared here are free (probes and tracers add their own).
"""

from __future__ import annotations

import re

__all__ = ["MANIFEST_SCHEMA", "SWEEP_SCHEMA", "JOB_SCHEMA", "errors", "depth", "MAX_DEPTH"]

MAX_DEPTH = 64  # nesting a manifest or sweep.json may have (lowprof writes at most ~8)
PID_MAX = 2**31 - 1  # a pid_t; Linux's own limit is 2^22

_STR = {"type": "string"}
_STR_OR_NULL = {"type": ["string", "null"]}
_INT_OR_NULL = {"type": ["integer", "null"]}
_NUM_OR_NULL = {"type": ["number", "null"]}
_STRINGS = {"type": "array", "items": _STR}
_OBJECT = {"type": "object"}

_COLUMN = {"type": "object", "required": ["type"], "properties": {
    "type": {"enum": ["int64", "int32", "float64", "string", "bool"]}, "unit": _STR, "doc": _STR}}
_TABLE = {"type": "object", "properties": {
    "version": {"type": "integer", "minimum": 0}, "doc": _STR,
    "columns": {"type": "object", "additionalProperties": _COLUMN},
    "rows": {"type": ["integer", "null"], "minimum": 0}}}
_PROBE = {"type": "object", "properties": {
    "status": _STR, "reason": _STR_OR_NULL, "error": _STR_OR_NULL, "tables": _STRINGS,
    "samples": {"type": ["integer", "null"], "minimum": 0}, "interval_s": _NUM_OR_NULL}}

MANIFEST_SCHEMA: dict = {
    "$schema": "http://json-schema.org/draft-07/schema#",
    "title": "lowprof manifest.json, schema 1",
    "type": "object",
    "required": ["schema", "kind", "status"],
    "properties": {
        "schema": {"type": "integer"},
        "kind": _STR,
        "lowprof_version": _STR,
        "status": _STR,
        "recorder": {"type": "object", "properties": {
            "pid": {"type": ["integer", "null"], "minimum": 1, "maximum": PID_MAX},
            "hostname": _STR_OR_NULL,
            "start_ticks": {"type": "integer", "minimum": 0},  # /proc/PID/stat field 22
            "boot_id": _STR}},
        "started_utc": _STR_OR_NULL,
        "ended_utc": _STR_OR_NULL,
        "clock": {"type": "object", "properties": {
            "origin_monotonic_ns": {"type": "integer"}, "origin_realtime_ns": {"type": "integer"},
            "origin_trace_ns": {"type": "integer"}, "name": _STR, "unit": _STR, "doc": _STR,
            "trace_clock": _OBJECT}},
        "end_t_ns": _INT_OR_NULL,
        "duration_s": _NUM_OR_NULL,
        "probes": {"type": "object", "additionalProperties": _PROBE},
        "tables": {"type": "object", "additionalProperties": _TABLE},
        "command": {"type": ["array", "null"], "items": _STR},
        "lowprof_argv": {"type": ["array", "null"], "items": _STR},
        "cwd": _STR_OR_NULL,
        "host": {"type": "object", "properties": {
            "hostname": _STR_OR_NULL, "cpu_model": _STR_OR_NULL, "cpu_logical": _INT_OR_NULL,
            "memory_bytes": _INT_OR_NULL}},
        "gpus": {"type": "object", "properties": {
            "available": {"type": "boolean"}, "reason": _STR_OR_NULL,
            "devices": {"type": "array", "items": {"type": "object", "properties": {"name": _STR_OR_NULL}}}}},
        "software": _OBJECT,
        "workload": {"type": "object", "dependencies": {"user_s": ["system_s", "maxrss_bytes"]}, "properties": {
            "pid": {"type": ["integer", "null"], "minimum": 1, "maximum": PID_MAX},
            "exit_code": _INT_OR_NULL, "signal": _STR_OR_NULL, "user_s": {"type": "number"},
            "system_s": {"type": "number"}, "maxrss_bytes": {"type": "integer"}, "attach_ended_by": _STR,
            "error": _STR, "env": {"type": "object", "additionalProperties": _STR}}},
        "env": {"type": "object", "additionalProperties": _STR},
        "trace": {"type": "object", "properties": {"distributed": {"type": ["object", "null"]},
                                                   "parser": _OBJECT}},
        "sampler": _OBJECT,
        "extension_errors": _STRINGS,
        "probes_requested": _STRINGS,  # --probes as given (default: all available, none requested)
        "marks_file": _OBJECT,  # --marks FILE: path, status ok|failed, rows or reason
    },
}

SWEEP_SCHEMA: dict = {
    "$schema": "http://json-schema.org/draft-07/schema#",
    "title": "lowprof sweep.json, schema 1",
    "type": "object",
    "required": ["schema", "kind", "runs"],
    "properties": {
        "schema": {"enum": [1]},
        "kind": {"enum": ["sweep"]},
        "params": _STRINGS,
        "command": _STRINGS,
        "runs": {"type": "array", "items": {"type": "object", "required": ["dir"], "properties": {
            # one folder directly inside the sweep: no separator, not . or .., no NUL
            "dir": {"type": "string", "pattern": r"^(?!\.\.?$)[^/\x00]+$"},
            "params": {"type": "object", "additionalProperties": _STR},
            "exit_code": _INT_OR_NULL}}},
        # an interrupted sweep (Ctrl-C): the point cut short and the points never started
        "status": {"enum": ["interrupted"]},
        "interrupted": {"type": ["object", "null"]},
        "not_run": {"type": "array", "items": _OBJECT},
    },
}

_JSON_TYPES = {"object": dict, "array": list, "string": str, "boolean": bool, "null": type(None)}


def _is(value, t: str) -> bool:
    if t == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if t == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    return isinstance(value, _JSON_TYPES[t])


def _show(value) -> str:
    text = repr(value) if not isinstance(value, (dict, list)) else type(value).__name__
    return text if len(text) <= 40 else text[:37] + "..."


def errors(value, schema: dict, path: str = "") -> list[str]:
    """Every way ``value`` breaks ``schema``, one line each: ``where: what``, ``where`` a dotted path."""
    where = path or "(top level)"
    if "enum" in schema and value not in schema["enum"]:
        return [f"{where}: expected one of {schema['enum']}, found {_show(value)}"]
    types = schema.get("type")
    if types is not None:
        types = [types] if isinstance(types, str) else types
        if not any(_is(value, t) for t in types):
            return [f"{where}: expected {' or '.join(types)}, found {_show(value)} ({_type_name(value)})"]
    out: list[str] = []
    if _is(value, "number"):
        lo, hi = schema.get("minimum"), schema.get("maximum")
        if (lo is not None and value < lo) or (hi is not None and value > hi):
            out.append(f"{where}: {_show(value)} is outside {lo if lo is not None else '-inf'}.."
                       f"{hi if hi is not None else 'inf'}")
    if isinstance(value, str) and "pattern" in schema and not re.search(schema["pattern"], value):
        out.append(f"{where}: {_show(value)} is not allowed here")
    if isinstance(value, dict):
        for key in schema.get("required", []):
            if key not in value:
                out.append(f"{where}: missing member {key!r}")
        for key, needs in schema.get("dependencies", {}).items():
            if key in value:
                out += [f"{where}: {key!r} given without {n!r}" for n in needs if n not in value]
        props = schema.get("properties", {})
        extra = schema.get("additionalProperties", True)
        for key, v in value.items():
            sub = props.get(key, extra)
            if isinstance(sub, dict):
                out += errors(v, sub, f"{path}.{key}" if path else str(key))
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        for i, v in enumerate(value):
            out += errors(v, schema["items"], f"{path}[{i}]")
    return out


def _type_name(value) -> str:
    for t in ("null", "boolean", "integer", "number", "string", "array", "object"):
        if _is(value, t):
            return t
    return type(value).__name__


def depth(value) -> int:
    """How deeply ``value`` nests (a scalar: 0), without recursion."""
    deepest, stack = 0, [(value, 0)]
    while stack:
        v, d = stack.pop()
        if isinstance(v, dict):
            v = list(v.values())
        if isinstance(v, list):
            d += 1
            deepest = max(deepest, d)
            stack.extend((x, d) for x in v if isinstance(x, (dict, list)))
    return deepest

JOB_SCHEMA: dict = {
    "$schema": "http://json-schema.org/draft-07/schema#",
    "title": "lowprof job.json, schema 1",
    "type": "object",
    "required": ["schema", "kind", "ranks"],
    "properties": {
        "schema": {"enum": [1]},
        "kind": {"enum": ["job"]},
        "source": _STR,
        "created_utc": _STR,
        "world_size": _INT_OR_NULL,
        "ranks": {"type": "array", "items": {"type": "object", "required": ["rank", "dir"], "properties": {
            "rank": {"type": "integer", "minimum": 0},
            "dir": {"type": "string", "pattern": r"^(?!\.\.?$)[^/\x00]+$"},
            "trace": _STR, "rank_from": {"enum": ["name", "distributedInfo"]}}}},
    },
}
