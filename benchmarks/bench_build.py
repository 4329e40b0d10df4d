"""Print the book's cold and warm build times and the autograde time of every notebook.

    .venv/bin/python benchmarks/bench_build.py

Cold: a copy of the repository with no _build (every chapter executes), as `make book` runs it:
the stale pages execute two at a time (NNCOURSE_BUILD_JOBS, default 2) into myst-nb's
jupyter-cache before Sphinx reads them (book/_ext/nncourse_book.py); also timed with
NNCOURSE_BUILD_JOBS=1 (one page at a time) for the ratio.
Warm: the same build again (everything comes from the execution cache).
Goals: cold <= 60 s on 2 cores with ten chapters, warm <= 3 s.
Autograde: per assignment, `nbgrader autograde` of 1 and of 5 copies of the solution; the
difference over 4 is the time per notebook, the rest nbgrader's start-up.
"""

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from nbharness import assignments, make_course, nbgrader, submit, SOLUTIONS  # noqa: E402

BIN = Path(sys.executable).parent


def timed(fn):
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def build(path, jobs=2):
    env = dict(os.environ, NNCOURSE_BUILD_JOBS=str(jobs))
    subprocess.run([str(BIN / "jupyter-book"), "build", "-W", "--keep-going", str(path)],
                   check=True, capture_output=True, env=env)


def main():
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / "repo"
        shutil.copytree(ROOT, copy, ignore=shutil.ignore_patterns(
            ".git", "_build", ".venv", "__pycache__", ".pytest_cache", ".hypothesis"))
        cold = timed(lambda: build(copy))
        warm = timed(lambda: build(copy))
        shutil.rmtree(copy / "_build")
        serial = timed(lambda: build(copy, jobs=1))
    print(f"book build, cold: {cold:6.1f} s  (pages executed 2 at a time; "
          f"{serial:.1f} s one at a time, x{serial / cold:.2f})")
    print(f"book build, warm: {warm:6.1f} s")

    for a in assignments():
        solution = nbformat.read(SOLUTIONS / a / f"{a}.ipynb", as_version=4)
        times = []
        for copies in (1, 5):
            with tempfile.TemporaryDirectory() as tmp:
                tmp = Path(tmp)
                make_course(tmp, a)
                for k in range(copies):
                    submit(tmp, a, f"student{k}", solution)
                times.append(timed(lambda: nbgrader("autograde", a, "--create", "--force",
                                                    cwd=tmp)))
        per_notebook = (times[1] - times[0]) / 4
        print(f"autograde {a:30s} {per_notebook:5.2f} s per notebook "
              f"(+ {times[0] - per_notebook:.1f} s nbgrader start-up per command)")


if __name__ == "__main__":
    main()
