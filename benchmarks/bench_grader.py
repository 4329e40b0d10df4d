"""Grade N synthetic submissions with ``python -m nngrader grade`` and with stock
``nbgrader autograde``, in one run, and print both times and the ratio; then the
per-notebook start-up cost (a fresh interpreter vs the slot's warm zygote), and the
grader's own peak memory (VmHWM) on a batch full of hostile submissions.

    python benchmarks/bench_grader.py                       # the demo fixture course, N=100
    python benchmarks/bench_grader.py --course . --assignment ch01_neuron -n 100
    python benchmarks/bench_grader.py --only rss            # just the memory benchmark

Synthetic submissions: the released notebook with every answer cell either the source's
solution (75%) or left as the stub, so scores vary. Both graders see identical copies.
Goals (issue 12): >= 10x stock nbgrader; peak grader RSS <= 300 MiB with hostile work.
"""

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "grader_corpus"))


def synthetic(course, assignment, dest, n, seed=0):
    from nngrader.spec import load_assignment
    a = load_assignment(course / "solutions", assignment)
    release = json.loads((course / "exercises" / assignment / f"{a.notebook}.ipynb").read_text())
    sol = {c.grade_id: c.source for c in a.cells if c.kind == "answer"}
    rnd = random.Random(seed)
    for k in range(n):
        nb = json.loads(json.dumps(release))
        for c in nb["cells"]:
            gid = c.get("metadata", {}).get("nbgrader", {}).get("grade_id")
            if gid in sol and rnd.random() < 0.75:
                c["source"] = "\n".join(line for line in sol[gid].splitlines()
                                        if "BEGIN SOLUTION" not in line and "END SOLUTION" not in line)
        d = dest / f"student{k:03d}" / assignment
        d.mkdir(parents=True, exist_ok=True)
        (d / f"{a.notebook}.ipynb").write_text(json.dumps(nb))


def startup_cost(n=8):
    """Seconds from launch to a notebook's first cell: fresh process vs warm zygote."""
    from nngrader.sandbox import Limits, Sandbox
    job = {"cells": [{"i": 0, "source": "import numpy as np\nimport matplotlib.pyplot as plt",
                      "trusted": False, "hidden": []}]}
    out = {}
    for zyg in (False, True):
        sb = Sandbox(Limits(), zygote=zyg)
        if zyg and not sb.zygote:
            out["zygote"] = None
            continue
        t = time.perf_counter()
        first = sb.run(job)
        out["zygote start (once per slot)"] = time.perf_counter() - t if zyg else None
        runs = [sb.run(job) for _ in range(n)]
        out["zygote" if zyg else "fresh"] = (sum(r.startup for r in runs) / n,
                                             sum(r.seconds for r in runs) / n)
        sb.close()
        del first
    return out


HOSTILE_RSS = r"""
import sys, resource
sys.argv = ["nngrader"] + sys.argv[1:]
from nngrader.__main__ import main
rc = main(sys.argv[1:])
hwm = [l for l in open("/proc/self/status") if l.startswith("VmHWM")][0].split()[1]
print("PEAK_RSS_KIB", hwm, flush=True)
sys.exit(rc)
"""


def hostile_batch(course, dest):
    """The corpus (every hostile class) plus the issue's heaviest: 1200 cells of 1.1 MB
    output, 3000 near-copies of a test cell, a 45 MB notebook, a flood of long lines."""
    import build_corpus as bc
    bc.build(course, dest)
    extra = {"flood_1200_outputs": (lambda nb: bc._output_flood(nb, 1200), 0, None, None),
             "near_copies_3000": (lambda nb: bc._near_copies(nb, 3000), 0, None, None),
             "three_30MB_lines": (lambda nb: bc.insert_after(bc.insert_after(bc.insert_after(
                 bc.fill(nb), "sigmoid_prime_test", bc.FLOOD_LINES), "sigmoid_prime_test",
                 bc.FLOOD_LINES), "sigmoid_prime_test", bc.FLOOD_LINES), 0, None, None),
             "notebook_45MB": (lambda nb: _big(bc, nb), 0, None, None)}
    bc.build(course, dest, corpus=extra)
    return len(bc.CORPUS) + len(extra)


def _big(bc, nb):
    nb = bc.fill(nb)
    nb["cells"][0]["outputs"] = [{"output_type": "stream", "name": "stdout",
                                  "text": "z" * (45 << 20)}]
    return nb


def peak_rss(course, tmp, env, workers):
    n = hostile_batch(course, tmp / "hostile")
    t = time.perf_counter()
    p = subprocess.run([sys.executable, "-c", HOSTILE_RSS, "grade", "demo",
                        str(tmp / "hostile" / "submitted"), "--workers", str(workers),
                        "--out", str(tmp / "out-hostile"), "--force", "--no-gradebook"],
                       cwd=course, capture_output=True, text=True, env=env)
    took = time.perf_counter() - t
    kib = [int(line.split()[1]) for line in p.stdout.splitlines()
           if line.startswith("PEAK_RSS_KIB")]
    if p.returncode or not kib:
        print(p.stdout[-2000:], p.stderr[-2000:])
        raise SystemExit("the hostile batch did not finish")
    import csv
    rows = list(csv.DictReader(open(tmp / "out-hostile" / "grades.csv")))
    return kib[0] / 1024, took, n, len(rows)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("-n", type=int, default=100)
    p.add_argument("--only", choices=["speed", "startup", "rss"], default=None)
    p.add_argument("--course", default=None, help="course root (default: the demo fixture)")
    p.add_argument("--assignment", default="demo")
    p.add_argument("--workers", type=int, default=os.cpu_count())
    args = p.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-grader-"))
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}:{os.environ['PATH']}")
    try:
        if args.course is None:
            import build_corpus
            course = build_corpus.make_course(tmp / "course")
        else:
            course = tmp / "course"
            src = Path(args.course).resolve()
            course.mkdir()
            shutil.copy(src / "nbgrader_config.py", course)
            shutil.copytree(src / "solutions" / args.assignment,
                            course / "solutions" / args.assignment)
            subprocess.run([sys.executable, "-m", "nngrader", "release", args.assignment],
                           cwd=course, check=True, capture_output=True, env=env)
        if args.only in (None, "startup"):
            cost = startup_cost()
            fresh, warm = cost["fresh"], cost.get("zygote")
            print(f"start-up per notebook (launch to first cell), fresh interpreter: "
                  f"{fresh[0]:.3f} s (whole trivial run {fresh[1]:.3f} s)")
            if warm:
                print(f"start-up per notebook, warm zygote:                        "
                      f"{warm[0]:.3f} s (whole trivial run {warm[1]:.3f} s); the zygote "
                      f"itself starts once per slot in "
                      f"{cost['zygote start (once per slot)']:.2f} s")
            else:
                print("no zygote here (needs bwrap and root): every notebook starts fresh")
        if args.only in (None, "rss"):
            import build_corpus
            demo = course if args.course is None else build_corpus.make_course(tmp / "demo")
            mib, took, n, rows = peak_rss(demo, tmp, env, args.workers)
            print(f"grader peak RSS with {n} hostile submissions in the batch: {mib:.0f} MiB "
                  f"(goal <= 300), {rows} rows, {took:.1f} s", flush=True)
        if args.only in ("startup", "rss"):
            return
        synthetic(course, args.assignment, course / "submitted", args.n)
        print(f"{args.n} submissions of {args.assignment}, {os.cpu_count()} cores", flush=True)

        t = time.perf_counter()
        subprocess.run([sys.executable, "-m", "nbgrader", "autograde", args.assignment,
                        "--force"], cwd=course, check=True, capture_output=True, env=env)
        stock = time.perf_counter() - t
        print(f"stock nbgrader autograde:       {stock:7.1f} s", flush=True)

        t = time.perf_counter()
        subprocess.run([sys.executable, "-m", "nngrader", "grade", args.assignment, "submitted",
                        "--workers", str(args.workers), "--out", str(tmp / "out"), "--force"],
                       cwd=course, check=True, capture_output=True, env=env)
        ours = time.perf_counter() - t
        print(f"nngrader grade ({args.workers} workers):     {ours:7.1f} s", flush=True)
        print(f"speed-up: {stock / ours:.2f}x (goal >= 10x)")

        import csv
        rows = {r["student"]: float(r["score"])
                for r in csv.DictReader(open(tmp / "out" / "grades.csv"))}
        print(f"mean score {sum(rows.values()) / len(rows):.2f} over {len(rows)} submissions")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
