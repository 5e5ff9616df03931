"""A small REAL evaluation for the IPW tests: ``ipw_eval_results.jsonl``.

A 2-layer MLP (torch, CPU) learns "is n divisible by 3?" from the 12 bits of n, trained on 3000
random integers below 4096, then answers 200 held-out integers one query at a time. Each line
records whether the answer was right (checked against ``n % 3``), and when the query started and
ended on the lowprof run clock (``LOWPROF_CLOCK_ORIGIN_NS`` under ``lowprof run``, else the script's
own start). The model, task and timings are real; nothing here measured power (this machine has
no power sensor), so the IPW tests join these windows with a power trace they define.

    lowprof run --out /tmp/ipw-eval --probes system -- .venv/bin/python tests/data/power/make_ipw_eval.py
"""

from __future__ import annotations

import json
import os
import random
import time
from pathlib import Path

import torch

OUT = Path(__file__).resolve().parent / "ipw_eval_results.jsonl"


def bits(n: int) -> list[float]:
    return [float((n >> k) & 1) for k in range(12)]


def main() -> None:
    origin = int(os.environ.get("LOWPROF_CLOCK_ORIGIN_NS", "0").partition(":")[0] or 0) or time.monotonic_ns()
    torch.manual_seed(0)
    rng = random.Random(0)
    numbers = rng.sample(range(4096), 3200)
    train, test = numbers[:3000], numbers[3000:]
    x = torch.tensor([bits(n) for n in train])
    y = torch.tensor([float(n % 3 == 0) for n in train]).unsqueeze(1)
    model = torch.nn.Sequential(torch.nn.Linear(12, 64), torch.nn.ReLU(), torch.nn.Linear(64, 1))
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(400):
        opt.zero_grad()
        loss = torch.nn.functional.binary_cross_entropy_with_logits(model(x), y)
        loss.backward()
        opt.step()
    model.eval()
    with open(OUT, "w") as f, torch.no_grad():
        for i, n in enumerate(test):
            start = time.monotonic_ns() - origin
            answer = bool(model(torch.tensor([bits(n)])).item() > 0)
            end = time.monotonic_ns() - origin
            f.write(json.dumps({"id": f"q{i:03d}", "model": "mlp-12-64-1", "n": n, "answer": answer,
                                "correct": answer == (n % 3 == 0), "start_ns": start, "end_ns": end}) + "\n")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
