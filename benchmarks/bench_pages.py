"""Print what each page of the built book weighs in a browser, and the whole site's size.

    .venv/bin/python benchmarks/bench_pages.py [path/to/_build/html]

Each page of _toc.yml (and search.html) is opened in Chromium at 1366 px with an empty cache;
its own transfer counts HTML, CSS, JS, fonts and fetches (images, and the data: images inside
the HTML, aside), as served uncompressed, and gzip-compressed as a web host would send it.
Goals: a chapter page <= 1.5 MB, the whole _build/html <= 20 MB (tests/test_browser.py checks
both). Also prints the console errors, remote requests, raw-syntax hits and smallest figure text.
"""

import gzip
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
import siteaudit  # noqa: E402
from bookbuild import toc_files  # noqa: E402


def main():
    html = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "_build" / "html"
    pages = [f + ".html" for f in toc_files()] + ["search.html"]
    recs = siteaudit.audit(html, pages, ROOT / "book" / "matplotlibrc")
    print(siteaudit.table(recs))
    files = [f for f in html.rglob("*") if f.is_file()]
    total = sum(f.stat().st_size for f in files)
    gz = sum(len(gzip.compress(f.read_bytes(), 6)) for f in files
             if f.suffix in (".html", ".js", ".css", ".svg", ".ipynb"))
    print(f"\n_build/html: {total / 2**20:.1f} MB in {len(files)} files "
          f"(goal <= 20 MB); text files gzip to {gz / 2**20:.1f} MB")
    for r in recs:
        if r["width"] == "desktop":
            print(f"{r['page']:42s} {r['bytes'] / 2**20:5.2f} MB  "
                  + " ".join(f"{k}={v / 1024:.0f}k" for k, v in sorted(r["bytes_by_type"].items())))


if __name__ == "__main__":
    main()
