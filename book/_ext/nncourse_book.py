"""Two small HTML tweaks for the nncourse book (loaded via ``sphinx.local_extensions``).

1. ``.ipynb`` download for MyST-markdown notebook pages.
   sphinx-book-theme's download menu shows ``.ipynb`` only when
   ``context["ipynb_source"]`` is set, and the theme sets it only when a launch
   button (Binder/Colab/...) is configured. This book has no launch buttons (no
   network), so we do the same thing ourselves: for every page that is a notebook
   (its metadata has a ``kernelspec``, i.e. a jupytext ``mystnb`` page) copy the
   executed notebook myst-nb wrote to ``_build/jupyter_execute/<page>.ipynb`` to
   ``_build/html/_sources/<page>.ipynb`` and set ``context["ipynb_source"]``.
   Runs at priority 500, before the theme builds its buttons (priority 501).

2. No thebe scripts. Jupyter Book always loads ``sphinx_thebe``, which puts
   ``sphinx-thebe.js`` and a ``THEBE_JS_URL = "https://unpkg.com/..."`` constant
   on every page. Thebe is off here (it needs a Binder server), so both are
   dropped from the page's script list: the HTML then references no remote
   script at all.
"""

from pathlib import Path
from shutil import copy2


def _add_ipynb_download(app, pagename, templatename, context, doctree):
    if app.builder.format != "html":
        return
    if "kernelspec" not in app.env.metadata.get(pagename, {}):
        return
    src = Path(app.outdir).parent / "jupyter_execute" / f"{pagename}.ipynb"
    if not src.is_file():
        return
    dst = Path(app.outdir) / "_sources" / f"{pagename}.ipynb"
    dst.parent.mkdir(parents=True, exist_ok=True)
    copy2(src, dst)
    context["ipynb_source"] = f"{pagename}.ipynb"


def _drop_thebe_scripts(app, pagename, templatename, context, doctree):
    scripts = context.get("script_files")
    if not scripts:
        return
    context["script_files"] = [
        js
        for js in scripts
        if "sphinx-thebe.js" not in str(js)
        and "THEBE_JS_URL" not in (getattr(js, "attributes", {}).get("body") or "")
    ]


def setup(app):
    app.connect("html-page-context", _add_ipynb_download, priority=500)
    app.connect("html-page-context", _drop_thebe_scripts, priority=900)
    return {"version": "0.1", "parallel_read_safe": True, "parallel_write_safe": True}
