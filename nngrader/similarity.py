"""Similarity report: answer cells that are near-copies of nnref's source or of another
student's cells, ranked, with every pair side by side. It flags; it never changes a grade.

The comparison is copydetect's (Stanford MOSS's winnowing on pygments tokens, with names
and strings folded, so renaming variables does not hide a copy):

- every answer cell (by ``grade_id``) of every submission is fingerprinted; the release's
  stub and the locked/test cells of the source are boilerplate (everyone has them);
- against nnref: each cell against each module of the ``nnref`` package (the book's
  library, public); the score is the share of the cell's tokens found in the module;
- against other students: the same answer cell of every other submission. Passages that
  more than ``common`` of the class share are boilerplate too (MOSS's ``-m``): the one
  obvious formula everybody writes is not evidence, and candidate pairs stay few.

A pair is reported when the copied share reaches ``threshold`` and the copied passage has
at least ``min_tokens`` (folded) characters; the report is ``similarity.html`` (ranked,
side by side, copied passages highlighted) and ``similarity.csv``.
"""

import csv
import html
import io
import logging
from dataclasses import dataclass
from pathlib import Path

from copydetect import CodeFingerprint, compare_files
from copydetect.utils import highlight_overlap

from .outputs import cell

NOISE = 12          # k: shortest matching run of folded characters that counts
WINDOW = 1          # winnowing window (1: every k-gram; guarantee threshold = NOISE)


@dataclass
class Match:
    score: float            # share of the student's cell found in the other text
    student: str
    cell: str
    other: str              # another student, or "nnref/<module>.py"
    other_score: float      # share of the other text found in the student's cell
    tokens: int             # copied (folded) characters
    left: str               # highlighted HTML of the student's cell
    right: str              # highlighted HTML of the other text


def _fingerprint(code, boilerplate=()):
    logging.disable(logging.WARNING)   # copydetect logs every empty file
    try:
        return CodeFingerprint("cell.py", NOISE, WINDOW, boilerplate=list(boilerplate),
                               fp=io.StringIO(code))
    finally:
        logging.disable(logging.NOTSET)


def answer_cells(sub, assignment):
    """grade_id -> source of the answer cells the submission changed (stubs left out)."""
    from .submission import pick_notebook, read_notebook
    stubs = {c.grade_id: (c.release or "").strip() for c in assignment.cells
             if c.kind == "answer"}
    try:
        name, _, fatal = pick_notebook(sub, assignment)
        if fatal:
            return {}
        data = sub.read(name) if hasattr(sub, "read") else sub.files[name]
        cells, fatal = read_notebook(data)
    except Exception:  # noqa: BLE001 - an unreadable notebook has no cells to compare
        return {}
    out = {}
    for c in cells or []:
        gid = c.get("grade_id")
        if gid in stubs and c["source"].strip() and c["source"].strip() != stubs[gid]:
            out.setdefault(gid, c["source"])
    return out


def nnref_sources():
    import nnref
    root = Path(nnref.__file__).resolve().parent
    return {f"nnref/{p.relative_to(root)}": p.read_text(encoding="utf-8")
            for p in sorted(root.rglob("*.py")) if p.name != "__init__.py"}


def _match(fa, fb, student, gid, other, threshold, min_tokens):
    overlap, (sa, sb), (la, lb) = compare_files(fa, fb)
    if overlap < min_tokens or sa < threshold:
        return None
    left, _ = highlight_overlap(fa.raw_code, la, "<mark>", "</mark>", escape_html=True)
    right, _ = highlight_overlap(fb.raw_code, lb, "<mark>", "</mark>", truncate=6,
                                 escape_html=True)
    return Match(float(sa), student, gid, other, float(sb), int(overlap), left, right)


def find(subs, assignment, *, threshold=0.6, min_tokens=40, common=0.1, reference=None):
    """Ranked ``Match``es (highest share first) for a class."""
    boiler = set()
    for c in assignment.cells:
        if c.kind in ("locked", "test"):
            boiler.update(_fingerprint(c.release or c.source).hashes)
        elif c.kind == "answer":
            boiler.update(_fingerprint(c.release or "").hashes)
    cells = {s.student: answer_cells(s, assignment) for s in subs}
    fps = {(st, g): _fingerprint(src, boiler) for st, cs in cells.items() for g, src in cs.items()}
    matches = []
    refs = {name: _fingerprint(src, boiler)
            for name, src in (reference if reference is not None else nnref_sources()).items()}
    for (st, gid), fp in fps.items():
        best = None
        for name, rf in refs.items():
            m = _match(fp, rf, st, gid, name, threshold, min_tokens)
            if m and (best is None or m.score > best.score):
                best = m
        if best:
            matches.append(best)
    by_cell = {}
    for (st, gid), fp in fps.items():
        by_cell.setdefault(gid, []).append((st, fp))
    for gid, group in by_cell.items():
        limit = max(3, common * len(group))
        df = {}
        for _, fp in group:
            for h in fp.hashes:
                df[h] = df.get(h, 0) + 1
        shared = {h for h, n in df.items() if n > limit}
        if shared:
            group = [(st, _fingerprint(fp.raw_code, boiler | shared)) for st, fp in group]
        owners = {}
        for k, (_, fp) in enumerate(group):
            for h in fp.hashes:
                owners.setdefault(h, []).append(k)
        pairs = {(a, b) for ks in owners.values() for a in ks for b in ks if a < b}
        for a, b in sorted(pairs):
            (sa, fa), (sb, fb) = group[a], group[b]
            m = _match(fa, fb, sa, gid, sb, threshold, min_tokens) or \
                _match(fb, fa, sb, gid, sa, threshold, min_tokens)
            if m:
                matches.append(m)
    matches.sort(key=lambda m: (-m.score, -m.tokens, m.student, m.cell, m.other))
    return matches


def write_report(out, assignment, subs, log=None, **kw):
    """``similarity.html`` and ``similarity.csv`` in ``out``; returns the matches. A failure
    here is logged and stops nothing (the grades are already written)."""
    try:
        return _write(out, assignment, subs, log, **kw)
    except Exception as e:  # noqa: BLE001
        if log is None:
            raise
        log.error(f"similarity report failed ({type(e).__name__}: {e}); grades are unaffected")
        return []


def _write(out, assignment, subs, log=None, **kw):
    matches = find(subs, assignment, **kw)
    with open(out / "similarity.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["rank", "student", "cell", "similar_to", "share", "other_share",
                    "copied_chars"])
        for k, m in enumerate(matches, 1):
            w.writerow([k, cell(m.student), cell(m.cell), cell(m.other), f"{m.score:.2f}",
                        f"{m.other_score:.2f}", m.tokens])
    rows = []
    for k, m in enumerate(matches, 1):
        kind = "nnref source" if m.other.startswith("nnref/") else "another student"
        rows.append(
            f"<section><h2>{k}. {html.escape(m.student)} · {html.escape(m.cell)} · "
            f"{100 * m.score:.0f}% like {html.escape(m.other)} ({kind})</h2>"
            f"<div class='pair'><div><h3>{html.escape(m.student)}</h3><pre>{m.left}</pre>"
            f"</div><div><h3>{html.escape(m.other)} ({100 * m.other_score:.0f}% of it)</h3>"
            f"<pre>{m.right}</pre></div></div></section>")
    (out / "similarity.html").write_text(
        "<!doctype html><meta charset='utf-8'>"
        f"<title>similarity: {html.escape(assignment.name)}</title><style>"
        "body{font-family:sans-serif;margin:2em}.pair{display:flex;gap:1em}"
        ".pair>div{flex:1;min-width:0}pre{background:#f6f6f6;padding:.6em;white-space:pre-wrap;"
        "overflow-wrap:anywhere}mark{background:#ffd7a8}</style>"
        f"<h1>Similarity report: {html.escape(assignment.name)}</h1>"
        f"<p>{len(matches)} answer cell(s) at least {100 * kw.get('threshold', 0.6):.0f}% "
        "alike (copydetect: winnowed token fingerprints, names folded), ranked. A flag for "
        "a person to look at: no grade was changed.</p>"
        + ("".join(rows) or "<p>(none)</p>") + "\n", encoding="utf-8")
    if log is not None:
        log.info(f"similarity report: {len(matches)} flagged pair(s) -> similarity.html")
    return matches
