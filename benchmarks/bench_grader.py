"""Grade N synthetic submissions with ``python -m nngrader grade`` and with stock
``nbgrader autograde``, in one run, and print both times and the ratio.

    python benchmarks/bench_grader.py                       # the demo fixture course, N=100
    python benchmarks/bench_grader.py --course . --assignment ch01_neuron -n 100

Synthetic submissions: the released notebook with every answer cell either the source's
solution (75%) or left as the stub, so scores vary. Both graders see identical copies.
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


def main():
    p = argparse.ArgumentParser()
    p.add_argument("-n", type=int, default=100)
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
        print(f"speed-up: {stock / ours:.2f}x")

        import csv
        rows = {r["student"]: float(r["score"])
                for r in csv.DictReader(open(tmp / "out" / "grades.csv"))}
        print(f"mean score {sum(rows.values()) / len(rows):.2f} over {len(rows)} submissions")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
