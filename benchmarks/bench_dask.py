"""Throughput of nngrader on a Dask cluster of 1 and of 2 worker processes (and the local
pool for comparison), then the time of the same class graded into a SQLite and into a
PostgreSQL gradebook (a server started here, as tests/test_postgres.py does; skipped
without PostgreSQL).

    python benchmarks/bench_dask.py                                     # demo course, N=20
    python benchmarks/bench_dask.py --course . --assignment ch01_neuron -n 20

Each cluster is a real scheduler with nanny-managed worker processes on 127.0.0.1
(``LocalCluster(processes=True)``), as ``dask scheduler`` + ``dask worker`` would be. Every
configuration first grades one submission per worker (warm-up: imports, the sandbox probe),
then the class from scratch; throughput is the class over the grading loop's wall time.
The hidden inputs are fixed (seed 1), so every configuration must give the same grades; any
difference is printed.
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "grader_corpus"))
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO / "benchmarks"))


def grade(course, assignment, subs, out, executor, db=None):
    from nngrader.runner import grade_class
    t = time.perf_counter()
    res = grade_class(course, assignment, subs, out, executor=executor, seed=1,
                      gradebook=db is not None, db=db, progress=False, force=True)
    return time.perf_counter() - t, res


def make_class(args, tmp):
    """(course root, assignment, class folder, warm-up folder)."""
    import build_corpus
    if args.course is None:
        course = build_corpus.make_course(tmp / "course")
        subs = build_corpus.make_synthetic(course, tmp / "class", args.n)
        warm = build_corpus.make_synthetic(course, tmp / "warm", 2, seed=1)
        return course, "demo", subs, warm
    from bench_grader import synthetic
    src, course = Path(args.course).resolve(), tmp / "course"
    course.mkdir()
    shutil.copy(src / "nbgrader_config.py", course)
    shutil.copytree(src / "solutions" / args.assignment, course / "solutions" / args.assignment)
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}:{os.environ['PATH']}")
    subprocess.run([sys.executable, "-m", "nngrader", "release", args.assignment], cwd=course,
                   check=True, capture_output=True, env=env)
    synthetic(course, args.assignment, tmp / "class", args.n)
    synthetic(course, args.assignment, tmp / "warm", 2, seed=1)
    return course, args.assignment, tmp / "class", tmp / "warm"


def main():
    p = argparse.ArgumentParser()
    p.add_argument("-n", type=int, default=20)
    p.add_argument("--course", default=None, help="course root (default: the demo fixture)")
    p.add_argument("--assignment", default="demo")
    args = p.parse_args()
    import dask
    from distributed import Client, LocalCluster
    from nngrader.executors import DaskExecutor, LocalExecutor
    tmp = Path(tempfile.mkdtemp(prefix="bench-dask-"))
    try:
        course, a, subs, warm = make_class(args, tmp)
        print(f"{args.n} submissions of {a}, {os.cpu_count()} cores", flush=True)
        grade(course, a, warm, tmp / "warm-local", LocalExecutor(2))
        _, res = grade(course, a, subs, tmp / "local", LocalExecutor(2))
        ref = {r.student: r.score for r in res["results"]}
        local = {r.student: r for r in res["results"]}
        print(f"local pool, 2 threads:          {res['elapsed']:6.1f} s  "
              f"{args.n / res['elapsed']:5.2f} subs/s", flush=True)
        rates = {}
        for n in (1, 2):
            with dask.config.set({"distributed.scheduler.worker-saturation": 1.0}):
                cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True,
                                       host="127.0.0.1", dashboard_address=None,
                                       silence_logs=40)
            try:
                with Client(cluster) as client:
                    client.wait_for_workers(n)
                    grade(course, a, warm, tmp / f"warm{n}", DaskExecutor(client=client))
                    _, res = grade(course, a, subs, tmp / f"dask{n}",
                                   DaskExecutor(client=client))
            finally:
                cluster.close()
            got = {r.student: r for r in res["results"]}
            for s in sorted(k for k in ref if got[k].score != ref[k]):
                print(f"  DIFFERENT: {s}: local {ref[s]:g} ({local[s].status}: "
                      f"{'; '.join(local[s].reasons)[:200]}), dask {got[s].score:g} "
                      f"({got[s].status}: {'; '.join(got[s].reasons)[:300]})", flush=True)
            rates[n] = args.n / res["elapsed"]
            print(f"dask, {n} worker process(es):    {res['elapsed']:6.1f} s  "
                  f"{rates[n]:5.2f} subs/s", flush=True)
        print(f"2 workers vs 1: {rates[2] / rates[1]:.2f}x", flush=True)
        gradebooks(course, a, subs, tmp, args.n)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def gradebooks(course, a, subs, tmp, n):
    """The class graded (local pool) into a fresh SQLite and a fresh PostgreSQL gradebook."""
    from nngrader.executors import LocalExecutor
    from test_postgres import NoPostgres, postgres_server
    took, res = grade(course, a, subs, tmp / "sqlite", LocalExecutor(2), db=tmp / "gb.db")
    print(f"into SQLite:      {took:6.1f} s in all ({res['elapsed']:.1f} s grading, the rest "
          "gradebook + reports)", flush=True)
    try:
        with postgres_server() as create:
            took, res = grade(course, a, subs, tmp / "pg", LocalExecutor(2), db=create("b"))
            print(f"into PostgreSQL:  {took:6.1f} s in all ({res['elapsed']:.1f} s grading, "
                  f"the rest gradebook + reports), {n} submissions", flush=True)
    except NoPostgres as e:
        print(f"PostgreSQL skipped: {e}")


if __name__ == "__main__":
    main()
