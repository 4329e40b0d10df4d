"""The built book, as a reader meets it in real Chromium at 1366 px and 390 px.

Every page of _toc.yml (and search.html) is opened over a local HTTP server; see
tests/siteaudit.py for what is measured. Chromium is Debian's `chromium` (`make setup` installs
it as root); without it the whole module is skipped with a loud message.
"""

import json
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import nbformat
import pytest

sys.path.insert(0, str(Path(__file__).parent))
import siteaudit  # noqa: E402
from bookbuild import ROOT, build, html_dir, toc_files  # noqa: E402

pytestmark = pytest.mark.xdist_group("book")

if siteaudit.chromium_path() is None:
    sys.stderr.write("\n*** tests/test_browser.py SKIPPED: no Chromium at /usr/bin/chromium "
                     "(install Debian's `chromium`, e.g. `make setup` as root) ***\n")
    pytest.skip("no Chromium (/usr/bin/chromium): the browser suite is skipped",
                allow_module_level=True)

MIN_FIGURE_PX = {"desktop": 9.0, "phone": 4.5}
PAGE_BUDGET = 1.5 * 2**20   # a chapter page's own transfer, images aside
SITE_BUDGET = 20 * 2**20    # the whole of _build/html
PAGES = [f + ".html" for f in toc_files()] + ["search.html"]
CHAPTERS = [f for f in toc_files() if re.match(r"book/\d\d_", f)]


@pytest.fixture(scope="module")
def site():
    proc = build()
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    return html_dir()


@pytest.fixture(scope="module")
def audit(site):
    recs = siteaudit.audit(site, PAGES, ROOT / "book" / "matplotlibrc")
    print("\n" + siteaudit.table(recs))
    return recs


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=siteaudit.chromium_path(), args=["--no-sandbox"])
        yield b
        b.close()


@pytest.fixture(scope="module")
def server(site):
    with siteaudit.Server(site) as s:
        yield s


def phone(browser):
    return browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True,
                               has_touch=True)


def failures(audit, key, bad=bool):
    return {f"{r['page']} @{r['width']}": r[key] for r in audit if bad(r[key])}


# ----------------------------------------------------------------------------- every page
def test_no_console_error(audit):
    assert not failures(audit, "console")


def test_no_request_to_another_host(audit):
    assert not failures(audit, "remote")


def test_no_missing_local_file(audit):
    assert not failures(audit, "missing")


def test_mathjax_done_and_no_raw_syntax(audit):
    assert not failures(audit, "mathjax", lambda m: m.startswith("error"))
    assert not failures(audit, "raw")


def test_no_horizontal_overflow(audit):
    assert not failures(audit, "overflow", lambda px: px > 1)


def test_figures_legible(audit):
    small = {}
    for r in audit:
        for f in r["figures"]:
            if f["src"].startswith("data:"):  # the animation's frames: no measurable text
                continue
            if f["min_px"] is None or f["min_px"] < MIN_FIGURE_PX[r["width"]]:
                small.setdefault(f"{r['page']} @{r['width']}", []).append(
                    f"{f['src']}: {f['min_px']} px ({f['kind']}, shown {f['shown']} px)")
    assert not small, json.dumps(small, indent=1)


def test_figures_are_vector(audit):
    """Phones zoom: a figure stays sharp only as SVG (the animation's frames aside)."""
    raster = {f"{r['page']}": [f["src"] for f in r["figures"]
                               if f["kind"] != "svg" and not f["src"].startswith("data:")]
              for r in audit if r["width"] == "desktop"}
    assert not {k: v for k, v in raster.items() if v}


def test_page_weight(audit, site):
    heavy = {f"{r['page']} @{r['width']}": f"{r['bytes'] / 2**20:.2f} MB {r['bytes_by_type']}"
             for r in audit if r["bytes"] > PAGE_BUDGET}
    assert not heavy
    total = sum(f.stat().st_size for f in site.rglob("*") if f.is_file())
    assert total <= SITE_BUDGET, f"_build/html is {total / 2**20:.1f} MB"
    assert not list(site.rglob("*.map")), "source maps shipped"


# ----------------------------------------------------------------------------- navigation
@pytest.mark.parametrize("button, panel", [
    (".primary-toggle", "nav.bd-docs-nav"),
    (".secondary-toggle", "nav.bd-toc-nav, .bd-sidebar-secondary .page-toc"),
], ids=["menu", "contents"])
def test_phone_buttons_open_their_panels(browser, server, button, panel):
    ctx = phone(browser)
    page = ctx.new_page()
    page.goto(server.url + CHAPTERS[0] + ".html", wait_until="load")
    page.wait_for_timeout(300)
    toggles = page.locator(button).filter(visible=True)
    assert toggles.count() >= 1, f"no visible {button} on a phone"
    toggles.first.tap()
    page.wait_for_timeout(600)
    shown = [b for b in (page.locator(panel).nth(i).bounding_box()
                         for i in range(page.locator(panel).count()))
             if b and b["width"] > 100 and 0 <= b["x"] < 390 and b["x"] + b["width"] <= 391]
    ctx.close()
    assert shown, f"tapping {button} opened no {panel}"


def chapter_terms(site):
    """A distinctive word of each chapter's title: search must find that chapter."""
    terms = {}
    for ch in CHAPTERS:
        html = (site / f"{ch}.html").read_text()
        title = re.sub(r"<[^>]+>", "", re.search(r"<h1>(.*?)</h1>", html, re.S).group(1))
        words = sorted(re.findall(r"[A-Za-z]{4,}", title), key=len, reverse=True)
        terms[ch] = words[0].lower()
    return terms


def search_results(page):
    page.wait_for_function(
        "() => document.querySelector('#search-results .search-summary, #search-results p')"
        " && !document.querySelector('#search-results h2')?.textContent.includes('Searching')",
        timeout=20000)
    page.wait_for_timeout(800)
    return page.evaluate("""() => Array.from(document.querySelectorAll('#search-results li'))
        .map(li => ({href: li.querySelector('a')?.getAttribute('href') || '',
                     text: li.textContent}))""")


def test_search_over_http(browser, server, site):
    ctx = browser.new_context(viewport={"width": 1366, "height": 900})
    page = ctx.new_page()
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    problems = []
    for ch, term in chapter_terms(site).items():
        page.goto(f"{server.url}search.html?q={term}", wait_until="load")
        results = search_results(page)
        hrefs = [r["href"].split("#")[0].split("?")[0] for r in results]
        if not any(h.endswith(ch.split("/")[-1] + ".html") for h in hrefs):
            problems.append(f"{term!r}: {ch} not found")
        dups = {h for h in hrefs if hrefs.count(h) > 1}
        if dups:
            problems.append(f"{term!r}: listed twice: {sorted(dups)}")
        for r in results:
            hits = [m.group(0) for rx in (siteaudit.RAW_SYNTAX["TeX command"],
                                          siteaudit.RAW_SYNTAX["dollar math"],
                                          re.compile(r"\\\(|\\\[|\.\.\.\.?pdf|\.pdf\b"))
                    for m in rx.finditer(r["text"])]
            if hits:
                problems.append(f"{term!r}: snippet of {r['href']} shows {hits[:3]}")
    ctx.close()
    assert not problems and not errors, "\n".join(problems + errors)


def test_search_over_file_url(browser, site):
    ctx = browser.new_context()
    page = ctx.new_page()
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    term = next(iter(chapter_terms(site).values()))
    page.goto(f"{(site / 'search.html').as_uri()}?q={term}", wait_until="load")
    results = search_results(page)
    page.wait_for_timeout(1000)
    ctx.close()
    assert results and not errors, errors or "no results over file://"


# ----------------------------------------------------------------------------- interactions
def test_solution_toggles_open_and_close(browser, server, site):
    pages = [f"{ch}.html" for ch in CHAPTERS if 'class="solution' in (site / f"{ch}.html").read_text()]
    assert pages
    ctx = browser.new_context(viewport={"width": 1366, "height": 900})
    page = ctx.new_page()
    bad = []
    for p in pages:
        page.goto(server.url + p, wait_until="load")
        sol = page.locator("div.solution.dropdown").first
        body = sol.locator(".admonition-title ~ *").first
        button = sol.locator("button.toggle-button").first
        states = [body.is_visible()]
        for _ in range(2):
            (button if button.count() else sol.locator(".admonition-title")).click()
            page.wait_for_timeout(400)
            states.append(body.is_visible())
        if states != [False, True, False]:
            bad.append(f"{p}: hidden/shown/hidden = {states}")
    ctx.close()
    assert not bad, bad


def test_animation_steps(browser, server, site):
    pages = [f"{f}.html" for f in toc_files() if 'class="animation"' in (site / f"{f}.html").read_text()]
    assert pages, "no animation in the book (chapter 6 has one)"
    ctx = browser.new_context(viewport={"width": 1366, "height": 900})
    page = ctx.new_page()
    for p in pages:
        page.goto(server.url + p, wait_until="load")
        anim = page.locator("div.animation").first
        anim.scroll_into_view_if_needed()
        slider = anim.locator("input.anim-slider")
        img = anim.locator("img").first
        first = (slider.input_value(), img.get_attribute("src")[-200:])
        anim.locator("button[title='Next frame']").click()
        anim.locator("button[title='Next frame']").click()
        page.wait_for_timeout(300)
        second = (slider.input_value(), img.get_attribute("src")[-200:])
        assert first[0] != second[0] and first[1] != second[1], f"{p}: the animation does not step"
    ctx.close()


# ----------------------------------------------------------------------------- the HTML itself
def test_html_hygiene(site):
    bad = []
    linked = set()
    pages = sorted(site.rglob("*.html"))
    for f in pages:
        if "_static" in f.parts or "_sources" in f.parts:
            continue
        html = f.read_text(errors="replace")
        rel = f.relative_to(site).as_posix()
        if re.search(r'http-equiv="refresh"', html, re.I):  # index.html: a bare redirect
            continue
        ids = re.findall(r'\sid="([^"]+)"', html)
        dups = sorted({i for i in ids if ids.count(i) > 1})
        if dups:
            bad.append(f"{rel}: duplicate ids {dups[:5]}")
        n = len(re.findall(r'<meta\s+name="viewport"', html))
        if n != 1:
            bad.append(f"{rel}: {n} viewport meta tags")
        if not re.search(r'<link[^>]+rel="(shortcut )?icon"', html):
            bad.append(f"{rel}: no favicon")
        for href in re.findall(r'href="([^"#?]+\.html)', html):
            linked.add((f.parent / href).resolve())
    for f in pages:
        if "_static" in f.parts or "_sources" in f.parts:
            continue
        if f.resolve() not in linked and f.name != "index.html":
            bad.append(f"{f.relative_to(site)}: built but linked from no page")
    jinja = [p.relative_to(site).as_posix() for p in (site / "_static").rglob("*")
             if p.is_file() and p.suffix in (".html", ".js", ".css", ".txt")
             and re.search(r"\{%|\{\{", p.read_text(errors="replace")[:20000])
             and p.suffix == ".html"]
    if jinja:
        bad.append(f"unrendered templates in _static: {jinja}")
    assert not bad, "\n".join(bad)


# ----------------------------------------------------------------------------- .ipynb downloads
MYST_IN_MARKDOWN = re.compile(r"\{[a-z]+(:[a-z-]+)?\}`|^\s*(```|:::)\{|^\s*:[a-z-]+:\s", re.M)


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_ipynb_download_is_readable_in_jupyter(site, chapter):
    path = site / "_sources" / f"{chapter}.ipynb"
    html = (site / f"{chapter}.html").read_text()
    assert path.is_file() and f"{Path(chapter).name}.ipynb" in html
    nb = nbformat.read(path, as_version=4)
    raw = [m.group(0) for c in nb.cells if c.cell_type == "markdown"
           for m in MYST_IN_MARKDOWN.finditer(c.source)]
    assert not raw, f"MyST syntax in the downloaded notebook's Markdown: {raw[:8]}"
    hidden = [c.metadata.get("tags") for c in nb.cells
              if set(c.metadata.get("tags", [])) & {"remove-output", "hide-output"}
              or c.metadata.get("jupyter", {}).get("outputs_hidden")]
    assert not hidden, "outputs hidden in Jupyter"
    images = ("image/png", "image/svg+xml", "image/jpeg")
    n_fig_nb = sum(any(m in o.get("data", {}) for m in images)
                   for c in nb.cells if c.cell_type == "code" for o in c.outputs)
    n_fig_nb += sum(len(c.get("attachments", {})) for c in nb.cells)
    n_fig_html = len(re.findall(r'<img[^>]+src="(?!data:)', html))
    assert n_fig_nb >= n_fig_html, (
        f"the download carries {n_fig_nb} of the page's {n_fig_html} figures")


def test_downloaded_chapter_runs_in_plain_jupyter(site, tmp_path):
    """The first chapter's download runs top to bottom outside the book (no myst-nb needed)."""
    from nbclient import NotebookClient
    nb = nbformat.read(site / "_sources" / f"{CHAPTERS[0]}.ipynb", as_version=4)
    assert not any(re.search(r"(from|import) myst_nb", c.source) for c in nb.cells
                   if c.cell_type == "code")
    NotebookClient(nb, timeout=120, kernel_name="python3",
                   resources={"metadata": {"path": str(tmp_path)}}).execute()


def test_nnref_wheel_is_offered(site):
    wheels = sorted((site / "_downloads").rglob("nnref-*.whl")) if (site / "_downloads").exists() \
        else []
    wheels += sorted(site.rglob("nnref-*.whl"))
    assert wheels, "no nnref wheel in the built site"
    readers = (site / "book" / "readers.html").read_text()
    assert re.search(r'href="[^"]*nnref-[^"]*\.whl"', readers), "readers' page offers no wheel"
    with zipfile.ZipFile(wheels[0]) as z:
        assert "nnref/__init__.py" in z.namelist()


def test_every_local_link_resolves(site):
    """Every local href and src of every page (pages, downloads, wheels, the kit) exists."""
    missing = []
    for f in sorted(site.rglob("*.html")):
        if "_static" in f.parts or "_sources" in f.parts:
            continue
        html = f.read_text(errors="replace")
        for value in re.findall(r'\s(?:href|src)="([^"]*)"', html):
            target = value.split("#")[0].split("?")[0]
            if not target or re.match(r"[a-z][a-z0-9+.-]*:|//", target):
                continue   # same-page anchors, remote links, data: and mailto: URIs
            if not (f.parent / target).exists():
                missing.append(f"{f.relative_to(site)} -> {target}")
    assert not missing, "local links to nothing:\n" + "\n".join(sorted(set(missing))[:30])


def test_student_kit_is_offered_without_the_answer_key(site):
    students = (site / "book" / "students.html").read_text()
    link = re.search(r'href="([^"]*nncourse-student-kit\.zip)"', students)
    assert link, "the students' page offers no kit"
    kit = (site / "book" / link.group(1)).resolve()
    with zipfile.ZipFile(kit) as z:
        names = z.namelist()
        assert any(n.endswith(".whl") for n in names) and any(n.endswith(".ipynb") for n in names)
        assert not any("solutions/" in n or n.split("/")[1:2] == ["nnref"] for n in names), names
        text = b"".join(z.read(n) for n in names if n.endswith(".ipynb"))
        assert b"BEGIN HIDDEN TESTS" not in text and b"BEGIN SOLUTION" not in text
