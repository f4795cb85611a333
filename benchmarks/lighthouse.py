"""Lighthouse (mobile preset) on the pages a protester opens first, in both languages.

    VIGIL_LIGHTHOUSE=/path/to/node_modules/.bin/lighthouse python -m benchmarks.lighthouse
        [--runs N] [--path /alerts ...]

Lighthouse is not a dependency of Vigil: install it anywhere outside the repository
(`npm install --prefix ~/lh lighthouse`) and point VIGIL_LIGHTHOUSE at its `.bin/lighthouse`
(default: `lighthouse` on PATH). Chromium is VIGIL_CHROMIUM (default /usr/bin/chromium).
A fresh server with the default data is started on a free port, as the other benchmarks do.

Performance under Lighthouse's simulated throttling depends on how busy the machine is, so
each page runs N times (default 3) and the median of each score is printed, with the load
average before and after and the CPU benchmark index Lighthouse measured. Below the table,
every audit that cost a point (performance metrics excepted) is named with the page.
Progress goes to stderr, the table to stdout.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from benchmarks.common import CHROMIUM, log, median, temp_dir, vigil_server

PATHS = ("/", "/legal", "/listings/portland-or-macadam", "/alerts")
CATEGORIES = ("performance", "accessibility", "best-practices", "seo")
GOALS = {"performance": 0.95, "accessibility": 1.0, "best-practices": 1.0, "seo": 0.95}
CHROME_FLAGS = "--headless=new --no-sandbox --disable-gpu --disable-dev-shm-usage"


def lighthouse_bin() -> str:
    found = shutil.which(os.environ.get("VIGIL_LIGHTHOUSE", "lighthouse"))
    if not found:
        sys.exit("Lighthouse not found: install it with `npm install --prefix DIR lighthouse` "
                 "and set VIGIL_LIGHTHOUSE=DIR/node_modules/.bin/lighthouse")
    return found


def spanish(path: str) -> str:
    return "/es/" if path == "/" else "/es" + path


def load_average() -> str:
    return " / ".join(f"{x:.1f}" for x in os.getloadavg())


def audit_once(binary: str, url: str, out: Path, tries: int = 3) -> dict:
    """One Lighthouse run on url; its JSON report. Lighthouse now and then fails to record
    the trace on a busy machine (NO_NAVSTART); such a run is tried again."""
    env = {**os.environ, "CHROME_PATH": CHROMIUM}
    for attempt in range(1, tries + 1):
        done = subprocess.run(
            [binary, url, "--quiet", f"--chrome-flags={CHROME_FLAGS}",
             f"--only-categories={','.join(CATEGORIES)}", "--output=json",
             f"--output-path={out}"],
            env=env, timeout=300, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        report = json.loads(out.read_text()) if done.returncode == 0 else {}
        if report and not report.get("runtimeError"):
            return report
        problem = report.get("runtimeError", {}).get("code") or done.stderr.strip()[-300:]
        log(f"lighthouse {url}: run failed ({problem}), attempt {attempt} of {tries}")
        out.unlink(missing_ok=True)
    raise RuntimeError(f"Lighthouse failed {tries} times on {url}")


def lost_points(report: dict) -> list[str]:
    """Audits below full marks that count towards a category other than performance."""
    found = []
    for name in CATEGORIES[1:]:
        for ref in report["categories"][name]["auditRefs"]:
            audit = report["audits"][ref["id"]]
            if ref.get("weight") and audit["score"] is not None and audit["score"] < 1:
                found.append(f"{name}: {ref['id']} ({audit['title']})")
    return found


def metrics(report: dict) -> str:
    audits = report["audits"]
    names = {"first-contentful-paint": "FCP", "largest-contentful-paint": "LCP",
             "total-blocking-time": "TBT", "cumulative-layout-shift": "CLS",
             "speed-index": "SI"}
    return ", ".join(f"{short} {audits[key].get('displayValue', '?')}"
                     for key, short in names.items())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--path", action="append", help="a page to audit (repeatable)")
    args = parser.parse_args()
    binary = lighthouse_bin()
    version = subprocess.run([binary, "--version"], capture_output=True, text=True,
                             check=True).stdout.strip()
    pages = [p for path in (args.path or PATHS) for p in (path, spanish(path))]
    rows, notes, indexes = [], [], []
    before = load_average()
    with vigil_server() as server, temp_dir("vigil-lighthouse-") as tmp:
        for page in pages:
            reports = []
            for n in range(args.runs):
                log(f"lighthouse {page} run {n + 1}/{args.runs} (load {load_average()})")
                reports.append(audit_once(binary, server.url + page, tmp / f"{n}.json"))
            scores = {c: median([r["categories"][c]["score"] for r in reports])
                      for c in CATEGORIES}
            indexes += [r["environment"]["benchmarkIndex"] for r in reports]
            rows.append((page, scores))
            middle = sorted(reports, key=lambda r: r["categories"]["performance"]["score"])[
                len(reports) // 2]
            runs = ", ".join(f"{r['categories']['performance']['score']} (TBT "
                             f"{r['audits']['total-blocking-time'].get('displayValue', '?')})"
                             for r in reports)
            notes.append(f"- `{page}`: performance runs {runs}; median run {metrics(middle)}")
            notes += [f"  - {lost}" for lost in lost_points(middle)]
    after = load_average()
    print(f"Lighthouse {version}, mobile preset, {CHROMIUM} headless, median of {args.runs} "
          f"runs per page; load average (1/5/15 min) {before} before, {after} after; "
          f"Lighthouse CPU benchmark index {min(indexes):.0f}–{max(indexes):.0f}\n")
    print("| page | performance | accessibility | best practices | SEO |")
    print("|---|---|---|---|---|")
    for page, scores in rows:
        cells = [f"{scores[c]:g}" if scores[c] >= GOALS[c] else f"**{scores[c]:g}**"
                 for c in CATEGORIES]
        print(f"| `{page}` | {' | '.join(cells)} |")
    print("\nGoals: performance ≥ 0.95, accessibility 1.0, best practices 1.0, SEO ≥ 0.95 "
          "(a figure in bold misses its goal).\n")
    print("\n".join(notes))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
