"""Run a function in a child forked from a warm interpreter, for the standing tests' workers
(tests/_damage_worker.py, tests/_fuzz_import_worker.py): a hang is killed after a limit, a crash (a
signal) is seen as one, an exception comes back as its traceback, memory is capped (RLIMIT_AS) so
that reading without end fails instead of swapping. Forking costs ~10 ms; a fresh `lowprof` ~1 s.
"""

from __future__ import annotations

import json
import os
import resource
import select
import signal
import time
import traceback


def in_child(fn, timeout_s: float, memory_bytes: int) -> dict:
    """``fn()`` (which returns a JSON-able dict) in a forked child; its dict, or ``{"crash": why}``."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
        try:
            res = fn()
        except BaseException:  # noqa: BLE001 - the point: report what escaped
            res = {"crash": traceback.format_exc(limit=8)}
        with os.fdopen(w, "w") as f:
            f.write(json.dumps(res, default=str))
        os._exit(0)
    os.close(w)
    chunks, deadline = [], time.monotonic() + timeout_s
    with os.fdopen(r, "rb") as f:
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([f], [], [], left)[0]:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                return {"crash": f"hang: no answer after {timeout_s:g} s"}
            data = os.read(f.fileno(), 1 << 20)
            if not data:
                break
            chunks.append(data)
    _, status = os.waitpid(pid, 0)
    if os.WIFSIGNALED(status):
        return {"crash": f"killed by signal {os.WTERMSIG(status)}"}
    return json.loads(b"".join(chunks))
