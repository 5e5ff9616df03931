"""``python -m lowprof.cli._nvml_record``: record the ``nvml`` probe's NVML calls and answers to a JSONL
replay file on a GPU machine, or replay such a file into a run directory anywhere. The recorder itself is
:mod:`lowprof.probes.nvml_record`; this module is only its command line.

    python -m lowprof.cli._nvml_record --out h100.nvml.jsonl --seconds 10 --interval 0.05 [--pid PID]
    python -m lowprof.cli._nvml_record --replay h100.nvml.jsonl --out runs/h100-replay
"""

from __future__ import annotations

import argparse
import sys

PROG = "python -m lowprof.cli._nvml_record"


def build_parser() -> argparse.ArgumentParser:
    from lowprof.cli import OneLineParser

    p = OneLineParser(prog=PROG, description="record the nvml probe's NVML calls and answers to a JSONL replay file")
    p.add_argument("--out", required=True, help="JSONL file to write")
    p.add_argument("--seconds", type=float, default=10.0, help="how long to sample (s, default 10)")
    p.add_argument("--interval", type=float, default=0.05, help="sampling interval (s, default 0.05)")
    p.add_argument("--pid", type=int, action="append", default=[], help="a workload PID whose GPU use to record")
    p.add_argument("--note", default="", help="free text for the header (e.g. what ran on the GPU)")
    p.add_argument("--replay", metavar="FILE", help="instead: replay FILE through the probe into the run directory --out")
    p.add_argument("--force", action="store_true", help="with --replay: overwrite --out")
    return p


def _run(args: argparse.Namespace) -> int:
    from lowprof.probes.nvml_record import record, replay_to_run

    if args.replay:
        print(f"wrote {replay_to_run(args.replay, args.out, force=args.force)}")
        return 0
    n, probe = record(args.out, seconds=args.seconds, interval_s=args.interval, pids=args.pid, note=args.note)
    print(f"wrote {n} samples of {len(probe.handles)} GPU(s) to {args.out}; refused: {probe.refused or 'nothing'}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Parse ``argv`` and record or replay; every failure is one line on stderr and exit 1."""
    from lowprof.cli import guarded

    args = build_parser().parse_args(argv)
    return guarded(_run, args)


if __name__ == "__main__":
    sys.exit(main())
