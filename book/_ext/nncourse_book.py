"""The nncourse book's HTML, as the reader gets it (loaded via ``sphinx.local_extensions``).

Each piece is a small named step; tests/test_browser.py checks what each one is for.

1. ``.ipynb`` downloads (``_add_ipynb_download``). sphinx-book-theme offers ``.ipynb`` only with
   a launch button; this book has none (offline), so every notebook page gets the executed
   notebook of ``_build/jupyter_execute`` made readable in plain Jupyter (``ipynb_export``):
   MyST roles and directives become Markdown, hidden outputs are shown.
2. No thebe scripts (``_drop_unused_scripts``): thebe needs a Binder server and its constant
   names a remote URL. Also dropped: fontawesome.js (1.5 MB; the theme's CSS already draws
   the icons from the webfont) and searchindex.js outside the search page.
3. MathJax served locally, trimmed (``_copy_mathjax``): only the components the book loads
   (startup, core, TeX input with its extensions, CommonHTML output and its fonts), copied
   from the sphinx-mathjax-offline package instead of its 24 MB.
4. Clean-up of the written site (``_finish_site``): one viewport meta tag, unique element ids,
   no source maps, no unrendered Jinja templates or message catalogues in ``_static``, style
   sheets without the rules no page can match, the icon font cut to the icons used.
5. Reader helpers in ``static/``: a favicon and ``nncourse.js`` (search results once per page,
   snippets without raw TeX or toolbar text, no summary fetch over file://).
6. Figures: the kernels read ``book/matplotlibrc`` (cwd = book/) and an IPython profile made
   at build time that makes inline figures SVG (``_ipython_profile``).
7. The nnref wheel offered on the readers' page (``_build_nnref_wheel``) and the student kit
   offered on the students' page (``_build_student_kit``).
"""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from shutil import copy2

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(HERE))
import ipynb_export  # noqa: E402

# ---------------------------------------------------------------------------------- 1
def _is_notebook(app, pagename):
    return "kernelspec" in app.env.metadata.get(pagename, {})


def _add_ipynb_download(app, pagename, templatename, context, doctree):
    if app.builder.format == "html" and _is_notebook(app, pagename):
        context["ipynb_source"] = f"{pagename}.ipynb"


def _export_notebooks(app, exc):
    """Every notebook page's download, made again when its executed notebook or the exporter
    changed (also for pages this build did not rewrite)."""
    if exc is not None or app.builder.format != "html":
        return
    cache = getattr(getattr(app.env, "mystnb_config", None), "execution_cache_path", "")
    cache = cache or Path(app.outdir).parent / ".jupyter_cache"
    for pagename in sorted(app.env.found_docs):
        if not _is_notebook(app, pagename):
            continue
        src = Path(app.outdir).parent / "jupyter_execute" / f"{pagename}.ipynb"
        dst = Path(app.outdir) / "_sources" / f"{pagename}.ipynb"
        if not src.is_file():
            continue
        newest = max(src.stat().st_mtime, Path(ipynb_export.__file__).stat().st_mtime)
        if not dst.is_file() or dst.stat().st_mtime < newest:
            dst.parent.mkdir(parents=True, exist_ok=True)
            ipynb_export.export(src, dst, bib=ROOT / "references.bib", cache_path=cache)


# ---------------------------------------------------------------------------------- 2
def _drop_unused_scripts(app, pagename, templatename, context, doctree):
    scripts = context.get("script_files")
    if not scripts:
        return
    keep = []
    for js in scripts:
        name = str(js)
        body = getattr(js, "attributes", {}).get("body") or ""
        if "sphinx-thebe.js" in name or "THEBE_JS_URL" in body:
            continue
        if pagename != "search" and ("searchindex.js" in name or "searchtools.js" in name
                                     or "language_data.js" in name):
            continue
        keep.append(js)
    design = "sd-" in context.get("body", "")  # sphinx-design's CSS/JS only where it is used
    context["script_files"] = [js for js in keep if design or "design-tabs.js" not in str(js)]
    context["css_files"] = [c for c in context.get("css_files", [])
                            if "sphinx-thebe.css" not in str(c)
                            and (design or "sphinx-design" not in str(c))]


# ---------------------------------------------------------------------------------- 3
MATHJAX_PARTS = ["startup.js", "core.js", "input/tex-base.js", "input/tex",
                 "output/chtml.js", "output/chtml/fonts/tex.js", "output/chtml/fonts/woff-v2"]
MATHJAX_CONFIG = {
    "loader": {"load": ["input/tex-base", "[tex]/ams", "[tex]/newcommand", "[tex]/noundefined",
                        "[tex]/autoload", "[tex]/require", "[tex]/configmacros",
                        "output/chtml"]},
    "tex": {"packages": {"[+]": ["ams", "newcommand", "noundefined", "autoload", "require",
                                 "configmacros"]}},
    "options": {"processHtmlClass": "tex2jax_process|mathjax_process|math|output_area"},
    "startup": {"typeset": True},
}


def _mathjax_source():
    import importlib.util
    spec = importlib.util.find_spec("sphinx-mathjax-offline")
    return Path(spec.origin).parent / "static" / "mathjax"


def _copy_mathjax(app, exc):
    if exc is not None or app.builder.format != "html":
        return
    src, dst = _mathjax_source(), Path(app.outdir) / "_static" / "mathjax"
    if (dst / "startup.js").is_file() and not (dst / "tex-chtml.js").exists():
        return
    shutil.rmtree(dst, ignore_errors=True)
    for part in MATHJAX_PARTS:
        s, d = src / part, dst / part
        d.parent.mkdir(parents=True, exist_ok=True)
        if s.is_dir():
            shutil.copytree(s, d)
        else:
            copy2(s, d)


# ---------------------------------------------------------------------------------- 4
_FA_RULE = re.compile(r'((?:\.fa-[a-z0-9-]+:(?:before|after),?)+)\{content:"[^"]*"\}')


def _unique_ids(html):
    seen = {}

    def rename(m):
        i = m.group(2)
        seen[i] = seen.get(i, 0) + 1
        return m.group(0) if seen[i] == 1 else f'{m.group(1)}"{i}-{seen[i]}"'

    return re.sub(r'(\sid=)"([^"]+)"', rename, html)


def _fix_page(path):
    html = path.read_text()
    new = html
    metas = list(re.finditer(r'\s*<meta name="viewport"[^>]*>', new))
    for m in reversed(metas[1:]):
        new = new[:m.start()] + new[m.end():]
    new = re.sub(r'\s*<script[^>]*src="[^"]*fontawesome\.js[^"]*"[^>]*></script>', "", new)
    new = re.sub(r'\s*<link[^>]*rel="preload"[^>]*fontawesome\.js[^>]*>', "", new)
    new = _unique_ids(new)
    if new != html:
        path.write_text(new)
    return set(re.findall(r"\bfa-[a-z0-9-]+", new))


def _css_blocks(css):
    """Split minified CSS into top-level (prelude, body) pairs (body without its braces)."""
    out, i, n = [], 0, len(css)
    while i < n:
        j = css.find("{", i)
        if j < 0:
            break
        depth, k = 1, j + 1
        while k < n and depth:
            depth += {"{": 1, "}": -1}.get(css[k], 0)
            k += 1
        out.append((css[i:j], css[j + 1:k - 1]))
        i = k
    return out


def _purge_css(css, used):
    """Drop the rules none of whose selectors can match: a selector needs every class it
    names to occur in some page or script (`used`). At-rules other than @media are kept."""
    kept = []
    for prelude, body in _css_blocks(css):
        head = prelude.strip()
        if head.startswith("@media") or head.startswith("@supports"):
            inner = _purge_css(body, used)
            if inner:
                kept.append(f"{head}{{{inner}}}")
        elif head.startswith("@"):
            kept.append(f"{head}{{{body}}}")
        else:
            sels = [sel for sel in head.split(",")
                    if all(c in used for c in re.findall(r"\.(-?[_a-zA-Z][\w-]*)",
                                                         re.sub(r":not\([^)]*\)", "", sel)))]
            if sels:
                kept.append(f"{','.join(sels)}{{{body}}}")
    return "".join(kept)


def _subset_icon_fonts(css, fonts, other_css=""):
    """The icon webfonts cut down to the icons the kept CSS rules draw (fontTools, from the
    shipped .ttf), written as .woff; the CSS then names only those."""
    if not fonts.is_dir():
        return css
    from fontTools import subset
    codes = {int(c, 16) for c in re.findall(r'content:\s*"\\([0-9a-f]{4})"', css + other_css)}
    for ttf in fonts.glob("*.ttf"):
        woff = ttf.with_suffix(".woff")
        opts = subset.Options()
        opts.flavor = "woff"
        opts.layout_features = []
        font = subset.load_font(str(ttf), opts)
        sub = subset.Subsetter(opts)
        sub.populate(unicodes=codes or {0xF0C9})
        sub.subset(font)
        subset.save_font(font, str(woff), opts)
        ttf.with_suffix(".woff2").unlink(missing_ok=True)
        ttf.unlink()
        name = ttf.stem
        css = re.sub(rf'src:url\(([^)]*?){name}\.woff2\) format\("woff2"\),url\([^)]*?{name}\.ttf\) '
                     r'format\("truetype"\)', rf'src:url(\g<1>{name}.woff) format("woff")', css)
    return css


def _finish_site(app, exc):
    if exc is not None or app.builder.format != "html":
        return
    out = Path(app.outdir)
    icons, classes = set(), set()
    for page in out.rglob("*.html"):
        if "_static" not in page.parts:
            icons |= _fix_page(page)
            for attr in re.findall(r'class="([^"]*)"', page.read_text(errors="replace")):
                classes |= set(attr.split())
    for js in out.rglob("*.js"):  # classes scripts may add: any word of any script
        if "mathjax" not in js.parts and js.name != "fontawesome.js":
            classes |= set(re.findall(r"[\w-]+", js.read_text(errors="replace")))
    static = out / "_static"
    for f in list(static.rglob("*.map")):
        f.unlink()
    for f in list(static.rglob("*")):
        if f.is_file() and f.suffix in (".js", ".css") and "sourceMappingURL" in f.read_text(
                errors="replace")[-300:]:
            f.write_text(re.sub(r"\n?/[/*]# sourceMappingURL=\S+( \*/)?\s*$", "\n",
                                f.read_text()))
    for f in list(static.glob("*.html")):  # Jinja macros the theme ships as "static" files
        if "{%" in f.read_text(errors="replace"):
            f.unlink()
    for js in static.rglob("*.js"):  # icons that scripts add (theme switch, search, ...)
        if "fontawesome" not in js.name:
            icons |= set(re.findall(r"\bfa-[a-z0-9-]+", js.read_text(errors="replace")))
    fa_js = static / "scripts" / "fontawesome.js"
    if fa_js.exists():
        fa_js.unlink()
    (static / "scripts" / "fontawesome.js.LICENSE.txt").unlink(missing_ok=True)
    css = static / "styles" / "pydata-sphinx-theme.css"
    if css.is_file():
        text = css.read_text()

        def keep(m):
            used = [s for s in m.group(1).rstrip(",").split(",")
                    if s.split(":")[0][1:] in icons]
            return m.group(0) if used else ""

        text = _FA_RULE.sub(keep, text)
        text = _purge_css(text, classes)
        other = "".join(f.read_text(errors="replace") for f in static.rglob("*.css") if f != css)
        css.write_text(_subset_icon_fonts(text, static / "vendor" / "fontawesome" / "webfonts",
                                          other))
    for other in static.rglob("*.css"):  # the other style sheets: unused rules dropped too
        if other != css and "mathjax" not in other.parts:
            text = other.read_text(errors="replace")
            purged = _purge_css(re.sub(r"/\*.*?\*/", "", text, flags=re.S), classes)
            if len(purged) < len(text):
                other.write_text(purged)
    images = out / "_images"  # images of earlier builds that no page shows any more
    if images.is_dir():
        shown = set()
        for page in out.rglob("*.html"):
            shown |= set(re.findall(r"_images/([^\"'?#)\s]+)", page.read_text(errors="replace")))
        for f in images.iterdir():
            if f.is_file() and f.name not in shown:
                f.unlink()
    # the theme's message catalogues: Sphinx reads them while building, no browser does
    shutil.rmtree(static / "locales", ignore_errors=True)
    for name in ("sphinx-thebe.css", "sphinx-thebe.js"):
        (static / name).unlink(missing_ok=True)


# ---------------------------------------------------------------------------------- 6
def _ipython_profile(app):
    """Inline figures as SVG (text stays text: sharp at any zoom, its size measurable)."""
    ipdir = Path(app.outdir).parent / ".ipython"
    cfg = ipdir / "profile_default" / "ipython_kernel_config.py"
    cfg.parent.mkdir(parents=True, exist_ok=True)
    cfg.write_text("c.InlineBackend.figure_formats = {'svg'}\n"
                   "c.InlineBackend.print_figure_kwargs = {'bbox_inches': 'tight'}\n"
                   f"c.InteractiveShellApp.exec_files = [{str(HERE / 'figure_style.py')!r}]\n")
    os.environ["IPYTHONDIR"] = str(ipdir)


# ---------------------------------------------------------------------------------- 7
def _build_nnref_wheel(app, exc):
    """nnref alone as a wheel in _static/wheels/ (the downloaded chapters import it); rebuilt
    only when nnref's sources change."""
    if exc is not None or app.builder.format != "html":
        return
    import hashlib
    import tempfile
    project = (ROOT / "pyproject.toml").read_text()
    version = re.search(r'^version\s*=\s*"([^"]+)"', project, re.M).group(1)
    sources = sorted((ROOT / "nnref").rglob("*.py"))
    digest = hashlib.sha256(b"".join(p.read_bytes() for p in sources) + version.encode())
    dist = Path(app.outdir) / "_static" / "wheels"
    stamp = dist / ".nnref.sha256"
    wheel = dist / f"nnref-{version}-py3-none-any.whl"
    if wheel.is_file() and stamp.is_file() and stamp.read_text() == digest.hexdigest():
        return
    shutil.rmtree(dist, ignore_errors=True)
    dist.mkdir(parents=True)
    with tempfile.TemporaryDirectory() as tmp:
        shutil.copytree(ROOT / "nnref", Path(tmp) / "nnref",
                        ignore=shutil.ignore_patterns("__pycache__"))
        (Path(tmp) / "pyproject.toml").write_text(
            '[build-system]\nrequires = ["setuptools>=61"]\n'
            'build-backend = "setuptools.build_meta"\n[project]\nname = "nnref"\n'
            f'version = "{version}"\nrequires-python = ">=3.11"\n'
            'dependencies = ["numpy>=2.4,<2.5"]\n[tool.setuptools]\npackages = ["nnref"]\n')
        subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps",
                        "--no-build-isolation", "-q", "-w", str(dist), tmp],
                       check=True, capture_output=True)
    stamp.write_text(digest.hexdigest())


def _build_student_kit(app, exc):
    """The student kit (student/make_kit.py: released notebooks, the nncheck wheel, pins) in
    _static/downloads/, for the students' page; rebuilt only when its inputs change."""
    if exc is not None or app.builder.format != "html":
        return
    import hashlib
    import importlib.util
    inputs = sorted((ROOT / "exercises").rglob("*.ipynb")) + sorted(
        p for p in (ROOT / "student").rglob("*") if p.is_file() and "__pycache__" not in p.parts)
    inputs.append(ROOT / "requirements-student.txt")
    digest = hashlib.sha256(b"".join(str(p.relative_to(ROOT)).encode() + p.read_bytes()
                                     for p in inputs)).hexdigest()
    dist = Path(app.outdir) / "_static" / "downloads"
    stamp = dist / ".kit.sha256"
    if stamp.is_file() and stamp.read_text() == digest and any(dist.glob("*.zip")):
        return
    spec = importlib.util.spec_from_file_location("make_kit", ROOT / "student" / "make_kit.py")
    make_kit = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(make_kit)
    shutil.rmtree(dist, ignore_errors=True)
    make_kit.build(dist)
    stamp.write_text(digest)


def _static_path(app):
    app.config.html_static_path.append(str(HERE / "static"))


class _QuietLogger:
    def __getattr__(self, name):
        return lambda *args, **kwargs: None


def _execute_one(job):
    """Execute one page into myst-nb's jupyter-cache, exactly as myst-nb's reader would."""
    from myst_nb.core.execute import create_client
    from myst_nb.core.read import create_nb_reader
    path, md_config, nb_config = job
    text = Path(path).read_text(encoding="utf8")
    reader = create_nb_reader(path, md_config, nb_config, text)
    if reader is None:
        return path, None
    notebook = reader.read(text)
    try:
        with create_client(notebook, path, nb_config, _QuietLogger(), reader.read_fmt):
            pass
    except Exception as exc:  # the serial read below executes it again and reports the error
        return path, repr(exc)
    return path, None


def _execute_in_parallel(app, env, docnames):
    """Pages execute NNCOURSE_BUILD_JOBS at a time (default 2) before Sphinx reads them.

    Sphinx cannot read this book in parallel (sphinx-proof's domain cannot merge parallel
    reads) and jupyter-book has no -j, so the stale pages are first executed into the same
    jupyter-cache by a small process pool; the (serial) read then finds every page cached.
    """
    import multiprocessing
    jobs = int(os.environ.get("NNCOURSE_BUILD_JOBS", "2"))
    nb_config = getattr(env, "mystnb_config", None)
    if jobs < 2 or nb_config is None or nb_config.execution_mode != "cache":
        return
    todo = [str(env.doc2path(d)) for d in docnames
            if "kernelspec" in Path(env.doc2path(d)).read_text(encoding="utf8")[:2000]]
    if len(todo) < 2:
        return
    # longest pages first, so that the pool ends together
    todo.sort(key=lambda p: -Path(p).stat().st_size)
    with multiprocessing.get_context("fork").Pool(min(jobs, len(todo))) as pool:
        list(pool.imap_unordered(_execute_one, [(p, env.myst_config, nb_config) for p in todo]))


def setup(app):
    app.connect("builder-inited", _static_path)
    app.connect("builder-inited", _ipython_profile)
    app.connect("env-before-read-docs", _execute_in_parallel)
    app.connect("html-page-context", _add_ipynb_download, priority=500)
    app.connect("html-page-context", _drop_unused_scripts, priority=900)
    app.connect("build-finished", _copy_mathjax)
    app.connect("build-finished", _finish_site, priority=900)
    app.connect("build-finished", _build_nnref_wheel)
    app.connect("build-finished", _build_student_kit)
    app.connect("build-finished", _export_notebooks)
    app.add_js_file("nncourse.js")
    app.config.mathjax_path = "mathjax/startup.js"
    app.config.mathjax3_config = MATHJAX_CONFIG
    return {"version": "0.2", "parallel_read_safe": True, "parallel_write_safe": True}
