"""Throughput of nngrader on a Dask cluster of 1 and of 2 worker processes (and the local
pool for comparison): N synthetic submissions of the demo course, graded from scratch; then
the same class graded into a SQLite and into a PostgreSQL gradebook (a server started here,
as tests/test_postgres.py does; skipped without PostgreSQL).

    python benchmarks/bench_dask.py            # N=20
    python benchmarks/bench_dask.py -n 40 --threads 1

Each cluster is a real scheduler with nanny-managed worker processes on 127.0.0.1
(``LocalCluster(processes=True)``), as ``dask scheduler`` + ``dask worker`` would be.
"""

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "grader_corpus"))


def grade(course, subs, out, executor, db=None):
    from nngrader.runner import grade_class
    t = time.perf_counter()
    res = grade_class(course, "demo", subs, out, executor=executor, gradebook=db is not None,
                      db=db, progress=False, force=True)
    return time.perf_counter() - t, res


def gradebooks(course, subs, tmp, n):
    sys.path.insert(0, str(REPO / "tests"))
    from nngrader.executors import LocalExecutor
    from test_postgres import NoPostgres, postgres_server
    took, _ = grade(course, subs, tmp / "sqlite", LocalExecutor(2), db=tmp / "gradebook.db")
    print(f"local pool into SQLite:       {took:6.1f} s", flush=True)
    try:
        with postgres_server() as create:
            url = create("bench")
            took, _ = grade(course, subs, tmp / "pg", LocalExecutor(2), db=url)
            print(f"local pool into PostgreSQL:   {took:6.1f} s  ({n} submissions, "
                  "grading included)", flush=True)
    except NoPostgres as e:
        print(f"PostgreSQL skipped: {e}")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("-n", type=int, default=20)
    p.add_argument("--threads", type=int, default=1, help="threads per worker process")
    args = p.parse_args()
    import dask
    import build_corpus
    from distributed import Client, LocalCluster
    from nngrader.executors import DaskExecutor, LocalExecutor
    tmp = Path(tempfile.mkdtemp(prefix="bench-dask-"))
    try:
        course = build_corpus.make_course(tmp / "course")
        subs = build_corpus.make_synthetic(course, tmp / "class", args.n)
        print(f"{args.n} submissions of demo, {os.cpu_count()} cores", flush=True)
        took, res = grade(course, subs, tmp / "local", LocalExecutor(2))
        ref = {r.student: r.score for r in res["results"]}
        print(f"local pool, 2 threads:        {took:6.1f} s  {args.n / took:5.2f} subs/s",
              flush=True)
        rates = {}
        for n in (1, 2):
            with dask.config.set({"distributed.scheduler.worker-saturation": 1.0}):
                cluster = LocalCluster(n_workers=n, threads_per_worker=args.threads,
                                       processes=True, host="127.0.0.1",
                                       dashboard_address=None, silence_logs=40)
            try:
                with Client(cluster) as client:
                    client.wait_for_workers(n)
                    took, res = grade(course, subs, tmp / f"dask{n}",
                                      DaskExecutor(client=client))
            finally:
                cluster.close()
            assert {r.student: r.score for r in res["results"]} == ref, "grades differ"
            rates[n] = args.n / took
            print(f"dask, {n} worker process(es):  {took:6.1f} s  {rates[n]:5.2f} subs/s",
                  flush=True)
        print(f"2 workers vs 1: {rates[2] / rates[1]:.2f}x (same grades as the local pool)")
        gradebooks(course, subs, tmp, args.n)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
