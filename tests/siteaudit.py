"""Open every page of the built book in real Chromium and measure what a reader meets.

Used by tests/test_browser.py (assertions) and benchmarks/bench_pages.py (figures). One browser,
one fresh context per page and width (so the transfer counts what a first visit downloads),
a few pages at a time. The site is served by a local HTTP server on 127.0.0.1; every request
to any other host is recorded and aborted.
"""

import asyncio
import functools
import http.server
import os
import re
import shutil
import threading
from pathlib import Path

WIDTHS = {"desktop": (1366, 900), "phone": (390, 844)}
CHROMIUM = os.environ.get("NNCOURSE_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
PARALLEL = 3


def chromium_path():
    return CHROMIUM if Path(CHROMIUM).is_file() else None


# --------------------------------------------------------------------------- local server
class _Handler(http.server.SimpleHTTPRequestHandler):
    missing = None  # list, set per server

    def log_message(self, *args):
        pass

    def send_error(self, code, *args, **kwargs):
        if code == 404:
            self.missing.append(self.path)
        return super().send_error(code, *args, **kwargs)


class Server:
    """`with Server(html) as s:` serves html on http://127.0.0.1:<port>/, notes 404s."""

    def __init__(self, root):
        self.root = Path(root)
        self.missing = []

    def __enter__(self):
        handler = type("H", (_Handler,), {"missing": self.missing})
        self.httpd = http.server.ThreadingHTTPServer(
            ("127.0.0.1", 0), functools.partial(handler, directory=str(self.root)))
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


# --------------------------------------------------------------------------- in-page probes
# Visible prose of the article: code, code output and typeset math removed.
_PROSE_JS = r"""
() => {
  const art = document.querySelector('article.bd-article') || document.querySelector('main') || document.body;
  const clone = art.cloneNode(true);
  clone.querySelectorAll('pre, code, mjx-container, script, style, .cell_input, '
      + '.MathJax, .headerlink, svg, .anim-controls').forEach(e => e.remove());
  // text of typeset formulas (MathJax's assistive MathML): a backslash there is a TeX command
  // MathJax printed literally, e.g. \text{fan\_in}
  const mtext = Array.from(document.querySelectorAll('mjx-assistive-mml mtext, mjx-assistive-mml mi'))
      .map(e => e.textContent).filter(t => t.includes('\\'));
  const items = Array.from(clone.querySelectorAll('li')).map(li => li.textContent.trim());
  return {text: clone.textContent, items: items, mtext: mtext,
          merror: document.querySelectorAll('mjx-merror, [data-mjx-error]').length,
          math_left: document.querySelectorAll('span.math, div.math').length
                     - document.querySelectorAll('span.math mjx-container, div.math mjx-container').length};
}
"""

# Every figure of the article: smallest text in CSS px as displayed. SVG: each <text>'s font
# size times its scale on screen (the SVG is re-rendered inline at the displayed size). Raster:
# the book's smallest font (pt) * dpi/72 * displayed/natural width.
_FIGURES_JS = r"""
async (rasterMinPt) => {
  const art = document.querySelector('article.bd-article') || document.body;
  const out = [];
  const imgs = Array.from(art.querySelectorAll('img')).filter(
      im => im.offsetWidth > 60 && !im.closest('.bd-sidebar-primary'));
  for (const im of imgs) {
    await im.decode().catch(() => null);
    const shown = im.getBoundingClientRect().width;
    const src = im.currentSrc || im.src;
    const rec = {src: src.startsWith('data:') ? src.slice(0, 30) : src.split('/').pop(),
                 shown: Math.round(shown), natural: im.naturalWidth, kind: 'raster', min_px: null};
    if (/\.svg(\?|$)/.test(src) || src.startsWith('data:image/svg')) {
      rec.kind = 'svg';
      const text = await (await fetch(src)).text();
      const box = document.createElement('div');
      box.style.cssText = `position:absolute;left:0;top:0;width:${shown}px;visibility:hidden`;
      box.innerHTML = text.replace(/^[\s\S]*?(<svg)/, '$1');
      document.body.appendChild(box);
      const svg = box.querySelector('svg');
      svg.setAttribute('width', shown + 'px'); svg.removeAttribute('height');
      svg.style.height = 'auto';
      let m = Infinity, n = 0;
      for (const t of svg.querySelectorAll('text')) {
        if (!t.textContent.trim()) continue;
        const ctm = t.getScreenCTM();
        const size = parseFloat(getComputedStyle(t).fontSize) * Math.hypot(ctm.a, ctm.b);
        if (size > 0) { m = Math.min(m, size); n += 1; }
      }
      rec.texts = n;
      rec.min_px = n ? Math.round(m * 10) / 10 : null;
      box.remove();
    } else if (im.naturalWidth && !src.startsWith('data:')) {
      rec.min_px = Math.round(rasterMinPt[0] * rasterMinPt[1] / 72 * shown / im.naturalWidth * 10) / 10;
    }
    out.push(rec);
  }
  return out;
}
"""

# Raw source syntax that must never reach the reader (visible prose, math and code removed).
RAW_SYNTAX = {
    "dollar math": re.compile(r"\$[^$\n]{1,80}\$|(?<![A-Za-z0-9])\$(?=[A-Za-z\\{(])|\$\$"),
    "TeX command": re.compile(r"\\(frac|text|mathrm|mathbf|sum|partial|sigma|alpha|eta|left|"
                              r"right|cdot|sqrt|begin|end|tanh|log|exp|max|min|in|le|ge)\b"),
    "TeX fragment": re.compile(r"[_^]\{|\]_[+{]|\\[{}_]"),
    "Markdown table": re.compile(r"\|\s*:?-{2,}:?\s*\||^\s*\|.*\|\s*$", re.M),
    "MyST role": re.compile(r"\{[a-z]+(:[a-z-]+)?\}`|`\{|\b(glue:text|glue:any|prf:ref)\b"),
    "MyST directive": re.compile(r"^\s*(```|:::)\{", re.M),
}
# A list item that is a formula line the Markdown parser took for a bullet ("+ 1 - 2]_+").
FORMULA_BULLET = re.compile(r"^[\s\d.,()\[\]{}+\-*/=<>^_|\\]*[\]\\^_{}|][\s\S]{0,40}$")


def raw_syntax_hits(prose):
    hits = []
    for name, rx in RAW_SYNTAX.items():
        hits += [f"{name}: {m.group(0)!r}" for m in rx.finditer(prose["text"])]
    hits += [f"TeX shown in a formula: {t!r}" for t in prose["mtext"]]
    hits += [f"formula bullet: {it[:40]!r}" for it in prose["items"]
             if it and FORMULA_BULLET.match(it)]
    return hits


def raster_min_font_pt(rcfile):
    """(smallest font size in pt, dpi) that the book's matplotlibrc gives raster figures."""
    import matplotlib
    from matplotlib import font_manager
    rc = matplotlib.rc_params_from_file(str(rcfile), use_default_template=True) \
        if Path(rcfile).is_file() else matplotlib.rcParamsDefault
    base = float(rc["font.size"])
    scale = font_manager.font_scalings
    sizes = []
    for key in ("xtick.labelsize", "ytick.labelsize", "legend.fontsize", "axes.labelsize",
                "axes.titlesize", "figure.titlesize", "legend.title_fontsize"):
        v = rc.get(key)
        if v is None:
            v = base
        sizes.append(base * scale[v] if isinstance(v, str) and v in scale else float(v))
    dpi = rc["figure.dpi"] if rc["figure.dpi"] != "figure" else 100
    return [min(sizes + [base]), float(dpi)]


def _strip_data_images(nbytes, html_text):
    # base64 frames may run over several lines (a JS string continued with a backslash)
    rx = r"data:image/[^\"')\s\\]+(?:\\\n[^\"')\s\\]*)*"
    return nbytes - sum(len(m) for m in re.findall(rx, html_text))


async def _audit_one(browser, server, page_path, width_name, raster_pt):
    w, h = WIDTHS[width_name]
    ctx = await browser.new_context(viewport={"width": w, "height": h},
                                    device_scale_factor=1, is_mobile=(width_name == "phone"),
                                    has_touch=(width_name == "phone"))
    rec = {"page": page_path, "width": width_name, "console": [], "remote": [], "missing": [],
           "bytes": 0, "bytes_by_type": {}}
    local = server.url

    async def route(r):
        url = r.request.url
        if url.startswith(local) or url.startswith("data:") or url.startswith("blob:"):
            await r.continue_()
        else:
            rec["remote"].append(url)
            await r.abort()

    await ctx.route("**/*", route)
    page = await ctx.new_page()
    page.on("console", lambda m: m.type == "error" and rec["console"].append(m.text[:200]))
    page.on("pageerror", lambda e: rec["console"].append(f"uncaught: {str(e)[:200]}"))

    def on_response(resp):
        url = resp.url
        if not url.startswith(local):
            return
        if resp.status >= 400:
            rec["missing"].append(f"{resp.status} {url[len(local):]}")
            return
        kind = resp.request.resource_type
        if kind in ("image", "media"):
            return
        f = server.root / url[len(local):].split("?")[0].split("#")[0]
        if f.is_dir():
            f = f / "index.html"
        if f.is_file():
            n = f.stat().st_size
            if kind == "document":
                n = _strip_data_images(n, f.read_text(errors="replace"))
            rec["bytes"] += n
            rec["bytes_by_type"][kind] = rec["bytes_by_type"].get(kind, 0) + n

    page.on("response", on_response)
    await page.goto(local + page_path, wait_until="load")
    mj = await page.evaluate("""async () => {
        if (!window.MathJax) return 'absent';
        try { if (MathJax.startup && MathJax.startup.promise) await MathJax.startup.promise; }
        catch (e) { return 'error: ' + e; }
        return 'done'; }""")
    await page.wait_for_timeout(150)
    rec["mathjax"] = mj
    prose = await page.evaluate(_PROSE_JS)
    rec["raw"] = raw_syntax_hits(prose)
    if prose["merror"]:
        rec["raw"].append(f"MathJax errors: {prose['merror']}")
    if prose["math_left"] > 0 and mj != "absent":
        rec["raw"].append(f"math not typeset: {prose['math_left']}")
    rec["overflow"] = await page.evaluate(
        "() => document.documentElement.scrollWidth - window.innerWidth")
    weight = (rec["bytes"], dict(rec["bytes_by_type"]))  # before the probe fetches the SVGs
    rec["figures"] = await page.evaluate(_FIGURES_JS, raster_pt)
    rec["bytes"], rec["bytes_by_type"] = weight
    sizes = [f["min_px"] for f in rec["figures"]
             if f["min_px"] is not None and not f["src"].startswith("data:")]
    rec["min_figure_px"] = min(sizes) if sizes else None
    await ctx.close()
    return rec


async def _audit(html, pages, rcfile):
    from playwright.async_api import async_playwright
    raster_pt = raster_min_font_pt(rcfile)
    with Server(html) as server:
        async with async_playwright() as p:
            browser = await p.chromium.launch(executable_path=chromium_path(),
                                              args=["--no-sandbox"])
            sem = asyncio.Semaphore(PARALLEL)

            async def one(pg, wn):
                async with sem:
                    return await _audit_one(browser, server, pg, wn, raster_pt)

            recs = await asyncio.gather(*[one(pg, wn) for pg in pages for wn in WIDTHS])
            await browser.close()
        for r in recs:  # 404s the browser saw are also in server.missing
            r["missing"] = sorted(set(r["missing"]))
    return recs


def audit(html, pages, rcfile):
    """A record per (page, width): console errors, remote requests, local 404s, MathJax state,
    raw-syntax hits, page overflow in px, figures with their smallest text (CSS px), bytes."""
    return asyncio.run(_audit(Path(html), pages, rcfile))


def table(recs):
    """Compact per-page table of the audit (for a report)."""
    rows = [f"{'page':42s} {'width':7s} {'cons':>4s} {'remote':>6s} {'404':>3s} {'raw':>3s} "
            f"{'fig px':>6s} {'kB':>6s} {'ovf':>4s}"]
    for r in recs:
        fig = "-" if r["min_figure_px"] is None else f"{r['min_figure_px']:.1f}"
        rows.append(f"{r['page']:42s} {r['width']:7s} {len(r['console']):4d} "
                    f"{len(r['remote']):6d} {len(r['missing']):3d} {len(r['raw']):3d} {fig:>6s} "
                    f"{r['bytes'] / 1024:6.0f} {max(r['overflow'], 0):4d}")
    return "\n".join(rows)
