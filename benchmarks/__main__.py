"""Run the benchmarks: ``python -m benchmarks [--only NAME ...] [--quick] [--list]``.

Every module ``benchmarks/bench_*.py`` is a task. Each runs as ``python -m benchmarks.bench_NAME``
in its own process (its peak memory and thread pools are its own), prints its table and writes its
section of ``benchmarks/RESULTS.md`` (machine, versions, load average, date); a run of every task
starts the file afresh, so all of its tables come from that run. ``--quick`` runs small
problems as a smoke test and leaves RESULTS.md alone. Peers come from the ``bench`` extra:
``pip install -e ".[bench]"``.
"""

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent

# Smaller problems for tasks that have no --quick option of their own.
QUICK_ARGS = {
    "bench_prdc": ["--n", "2000", "--no-append"],
    "bench_kid": ["--n", "1000", "--no-append"],
    "bench_parzen": ["--repeats", "1", "--no-append"],
}


def tasks():
    return sorted(p.stem for p in HERE.glob("bench_*.py"))


def command(name, quick):
    args = []
    if quick:
        source = (HERE / f"{name}.py").read_text()
        if '"--quick"' in source:
            args = ["--quick"]
        elif name in QUICK_ARGS:
            args = QUICK_ARGS[name]
        elif '"--no-append"' in source:
            args = ["--no-append"]
    return [sys.executable, "-m", f"benchmarks.{name}"] + args


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.splitlines()[0])
    ap.add_argument("--only", action="append", metavar="NAME",
                    help="run this task only (fid or bench_fid; repeatable)")
    ap.add_argument("--quick", action="store_true", help="small problems, print only (RESULTS.md untouched)")
    ap.add_argument("--list", action="store_true", help="list the tasks and exit")
    a = ap.parse_args(argv)
    names = tasks()
    if a.list:
        print("\n".join(names))
        return 0
    if a.only:
        wanted = [n if n.startswith("bench_") else f"bench_{n}" for n in a.only]
        unknown = [n for n in wanted if n not in names]
        if unknown:
            ap.error(f"unknown task {', '.join(unknown)}; tasks: {', '.join(names)}")
        names = wanted
    failed = []
    root = HERE.parent
    if not a.only and not a.quick:
        # a full run writes RESULTS.md afresh, so that every table in it comes from this one run
        (HERE / "RESULTS.md").write_text(
            "# Benchmark results\n\nOne run of `python -m benchmarks` (tasks: " + ", ".join(names) + "), started "
            + time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()) + ". Each section names its machine and load.\n")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(root), os.environ.get("PYTHONPATH")])))
    for name in names:
        cmd = command(name, a.quick)
        print(f"\n=== {name}: {' '.join(cmd[1:])} (load average {', '.join(f'{x:.1f}' for x in os.getloadavg())})",
              flush=True)
        t0 = time.perf_counter()
        rc = subprocess.call(cmd, cwd=root, env=env)
        print(f"=== {name}: {'ok' if rc == 0 else f'FAILED (exit {rc})'} in {time.perf_counter() - t0:.0f} s",
              flush=True)
        if rc:
            failed.append(name)
    if failed:
        print(f"\nfailed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
