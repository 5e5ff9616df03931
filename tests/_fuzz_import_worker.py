"""Fuzz `lowprof import` with seeded mutations of the shared Kineto traces and nsys exports (tests/test_fuzz_import.py).

    python tests/_fuzz_import_worker.py SEED INPUTS OUT_DIR

INPUTS seeded mutants are generated and imported, one after the other (the same inputs for the same seed, on
any machine, however busy: no wall-clock budget).

Each input is imported by the real CLI (``lowprof.cli.main(["import", ...])``) in a child forked from
this warm interpreter (tests/_forked.py), so that a crash (a signal) or a hang (HANG_S) is seen as such and the next
input goes on. The only outcomes allowed:
  ok      exit 0, and the run directory loads as complete with its launches table readable, times
          from the trace's origin on (>= 0) and no end before its start
  error   exit 1 with one line ``lowprof: error: ...`` on stderr and no directory left behind
Anything else (a traceback, a crash, a hang, a half-written directory, a second line) is a failure;
its input is kept in OUT_DIR/failures/ to reproduce. Prints one JSON summary line at the end.

Mutations (MUTATORS): bytes (flips to JSON syntax characters, cuts, whitespace runs, invalid UTF-8),
structure (fields of random events deleted or set to hostile values: null, strings, nested values,
int32/int64 edges, 1e400, negative durations; metadata members likewise) and container (gzip levels,
split members, cut or corrupted gzip, trailing garbage). A source registry (SOURCES) names the input
kinds; nsys exports (3 in 10 inputs) get SQL-level mutations (_nsys_mutation: NULLs, text, reals, int32/int64
edges, blobs in random columns, dropped tables and columns, duplicated or reversed rows) or damaged bytes.
"""

from __future__ import annotations

import contextlib
import gzip
import io
import json
import os
import random
import shutil
import sys
import zlib
from pathlib import Path

from _forked import in_child
from _warm import warm

REPO = Path(__file__).resolve().parents[1]
KINETO = REPO / "tests" / "data" / "traces" / "kineto"
HANG_S = 60
MAX_SOURCE_BYTES = 2 << 20  # decompressed: the larger traces cost seconds per input

HOSTILE = [None, True, "", "x", "0x7fffffff", "1e400", -1, 0, 2**31 - 1, 2**31, -2**31 - 1, 2**32, 2**53 + 1,
           2**63 - 1, 2**63, -2**63, -2**63 - 1, 2**64, 10**30, 1.5, -0.0, 1e300, -1e300, [], {}, [1, [2, [3]]],
           {"a": {"b": None}}, "\u00b5s \U0001f600", "[/x] [red]", "a" * 5000]
FIELDS = ["ph", "cat", "name", "pid", "tid", "ts", "dur", "id", "args", "bp", "s"]
ARGS = ["correlation", "correlationId", "External id", "external id", "device", "stream", "grid", "block",
        "registers per thread", "shared memory", "bytes"]
META = ["baseTimeNanoseconds", "displayTimeUnit", "deviceProperties", "distributedInfo", "schemaVersion",
        "traceName"]


def _sources() -> list[tuple[str, bytes, object]]:
    out = []
    for p in sorted(KINETO.glob("*.json.gz")):
        text = gzip.decompress(p.read_bytes())
        if len(text) <= MAX_SOURCE_BYTES:
            out.append((p.name.split("__")[0], text, json.loads(text)))
    return out


NSYS = REPO / "tests" / "data" / "traces" / "nsys"
NSYS_TABLES = ["CUPTI_ACTIVITY_KIND_KERNEL", "CUPTI_ACTIVITY_KIND_MEMCPY", "CUPTI_ACTIVITY_KIND_MEMSET",
               "CUPTI_ACTIVITY_KIND_RUNTIME", "CUPTI_ACTIVITY_KIND_GRAPH_TRACE", "NVTX_EVENTS", "StringIds",
               "TARGET_INFO_SESSION_START_TIME", "TARGET_INFO_GPU", "TARGET_INFO_SYSTEM_ENV"]
SQL_HOSTILE = [None, "x", "", "12", "0x10", 1.5, 1e300, -1e300, 2**31, 2**31 - 1, -2**31 - 1, 2**32, 2**53 + 1,
               2**63 - 1, -2**63, -1, 0, b"\x00\xff", "\u00b5s [red]"]
NSYS_MARK = "nsys-sqlite"


def _nsys_sources() -> list[tuple[str, bytes, object]]:
    """The shared nsys exports (SQLite bytes); mutated by SQL (see _nsys_mutation)."""
    return [(f"nsys:{p.parent.name}/{p.stem}", p.read_bytes(), NSYS_MARK) for p in sorted(NSYS.glob("*/*.sqlite"))
            if p.stat().st_size <= 4 << 20]


SOURCES = {"kineto": _sources, "nsys": _nsys_sources}


# ---- mutations -------------------------------------------------------------------------------------


def _bytes_mutation(rng: random.Random, text: bytes) -> tuple[str, bytes]:
    b = bytearray(text)
    kind = rng.choice(["flip", "cut", "whitespace", "utf8", "delete", "duplicate"])
    if kind == "flip":
        for _ in range(rng.randint(1, 8)):
            b[rng.randrange(len(b))] = rng.choice(b'{}[]",:\\0-.eE \x01\xff\x00tfn')
    elif kind == "cut":
        b = b[:rng.randrange(len(b))]
    elif kind == "whitespace":
        at = rng.randrange(len(b))
        b[at:at] = rng.choice([b" ", b"\n", b"\t", b"\r\n"]) * rng.choice([1, 1000, 100_000, 3_000_000])
    elif kind == "utf8":
        at = rng.randrange(len(b))
        b[at:at] = rng.choice([b"\xff", b"\xc3", b"\xed\xa0\x80", b"\\ud800", b"\\u12", b"\\x"])
    elif kind == "delete":
        at = rng.randrange(len(b))
        del b[at:at + rng.randint(1, 200)]
    else:
        at, n = rng.randrange(len(b)), rng.randint(1, 500)
        b[at:at] = b[at:at + n]
    return f"bytes:{kind}", bytes(b)


_KEPT = ("kernel", "gpu_memcpy", "gpu_memset", "cuda_runtime", "cuda_driver", "ac2g", "cpu_op", "user_annotation",
         "Kernel", "Runtime", "Memcpy", "Memset", "async_gpu", "mtia_ccp_events", "mtia_runtime")


def _pick(rng: random.Random, events: list):
    """An event, most often one of the kinds lowprof keeps (GPU activities, launch calls, ops, flows)."""
    kept = [e for e in events if isinstance(e, dict) and e.get("cat") in _KEPT]
    return rng.choice(kept) if kept and rng.random() < 0.8 else rng.choice(events)


def _structure_mutation(rng: random.Random, doc) -> tuple[str, bytes]:
    doc = json.loads(json.dumps(doc))  # a private copy
    events = doc["traceEvents"] if isinstance(doc, dict) else doc
    kind = rng.choice(["field", "field", "args", "args", "meta", "events", "ids"])
    if kind == "field" and events:
        for _ in range(rng.randint(1, 20)):
            e = _pick(rng, events)
            if isinstance(e, dict):
                key = rng.choice(FIELDS)
                if rng.random() < 0.3:
                    e.pop(key, None)
                else:
                    e[key] = rng.choice(HOSTILE)
    elif kind == "args" and events:
        for _ in range(rng.randint(1, 20)):
            e = _pick(rng, events)
            if isinstance(e, dict):
                a = e.setdefault("args", {})
                if isinstance(a, dict):
                    key = rng.choice(ARGS)
                    v = rng.choice(HOSTILE)
                    a[key] = [v, rng.choice(HOSTILE), 1] if key in ("grid", "block") and rng.random() < 0.7 else v
    elif kind == "meta" and isinstance(doc, dict):
        doc[rng.choice(META)] = rng.choice(HOSTILE)
        if rng.random() < 0.2:
            doc["traceEvents"] = rng.choice([{}, None, "x", [[1]], [None]])
    elif kind == "events" and events:
        op = rng.choice(["shuffle", "duplicate", "drop", "kinds"])
        if op == "shuffle":
            rng.shuffle(events)
        elif op == "duplicate":
            events.extend(rng.choices(events, k=min(len(events), 200)))
        elif op == "drop":
            del events[rng.randrange(len(events)):]
        else:
            for e in rng.choices(events, k=min(len(events), 50)):
                if isinstance(e, dict):
                    e["cat"] = rng.choice(["kernel", "cuda_runtime", "ac2g", "cpu_op", "user_annotation",
                                           "gpu_memcpy", "Kernel", "flow", "Runtime", "Memcpy",
                                           "Memset", "async_gpu", "mtia_ccp_events", "mtia_runtime"])
                    e["ph"] = rng.choice(["X", "s", "f", "t", "i", "B"])
    else:  # ids: collisions and extremes in the linking fields
        for e in events:
            if isinstance(e, dict) and isinstance(e.get("args"), dict) and rng.random() < 0.3:
                e["args"]["correlation"] = rng.choice([1, 1, 2, None, -1, 2**63 - 1])
                e["args"]["External id"] = rng.choice([1, 1, None, "7"])
    text = json.dumps(doc, ensure_ascii=rng.random() < 0.5).encode()
    return f"structure:{kind}", text.replace(b'"1e400"', b"1e400") if rng.random() < 0.5 else text


def _container(rng: random.Random, text: bytes) -> tuple[str, str, bytes]:
    """(suffix, how, file bytes)."""
    kind = rng.choice(["plain", "gzip", "gzip", "members", "cut-gzip", "bad-gzip", "garbage-after"])
    if kind == "plain":
        return ".json", kind, text
    z = gzip.compress(text, rng.choice([0, 1, 6, 9]))
    if kind == "members":
        cut = rng.randrange(len(text) + 1)
        z = gzip.compress(text[:cut], rng.choice([0, 6])) + gzip.compress(text[cut:], rng.choice([0, 6]))
    elif kind == "cut-gzip":
        z = z[:rng.randrange(len(z))]
    elif kind == "bad-gzip" and len(z) > 40:
        b = bytearray(z)
        for _ in range(rng.randint(1, 4)):
            b[rng.randrange(10, len(b))] ^= 1 << rng.randrange(8)
        z = bytes(b)
    elif kind == "garbage-after":
        z += rng.choice([b"\x00" * 100, b"junk", zlib.compress(b"x")])
    return ".json.gz", kind, z


def _unconstrained(con, table: str) -> list[str]:
    """Recreate ``table`` without NOT NULL/type constraints (CREATE TABLE AS), so any value can be stored; its columns."""
    con.execute(f'CREATE TABLE "_fz" AS SELECT * FROM "{table}"')
    con.execute(f'DROP TABLE "{table}"')
    con.execute(f'ALTER TABLE "_fz" RENAME TO "{table}"')
    return [r[1] for r in con.execute(f'PRAGMA table_info("{table}")')]


def _nsys_mutation(rng: random.Random, raw: bytes, work: Path) -> tuple[str, bytes]:
    """SQL-level mutations of an nsys export: hostile values (NULL, text, reals, beyond int32/int64 edges, blobs)
    in random columns and rows, dropped tables and columns, duplicated or reversed rows; or damaged bytes."""
    import sqlite3

    if rng.random() < 0.15:  # the file itself: cut or flipped pages
        b = bytearray(raw)
        if rng.random() < 0.5:
            b = b[:rng.randrange(16, len(b))]
        else:
            for _ in range(rng.randint(1, 20)):
                b[rng.randrange(len(b))] = rng.randrange(256)
        return "nsys:bytes", bytes(b)
    db = work / "mut.sqlite"
    db.write_bytes(raw)
    con = sqlite3.connect(db)
    tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    present = [t for t in NSYS_TABLES if t in tables] or sorted(tables)
    kinds = []
    for _ in range(rng.randint(1, 4)):
        t = rng.choice(present)
        if t not in {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}:
            continue
        kind = rng.choice(["values", "values", "values", "drop_table", "drop_column", "duplicate", "reverse"])
        kinds.append(kind)
        if kind == "drop_table":
            con.execute(f'DROP TABLE "{t}"')
            continue
        cols = _unconstrained(con, t)
        if not cols:
            continue
        col = rng.choice(cols)
        if kind == "values":
            v = rng.choice(SQL_HOSTILE)
            every = rng.choice([1, 2, 7, 100])
            con.execute(f'UPDATE "{t}" SET "{col}" = ? WHERE rowid % ? = 0', (v, every))
        elif kind == "drop_column":
            keep = [c for c in cols if c != col]
            if keep:
                sel = ", ".join(f'"{c}"' for c in keep)
                con.execute(f'CREATE TABLE "_fz" AS SELECT {sel} FROM "{t}"')
                con.execute(f'DROP TABLE "{t}"')
                con.execute(f'ALTER TABLE "_fz" RENAME TO "{t}"')
        elif kind == "duplicate":
            con.execute(f'INSERT INTO "{t}" SELECT * FROM "{t}" WHERE rowid % 3 = 0')
        elif kind == "reverse" and {"start", "end"} <= set(cols):
            con.execute(f'UPDATE "{t}" SET "start" = "end", "end" = "start" WHERE rowid % 5 = 0')
    con.commit()
    con.close()
    return "nsys:sql:" + "+".join(kinds), db.read_bytes()


def mutant(rng: random.Random, sources, work: Path | None = None) -> tuple[str, str, bytes]:
    """(description, file suffix, bytes) of one seeded mutant."""
    nsys = [s for s in sources if s[2] == NSYS_MARK]
    if nsys and work is not None and rng.random() < 0.3:
        name, raw, _ = rng.choice(nsys)
        how, data = _nsys_mutation(rng, raw, work)
        return f"{name} {how}", ".sqlite", data
    name, text, doc = rng.choice([s for s in sources if s[2] != NSYS_MARK])
    how, data = _structure_mutation(rng, doc) if rng.random() < 0.5 else _bytes_mutation(rng, text)
    suffix, container, raw = _container(rng, data)
    return f"{name} {how} {container}", suffix, raw


# ---- one import, in a child ------------------------------------------------------------------------


def _import(trace: Path, out: Path) -> dict:
    """`lowprof import TRACE --out OUT` by the CLI's own main(), and what the run reads back."""
    from lowprof.cli import main

    res: dict = {}
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        res["rc"] = main(["import", str(trace), "--out", str(out), "--quiet"])
    if res["rc"] == 0:
        import lowprof

        run = lowprof.load(out)
        res["complete"] = run.complete
        launches = run["launches"]
        res["launches"] = len(launches)
        res["broken"] = _broken_times(launches)
    res["stderr"] = err.getvalue()[-2000:]
    return res


def _broken_times(launches) -> str | None:
    """Times on the run clock start at the trace's earliest event (origin: t = 0) and no activity ends
    before it starts; a trace that breaks this was misread (an INT64_MIN origin, an overflowed end)."""
    for c in ("cpu_start_ns", "cpu_end_ns", "gpu_start_ns", "gpu_end_ns", "op_start_ns"):
        v = launches[c].dropna()
        if len(v) and v.min() < 0:
            return f"{c} {int(v.min())} < 0: before the trace's origin"
    for a, b in (("gpu_start_ns", "gpu_end_ns"), ("cpu_start_ns", "cpu_end_ns")):
        both = launches[[a, b]].dropna()
        if len(both) and (both[b] < both[a]).any():
            return f"{b} < {a}"
    return None


def verdict(res: dict, out: Path) -> tuple[str, str]:
    """("ok" | "error" | "FAIL", detail)."""
    if "crash" in res:
        return "FAIL", res["crash"]
    if res.get("rc") == 0:
        if res.get("broken"):
            return "FAIL", f"imported, but its times are wrong: {res['broken']}"
        if res.get("complete") and isinstance(res.get("launches"), int):
            return "ok", ""
        return "FAIL", f"exit 0 but the run does not load as complete: {res}"
    lines = res.get("stderr", "").rstrip("\n").split("\n")
    if res.get("rc") != 1 or len(lines) != 1 or not lines[0].startswith("lowprof: error:"):
        return "FAIL", f"exit {res.get('rc')}, stderr not one error line: {res.get('stderr')!r}"
    if out.exists():
        return "FAIL", f"half-written directory left after: {lines[0]}"
    return "error", lines[0]


def _families(desc: str) -> list[str]:
    """The mutation families one input's description names: ``nsys:sql``/``nsys:bytes`` for an nsys export,
    else ``bytes:<kind>``/``structure:<kind>`` (what was mutated) and ``container:<how>`` (how it was written)."""
    parts = desc.split()
    if parts[1].startswith("nsys:"):
        return [":".join(parts[1].split(":")[:2])]
    return [parts[1], f"container:{parts[2]}"]


def _warm() -> None:
    """Import now what the imports import (the importer, the run writer and reader, the error line's
    rich), so that each forked child starts with it instead of importing it again (~30 ms an input)."""
    warm("lowprof.cli", "lowprof.tracers.importer", "pandas", "pyarrow.parquet", "pyarrow.pandas_compat",
         "lowprof.native._kscan", "lowprof.probes.power_logs", "lowprof.rundir.sections", "rich.console", "rich.text")


def main() -> None:
    seed, n_inputs, work = int(sys.argv[1]), int(sys.argv[2]), Path(sys.argv[3])
    _warm()

    sources = [s for make in SOURCES.values() for s in make()]
    rng = random.Random(seed)
    counts = {"ok": 0, "error": 0, "FAIL": 0}
    by_kind: dict[str, dict[str, int]] = {}
    errors: dict[str, int] = {}
    families: dict[str, int] = {}
    failures = []
    cpu0 = os.times()
    for i in range(n_inputs):
        desc, suffix, raw = mutant(rng, sources, work)
        for fam in _families(desc):
            families[fam] = families.get(fam, 0) + 1
        trace, out = work / f"in{suffix}", work / "out"
        trace.write_bytes(raw)
        res = in_child(lambda: _import(trace, out), HANG_S, 6 << 30)
        v, detail = verdict(res, out)
        counts[v] += 1
        src = "nsys" if desc.startswith("nsys") else "kineto"
        by_kind.setdefault(src, {"ok": 0, "error": 0, "FAIL": 0})[v] += 1
        if v == "error":
            key = detail.split(": ")[-1][:60]  # the reason, without the file name
            errors[key] = errors.get(key, 0) + 1
        if v == "FAIL":
            keep = work / "failures" / f"{i}{suffix}"
            keep.parent.mkdir(exist_ok=True)
            trace.replace(keep)
            failures.append({"input": str(keep), "mutation": desc, "why": detail[-1500:]})
        shutil.rmtree(out, ignore_errors=True)
    i = n_inputs
    cpu1 = os.times()  # this process and its reaped children (one per input): the CPU the inputs were given
    cpu_s = sum(b - a for a, b in zip(cpu0[:4], cpu1[:4]))
    print(json.dumps({"seed": seed, "inputs": i, "cpu_s": round(cpu_s, 2), "sources": len(sources),
                      "outcomes": counts, "by_kind": by_kind, "families": dict(sorted(families.items())),
                      "top_errors": dict(sorted(errors.items(), key=lambda kv: -kv[1])[:12]),
                      "failures": failures[:20]}))


if __name__ == "__main__":
    main()
