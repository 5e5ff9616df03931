"""`--json` output is strict JSON (RFC 8259): a figure that is not a number is null, never NaN or Infinity,
whatever the verb put in it (Python or numpy floats, nested anywhere)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from lowprof.cli._ui import print_json


def _strict_load(text: str):
    return json.loads(text, parse_constant=lambda c: pytest.fail(f"{c} in --json output"))


def test_non_finite_figures_are_null_and_numpy_scalars_plain(capsys):
    print_json({"a": math.nan, "b": [np.float64("inf"), -math.inf, (np.float32(1.5), np.int64(7))],
                "c": {"d": np.nan, "e": np.bool_(True), "f": "NaN"}, "g": 0.25})
    got = _strict_load(capsys.readouterr().out)
    assert got == {"a": None, "b": [None, None, [1.5, 7]], "c": {"d": None, "e": True, "f": "NaN"}, "g": 0.25}
