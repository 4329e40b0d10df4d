"""Find, read and repair submissions; match their cells back to the trusted source."""

import difflib
import hashlib
import json
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

MAX_NOTEBOOK_BYTES = 50 << 20


@dataclass
class Submission:
    student: str
    files: dict                      # name -> bytes (the notebook candidates and data)
    folder: str = ""
    timestamp: str | None = None

    def digest(self):
        h = hashlib.sha256()
        for name in sorted(self.files):
            h.update(name.encode() + b"\0" + hashlib.sha256(self.files[name]).digest())
        return h.hexdigest()


def _read_dir(d, limit=MAX_NOTEBOOK_BYTES):
    files = {}
    for p in sorted(d.rglob("*")):
        if p.is_file() and ".ipynb_checkpoints" not in p.parts and p.stat().st_size <= limit:
            files[str(p.relative_to(d))] = p.read_bytes()
    return files


def safe_extract(zip_path, dest, max_total=2 << 30):
    """Extract a zip without path traversal or zip bombs."""
    dest = Path(dest).resolve()
    total = 0
    with zipfile.ZipFile(zip_path) as z:
        for info in z.infolist():
            target = (dest / info.filename).resolve()
            if dest not in target.parents and target != dest:
                raise ValueError(f"unsafe path in zip: {info.filename}")
            total += info.file_size
            if total > max_total:
                raise ValueError("zip expands to more than 2 GiB")
        z.extractall(dest)
    return dest


def find_submissions(root, assignment):
    """Submissions under ``root``, in any of these layouts:

    - nbgrader's ``[submitted/]<student>/<assignment>/*.ipynb`` (plus ``timestamp.txt``);
    - ``<student>/*.ipynb`` (one folder per student, e.g. an LMS export);
    - ``<student>.ipynb`` (flat; a trailing ``_<assignment>`` is dropped from the name).
    """
    root = Path(root)
    if (root / "submitted").is_dir():
        root = root / "submitted"
    subs = []
    entries = sorted(p for p in root.iterdir() if not p.name.startswith((".", "__MACOSX")))
    for p in entries:
        if p.is_dir():
            d = p / assignment if (p / assignment).is_dir() else p
            files = _read_dir(d)
            ts = files.pop("timestamp.txt", None)
            subs.append(Submission(student=p.name, files=files, folder=str(d),
                                   timestamp=ts.decode(errors="replace").strip() if ts else None))
        elif p.suffix == ".ipynb":
            student = re.sub(rf"[_\-. ]*{re.escape(assignment)}$", "", p.stem) or p.stem
            subs.append(Submission(student=student, files={p.name: p.read_bytes()},
                                   folder=str(root)))
    return subs


# -- reading a notebook that may be damaged --------------------------------------------


def _src(x):
    return "".join(x) if isinstance(x, list) else (x if isinstance(x, str) else "")


def read_notebook(data):
    """(list of code cells as dicts {source, grade_id}, problems) or (None, fatal reason)."""
    text = data.decode("utf-8", "replace")
    try:
        nb = json.loads(text)
    except ValueError as e:
        try:
            nb = json.loads(text, strict=False)   # raw control characters in strings
        except ValueError:
            return None, f"the notebook is not valid JSON ({e.msg} at line {e.lineno}); " \
                         "it cannot be read automatically"
    if not isinstance(nb, dict) or not isinstance(nb.get("cells"), list):
        return None, "the file is JSON but not a notebook (no list of cells)"
    cells = []
    for c in nb["cells"]:
        if not isinstance(c, dict) or c.get("cell_type") != "code":
            continue
        meta = c.get("metadata") if isinstance(c.get("metadata"), dict) else {}
        ng = meta.get("nbgrader") if isinstance(meta.get("nbgrader"), dict) else {}
        cells.append({"source": _src(c.get("source", "")), "grade_id": ng.get("grade_id")})
    return cells, None


def pick_notebook(sub, assignment):
    """The notebook file to grade, and flags about how it was chosen."""
    want = f"{assignment.notebook}.ipynb"
    nbs = {k: v for k, v in sub.files.items() if k.endswith(".ipynb")}
    if not nbs:
        return None, [], "no notebook (.ipynb) in the submission"
    names = {Path(k).name: k for k in nbs}
    if want in names:
        return names[want], [], None
    if len(nbs) == 1:
        name = next(iter(nbs))
        return name, [f"notebook renamed: graded {name!r} as {want!r}"], None
    # several notebooks, none with the right name: the one that looks most like the source
    ids = {c.grade_id for c in assignment.cells if c.grade_id}

    def overlap(k):
        cells, _ = read_notebook(nbs[k])
        return sum(1 for c in cells or [] if c["grade_id"] in ids)
    best = max(sorted(nbs), key=overlap)
    return best, [f"{len(nbs)} notebooks and none named {want!r}: graded {best!r}, "
                  "the closest to the assignment"], None


# -- matching cells back to the source --------------------------------------------------


def _norm(s):
    return "\n".join(line.rstrip() for line in s.strip().splitlines())


def _similar(a, b):
    a, b = _norm(a), _norm(b)
    if a == b:
        return 1.0
    m = difflib.SequenceMatcher(None, a, b, autojunk=False)
    if m.real_quick_ratio() < 0.8 or m.quick_ratio() < 0.8:
        return 0.0
    return m.ratio()


@dataclass
class Plan:
    units: list = field(default_factory=list)   # dicts: source, trusted, test (source cell idx)
    flags: list = field(default_factory=list)


def match(assignment, cells, threshold=0.85):
    """Execution plan: the student's cells in their order, with every locked/test cell of
    the source in place of the student's copy (restored where deleted, de-duplicated)."""
    plan = Plan()
    anchors = [c for c in assignment.cells if c.kind in ("test", "locked")]
    by_id = {c.grade_id: c for c in assignment.cells if c.grade_id}
    cands = {a.index: [] for a in anchors}
    kind_of = {}
    by_content = 0
    seen_ids = {}
    for pos, c in enumerate(cells):
        gid = c["grade_id"]
        if gid:
            seen_ids.setdefault(gid, []).append(pos)
        src_cell = by_id.get(gid) if gid else None
        if src_cell is not None and src_cell.kind in ("test", "locked"):
            cands[src_cell.index].append(pos)
            kind_of[pos] = src_cell
            continue
        if src_cell is not None and src_cell.kind == "answer":
            continue
        best, score = None, 0.0
        for a in anchors:
            s = _similar(c["source"], a.release)
            if s > score:
                best, score = a, s
        if best is not None and score >= threshold:
            cands[best.index].append(pos)
            kind_of[pos] = best
            if not gid:
                by_content += 1
    dups = {g: p for g, p in seen_ids.items() if len(p) > 1}
    if dups:
        plan.flags.append("duplicate cell ids repaired: " + ", ".join(
            f"{g!r} ×{len(p)}" for g, p in sorted(dups.items())))
    unknown = sorted({c["grade_id"] for c in cells if c["grade_id"] and c["grade_id"] not in by_id})
    if by_content:
        plan.flags.append(f"cell metadata missing: {by_content} locked/test cell(s) "
                          "matched to the source by content")
    # monotone choice: every anchor takes the first candidate after the previous one
    chosen, last = {}, -1
    for a in anchors:
        later = [p for p in cands[a.index] if p > last]
        if later:
            chosen[a.index] = later[0]
            last = later[0]
    pos_to_anchor = {p: i for i, p in chosen.items()}
    src = {c.index: c for c in assignment.cells}
    edited = [src[i].grade_id or f"cell {i}" for i, p in chosen.items()
              if _norm(cells[p]["source"]) != _norm(src[i].release)]
    if edited:
        plan.flags.append("locked/test cell(s) edited in the submission, the source version "
                          "was used: " + ", ".join(edited))
    missing = [a for a in anchors if a.index not in chosen]
    restored = [a.grade_id or f"cell {a.index}" for a in missing if a.kind == "test"]
    if restored:
        plan.flags.append("test cell(s) missing from the submission, restored from the "
                          "source: " + ", ".join(restored))
    ignored = [p for p in kind_of if p not in pos_to_anchor]
    if ignored:
        plan.flags.append(f"{len(ignored)} extra copy(ies) of locked/test cells ignored "
                          "(" + ", ".join(sorted({kind_of[p].grade_id or '?' for p in ignored})) + ")")
    if unknown:
        plan.flags.append("cells with unknown ids run as student code: " + ", ".join(unknown))

    def emit_anchor(a):
        if a.kind == "test":
            plan.units.append({"source": a.visible, "trusted": True, "test": a.index,
                               "label": a.grade_id})
        else:
            plan.units.append({"source": a.source, "trusted": True, "test": None,
                               "label": a.grade_id})

    pending = list(anchors)  # in source order

    def flush_missing_before(anchor_index):
        while pending and pending[0].index < anchor_index:
            a = pending.pop(0)
            if a.index not in chosen:
                emit_anchor(a)
    for pos, c in enumerate(cells):
        if pos in pos_to_anchor:
            ai = pos_to_anchor[pos]
            flush_missing_before(ai)
            pending.pop(0)
            emit_anchor(src[ai])
        elif pos in kind_of:
            continue  # an extra copy of a locked/test cell
        else:
            label = c["grade_id"] or f"student cell {pos + 1}"
            plan.units.append({"source": c["source"], "trusted": False, "test": None,
                               "label": label})
    flush_missing_before(10**9)
    return plan
