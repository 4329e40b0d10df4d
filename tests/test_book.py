"""The book builds warning-free, offline, and every chapter runs on nnref."""

import re
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from bookbuild import ROOT, html_dir, toc_files  # noqa: E402
from bookbuild import build as build_book  # noqa: E402

HTML = html_dir()
CHAPTERS = sorted((ROOT / "book").glob("[0-9][0-9]_*.md"))


@pytest.fixture(scope="module")
def build():
    """`jupyter-book build -W --keep-going .`, as `make book` runs it (once per process:
    tests/test_browser.py reuses it)."""
    return build_book()


@pytest.mark.xdist_group("book")
def test_book_builds_without_warnings(build):
    log = build.stdout + build.stderr
    warnings = [line for line in log.splitlines()
                if re.search(r"\b(WARNING|ERROR)\b", line) and "IPKernelApp" not in line]
    assert build.returncode == 0 and not warnings, "\n".join(warnings) or log[-3000:]


@pytest.mark.xdist_group("book")
def test_every_chapter_is_in_the_toc():
    listed = set(toc_files())
    for chapter in CHAPTERS:
        assert f"book/{chapter.stem}" in listed, f"{chapter.name} is not in _toc.yml"


@pytest.mark.xdist_group("book")
def test_pages_load_nothing_from_the_network(build):
    remote = re.compile(r"<(script|link)[^>]+(src|href)=\"(https?:)?//", re.I)
    for page in HTML.rglob("*.html"):
        found = remote.search(page.read_text(errors="replace"))
        assert not found, f"{page.relative_to(HTML)} loads {found.group(0)}"
    mathjax = list((HTML / "_static" / "mathjax").rglob("startup.js"))
    assert mathjax, "MathJax must be served from the build (_static), not a CDN"


@pytest.mark.xdist_group("book")
@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda p: p.stem)
def test_chapter_is_executed_and_downloadable(build, chapter):
    html = (HTML / "book" / f"{chapter.stem}.html").read_text()
    assert f"{chapter.stem}.ipynb" in html, "no .ipynb download button"
    assert (HTML / "_sources" / "book" / f"{chapter.stem}.ipynb").exists()
    assert re.search(r"^(import nnref|from nnref)", chapter.read_text(), re.M), (
        f"{chapter.name}: the book's demos run on nnref (one source of truth)")
