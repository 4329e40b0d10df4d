"""Find, read and repair submissions; match their cells back to the trusted source.

Class input is untrusted too. The rules, each of which ends in a row of grades.csv:

- every input (a student folder or a loose notebook) is exactly one submission; when two
  inputs name the same student (``alice/``, ``alice.ipynb``, ``alice_<a>.ipynb``) each is
  graded under its own name (``alice [alice.ipynb]``) and marked "needs a person";
- a zip entry with ``..``, an absolute path or a link is rejected (reported, the rest is
  graded); Windows separators are read as folders; a zip is extracted with its real sizes
  counted (a bomb stops at the limit);
- links are never followed: a linked notebook or folder is reported, not read;
- a folder starting with a dot is graded under its name, with a flag; only known litter
  (``__MACOSX``, ``.DS_Store``, ``.ipynb_checkpoints``, ``.git``) is ignored, and logged;
- notebooks are read lazily, one at a time, and only up to ``MAX_NOTEBOOK_BYTES``; a larger
  one is reported by name and size.
"""

import difflib
import hashlib
import json
import os
import re
import stat
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

MAX_NOTEBOOK_BYTES = 50 << 20     # a larger notebook is reported, never read
MAX_CANDIDATES = 20               # notebooks looked at per submission
MAX_CELLS = 5000                  # code cells per notebook
MAX_JSON_TOKENS = 2_000_000       # ',' and ':' in a notebook's JSON (bounds parsing memory)
MAX_SOURCE = 20 << 20             # characters of code per notebook
BIG_NOTEBOOK = 8 << 20           # notebooks larger than this are parsed one at a time
BIG_READ = __import__("threading").Semaphore(1)   # (parsing costs ~3x the file in memory)
LITTER = {"__MACOSX", ".DS_Store", ".ipynb_checkpoints", ".git", "Thumbs.db", "desktop.ini"}
NBGRADER_DIRS = {"autograded", "feedback", "source", "release", "exchange", "nngraded",
                 "gradebook.db", "nbgrader_config.py", "solutions", "exercises"}


@dataclass
class Submission:
    student: str
    files: dict                      # name -> Path (read lazily) or bytes: notebook candidates
    folder: str = ""
    timestamp: str | None = None
    problem: str | None = None       # not gradable as it is: the row says why
    notes: list = field(default_factory=list)   # flags about how it was found
    skipped: dict = field(default_factory=dict)  # name -> why it was not read
    gradebook: bool = True           # False: the identity is in doubt (no gradebook row)
    flat: bool = False               # a loose ``<student>.ipynb``: its name is the student's

    def read(self, name):
        v = self.files[name]
        if isinstance(v, (bytes, bytearray)):
            return bytes(v)
        with open(v, "rb", opener=_nofollow) as f:
            return f.read(MAX_NOTEBOOK_BYTES + 1)

    def size(self, name):
        v = self.files[name]
        return len(v) if isinstance(v, (bytes, bytearray)) else os.lstat(v).st_size

    def digest(self):
        h = hashlib.sha256()
        for name in sorted(self.files):
            try:
                data = self.read(name)
            except OSError as e:
                data = f"unreadable: {e}".encode()
            h.update(name.encode("utf-8", "replace") + b"\0" + hashlib.sha256(data).digest())
        for name in sorted(self.skipped):
            h.update(b"skipped\0" + name.encode("utf-8", "replace"))
        if self.problem:
            h.update(b"problem\0" + self.problem.encode())
        return h.hexdigest()


def _nofollow(path, flags):
    return os.open(path, flags | os.O_NOFOLLOW)


def clean_name(s):
    """A printable name: control characters (ANSI escapes, newlines) become '?'."""
    return "".join(ch if ch.isprintable() else "?" for ch in str(s))[:200]


# -- zips ------------------------------------------------------------------------------------


def _zip_name(info):
    """(relative POSIX path, None) or (None, why it is rejected)."""
    raw = info.filename
    name = raw.replace("\\", "/")              # zips made on Windows
    mode = info.external_attr >> 16
    if stat.S_ISLNK(mode):
        return None, "a symbolic link"
    if name.startswith("/") or re.match(r"^[A-Za-z]:", name):
        return None, "an absolute path"
    parts = [p for p in PurePosixPath(name).parts if p not in ("", ".")]
    if any(p == ".." for p in parts):
        return None, "a path outside the archive (..)"
    if not parts or any("\0" in p for p in parts):
        return None, "an empty or invalid name"
    return "/".join(parts), None


def safe_extract(zip_path, dest, max_total=1 << 30, max_file=MAX_NOTEBOOK_BYTES + 1,
                 max_entries=100_000):
    """Extract a zip safely. Returns (dest, problems): problems are (entry, why) pairs of
    the entries that were not extracted (or extracted only up to the size limit)."""
    dest = Path(dest).resolve()
    problems, total = [], 0
    with zipfile.ZipFile(zip_path) as z:
        infos = z.infolist()
        if len(infos) > max_entries:
            problems.append((str(zip_path), f"{len(infos)} entries: only the first "
                                            f"{max_entries} were read"))
            infos = infos[:max_entries]
        for info in infos:
            name, why = _zip_name(info)
            if why:
                problems.append((clean_name(info.filename), f"rejected: {why}"))
                continue
            target = dest.joinpath(*name.split("/"))
            if info.is_dir() or info.filename.endswith(("/", "\\")):
                target.mkdir(parents=True, exist_ok=True)
                continue
            if total >= max_total:
                problems.append((name, f"not extracted: the zip expands to more than "
                                       f"{max_total >> 20} MiB"))
                continue
            try:
                target.parent.mkdir(parents=True, exist_ok=True)
                if target.parent.is_symlink() or target.is_symlink():
                    raise OSError("a link in the way")
                n = 0
                with z.open(info) as src, open(target, "wb") as out:
                    while True:
                        chunk = src.read(1 << 20)
                        if not chunk:
                            break
                        room = min(max_file - n, max_total - total)
                        out.write(chunk[:max(room, 0)])
                        n += min(len(chunk), max(room, 0))
                        total += min(len(chunk), max(room, 0))
                        if room <= len(chunk):
                            break
                if n >= max_file:
                    problems.append((name, f"larger than {MAX_NOTEBOOK_BYTES >> 20} MB "
                                           "(cut at the limit)"))
            except (OSError, zipfile.BadZipFile, RuntimeError, NotImplementedError,
                    EOFError, ValueError) as e:   # encrypted, corrupt, unsupported
                problems.append((name, f"not extracted ({type(e).__name__}: {e})"))
    return dest, problems


# -- finding submissions ---------------------------------------------------------------------


def _walk(d, depth=0, limit=[0]):
    """(files, links, big) under ``d``: never follows a link, bounded in depth and count."""
    files, links = [], []
    stack = [(Path(d), 0)]
    seen = 0
    while stack:
        p, k = stack.pop()
        try:
            entries = sorted(os.scandir(p), key=lambda e: e.name)
        except OSError:
            continue
        for e in entries:
            seen += 1
            if seen > 10000:
                return files, links
            if e.name in LITTER:
                continue
            if e.is_symlink():
                links.append(Path(e.path))
            elif e.is_dir(follow_symlinks=False):
                if k < 8:
                    stack.append((Path(e.path), k + 1))
            elif e.is_file(follow_symlinks=False):
                files.append(Path(e.path))
    return files, links


def _notebooks_of(d, sub):
    files, links = _walk(d)
    for p in links:
        rel = str(p.relative_to(d))
        if rel.endswith(".ipynb") or p.is_dir():
            sub.skipped[rel] = "a symbolic link (not followed)"
    for p in files:
        if p.suffix != ".ipynb":
            continue
        rel = str(p.relative_to(d))
        if len(sub.files) >= MAX_CANDIDATES:
            sub.skipped[rel] = f"more than {MAX_CANDIDATES} notebooks"
            continue
        size = p.lstat().st_size
        if size > MAX_NOTEBOOK_BYTES:
            sub.skipped[rel] = f"{size / 1e6:.0f} MB, over the {MAX_NOTEBOOK_BYTES >> 20} MB limit"
            continue
        sub.files[rel] = p
    ts = Path(d) / "timestamp.txt"
    if ts.is_file() and not ts.is_symlink() and ts.lstat().st_size < 1000:
        sub.timestamp = clean_name(ts.read_bytes().decode(errors="replace").strip())


def _visible(root):
    try:
        return sorted((e for e in os.scandir(root) if e.name not in LITTER),
                      key=lambda e: e.name)
    except OSError:
        return []


def _is_course(d):
    return any(os.path.exists(os.path.join(d, f)) for f in
               ("nbgrader_config.py", "gradebook.db", "solutions", "source"))


def _is_nbgrader_layout(d, assignment):
    kids = [e for e in _visible(d) if e.is_dir(follow_symlinks=False)]
    return bool(kids) and all(os.path.isdir(os.path.join(e.path, assignment)) and
                              not os.path.islink(os.path.join(e.path, assignment))
                              for e in kids)


def _is_class_folder(d, assignment, notebook):
    """A folder holding several submissions (not one student's)?"""
    ents = _visible(d)
    nbs = [e for e in ents if e.name.endswith(".ipynb") and e.is_file(follow_symlinks=False)]
    dirs = [e for e in ents if e.is_dir(follow_symlinks=False)]
    if any(e.name == f"{notebook}.ipynb" for e in nbs) or os.path.isdir(os.path.join(d, assignment)):
        return False
    return len(nbs) >= 2 or (len(dirs) >= 2 and not nbs) or _is_nbgrader_layout(d, assignment) \
        and len(dirs) >= 2


def class_root(root, assignment, notebook=None):
    """Descend through wrapper folders (a zip of one top folder, ``<a>/`` of notebooks)."""
    root = Path(root)
    notebook = notebook or assignment
    for _ in range(5):
        ents = _visible(root)
        if len(ents) == 1 and ents[0].is_dir(follow_symlinks=False) and \
                ents[0].name != "submitted" and _is_class_folder(ents[0].path, assignment, notebook):
            root = Path(ents[0].path)
        else:
            break
    return root


def _student_of_file(stem, assignment, notebook):
    for tail in {assignment, notebook}:
        s = re.sub(rf"[_\-. ]*{re.escape(tail)}$", "", stem, flags=re.I)
        if s != stem:
            return s or stem
    return stem


def find_submissions(root, assignment, notebook=None):
    """Submissions under ``root`` (one per input; see the module's rules), in any of these
    layouts, also mixed:

    - nbgrader's ``[submitted/]<student>/<assignment>/*.ipynb`` (plus ``timestamp.txt``);
    - ``<student>/*.ipynb`` (one folder per student, e.g. an LMS export);
    - ``<student>.ipynb`` (flat; a trailing ``_<assignment>`` is dropped from the name).

    Returns (submissions, ignored): ignored lists (entry, why) of inputs that are no
    submission at all (litter, stray files), for the log and the report.
    """
    notebook = notebook or assignment
    root = class_root(root, assignment, notebook)
    entries = []
    ignored = []
    for e in _visible(root):
        if e.name == "submitted" and e.is_dir(follow_symlinks=False) and \
                _is_nbgrader_layout(e.path, assignment):
            entries += [(x, "submitted/") for x in _visible(e.path)]
        elif (root / "submitted").is_dir() and (e.name in NBGRADER_DIRS or (
                e.is_dir(follow_symlinks=False) and _is_course(e.path))):
            ignored.append((e.name, "an nbgrader course folder next to submitted/"))
        else:
            entries.append((e, ""))
    found = []                       # (submission, the input's name)
    for e, prefix in entries:
        label = prefix + e.name
        if e.is_symlink():
            stem = e.name[:-len(".ipynb")] if e.name.endswith(".ipynb") else e.name
            sub = Submission(student=clean_name(stem), files={}, folder=str(root),
                             problem="the submission is a symbolic link (links are never "
                                     "followed)")
        elif e.is_dir(follow_symlinks=False):
            d = Path(e.path)
            inner = d / assignment
            if inner.is_dir() and not inner.is_symlink():
                d = inner
            sub = Submission(student=clean_name(e.name), files={}, folder=str(d))
            _notebooks_of(d, sub)
            if e.name.startswith("."):
                sub.notes.append(f"the folder name {clean_name(e.name)!r} starts with a dot "
                                 "(hidden): check the student's name")
            label += "/"
        elif e.name.endswith(".ipynb") and e.is_file(follow_symlinks=False):
            stem = e.name[:-len(".ipynb")]
            sub = Submission(student=clean_name(_student_of_file(stem, assignment, notebook)),
                             files={}, folder=str(root), flat=True)
            size = e.stat(follow_symlinks=False).st_size
            if size > MAX_NOTEBOOK_BYTES:
                sub.skipped[e.name] = f"{size / 1e6:.0f} MB, over the " \
                                      f"{MAX_NOTEBOOK_BYTES >> 20} MB limit"
            else:
                sub.files[e.name] = Path(e.path)
        else:
            ignored.append((clean_name(label), "not a folder or a notebook"))
            continue
        if any(not ch.isprintable() for ch in e.name):
            sub.notes.append("the name contained control characters (shown as '?')")
        if not sub.student.strip():
            sub.student = clean_name(label) or "unnamed"
        found.append((sub, clean_name(label)))
    # identity: two inputs for one student are never merged or silently dropped
    by = {}
    for sub, label in found:
        by.setdefault(sub.student, []).append((sub, label))
    for student, group in by.items():
        if len(group) > 1:
            names = ", ".join(n for _, n in group)
            for sub, label in group:
                sub.student = f"{student} [{label}]"
                sub.gradebook = False
                sub.notes.append(f"several inputs for student {student!r} ({names}): each is "
                                 "graded on its own; a person decides which counts")
    return [sub for sub, _ in found], ignored


def _is_input(e):
    return e.is_symlink() or e.is_dir(follow_symlinks=False) or (
        e.name.endswith(".ipynb") and e.is_file(follow_symlinks=False))


# -- reading a notebook that may be damaged --------------------------------------------


def _src(x):
    """A cell's source as text: a string, or a list of strings; anything else is None."""
    if isinstance(x, str):
        return x
    if isinstance(x, list) and all(isinstance(s, str) for s in x):
        return "".join(x)
    return None


def read_notebook(data):
    """(list of code cells as dicts {source, grade_id, kind_hint}, fatal reason or None).

    Bounded before parsing (size, number of JSON values) and validated after: a cell
    whose source is not text is dropped and noted (``cells.notes``). ``data`` may be a
    function returning the bytes: then no copy outlives the step that needs it (memory)."""
    if callable(data):
        raw = data()
        if len(raw) > MAX_NOTEBOOK_BYTES:
            return None, f"the notebook is over {MAX_NOTEBOOK_BYTES >> 20} MB"
        tokens = raw.count(b",") + raw.count(b":")
        if tokens > MAX_JSON_TOKENS:
            return None, (f"the notebook is too complex to read safely ({tokens} JSON "
                          f"values, limit {MAX_JSON_TOKENS}); it cannot be graded "
                          "automatically")
        box = [raw.decode("utf-8", "replace")]
        del raw
        return _parse(box)
    if len(data) > MAX_NOTEBOOK_BYTES:
        return None, f"the notebook is over {MAX_NOTEBOOK_BYTES >> 20} MB"
    tokens = data.count(b",") + data.count(b":")
    if tokens > MAX_JSON_TOKENS:
        return None, (f"the notebook is too complex to read safely ({tokens} JSON values, "
                      f"limit {MAX_JSON_TOKENS}); it cannot be graded automatically")
    return _parse([data.decode("utf-8", "replace")])


def _parse(box):
    text = box.pop()      # the only reference: freed once parsed
    try:
        try:
            nb = json.loads(text)
        except ValueError as e:
            try:
                nb = json.loads(text, strict=False)   # raw control characters in strings
            except ValueError:
                return None, f"the notebook is not valid JSON ({e.msg} at line {e.lineno}); " \
                             "it cannot be read automatically"
    except RecursionError:
        return None, "the notebook's JSON is nested too deeply to read"
    del text
    if not isinstance(nb, dict) or not isinstance(nb.get("cells"), list):
        return None, "the file is JSON but not a notebook (no list of cells)"
    cells = Cells()
    size = 0
    for k, c in enumerate(nb["cells"]):
        if not isinstance(c, dict) or c.get("cell_type") != "code":
            continue
        if len(cells) >= MAX_CELLS:
            return None, f"the notebook has more than {MAX_CELLS} code cells"
        meta = c.get("metadata") if isinstance(c.get("metadata"), dict) else {}
        ng = meta.get("nbgrader") if isinstance(meta.get("nbgrader"), dict) else {}
        gid = ng.get("grade_id")
        gid = gid if isinstance(gid, str) and 0 < len(gid) <= 200 else None
        src = _src(c.get("source", ""))
        if src is None:
            cells.notes.append(f"cell {k + 1}: its source is not text (left out)")
            continue
        size += len(src)
        if size > MAX_SOURCE:
            return None, f"the notebook holds more than {MAX_SOURCE >> 20} MB of code"
        cells.append({"source": src, "grade_id": gid})
    return cells, None


class Cells(list):
    """The code cells of a notebook, with notes about what was left out."""

    def __init__(self, *a):
        super().__init__(*a)
        self.notes = []


def _answered(cells, assignment):
    """How many answer cells differ from the release (the student wrote something)."""
    stubs = {c.grade_id: _norm(c.release) for c in assignment.cells if c.kind == "answer"}
    stub_texts = set(stubs.values())
    n = 0
    for c in cells:
        s = _norm(c["source"])
        if c["grade_id"] in stubs and s != stubs[c["grade_id"]]:
            n += 1
        elif c["grade_id"] is None and s and s not in stub_texts and "def " in s:
            n += 1
    return n


def pick_notebook(sub, assignment):
    """The notebook file to grade, flags about how it was chosen (the rule, by name), and a
    fatal reason when no rule decides ("needs a person")."""
    want = f"{assignment.notebook}.ipynb"
    flags = [f"not read: {k} ({why})" for k, why in sorted(sub.skipped.items())]
    if sub.problem:
        return None, flags, sub.problem
    nbs = sorted(k for k in sub.files if k.endswith(".ipynb"))
    if not nbs:
        if sub.skipped:
            return None, flags, "no notebook could be read: " + "; ".join(
                f"{k}: {w}" for k, w in sorted(sub.skipped.items()))
        return None, flags, "no notebook (.ipynb) in the submission"
    if len(nbs) == 1:
        name = nbs[0]
        if Path(name).name != want and not sub.flat:
            flags.append(f"notebook renamed: graded {name!r} (the only notebook) as {want!r}")
        return name, flags, None
    # several: read each (one at a time) and apply the rules in order
    info = {}
    for k in nbs:
        try:
            data = sub.read(k)
        except OSError as e:
            info[k] = (None, f"unreadable ({e})")
            continue
        cells, fatal = read_notebook(data)
        info[k] = (None if fatal else _answered(cells, assignment),
                   hashlib.sha256(data).hexdigest())
        del data, cells
    readable = [k for k in nbs if info[k][0] is not None]
    others = lambda chosen: ", ".join(k for k in nbs if k != chosen)  # noqa: E731
    if not readable:
        return None, flags, f"{len(nbs)} notebooks, none readable: " + ", ".join(nbs)
    if len({info[k][1] for k in readable}) == 1:
        best = min(readable, key=lambda k: (k.count("/"), Path(k).name != want, k))
        flags.append(f"{len(nbs)} identical notebooks: graded {best!r}")
        return best, flags, None
    edited = [k for k in readable if info[k][0] > 0]
    pool = edited or readable
    rule = []
    if edited and len(edited) < len(readable):
        rule.append("the unchanged stub(s) " + ", ".join(k for k in readable if k not in edited)
                    + " left out")
    if len(pool) > 1:
        top = [k for k in pool if "/" not in k]
        if top and len(top) < len(pool):
            rule.append("notebooks in subfolders left out")
            pool = top
    if len(pool) > 1:
        exact = [k for k in pool if Path(k).name == want]
        if len(exact) == 1:
            rule.append(f"the one named {want!r} chosen")
            pool = exact
    if len(pool) > 1:
        return None, flags, (f"{len(nbs)} notebooks and no rule decides which to grade ("
                             + ", ".join(f"{k}: {info[k][0]} answer(s) written" for k in pool)
                             + "): a person should choose")
    best = pool[0]
    flags.append(f"{len(nbs)} notebooks: graded {best!r} (rule: " + "; ".join(rule or [
        "the only readable one"]) + f"); not graded: {others(best)}")
    return best, flags, None


# -- matching cells back to the source --------------------------------------------------

FUZZY_MAX_CHARS = 2000      # longer cells match by exact content only
FUZZY_BUDGET = 300_000      # characters compared by similarity per notebook


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
    the source in place of the student's copy (restored where deleted, de-duplicated).

    Honest answers never lose to the repair: a test cell runs after the answer cell that
    precedes it in the source (a stray copy above the answer is ignored), and a cell that
    carries a test cell's metadata but holds other code runs that code as the student's
    just before the trusted test. Bounded: exact matches by hash, similarity only for
    short cells and at most ``FUZZY_BUDGET`` times per notebook."""
    plan = Plan()
    plan.flags += list(getattr(cells, "notes", []))
    anchors = [c for c in assignment.cells if c.kind in ("test", "locked")]
    by_id = {c.grade_id: c for c in assignment.cells if c.grade_id}
    by_text = {}
    for a in anchors:
        by_text.setdefault(_norm(a.release), a)
    cands = {a.index: [] for a in anchors}
    kind_of, own_code = {}, set()
    by_content = 0
    seen_ids = {}
    budget = FUZZY_BUDGET
    fuzzy_cut = 0
    ans_pos = {}
    for pos, c in enumerate(cells):
        gid = c["grade_id"]
        if gid:
            seen_ids.setdefault(gid, []).append(pos)
        src_cell = by_id.get(gid) if gid else None
        norm = _norm(c["source"])
        if src_cell is not None and src_cell.kind in ("test", "locked"):
            cands[src_cell.index].append(pos)
            kind_of[pos] = src_cell
            exact = by_text.get(norm)
            if exact is not None and exact.index != src_cell.index:
                continue
            if norm != _norm(src_cell.release) and not _mostly_same(norm, src_cell.release):
                own_code.add(pos)   # the student's code under a test cell's metadata
            continue
        if src_cell is not None and src_cell.kind == "answer":
            ans_pos.setdefault(src_cell.index, pos)
            continue
        exact = by_text.get(norm)
        if exact is not None:
            best, score = exact, 1.0
        elif len(norm) > FUZZY_MAX_CHARS or not norm:
            best, score = None, 0.0
        elif budget < 0:
            best, score = None, 0.0
            fuzzy_cut += 1
        else:
            best, score = None, 0.0
            for a in anchors:
                budget -= len(norm) + len(a.release)
                s = _similar(norm, a.release)
                if s > score:
                    best, score = a, s
        if best is not None and score >= threshold:
            cands[best.index].append(pos)
            kind_of[pos] = best
            if not gid:
                by_content += 1
    if fuzzy_cut:
        plan.flags.append(f"{fuzzy_cut} cell(s) not compared with the source (too many "
                          "cells): run as student code")
    dups = {g: p for g, p in seen_ids.items() if len(p) > 1}
    if dups:
        shown = sorted(dups.items())[:10]
        plan.flags.append("duplicate cell ids repaired: " + ", ".join(
            f"{g!r} ×{len(p)}" for g, p in shown) + (" ..." if len(dups) > 10 else ""))
    unknown = sorted({c["grade_id"] for c in cells if c["grade_id"] and c["grade_id"] not in by_id})
    if by_content:
        plan.flags.append(f"cell metadata missing: {by_content} locked/test cell(s) "
                          "matched to the source by content")
    # monotone choice: every anchor takes the first candidate after the previous anchor
    # and after the student's copy of the answer cell that precedes it in the source
    src = {c.index: c for c in assignment.cells}
    prev_answer, last_ans = {}, None
    for c in assignment.cells:
        if c.kind == "answer":
            last_ans = c.index
        elif c in anchors:
            prev_answer[c.index] = last_ans
            if c.kind == "test":
                last_ans = None
    chosen, last = {}, -1
    for a in anchors:
        floor = last
        ap = ans_pos.get(prev_answer.get(a.index))
        if a.kind == "test" and ap is not None:
            floor = max(floor, ap)
        later = [p for p in cands[a.index] if p > floor] or \
            [p for p in cands[a.index] if p > last and p in own_code]
        if later:
            chosen[a.index] = later[0]
            last = later[0]
    pos_to_anchor = {p: i for i, p in chosen.items()}
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
    ignored = [p for p in kind_of if p not in pos_to_anchor and p not in own_code]
    if ignored:
        plan.flags.append(f"{len(ignored)} extra copy(ies) of locked/test cells ignored "
                          "(" + ", ".join(sorted({kind_of[p].grade_id or '?' for p in ignored})[:10]) + ")")
    kept = sorted(own_code)
    if kept:
        plan.flags.append(f"{len(kept)} cell(s) carrying a locked/test cell's metadata hold "
                          "other code: run as the student's code")
    if unknown:
        plan.flags.append("cells with unknown ids run as student code: " + ", ".join(
            clean_name(u) for u in unknown[:10]) + (" ..." if len(unknown) > 10 else ""))

    def emit_anchor(a):
        if a.kind == "test":
            plan.units.append({"source": a.visible, "trusted": True, "test": a.index,
                               "label": a.grade_id})
        else:
            plan.units.append({"source": a.source, "trusted": True, "test": None,
                               "label": a.grade_id})

    def emit_student(pos, c):
        label = clean_name(c["grade_id"] or f"student cell {pos + 1}")
        plan.units.append({"source": c["source"], "trusted": False, "test": None,
                           "label": label if c["grade_id"] not in by_id else
                           f"student cell {pos + 1} ({label})"})

    pending = list(anchors)  # in source order

    def flush_missing_before(anchor_index):
        while pending and pending[0].index < anchor_index:
            a = pending.pop(0)
            if a.index not in chosen:
                emit_anchor(a)
    for pos, c in enumerate(cells):
        if pos in own_code:
            emit_student(pos, c)
        if pos in pos_to_anchor:
            ai = pos_to_anchor[pos]
            flush_missing_before(ai)
            pending.pop(0)
            emit_anchor(src[ai])
        elif pos in kind_of:
            continue  # an extra copy of a locked/test cell (or its code, run above)
        elif pos not in own_code:
            emit_student(pos, c)
    flush_missing_before(10**9)
    return plan


def _mostly_same(norm, release):
    """An edited copy of a test cell (kept as the test) rather than other code."""
    r = _norm(release)
    if len(norm) > FUZZY_MAX_CHARS:
        return False
    if not norm or norm.startswith(("pass", "#")) or "def " not in norm:
        return True     # emptied or commented out: still the test cell, edited
    return _similar(norm, r) >= 0.5
