"""Run Vigil's benchmarks and print one markdown table.

    python -m benchmarks [--quick] [--only NAME ...]

Each module in BENCHMARKS exposes `run(quick: bool) -> list[Row]` (benchmarks.common.Row);
adding a benchmark is adding its line below. Progress goes to stderr, the table to stdout.
"""

from __future__ import annotations

import argparse
import datetime
import importlib
import os
import platform
import signal
import sys
import time
import traceback
from pathlib import Path

from benchmarks.common import Row, log

BENCHMARKS: dict[str, str] = {
    "throughput": "benchmarks.throughput",
    "sizes": "benchmarks.sizes",
    "offline_timing": "benchmarks.offline_timing",
    "load": "benchmarks.load",
    "push_fanout": "benchmarks.push_fanout",
    "first_visit": "benchmarks.first_visit",
    "push_processes": "benchmarks.push_processes",
    "national_day": "benchmarks.national_day",
    "sms": "benchmarks.sms",
    "pg_drivers": "benchmarks.pg_drivers",
}


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def cell(value: str) -> str:
    return value.replace("|", "\\|").replace("\n", " ")


def met_cell(met: bool | None) -> str:
    return "—" if met is None else ("yes" if met else "**no**")


def table(rows: list[Row]) -> str:
    lines = [
        "| benchmark | figure | baseline (same run) | goal | met? |",
        "|---|---|---|---|---|",
    ]
    for row in rows:
        lines.append(f"| {cell(row.benchmark)} | {cell(row.figure)} | {cell(row.baseline)} | "
                     f"{cell(row.goal)} | {met_cell(row.met)} |")
    notes = [row.note for row in rows if row.note]
    if notes:
        lines.append("")
        lines += [f"- {note}" for note in notes]
    return "\n".join(lines)


def _terminate(signum: int, frame: object) -> None:
    # Unwind normally so every server subprocess and temp dir is cleaned up.
    raise SystemExit(128 + signum)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="shorter runs, for a smoke test")
    parser.add_argument("--only", action="append", choices=list(BENCHMARKS), metavar="NAME",
                        help=f"run only this benchmark (repeatable): {', '.join(BENCHMARKS)}")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, _terminate)

    started = datetime.datetime.now().astimezone()
    rows: list[Row] = []
    failed = False
    for name in args.only or list(BENCHMARKS):
        log(f"== {name}{' (quick)' if args.quick else ''}")
        t0 = time.monotonic()
        try:
            module = importlib.import_module(BENCHMARKS[name])
            rows += module.run(args.quick)
        except Exception as exc:  # noqa: BLE001 - one broken benchmark must not hide the rest
            failed = True
            traceback.print_exc()
            rows.append(Row(name, f"ERROR: {type(exc).__name__}: {exc}".splitlines()[0][:200],
                            met=False))
        log(f"== {name} took {time.monotonic() - t0:.0f} s")

    print(f"Machine: {os.cpu_count()} cores, {cpu_model()}; Python {platform.python_version()}, "
          f"{platform.system()} {platform.release()}")
    print(f"Date: {started:%Y-%m-%d %H:%M %Z}{' (--quick)' if args.quick else ''}")
    print()
    print(table(rows))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
