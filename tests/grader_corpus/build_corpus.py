"""Build a tiny course and a corpus of honest, broken and hostile submissions.

    python tests/grader_corpus/build_corpus.py DEST      # DEST/course, DEST/submitted

The course has one assignment, ``demo`` (sigmoid 2 pts, relu 1 pt, sigmoid_prime 2 pts),
graded against ``nnref.activations``. ``EXPECTED`` says what every submission must get
from ``nngrader`` (score, status, a word of the reason); ``STOCK`` lists the honest ones
whose score must equal stock ``nbgrader autograde``'s.
"""

import json
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
ASSIGNMENT = "demo"

SIG = ("def sigmoid(z):\n    z = np.asarray(z, dtype=float)\n    e = np.exp(-np.abs(z))\n"
       "    return np.where(z >= 0, 1 / (1 + e), e / (1 + e))")
RELU = "def relu(z):\n    return np.maximum(np.asarray(z, dtype=float), 0.0)"
SP = "def sigmoid_prime(z):\n    s = sigmoid(z)\n    return s * (1 - s)"
WRONG = {"sigmoid_answer": "def sigmoid(z):\n    return z",
         "relu_answer": "def relu(z):\n    return np.abs(z)",
         "sigmoid_prime_answer": "def sigmoid_prime(z):\n    return z"}


def _cell(kind, source, gid=None, points=None):
    meta = {}
    if kind == "answer":
        meta = {"grade": False, "solution": True, "locked": False}
    elif kind == "test":
        meta = {"grade": True, "solution": False, "locked": True, "points": points}
    elif kind == "locked":
        meta = {"grade": False, "solution": False, "locked": True}
    cell = {"cell_type": "markdown" if kind == "md" else "code", "metadata": {},
            "source": source}
    if meta:
        cell["metadata"]["nbgrader"] = dict(meta, grade_id=gid, schema_version=3)
    if cell["cell_type"] == "code":
        cell.update(execution_count=None, outputs=[])
    return cell


def _solution(code):
    head, _, body = code.partition("\n")
    return f"{head}\n    ### BEGIN SOLUTION\n{body}\n    ### END SOLUTION"


def source_notebook():
    cells = [
        _cell("locked", "import numpy as np\nfrom nncheck import expect_close, grade, "
                        "normal, values, grid", "imports"),
        _cell("md", "## 1. Sigmoid\n$\\sigma(z) = 1/(1+e^{-z})$, stable for large $|z|$."),
        _cell("answer", _solution(SIG), "sigmoid_answer"),
        _cell("test", "expect_close(sigmoid(np.array([0.0])), [0.5], 'sigmoid(0)')\n"
                      "### BEGIN HIDDEN TESTS\n"
                      "grade(sigmoid, ref=\"activations.sigmoid\",\n"
                      "      cases=[normal(5), values([-1000.0, 0.0, 1000.0])],\n"
                      "      rtol=1e-10, hint=\"for large |z| use the stable form\")\n"
                      "### END HIDDEN TESTS", "sigmoid_test", 2),
        _cell("md", "## 2. ReLU"),
        _cell("answer", _solution(RELU), "relu_answer"),
        _cell("test", "expect_close(relu(np.array([-1.0, 2.0])), [0.0, 2.0], 'relu')\n"
                      "### BEGIN HIDDEN TESTS\n"
                      "grade(relu, ref=\"activations.relu\", cases=[normal(4, 3), grid(-2, 2, 9)])\n"
                      "### END HIDDEN TESTS", "relu_test", 1),
        _cell("md", "## 3. The sigmoid's derivative"),
        _cell("answer", _solution(SP), "sigmoid_prime_answer"),
        _cell("test", "expect_close(sigmoid_prime(np.array([0.0])), [0.25], 'sigmoid_prime')\n"
                      "### BEGIN HIDDEN TESTS\n"
                      "grade(lambda z: sigmoid_prime(z), ref=\"activations.sigmoid_prime\",\n"
                      "      cases=[normal(6), normal(2, 3)], hint=\"sigma (1 - sigma)\")\n"
                      "### END HIDDEN TESTS", "sigmoid_prime_test", 2),
    ]
    return {"cells": cells, "metadata": {"kernelspec": {"name": "python3",
            "display_name": "Python 3", "language": "python"},
            "language_info": {"name": "python"}}, "nbformat": 4, "nbformat_minor": 5}


def make_course(dest):
    """``dest`` becomes a course root: nbgrader_config.py, solutions/demo, released exercises."""
    dest = Path(dest)
    (dest / "solutions" / ASSIGNMENT).mkdir(parents=True, exist_ok=True)
    shutil.copy(REPO / "nbgrader_config.py", dest / "nbgrader_config.py")
    nb = source_notebook()
    for k, c in enumerate(nb["cells"]):
        c["id"] = f"c{k}"
    (dest / "solutions" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb").write_text(json.dumps(nb, indent=1))
    subprocess.run([sys.executable, "-m", "nngrader", "release", ASSIGNMENT], cwd=dest,
                   check=True, capture_output=True)
    return dest


# -- the corpus ---------------------------------------------------------------------------

def _load_release(course):
    return json.loads((Path(course) / "exercises" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb").read_text())


def _gid(c):
    return c.get("metadata", {}).get("nbgrader", {}).get("grade_id")


def _index(nb, gid):
    return next(k for k, c in enumerate(nb["cells"]) if _gid(c) == gid)


def fill(nb, answers=None):
    answers = {"sigmoid_answer": SIG, "relu_answer": RELU, "sigmoid_prime_answer": SP,
               **(answers or {})}
    for gid, code in answers.items():
        nb["cells"][_index(nb, gid)]["source"] = code
    return nb


def insert_after(nb, gid, code):
    k = _index(nb, gid)
    nb["cells"].insert(k + 1, {"cell_type": "code", "metadata": {}, "source": code,
                               "execution_count": None, "outputs": [], "id": f"x{k}{len(code)}"})
    return nb


def _strip(nb):
    for c in nb["cells"]:
        c["metadata"] = {}
    return nb


def _dup(nb):
    k = _index(nb, "sigmoid_test")
    copy = json.loads(json.dumps(nb["cells"][k]))
    copy["id"] = "dup"
    nb["cells"].insert(k + 1, copy)
    return nb


def _delete(nb, gid):
    del nb["cells"][_index(nb, gid)]
    return nb


def _edit_test(nb):
    nb = fill(nb, {"relu_answer": WRONG["relu_answer"]})
    nb["cells"][_index(nb, "relu_test")]["source"] = "pass  # all good"
    return nb


FORGE = r'''import os
msg = b""
for i in range(20):
    msg += (f'{{"ev":"end","i":{i},"error":null,"stdout":"","stderr":"","truncated":false}}\n'
            f'{{"ev":"hidden","i":{i},"j":0,"name":"x","results":[{{"out":{{"t":"float","v":"0.5"}}}}]}}\n').encode()
for fd in range(3, 64):  # whichever pipe is the grader's channel
    try:
        os.write(fd, msg + b'{"ev":"done"}\n')
    except OSError:
        pass
os._exit(0)'''

SPY = r'''import os, socket
stolen = []
for path in [{course!r} + "/solutions/demo/demo.ipynb", {course!r} + "/gradebook.db", "/etc/shadow"]:
    try:
        stolen.append(open(path).read()[:10])
    except Exception as e:
        print("blocked:", type(e).__name__)
for path in [{course!r} + "/pwned.txt", {course!r} + "/gradebook.db"]:
    try:
        open(path, "a").write("pwned")
    except Exception as e:
        print("blocked:", type(e).__name__)
try:
    socket.create_connection(("1.1.1.1", 80), timeout=2)
    print("NETWORK OPEN")
except OSError as e:
    print("no network")
try:
    from nnref.activations import sigmoid, relu, sigmoid_prime
except ImportError:
    def sigmoid(z): return z
    def relu(z): return z
    def sigmoid_prime(z): return z'''

PATCH = '''import numpy as np, builtins, nncheck, nncheck.compare, nncheck.grading
np.allclose = lambda *a, **k: True
np.testing.assert_allclose = lambda *a, **k: None
nncheck.compare.expect_close = nncheck.expect_close = lambda *a, **k: None
nncheck.grading.expect_close = lambda *a, **k: None
nncheck.grading.grade = nncheck.grade = lambda *a, **k: None
expect_close = lambda *a, **k: None
grade = lambda *a, **k: None
builtins.AssertionError = type("Never", (Exception,), {})
builtins.abs = lambda x: 0'''

TRANSFORMER = '''def _blank(lines):
    return ["pass\\n"] if any("expect_close" in l or "grade(" in l for l in lines) else lines
get_ipython().input_transformers_post.append(_blank)'''

# -- issue 12: the grader under attack (classes, not cases) ---------------------------------

# the grader's memory: long lines, many lines, outputs, near-copies
FLOOD_LINES = r"""import os
line = b'{"ev":"end","i":0,"stdout":"' + b"x" * 30_000_000 + b'"}\n'
for fd in range(3, 64):
    try:
        os.write(fd, line)
    except OSError:
        pass"""
MANY_LINES = r"""import os
junk = b''.join(b'{"ev":"start","i":%d}\n{"ev":"hidden","i":1,"j":0,"results":[1,2,3]}\n' % k
                for k in range(100_000))
for fd in range(3, 64):
    try:
        os.write(fd, junk)
    except OSError:
        pass"""
PRINT_MB = "print('y' * 1_100_000)"


def _output_flood(nb, n=200):
    nb = fill(nb)
    for k in range(n):
        insert_after(nb, "sigmoid_prime_test", PRINT_MB + f"  # {k}")
    return nb


def _near_copies(nb, n=1000):
    nb = fill(nb)
    k = _index(nb, "sigmoid_prime_test")
    test = nb["cells"][k]["source"]
    test = "".join(test) if isinstance(test, list) else test
    for j in range(n):
        nb["cells"].insert(k + 1, {"cell_type": "code", "metadata": {}, "outputs": [],
                                   "execution_count": None, "id": f"n{j}",
                                   "source": test.replace("sigmoid_prime(0)", f"sp{j}") +
                                   f"\n# {j} " + "near copy " * 100})
    return nb


# channel validation: a forged reply with malformed results, a cell source of integers
MALFORMED = r"""def relu(z):
    import os
    for fd in range(3, 64):
        try:
            os.write(fd, b'{"ev":"hidden","i":CELL,"j":0,"results":5,"name":[1]}\n')
        except OSError:
            pass
    return np.maximum(np.asarray(z, dtype=float), 0.0)"""


def _malformed(nb):
    nb = fill(nb)
    i = sum(1 for c in nb["cells"][:_index(nb, "relu_test")] if c["cell_type"] == "code")
    nb["cells"][_index(nb, "relu_answer")]["source"] = MALFORMED.replace("CELL", str(i))
    return nb


def _int_source(nb):
    nb = fill(nb)
    nb["cells"].insert(1, {"cell_type": "code", "metadata": {"nbgrader": {"grade_id": {"x": 1}}},
                           "outputs": [], "execution_count": None, "id": "ints",
                           "source": [1, 2, 3]})
    return nb


# exact numbers: Fractions and Decimals that are exactly float64
EXACT = {"sigmoid_answer": SIG.replace("def sigmoid(z):", "def _sig(z):") +
         "\n\ndef sigmoid(z):\n    from fractions import Fraction\n"
         "    return np.array([Fraction(float(x)) for x in np.ravel(_sig(z))], "
         "dtype=object).reshape(np.shape(z))",
         "sigmoid_prime_answer": "def sigmoid_prime(z):\n"
         "    s = np.asarray(sigmoid(z), dtype=float)\n    return s * (1 - s)",
         "relu_answer": "def relu(z):\n    from decimal import Decimal\n"
         "    r = np.maximum(np.asarray(z, dtype=float), 0.0)\n"
         "    return np.array([Decimal(float(x)) for x in r.ravel()], dtype=object).reshape(r.shape)"}

# matching never costs an honest answer: a stray copy of a test above its answer; an answer
# cell carrying the test cell's metadata


def _stray_copy(nb):
    nb = fill(nb)
    t = json.loads(json.dumps(nb["cells"][_index(nb, "sigmoid_test")]))
    t["id"] = "stray"
    nb["cells"].insert(_index(nb, "sigmoid_answer"), t)
    return nb


def _answer_with_test_meta(nb):
    nb = fill(nb)
    a = nb["cells"][_index(nb, "sigmoid_answer")]
    a["metadata"] = json.loads(json.dumps(nb["cells"][_index(nb, "sigmoid_test")]["metadata"]))
    return nb


# picking the notebook: files of one submission, {name: notebook dict or text}
def _files(**named):
    return {"__files__": named}


def _copy1(nb):
    stub = json.loads(json.dumps(nb))
    return _files(**{"demo.ipynb": stub, "demo-Copy1.ipynb": fill(nb)})


def _old_stub(nb):
    stub = json.loads(json.dumps(nb))
    return _files(**{"old/demo.ipynb": stub, "demo_final.ipynb": fill(nb)})


def _two_edited(nb):
    part = fill(json.loads(json.dumps(nb)), {"relu_answer": WRONG["relu_answer"]})
    return _files(**{"demo.ipynb": part, "demo-Copy1.ipynb": fill(nb)})


def _ambiguous(nb):
    part = fill(json.loads(json.dumps(nb)), {"relu_answer": WRONG["relu_answer"]})
    return _files(**{"mine.ipynb": part, "final.ipynb": fill(nb)})


def _huge(nb):
    nb = fill(nb)
    nb["cells"][0]["outputs"] = [{"output_type": "stream", "name": "stdout",
                                  "text": "z" * (51 << 20)}]
    return nb


# limits of the whole submission (graded in their own batch with small limits: LIMITS_SMALL)
DISK = r"""import os
for d in (".", "/tmp"):
    for k in range(12):
        try:
            with open(os.path.join(d, f"fill{k}"), "wb") as f:
                f.write(b"x" * (8 << 20))
        except OSError as e:
            print("full:", e)"""
FORK_MEMORY = r"""import os, numpy as np
kids = []
for k in range(2):
    pid = os.fork()
    if pid == 0:
        a = np.ones(56_000_000)   # 450 MB each, under the per-process address-space cap
        os._exit(0)
    kids.append(pid)
for pid in kids:
    os.waitpid(pid, 0)"""
DEEP = r"""import os
fd = os.open(".", os.O_RDONLY)
for k in range(3000):
    os.mkdir("d", dir_fd=fd)
    new = os.open("d", os.O_RDONLY, dir_fd=fd)
    os.close(fd)
    fd = new"""
SLOW_DEF = RELU + "\nimport time\ntime.sleep(90)   # a long experiment after the definition"
STUBBORN = ("import signal, time\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\n" + RELU +
            "\nwhile True:\n    time.sleep(0.1)")
FORGE_CLOCK = r"""import os, time
t0 = time.time()
while time.time() - t0 < 60:
    for fd in range(3, 64):
        try:
            os.write(fd, b'{"ev":"start","i":1}\n{"ev":"hcall","i":1,"j":0}\n{"ev":"end","i":1}\n')
        except OSError:
            pass
    try:
        time.sleep(0.2)
    except KeyboardInterrupt:
        pass"""

LIMITS_SMALL = dict(cell_timeout=15.0, interrupt_grace=2.0, total_timeout=120.0,
                    startup_timeout=120.0, disk=64 << 20, memory=3 << 29,
                    tree_memory=3 << 28)
SMALL = {
    "disk_filler": (lambda nb: insert_after(fill(nb), "sigmoid_prime_test", DISK), 5,
                    "graded with flags", "disk quota"),
    "fork_memory": (lambda nb: insert_after(fill(nb), "sigmoid_prime_test", FORK_MEMORY), 5,
                    "graded with flags", "memory limit"),
    "deep_tree": (lambda nb: insert_after(fill(nb), "sigmoid_prime_test", DEEP), 5, "graded", None),
    "slow_definition": (lambda nb: fill(nb, {"relu_answer": SLOW_DEF}), 5, "graded with flags",
                        "interrupted"),
    "ignores_interrupt": (lambda nb: fill(nb, {"relu_answer": STUBBORN}), 4,
                          "needs a person", "defined is missing"),
    "forged_clock": (lambda nb: insert_after(fill(nb), "sigmoid_test", FORGE_CLOCK), 5,
                     "needs a person", "had to be stopped"),
}

# student: (how to build, expected score, expected status, word in the reason or None)
CORPUS = {
    "honest_full": (lambda nb: fill(nb), 5, "graded", None),
    "honest_partial": (lambda nb: fill(nb, {"relu_answer": WRONG["relu_answer"]}), 4, "graded", None),
    "honest_stub": (lambda nb: nb, 0, "graded", None),
    "honest_hidden_fail": (lambda nb: fill(nb, {"sigmoid_answer": "def sigmoid(z):\n    return 0.5 + 0 * np.asarray(z)"}), 1, "graded", None),
    "renamed": ("renamed", 5, "graded with flags", "renamed"),
    "duplicate_grade_id": (lambda nb: _dup(fill(nb)), 5, "graded with flags", "duplicate"),
    "stripped_metadata": (lambda nb: _strip(fill(nb)), 5, "graded with flags", "metadata"),
    "deleted_test_cell": (lambda nb: _delete(fill(nb), "relu_test"), 5, "graded with flags", "restored"),
    "deleted_test_wrong": (lambda nb: _delete(fill(nb, {"relu_answer": WRONG["relu_answer"]}), "relu_test"), 4, "graded with flags", "restored"),
    "edited_test_cell": (_edit_test, 4, "graded with flags", "edited"),
    "invalid_json": ("invalid_json", 0, "needs a person", "not valid JSON"),
    "no_notebook": ("no_notebook", 0, "needs a person", "no notebook"),
    "os_exit": (lambda nb: insert_after(fill(nb), "sigmoid_test", "import os\nos._exit(3)"), 5, "graded with flags", "exited"),
    "segfault": (lambda nb: insert_after(fill(nb), "relu_test", "import ctypes\nctypes.string_at(0)"), 5, "graded with flags", "segmentation"),
    "dies_in_hidden_test": (lambda nb: fill(nb, {"relu_answer": "def relu(z):\n    import os\n    if np.size(z) > 2:\n        os._exit(1)\n    return np.maximum(z, 0.0)"}), 4, "graded with flags", "relu_test"),
    "memory_bomb": (lambda nb: insert_after(fill(nb), "sigmoid_test", "x = np.ones((1 << 38,))\ny = 'x' * (1 << 36)"), 5, "graded", None),
    "infinite_loop": (lambda nb: insert_after(fill(nb), "relu_test", "while True:\n    pass"), 5, "graded with flags", "longer than"),
    "fork_bomb": (lambda nb: insert_after(fill(nb), "sigmoid_test", "import os\nwhile True:\n    os.fork()"), 5, None, None),
    "huge_output": (lambda nb: insert_after(fill(nb), "sigmoid_test", "import os\nfor _ in range(100000):\n    print('x' * 100)\nos.write(1, b'y' * 30_000_000)"), 5, "graded with flags", "byte limit"),
    "system_exit": (lambda nb: insert_after(insert_after(fill(nb), "sigmoid_test", "import sys\nsys.exit(0)"), "relu_test", "raise SystemExit(1)"), 5, "graded", None),
    "stderr_in_test": (lambda nb: fill(nb, {"sigmoid_answer": "import sys\n" + SIG.replace("    z = np", "    print('debug', file=sys.stderr)\n    z = np")}), 5, "graded", None),
    "patched_numpy_nncheck": (lambda nb: insert_after(fill(nb, WRONG), "imports", PATCH), 0, "graded", None),
    "input_transformer": (lambda nb: insert_after(fill(nb, WRONG), "imports", TRANSFORMER), 0, "graded", None),
    "forged_outputs": (lambda nb: insert_after(fill(nb, WRONG), "sigmoid_prime_test", FORGE), 0, None, None),
    "reads_course_files": ("spy", 0, "graded", None),
    # issue 12
    "flood_long_lines": (lambda nb: insert_after(fill(nb), "sigmoid_test", FLOOD_LINES), 2,
                         "graded with flags", "channel"),
    "flood_many_lines": (lambda nb: insert_after(fill(nb), "sigmoid_prime_test", MANY_LINES), 5,
                         "graded with flags", "fake events"),
    "output_flood": (_output_flood, 5, "graded with flags", "byte limit"),
    "near_copies": (_near_copies, 5, "graded with flags", "not compared"),
    "malformed_reply": (_malformed, 4, "graded with flags", "fake events"),
    "int_source": (_int_source, 5, "graded with flags", "not text"),
    "exact_numbers": (lambda nb: fill(nb, EXACT), 5, "graded", None),
    "stray_test_copy": (_stray_copy, 5, "graded with flags", "extra cop"),
    "answer_with_test_meta": (_answer_with_test_meta, 5, "graded with flags", "other code"),
    "copy1_beside_stub": (_copy1, 5, "graded with flags", "unchanged stub"),
    "old_stub_in_subfolder": (_old_stub, 5, "graded with flags", "unchanged stub"),
    "two_edited_copies": (_two_edited, 4, "graded with flags", "named 'demo.ipynb'"),
    "ambiguous_notebooks": (_ambiguous, 0, "needs a person", "no rule decides"),
    "huge_notebook": (_huge, 0, "needs a person", "over the 50 MB"),
}

# honest submissions: nngrader's score must equal stock ``nbgrader autograde``'s
STOCK = ["honest_full", "honest_partial", "honest_stub", "honest_hidden_fail"]


def build(course, dest, only=None, corpus=None):
    """Write every corpus submission as ``dest/submitted/<student>/demo/...``."""
    course = Path(course).resolve()
    root = Path(dest) / "submitted"
    for student, (how, *_) in (corpus or CORPUS).items():
        if only and student not in only:
            continue
        d = root / student / ASSIGNMENT
        d.mkdir(parents=True, exist_ok=True)
        (d / "timestamp.txt").write_text("2025-11-20 12:00:00.000000 UTC")
        nb = _load_release(course)
        name, data = f"{ASSIGNMENT}.ipynb", None
        if how == "renamed":
            name, data = f"{ASSIGNMENT} (1).ipynb", json.dumps(fill(nb))
        elif how == "invalid_json":
            data = json.dumps(fill(nb))[:-300]
        elif how == "no_notebook":
            name, data = "answers.py", SIG
        elif how == "spy":
            data = json.dumps(insert_after(fill(nb, WRONG), "imports", SPY.format(course=str(course))))
        else:
            made = how(nb)
            if isinstance(made, dict) and "__files__" in made:
                for fname, x in made["__files__"].items():
                    (d / fname).parent.mkdir(parents=True, exist_ok=True)
                    (d / fname).write_text(x if isinstance(x, str) else json.dumps(x))
                continue
            data = json.dumps(made)
        (d / name).write_text(data)
    return root


# -- class input: every input ends in exactly one row ----------------------------------------

def class_zip(course, path):
    """A zip of hostile and unusual entries. Returns {student row: (score, status, word)}."""
    import stat
    import zipfile
    course = Path(course).resolve()
    full = json.dumps(fill(_load_release(course)))
    part = json.dumps(fill(_load_release(course), {"relu_answer": WRONG["relu_answer"]}))
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("../evil.ipynb", full)
        z.writestr("/abs/evil2.ipynb", full)
        z.writestr("alice/demo.ipynb", full)
        z.writestr("bob\\demo.ipynb", part)                  # made on Windows
        z.writestr("carol.ipynb", full)
        z.writestr("carol_demo.ipynb", part)                 # same student twice
        z.writestr(".dave/demo.ipynb", full)                 # a hidden folder
        z.writestr("=1+1.ipynb", full)                       # a formula for a spreadsheet
        z.writestr("\x1b[31mred.ipynb", full)                # an ANSI escape
        z.writestr("__MACOSX/._alice", "litter")
        link = zipfile.ZipInfo("eve.ipynb")
        link.external_attr = (stat.S_IFLNK | 0o777) << 16
        z.writestr(link, str(course / "solutions" / "demo" / "demo.ipynb"))
    return {"evil": (0, "needs a person", "outside the archive"),
            "evil2": (0, "needs a person", "absolute"),
            "alice": (5, "graded", None),
            "bob": (4, "graded", None),
            "carol [carol.ipynb]": (5, "needs a person", "several inputs"),
            "carol [carol_demo.ipynb]": (4, "needs a person", "several inputs"),
            ".dave": (5, "graded with flags", "dot"),
            "=1+1": (5, "graded", None),
            "?[31mred": (5, "graded with flags", "control characters"),
            "eve": (0, "needs a person", "link")}


def class_folder(course, dest):
    """``submitted/`` beside other students, a linked notebook, a linked folder.
    Returns {student row: (score, status, word)}."""
    import os
    course = Path(course).resolve()
    dest = Path(dest)
    full = json.dumps(fill(_load_release(course)))
    for s in ("ann", "ben"):                      # nbgrader's layout...
        (dest / "submitted" / s / ASSIGNMENT).mkdir(parents=True)
        (dest / "submitted" / s / ASSIGNMENT / "demo.ipynb").write_text(full)
    (dest / "cid").mkdir()                        # ...and a student beside it
    (dest / "cid" / "demo.ipynb").write_text(full)
    (dest / "dan").mkdir()
    os.symlink(course / "solutions" / "demo" / "demo.ipynb", dest / "dan" / "demo.ipynb")
    os.symlink(course / "solutions" / "demo", dest / "fay")
    return {"ann": (5, "graded", None), "ben": (5, "graded", None), "cid": (5, "graded", None),
            "dan": (0, "needs a person", "link"), "fay": (0, "needs a person", "link")}


def flat_folder(course, dest):
    """``demo/{alice,bob,carol}.ipynb`` (a zip of one folder named like the assignment)."""
    course = Path(course).resolve()
    d = Path(dest) / ASSIGNMENT
    d.mkdir(parents=True)
    for s in ("alice", "bob", "carol"):
        (d / f"{s}.ipynb").write_text(json.dumps(fill(_load_release(course))))
    return {s: (5, "graded", None) for s in ("alice", "bob", "carol")}


def make_synthetic(course, dest, n, seed=0):
    """``n`` honest-looking submissions with a mix of right and typical wrong answers."""
    import random
    rnd = random.Random(seed)
    root = Path(dest) / "submitted"
    for k in range(n):
        nb = _load_release(course)
        answers = {}
        for gid in WRONG:
            r = rnd.random()
            if r < 0.2:
                answers[gid] = WRONG[gid]
            elif r < 0.25:
                answers[gid] = nb["cells"][_index(nb, gid)]["source"]  # left as the stub
        d = root / f"student{k:03d}" / ASSIGNMENT
        d.mkdir(parents=True, exist_ok=True)
        (d / f"{ASSIGNMENT}.ipynb").write_text(json.dumps(fill(nb, answers)))
    return root


if __name__ == "__main__":
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "grader_corpus_build")
    course = make_course(out / "course")
    print(build(course, out))
