"""The executed chapter notebook, made readable in plain Jupyter (the book's `.ipynb` download).

myst-nb's executed notebook keeps the MyST source in its Markdown cells and moves glued values
and figures out of the notebook (into ``<page>.glue.json``). Plain Jupyter shows neither, so:

- roles become Markdown: ``{term}`x``` -> x, ``{doc}`p``` -> a link to p.ipynb, ``{cite}`k``` ->
  (Author Year), ``{glue:text}`name:.3f``` -> the value, ``{math}`x``` -> $x$,
  ``{numref}``/``{ref}``/``{eq}`` -> their text or label;
- directives become Markdown: exercises, theorems and admonitions a bold title and their body,
  solutions a ``<details>`` block, ``{glue:figure}`` the figure itself (a cell attachment) with its
  caption, ``{math}`` a ``$$`` block; ``(label)=`` targets and options disappear;
- every output is shown (no ``hide-output``/``remove-output`` tags, no collapsed outputs).

Code cells are left as they are, but for ``from myst_nb import glue``, replaced by a three-line
stand-in: the notebook runs once nnref (and numpy, matplotlib, torch, scikit-learn) is installed.
"""

import base64
import json
import re
from pathlib import Path

import nbformat

# The book's `glue` (myst-nb) keeps a value for the text; in plain Jupyter it only shows it.
GLUE_SHIM = ("from IPython.display import display as _show\n\n\n"
             "def glue(name, variable, display=True):\n"
             "    \"\"\"In the book, myst_nb.glue hands a value to the text; here it shows it.\"\"\"\n"
             "    if display:\n"
             "        _show(variable)")
ROLE = re.compile(r"\{([a-z]+(?::[a-z-]+)?)\}`([^`]*)`")
FENCE = re.compile(r"^(\s*)(`{3,}|:{3,})\{([a-z:-]+)\}\s*(.*)$")
TITLED = {"exercise": "Exercise", "solution": "Solution", "prf:theorem": "Theorem",
          "prf:lemma": "Lemma", "prf:definition": "Definition", "prf:proof": "Proof",
          "prf:example": "Example", "prf:corollary": "Corollary", "prf:remark": "Remark",
          "prf:algorithm": "Algorithm", "prf:proposition": "Proposition", "note": "Note",
          "tip": "Tip", "warning": "Warning", "important": "Important", "admonition": "",
          "hint": "Hint", "caution": "Caution", "attention": "Attention", "seealso": "See also"}


def _bib(bibfile):
    """key -> (authors' surnames for a citation, year), read with pybtex."""
    try:
        from pybtex.database import parse_file
        data = parse_file(str(bibfile))
    except Exception:  # no bib: keys are shown as they are
        return {}
    out = {}
    for key, entry in data.entries.items():
        people = entry.persons.get("author") or entry.persons.get("editor") or []
        names = [" ".join(p.last_names) for p in people]
        who = names[0] if len(names) == 1 else (
            f"{names[0]} and {names[1]}" if len(names) == 2 else (f"{names[0]} et al." if names
                                                                   else key))
        out[key] = (re.sub(r"[{}]", "", who), entry.fields.get("year", ""))
    return out


def _glue_text(glue, spec):
    name, _, fmt = spec.partition(":")
    out = glue.get(name.strip(), {})
    text = out.get("data", {}).get("text/plain", name)
    if isinstance(text, list):
        text = "".join(text)
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        text = text[1:-1]
    if fmt:
        try:
            text = format(float(text), fmt)
        except ValueError:
            pass
    return text


def _roles(text, glue, bib):
    def cite(keys, textual):
        parts = []
        for k in (k.strip() for k in keys.split(",")):
            who, year = bib.get(k, (k, ""))
            parts.append(f"{who} ({year})" if textual else f"{who} {year}".strip())
        return "; ".join(parts) if textual else "(" + "; ".join(parts) + ")"

    def role(m):
        name, body = m.group(1), m.group(2)
        shown, _, target = body.partition(" <")
        target = target.rstrip(">") if target else ""
        if name in ("glue", "glue:text", "glue:any"):
            return _glue_text(glue, body)
        if name == "math":
            return f"${body}$"
        if name.startswith("cite"):
            return cite(body, name in ("cite:t", "cite:ts"))
        if name == "doc":
            page = target or shown
            return f"[{shown if target else page}]({Path(page).name}.ipynb)"
        if name in ("numref", "ref", "prf:ref", "eq"):
            label = shown.replace("%s", "").strip() if target else body
            return f"({label})" if name == "eq" else label
        return shown  # term, abbr, sub, ...

    return ROLE.sub(role, text)


def _attachment(cell, name, bundle):
    for mime in ("image/svg+xml", "image/png", "image/jpeg"):
        if mime in bundle.get("data", {}):
            data = bundle["data"][mime]
            if isinstance(data, list):
                data = "".join(data)
            ext = {"image/svg+xml": "svg", "image/png": "png", "image/jpeg": "jpg"}[mime]
            if mime == "image/svg+xml" and not re.fullmatch(r"[A-Za-z0-9+/=\s]+", data[:200]):
                data = base64.b64encode(data.encode()).decode()
            cell.setdefault("attachments", {})[f"{name}.{ext}"] = {mime: data}
            return f"{name}.{ext}"
    return None


def _directives(lines, cell, glue):
    out, i = [], 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m:
            out.append(lines[i])
            i += 1
            continue
        indent, fence, name, arg = m.groups()
        body, i, depth = [], i + 1, 0
        while i < len(lines):  # the closing fence: same character, at least as long
            s = lines[i].strip()
            if FENCE.match(lines[i]) and FENCE.match(lines[i]).group(2)[0] == fence[0]:
                depth += 1
            elif s and set(s) == {fence[0]} and len(s) >= len(fence):
                if depth == 0:
                    break
                depth -= 1
            body.append(lines[i])
            i += 1
        i += 1
        opts = {}
        while body and re.match(r"^\s*:[a-z-]+:", body[0]):
            k, _, v = body.pop(0).strip()[1:].partition(":")
            opts[k] = v.strip()
        while body and not body[0].strip():
            body.pop(0)
        inner = _directives(body, cell, glue)
        if name == "math":
            out += ["$$", *inner, "$$"]
        elif name in ("glue:figure", "glue", "glue:any", "figure"):
            key = arg.strip()
            ref = _attachment(cell, re.sub(r"\W", "_", key), glue[key]) if key in glue else None
            if ref:
                out.append(f"![{opts.get('alt', key)}](attachment:{ref})")
            elif name == "figure":
                out.append(f"![{opts.get('alt', '')}]({key})")
            out += ["", *[f"*{line}*" if line.strip() else line for line in inner]]
        elif name == "solution":
            out += ["<details><summary><b>Solution</b></summary>", "", *inner, "", "</details>"]
        elif name in TITLED or name.startswith("prf:"):
            kind = TITLED.get(name, name.split(":")[-1].title())
            title = " ".join(x for x in (kind, f"({arg})" if arg and kind else arg) if x)
            out += [f"> **{title}**" if title else ">", ">"]
            out += [f"> {line}" if line.strip() else ">" for line in inner]
        else:
            out += inner
        out.append("")
    return out


def markdown(source, cell, glue, bib):
    lines = [ln for ln in source.splitlines()
             if not re.match(r"^\s*\(\S+\)=\s*$", ln) and not re.match(r"^%", ln)]
    return _roles("\n".join(_directives(lines, cell, glue)), glue, bib)


def _with_outputs(nb, cache_path):
    """The outputs from myst-nb's jupyter-cache: on a cache hit myst-nb writes the notebook it
    read (no outputs) to jupyter_execute/, so they are taken from the cache record itself."""
    if not cache_path or any(c.get("outputs") for c in nb.cells if c.cell_type == "code"):
        return nb
    try:
        from jupyter_cache import get_cache
        _, merged = get_cache(str(cache_path)).merge_match_into_notebook(nb)
        return merged
    except Exception:  # not in the cache (e.g. execution off): the notebook as it is
        return nb


def export(src, dst, bib=None, cache_path=None):
    src, dst = Path(src), Path(dst)
    nb = _with_outputs(nbformat.read(src, as_version=4), cache_path)
    gfile = src.with_suffix(".glue.json")
    glue = json.loads(gfile.read_text()) if gfile.is_file() else {}
    refs = _bib(bib) if bib else {}
    for cell in nb.cells:
        tags = cell.metadata.get("tags", [])
        cell.metadata["tags"] = [t for t in tags if t not in (
            "remove-output", "hide-output", "remove-cell", "remove_cell")]
        if not cell.metadata["tags"]:
            cell.metadata.pop("tags")
        cell.metadata.get("jupyter", {}).pop("outputs_hidden", None)
        cell.metadata.pop("collapsed", None)
        if cell.cell_type == "markdown":
            cell.source = markdown(cell.source, cell, glue, refs)
        elif cell.cell_type == "code":  # glued values are shown where the text refers to them
            cell.outputs = [o for o in cell.outputs
                            if "scrapbook" not in o.get("metadata", {})]
            cell.source = re.sub(r"^from myst_nb import glue[^\n]*$", GLUE_SHIM, cell.source,
                                 flags=re.M)
    nbformat.write(nb, dst)
