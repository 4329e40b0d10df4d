"""One build of the book per test process, shared by tests/test_book.py and tests/test_browser.py.

Both modules are marked ``xdist_group("book")``, so under ``pytest -n 2 --dist loadgroup`` they
run in the same worker and the book is built once. ``NNCOURSE_SITE=/path/to/_build/html`` points
the tests at a site built elsewhere instead (no build; e.g. to audit an older build).
"""

import functools
import os
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def html_dir():
    return Path(os.environ.get("NNCOURSE_SITE") or ROOT / "_build" / "html")


@functools.lru_cache(maxsize=None)
def build():
    """`jupyter-book build -W --keep-going .`, as `make book` runs it (cached executions).

    Returns the CompletedProcess (returncode 0 and empty output when NNCOURSE_SITE is set).
    """
    if os.environ.get("NNCOURSE_SITE"):
        return subprocess.CompletedProcess([], 0, "", "")
    env = dict(os.environ, PATH=f"{BIN}{os.pathsep}{os.environ['PATH']}")
    return subprocess.run([str(BIN / "jupyter-book"), "build", "-W", "--keep-going", "."],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=1800)


def toc_files():
    """Every page of _toc.yml, in reading order (root first), as 'book/<stem>'."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = [toc["root"]]
    for part in toc.get("parts", []):
        files += [c["file"] for c in part["chapters"]]
    return files
