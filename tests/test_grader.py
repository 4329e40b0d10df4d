"""The class grader (nngrader) on a corpus of honest, broken and hostile submissions.

The corpus is built at test time (tests/grader_corpus/build_corpus.py) into a temporary
course with one assignment graded against nnref.activations; every submission's score,
status and reason are asserted, and honest ones must score exactly as stock
``nbgrader autograde`` does.
"""

import csv
import json
import os
import shutil
import subprocess
import sys
import threading
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent / "grader_corpus"))
import build_corpus as corpus  # noqa: E402

from nncheck import grading as G  # noqa: E402
from nncheck.compare import CheckFailed  # noqa: E402
from nngrader.core import _signal_reason, judge  # noqa: E402
from nngrader.runner import grade_class  # noqa: E402
from nngrader.sandbox import Limits, RunResult, Sandbox, uid_lease  # noqa: E402
from nngrader.spec import SpecError, load_assignment, parse_hidden  # noqa: E402

# Generous for a loaded 2-core CI (the other xdist worker builds the book meanwhile): only
# infinite_loop is about time, and it costs cell_timeout of one slot while the other slot
# grades the rest of the corpus.
LIMITS = dict(cell_timeout=60.0, total_timeout=300.0, startup_timeout=180.0)
# One xdist worker should build the corpus once (make test runs pytest -n 2 --dist
# loadgroup), but nothing here may depend on it: with pytest 9 + xdist 3.8 the group mark
# is ignored and both workers grade the corpus at the same time, with the same slots.
pytestmark = pytest.mark.xdist_group(name="grader")


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    base = tmp_path_factory.mktemp("grader")
    course = corpus.make_course(base / "course")
    corpus.build(course, base)
    return course, base


@pytest.fixture(scope="module")
def graded(course):
    root, base = course
    res = grade_class(root, corpus.ASSIGNMENT, base, root / "out", workers=2,
                      limits=Limits(**LIMITS), progress=False)
    return res


@pytest.mark.slow
@pytest.mark.parametrize("student", sorted(corpus.CORPUS))
def test_corpus(graded, student):
    _, score, status, word = corpus.CORPUS[student]
    r = {x.student: x for x in graded["results"]}[student]
    assert r.score == score, (r.status, r.reasons, [t.messages for t in r.tests])
    if status:
        assert r.status == status, r.reasons
    if word:
        assert word.lower() in " ".join(r.reasons).lower(), r.reasons


@pytest.mark.slow
def test_hostile_notebooks_touch_nothing(graded, course):
    root, _ = course
    assert not (root / "pwned.txt").exists()
    assert "pwned" not in (root / "solutions" / "demo" / "demo.ipynb").read_text()
    forged = {x.student: x for x in graded["results"]}["forged_outputs"]
    assert any("fake events" in x for x in forged.reasons)
    if graded["sandbox"].uid_base is not None:   # every process of the slot uids is gone
        for uid in range(61000, 61010):
            # a grader elsewhere (the other xdist worker) may be using it: wait for its run
            with uid_lease(uid, span=1, clean=False):
                ps = subprocess.run(["ps", "-eo", "uid="], capture_output=True, text=True)
                assert uid not in {int(u) for u in ps.stdout.split()}, uid


@pytest.mark.slow
def test_outputs_csv_feedback_report_gradebook(graded, course):
    root, _ = course
    out = graded["out"]
    rows = list(csv.DictReader(open(out / "grades.csv")))
    assert len(rows) == len(corpus.CORPUS)
    assert {r["status"] for r in rows} == {"graded", "graded with flags", "needs a person"}
    assert (out / "score_histogram.png").stat().st_size > 1000
    assert (out / "test_pass_rate.png").stat().st_size > 1000
    assert "Needs a person" in (out / "report.md").read_text()
    for f in (out / "feedback").iterdir():
        text = f.read_text()
        assert "HIDDEN" not in text and "ref=" not in text and "grade(" not in text, f
    # nbgrader's own gradebook and export see the grades
    from nbgrader.api import Gradebook
    with Gradebook(f"sqlite:///{root / 'gradebook.db'}") as gb:
        sub = gb.find_submission("demo", "honest_partial")
        assert sub.score == 4 and not sub.needs_manual_grade
        bad = gb.find_submission_notebook("demo", "demo", "invalid_json")
        assert bad.needs_manual_grade and bad.flagged
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}:{os.environ['PATH']}")
    subprocess.run([sys.executable, "-m", "nbgrader", "export", "--to", "export.csv"],
                   cwd=root, check=True, capture_output=True, env=env)
    exported = {r["student_id"]: r for r in csv.DictReader(open(root / "export.csv"))}
    assert float(exported["honest_full"]["raw_score"]) == 5


@pytest.mark.slow
def test_rerun_is_idempotent(graded, course):
    root, base = course
    again = grade_class(root, corpus.ASSIGNMENT, base, root / "out", workers=2,
                        limits=Limits(**LIMITS), progress=False)
    assert again["elapsed"] < 30   # everything came from the cache
    first = {r.student: (r.score, r.status, r.seconds) for r in graded["results"]
             if not r.transient}
    assert {r.student: (r.score, r.status, r.seconds) for r in again["results"]
            if r.student in first} == first   # same seconds: not graded again


@pytest.mark.slow
def test_honest_scores_equal_stock_nbgrader(graded, course):
    root, base = course
    for s in corpus.STOCK:
        shutil.copytree(base / "submitted" / s, root / "submitted" / s)
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}:{os.environ['PATH']}")
    subprocess.run([sys.executable, "-m", "nbgrader", "autograde", "demo", "--force"],
                   cwd=root, check=True, capture_output=True, env=env)
    from nbgrader.api import Gradebook
    ours = {r.student: r.score for r in graded["results"]}
    with Gradebook(f"sqlite:///{root / 'gradebook.db'}") as gb:
        for s in corpus.STOCK:
            assert gb.find_submission("demo", s).score == ours[s], s


@pytest.mark.slow
def test_zip_of_flat_notebooks(course, tmp_path):
    root, base = course
    z = tmp_path / "class.zip"
    with zipfile.ZipFile(z, "w") as f:
        for s in ("honest_full", "honest_partial"):
            f.write(base / "submitted" / s / "demo" / "demo.ipynb", f"{s}_demo.ipynb")
    res = grade_class(root, corpus.ASSIGNMENT, z, tmp_path / "out", workers=1,
                      limits=Limits(**LIMITS), gradebook=False, progress=False)
    assert {r.student: r.score for r in res["results"]} == {"honest_full": 5, "honest_partial": 4}


def test_sandbox_hides_the_course():
    sb = Sandbox(Limits(cell_timeout=20))
    if sb.mode != "bwrap":
        pytest.skip(f"no bwrap here ({sb.warnings})")
    code = ("import os, socket\nr = []\ntry:\n    import nnref\n    r.append('nnref')\n"
            "except ImportError:\n    pass\n"
            f"r += [p for p in [{str(Path(corpus.REPO))!r}] if os.path.exists(p + '/nnref')]\n"
            "try:\n    socket.create_connection(('1.1.1.1', 80), timeout=1); r.append('net')\n"
            "except OSError:\n    pass\nassert not r, r\nassert os.getuid() != 0")
    res = sb.run({"cells": [{"i": 0, "source": code, "trusted": False, "hidden": []}]})
    end = [e for e in res.events if e.get("ev") == "end"]
    assert end and end[0]["error"] is None, end


def test_two_graders_on_one_machine_never_kill_each_other():
    """Two graders (two courses, two xdist workers) with the same slot numbers: each run
    leases its uid system-wide, so the uid-wide kill at the end of one run never reaches
    the other's sandbox (it used to: SIGKILL, blamed on memory)."""
    a, b = Sandbox(Limits(cell_timeout=60)), Sandbox(Limits(cell_timeout=60))
    if a.mode != "bwrap" or a.uid_base is None:
        pytest.skip(f"needs bwrap and root ({a.warnings})")
    job = lambda src: {"cells": [{"i": 0, "source": src, "trusted": False, "hidden": []}]}  # noqa: E731
    out = {}
    t = threading.Thread(target=lambda: out.update(
        long=a.run(job("import time\nfor _ in range(100):\n    time.sleep(0.05)"), slot=0)))
    t.start()
    while t.is_alive() and not any(p.name.startswith("uid-") for p in _held_leases()):
        time.sleep(0.05)
    short = [b.run(job("x = 1"), slot=0) for _ in range(3)]
    t.join()
    for r in [out["long"], *short]:
        assert r.killed is None and any(e.get("ev") == "done" for e in r.events), \
            (r.returncode, r.stderr[-500:])
    assert out["long"].uid not in {r.uid for r in short}


def _held_leases():
    import fcntl
    from nngrader.sandbox import _lock_dir
    held = []
    for p in _lock_dir().glob("uid-*.lock"):
        with open(p) as f:
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                held.append(p)
    return held


def test_sigkill_from_outside_is_not_blamed_on_memory():
    lim = Limits()
    msg = _signal_reason(137, RunResult(seconds=3.0, oom=False), lim)   # bwrap: 128 + 9
    assert "outside" in msg and "memory" not in msg, msg
    assert "out-of-memory" in _signal_reason(-9, RunResult(seconds=3.0, oom=True), lim)
    assert "CPU time" in _signal_reason(-9, RunResult(seconds=500.0, oom=False), lim)


def test_remote_judging_gives_the_local_message(monkeypatch):
    """Comparison moved out of the kernel: same inputs, same verdict, same message."""
    monkeypatch.setenv("NNCHECK_SEED", "1234")
    wrong = lambda z: 1 / (1 + np.exp(z))  # noqa: E731 - the sign slip
    call = parse_hidden('grade(sigmoid, ref="activations.sigmoid", cases=[normal(5)], '
                        'hint="sign")\n', "t")[0]
    with pytest.raises(CheckFailed) as local:
        G.grade(wrong, "activations.sigmoid", call.cases, hint="sign", name="sigmoid")
    args = G.draw_cases(call.cases, 1234)
    outs = [{"out": G.encode(wrong(*a))} for a in args]
    ok, msg = judge(call, (1234, args), {"name": "sigmoid", "results": outs})
    assert not ok and msg == str(local.value)
    outs = [{"out": G.encode(1 / (1 + np.exp(-a[0])))} for a in args]
    assert judge(call, (1234, args), {"name": "sigmoid", "results": outs}) == (True, None)


def test_hidden_tests_must_be_declarations():
    with pytest.raises(SpecError):
        parse_hidden("assert sigmoid(0) == 0.5\n", "t")
    with pytest.raises(SpecError):
        parse_hidden("import nnref\n", "t")
    with pytest.raises(SpecError):
        parse_hidden('grade(f, ref="activations.sigmoid", cases=[student_var])\n', "t")


def test_encode_never_pickles():
    x = {"a": (np.arange(3.0), 2), "b": [None, True, 1.5]}
    assert G.decode(json.loads(json.dumps(G.encode(x))))["a"][0].tolist() == [0.0, 1.0, 2.0]
    with pytest.raises(G.EncodeError):
        G.decode({"t": "array", "dtype": "|O", "shape": [1], "data": ""})


# -- issue 12: the grader under attack ----------------------------------------------------


@pytest.fixture(scope="module")
def graded_small(course, tmp_path_factory):
    """Limits of the whole submission and the grader's clock, with small limits."""
    root, _ = course
    base = tmp_path_factory.mktemp("small")
    corpus.build(root, base, corpus=corpus.SMALL)
    return grade_class(root, corpus.ASSIGNMENT, base / "submitted", base / "out", workers=2,
                       limits=Limits(**corpus.LIMITS_SMALL), gradebook=False, progress=False)


@pytest.mark.slow
@pytest.mark.parametrize("student", sorted(corpus.SMALL))
def test_whole_submission_limits_and_clock(graded_small, student):
    _, score, status, word = corpus.SMALL[student]
    r = {x.student: x for x in graded_small["results"]}[student]
    sb = graded_small["sandbox"]
    if student == "fork_memory" and sb.cgroups.version is None:
        pytest.skip("no cgroup here (the sandbox warns)")
    if student == "disk_filler" and not sb.mount:
        assert "disk quota" in " ".join(r.reasons) or r.status != "graded"
        return
    assert r.score == score, (r.status, r.reasons, [t.messages for t in r.tests])
    assert r.status == status, r.reasons
    if word:
        assert word.lower() in " ".join(r.reasons).lower(), r.reasons
    if student == "forged_clock":   # forged progress never bought time: 15 s + 2 s grace
        assert r.seconds < 45, r.seconds


@pytest.mark.slow
def test_no_working_area_left_behind(graded_small):
    """Every run's area is gone; one a dead grader left behind is swept by the next."""
    from nngrader.sandbox import WorkArea, sweep_stale_areas
    sb = graded_small["sandbox"]
    if not sb.mount:
        pytest.skip("no tmpfs here")
    pid = os.fork()
    if pid == 0:               # a grader that dies with its area mounted
        a = WorkArea(1 << 20)
        os._exit(0 if a.mounted else 1)
    _, st = os.waitpid(pid, 0)
    assert sweep_stale_areas() >= 1
    assert not [m for m in open("/proc/mounts").read().splitlines()
                if "/nngrader-" in m and _owner(m.split()[1]).startswith(f"{pid} ")]


def _owner(m):
    try:
        return open(os.path.join(m, ".owner")).read()
    except OSError:
        return ""


def _rows(out):
    return {r["student"]: r for r in csv.DictReader(open(out / "grades.csv", encoding="utf-8"))}


@pytest.mark.slow
def test_class_zip_every_entry_one_row(course, tmp_path, capfd):
    root, _ = course
    z = tmp_path / "class.zip"
    want = corpus.class_zip(root, z)
    res = grade_class(root, corpus.ASSIGNMENT, z, tmp_path / "out", workers=2,
                      limits=Limits(**LIMITS), gradebook=False, progress=False)
    got = {r.student: r for r in res["results"]}
    assert set(got) == set(want), sorted(got)
    for s, (score, status, word) in want.items():
        r = got[s]
        assert (r.score, r.status) == (score, status), (s, r.reasons)
        if word:
            assert word in " ".join(r.reasons), (s, r.reasons)
    raw = (tmp_path / "out" / "grades.csv").read_text(encoding="utf-8")
    assert "\x1b" not in raw and "\n'=1+1," in raw      # no escape, no formula
    assert "\x1b" not in (tmp_path / "out" / "grader.log").read_text(encoding="utf-8")
    assert "\x1b" not in "".join(capfd.readouterr())
    assert not (tmp_path.parent / "evil.ipynb").exists()


@pytest.mark.slow
def test_class_folders_links_and_submitted(course, tmp_path):
    root, _ = course
    want = corpus.class_folder(root, tmp_path / "in")
    res = grade_class(root, corpus.ASSIGNMENT, tmp_path / "in", tmp_path / "out", workers=2,
                      limits=Limits(**LIMITS), gradebook=False, progress=False)
    got = {r.student: (r.score, r.status) for r in res["results"]}
    assert got == {s: w[:2] for s, w in want.items()}, got
    want = corpus.flat_folder(root, tmp_path / "flat")
    z = tmp_path / "flat.zip"
    with zipfile.ZipFile(z, "w") as f:
        for p in (tmp_path / "flat").rglob("*.ipynb"):
            f.write(p, str(p.relative_to(tmp_path / "flat")))
    res = grade_class(root, corpus.ASSIGNMENT, z, tmp_path / "out2", workers=2,
                      limits=Limits(**LIMITS), gradebook=False, progress=False)
    assert {r.student: (r.score, r.status) for r in res["results"]} == \
        {s: w[:2] for s, w in want.items()}


def test_zip_bomb_and_traversal_are_bounded(tmp_path):
    from nngrader.submission import safe_extract
    z = tmp_path / "bomb.zip"
    with zipfile.ZipFile(z, "w", zipfile.ZIP_DEFLATED) as f:
        f.writestr("a/demo.ipynb", b"0" * (40 << 20))
        f.writestr("b/demo.ipynb", b"0" * (40 << 20))
        f.writestr("../../x.ipynb", b"{}")
    dest, problems = safe_extract(z, tmp_path / "x", max_total=16 << 20, max_file=8 << 20)
    size = sum(p.stat().st_size for p in dest.rglob("*") if p.is_file())
    assert size <= 16 << 20
    assert any("outside" in why for _, why in problems)
    assert any("cut at the limit" in why or "more than" in why for _, why in problems)
    assert not (tmp_path.parent / "x.ipynb").exists()


def test_deep_directory_cleanup(tmp_path):
    from nngrader.sandbox import remove_tree
    top = tmp_path / "deep"
    top.mkdir()
    fd = os.open(top, os.O_RDONLY)
    for _ in range(3000):
        os.mkdir("d", dir_fd=fd)
        new = os.open("d", os.O_RDONLY, dir_fd=fd)
        os.close(fd)
        fd = new
    os.close(fd)
    os.symlink("/etc", top / "link")   # never followed
    remove_tree(top)
    assert not top.exists() and os.path.exists("/etc/passwd")


def test_damaged_notebooks_never_raise():
    from nngrader.submission import read_notebook
    nb = {"cells": [{"cell_type": "code", "source": [1, 2], "metadata": {"nbgrader": {
        "grade_id": ["x"]}}}, {"cell_type": "code", "source": "x = 1", "metadata": 5}]}
    cells, fatal = read_notebook(json.dumps(nb).encode())
    assert fatal is None and [c["source"] for c in cells] == ["x = 1"] and cells.notes
    assert read_notebook(b"[" * 100000)[1]
    assert "too complex" in read_notebook(b"[" + b"0," * 3_000_000 + b"0]")[1]


def test_forged_replies_are_validated():
    call = parse_hidden('grade(relu, ref="activations.relu", cases=[normal(3)])\n', "t")[0]
    args = G.draw_cases(call.cases, 1)
    for ev in ({"results": 5}, {"results": [5, "x"]}, {"results": [{"out": {"t": "array",
               "dtype": "<f8", "shape": [2], "data": "!!"}}]}, {"raw": b"{bad"},
               {"raw": json.dumps({"results": [{"out": [[[]]]}], "name": {"a": 1}}).encode()}):
        ok, msg = judge(call, (1, args), ev)
        assert not ok and isinstance(msg, str)


def test_exact_numbers_convert_or_say_why():
    from decimal import Decimal
    from fractions import Fraction
    sys.path.insert(0, str(Path(__file__).parents[1] / "nngrader"))
    import worker
    a = worker._exact(np.array([Fraction(1, 2), Decimal("0.25")], dtype=object))
    assert a.dtype == np.float64 and a.tolist() == [0.5, 0.25]
    with pytest.raises(ValueError, match="not exactly a float64"):
        worker._exact(Fraction(1, 3))


def test_one_timeout_policy_with_nbgrader(tmp_path):
    from nngrader.runner import course_timeout
    assert course_timeout(corpus.REPO) == 120.0      # c.ExecutePreprocessor.timeout
    assert Limits().cell_timeout == 120.0


@pytest.mark.slow
def test_withdrawn_student_leaves_the_gradebook(course, tmp_path):
    root, base = course
    db = tmp_path / "gb.db"
    d = tmp_path / "in"
    for s in ("stays", "withdrawn"):
        shutil.copytree(base / "submitted" / "honest_full", d / s)
    res = grade_class(root, corpus.ASSIGNMENT, d, tmp_path / "out", workers=2,
                      limits=Limits(**LIMITS), progress=False, db=db)
    assert {r.student: r.score for r in res["results"]} == {"stays": 5, "withdrawn": 5}
    shutil.rmtree(d / "withdrawn")
    grade_class(root, corpus.ASSIGNMENT, d, tmp_path / "out", workers=2,
                limits=Limits(**LIMITS), progress=False, db=db)
    rows = _rows(tmp_path / "out")
    assert rows["withdrawn"]["status"] == "no submission" and rows["stays"]["score"] == "5"
    from nbgrader.api import Gradebook, MissingEntry
    with Gradebook(f"sqlite:///{db}") as gb:
        assert gb.find_submission("demo", "stays").score == 5
        with pytest.raises(MissingEntry):
            gb.find_submission("demo", "withdrawn")


@pytest.mark.slow
def test_ctrl_c_stops_promptly_and_keeps_results(course, tmp_path):
    import signal
    root, base = course
    d = tmp_path / "in"
    shutil.copytree(base / "submitted" / "honest_full", d / "a_fast")
    nb = json.loads((base / "submitted" / "honest_full" / "demo" / "demo.ipynb").read_text())
    corpus.insert_after(nb, "imports", "import time\ntime.sleep(100)")
    for k in range(4):
        (d / f"slow{k}" / "demo").mkdir(parents=True)
        (d / f"slow{k}" / "demo" / "demo.ipynb").write_text(json.dumps(nb))
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}:{os.environ['PATH']}")
    p = subprocess.Popen([sys.executable, "-m", "nngrader", "grade", "demo", str(d),
                          "--workers", "1", "--out", str(tmp_path / "out"), "--no-gradebook"],
                         cwd=root, env=env, stderr=subprocess.PIPE, text=True)
    cached = tmp_path / "out" / "results" / "a_fast.json"
    t0 = time.monotonic()
    while not cached.exists() and time.monotonic() - t0 < 120:
        time.sleep(0.2)
    time.sleep(2)          # slow0 is running now
    t = time.monotonic()
    p.send_signal(signal.SIGINT)
    _, err = p.communicate(timeout=60)
    assert time.monotonic() - t < 10, err    # the report and feedback are still written
    assert p.returncode == 130, err
    assert cached.exists() and not (tmp_path / "out" / "results" / "slow1.json").exists()
    log = (tmp_path / "out" / "grader.log").read_text()
    assert "slow1:" not in log and "slow2:" not in log, log    # nothing started after it
    assert "interrupted" in err


def test_warm_interpreter_keeps_students_apart():
    """Two students in one slot's zygote: the zygote's memory never holds a job (so no
    child can find an earlier student's notebook in what it inherits), and the second
    finds nothing of the first on disk."""
    sb = Sandbox(Limits(cell_timeout=60))
    if not sb.zygote:
        pytest.skip(f"no zygote here ({sb.warnings})")
    token = "NNG" + "SECRET" + "4242"
    first = f"answer = {token!r}\nopen('mine.txt', 'w').write(answer)\n" \
        "open('/tmp/mine.txt', 'w').write(answer)"
    second = ("import os\nfiles = os.listdir('.') + os.listdir('/tmp')\n"
              "assert not [f for f in files if 'mine' in f], files\nassert os.getuid() != 0")
    try:
        a = sb.run({"cells": [{"i": 0, "source": first, "trusted": False, "hidden": []}]})
        assert a.events[-1]["ev"] == "done", a.stderr
        z = sb._zygotes[a.uid]
        found = []
        for line in open(f"/proc/{z.pid}/maps"):
            lo, hi = (int(x, 16) for x in line.split()[0].split("-"))
            if "r" not in line.split()[1] or hi - lo > 1 << 30:
                continue
            try:
                with open(f"/proc/{z.pid}/mem", "rb") as m:
                    m.seek(lo)
                    if token.encode() in m.read(hi - lo):
                        found.append(line)
            except (OSError, ValueError, OverflowError):
                pass
        assert not found, found
        b = sb.run({"cells": [{"i": 0, "source": second, "trusted": False, "hidden": []}]})
        end = [e for e in b.events if e["ev"] == "end"]
        assert b.uid == a.uid and end and end[0]["error"] is None, (end, b.stderr[-1000:])
    finally:
        sb.close()


def test_cgroups_of_dead_graders_are_swept():
    from nngrader.sandbox import Cgroups
    cg = Cgroups()
    if cg.version is None:
        pytest.skip("no cgroup here")
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    os.waitpid(pid, 0)                       # a grader that is gone
    dirs = [p / f"nngrader-{pid}-1-1" for p in cg.parents.values()]
    for d in dirs:
        d.mkdir()
    cg.sweep()
    assert not [d for d in dirs if d.exists()]
