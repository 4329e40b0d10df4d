"""Print the book's cold and warm build times and the autograde time of every notebook.

    .venv/bin/python benchmarks/bench_build.py

Cold: a copy of the repository with no _build (every chapter executes).
Warm: the same build again (everything comes from the execution cache).
Autograde: per assignment, `nbgrader autograde` of the solution, timed, minus the
time of an autograde run with nothing to grade (nbgrader's start-up).
"""

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


def build(path):
    subprocess.run([str(BIN / "jupyter-book"), "build", "-W", "--keep-going", str(path)],
                   check=True, capture_output=True)


def main():
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / "repo"
        shutil.copytree(ROOT, copy, ignore=shutil.ignore_patterns(
            ".git", "_build", ".venv", "__pycache__", ".pytest_cache", ".hypothesis"))
        cold = timed(lambda: build(copy))
        warm = timed(lambda: build(copy))
    print(f"book build, cold: {cold:6.1f} s")
    print(f"book build, warm: {warm:6.1f} s")

    for a in assignments():
        with tempfile.TemporaryDirectory() as tmp:
            tmp = Path(tmp)
            make_course(tmp, a)
            startup = timed(lambda: nbgrader("autograde", a, "--create", "--force", cwd=tmp))
            submit(tmp, a, "solution", nbformat.read(SOLUTIONS / a / f"{a}.ipynb", as_version=4))
            total = timed(lambda: nbgrader("autograde", a, "--create", "--force", cwd=tmp))
        print(f"autograde {a:32s} {total:5.1f} s  ({total - startup:4.1f} s for the notebook, "
              f"{startup:.1f} s nbgrader start-up)")


if __name__ == "__main__":
    main()
