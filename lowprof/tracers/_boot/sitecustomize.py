"""Put on a workload's PYTHONPATH by ``lowprof run --trace kernels``: trace torch (or cupy) once imported,
or, with ``--on-demand``, arm the agent that traces a window when ``lowprof attach --trace kernels`` asks.

Imports nothing heavy: the agent waits for the workload's own ``import torch``. Any other
``sitecustomize`` further down ``sys.path`` is still run, as Python would have run it.
"""

import os as _os
import sys as _sys


def _lowprof_boot() -> None:
    here = _os.path.dirname(_os.path.abspath(__file__))
    try:
        if _os.environ.get("LOWPROF_ON_DEMAND_DIR"):
            import _lowprof_ondemand_agent

            _lowprof_ondemand_agent.arm()
        else:
            import _lowprof_kineto_agent

            _lowprof_kineto_agent.install_torch_hook()
    except Exception as e:  # noqa: BLE001 - tracing must never break the workload
        print(f"lowprof: kernel tracing disabled: {type(e).__name__}: {e}", file=_sys.stderr)
    import importlib.machinery
    import importlib.util

    rest = [p for p in _sys.path if _os.path.abspath(p or ".") != here]
    spec = importlib.machinery.PathFinder.find_spec("sitecustomize", rest)
    if spec is not None and spec.loader is not None:
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)


_lowprof_boot()
del _lowprof_boot
