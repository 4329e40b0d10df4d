"""The gradebook on a real PostgreSQL server that this module starts and stops itself.

``initdb`` + ``pg_ctl`` (Debian's postgresql package; ``make setup`` installs it as root) in
a temporary directory, run as an unprivileged user (``nobody`` when the tests run as
root), listening on 127.0.0.1 and a unix socket in that directory only. Skipped, loudly,
only where the PostgreSQL binaries are not installed.

- a class graded by ``python -m nngrader grade`` lands in the database named by the
  course's ``nbgrader_config.py``, and ``nbgrader export`` reads it from there;
- two graders writing the same gradebook at once (two assignments, or the same one twice,
  in two processes) lose and duplicate nothing, on PostgreSQL and on SQLite.
"""

import contextlib
import csv
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent / "grader_corpus"))
import build_corpus as corpus  # noqa: E402

from nngrader.gradebook import configured_url  # noqa: E402

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group(name="postgres")]
STUDENTS = [f"s{k:02d}" for k in range(12)]


def pg_bin(name):
    dirs = sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)
    for d in dirs:
        if (d / name).exists():
            return str(d / name)
    return shutil.which(name)


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class NoPostgres(RuntimeError):
    pass


@pytest.fixture(scope="module")
def pg_server():
    """A PostgreSQL server of our own (see ``postgres_server``)."""
    try:
        with postgres_server() as create:
            yield create
    except NoPostgres as e:
        warnings.warn(str(e))
        print("\n" + "!" * 78 + f"\nWARNING: {e}\n" + "!" * 78, file=sys.stderr)
        pytest.skip(str(e))


@contextlib.contextmanager
def postgres_server():
    """Start a PostgreSQL server in a temporary directory: yields a function that creates a
    database and returns its URL. Stopped and deleted whatever happens."""
    initdb, pg_ctl = pg_bin("initdb"), pg_bin("pg_ctl")
    if not (initdb and pg_ctl):
        raise NoPostgres("PostgreSQL is NOT installed (no initdb/pg_ctl): the PostgreSQL "
                         "gradebook is untested here. Install it: apt-get install postgresql "
                         "(make setup does, as root)")
    tmp = Path(tempfile.mkdtemp(prefix="nngrader-pg-"))
    prefix, env = [], dict(os.environ, HOME=str(tmp), LC_ALL="C.UTF-8", LANG="C.UTF-8")
    if os.getuid() == 0:   # postgres refuses to run as root: become nobody
        nobody = pwd.getpwnam("nobody")
        os.chown(tmp, nobody.pw_uid, nobody.pw_gid)
        prefix = ["setpriv", f"--reuid={nobody.pw_uid}", f"--regid={nobody.pw_gid}",
                  "--clear-groups", "--"]
    data, port = tmp / "data", _free_port()

    def run(*cmd, check=True):
        return subprocess.run(prefix + [str(c) for c in cmd], cwd=tmp, env=env, check=check,
                              capture_output=True, text=True, timeout=120)
    started = False
    try:
        run(initdb, "-D", data, "-U", "nngrader", "--auth=trust", "-E", "UTF8", "--no-sync")
        opts = (f"-c listen_addresses=127.0.0.1 -p {port} -k {tmp} -c fsync=off "
                "-c full_page_writes=off -c max_connections=50")
        started = True
        r = run(pg_ctl, "-D", data, "-l", tmp / "server.log", "-w", "-t", "60", "-o", opts,
                "start", check=False)
        assert r.returncode == 0, (r.stdout, r.stderr, (tmp / "server.log").read_text()
                                   if (tmp / "server.log").exists() else "")
        import psycopg2
        base = f"postgresql://nngrader@127.0.0.1:{port}"

        def create(name):
            conn = psycopg2.connect(f"{base}/postgres")
            conn.autocommit = True
            with conn.cursor() as cur:
                cur.execute(f'DROP DATABASE IF EXISTS "{name}"')
                cur.execute(f'CREATE DATABASE "{name}"')
            conn.close()
            return f"{base}/{name}"
        yield create
    finally:
        if started:
            r = run(pg_ctl, "-D", data, "-m", "immediate", "-w", "stop", check=False)
            pidfile = data / "postmaster.pid"
            if r.returncode != 0 and pidfile.exists():   # pg_ctl failed: kill it ourselves
                try:
                    os.kill(int(pidfile.read_text().split()[0]), signal.SIGKILL)
                except (OSError, ValueError):
                    pass
        shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    base = tmp_path_factory.mktemp("pg")
    root = corpus.make_course(base / "course")
    corpus.build(root, base, only=["honest_full", "honest_partial", "honest_stub",
                                   "invalid_json", "renamed"])
    shutil.copytree(root / "solutions" / "demo", root / "solutions" / "demo2")
    return root, base


def _env():
    return dict(os.environ, PATH=f"{Path(sys.executable).parent}:{os.environ['PATH']}")


def test_class_graded_into_postgres_shared_with_nbgrader(pg_server, course):
    root, base = course
    db = pg_server("course")
    cfg = root / "nbgrader_config.py"
    sqlite_cfg = cfg.read_text()
    # nbgrader opens the URL itself: name the installed driver (SQLAlchemy 2.1's default
    # for postgresql:// is psycopg 3)
    db = db.replace("postgresql://", "postgresql+psycopg2://")
    cfg.write_text(sqlite_cfg + f"\nc.CourseDirectory.db_url = {db!r}\n")
    try:
        assert configured_url(root) == db
        t = time.perf_counter()
        r = subprocess.run([sys.executable, "-m", "nngrader", "grade", "demo",
                            str(base / "submitted"),
                            "--out", str(base / "out")], cwd=root, env=_env(),
                           capture_output=True, text=True, timeout=300)
        took = time.perf_counter() - t
        assert r.returncode == 0, r.stderr[-3000:]
        assert "postgresql+psycopg2://nngrader@127.0.0.1" in r.stdout, r.stdout
        print(f"\n5 submissions graded into PostgreSQL in {took:.1f} s (command wall time)")
        # nbgrader's own export reads the same database (nbgrader_config.py)
        subprocess.run([sys.executable, "-m", "nbgrader", "export", "--to", "export.csv"],
                       cwd=root, check=True, capture_output=True, env=_env(), timeout=120)
        exported = {x["student_id"]: x for x in csv.DictReader(open(root / "export.csv"))}
        assert {s: float(x["raw_score"]) for s, x in exported.items()} == {
            "honest_full": 5, "honest_partial": 4, "honest_stub": 0, "invalid_json": 0,
            "renamed": 5}
        from nbgrader.api import Gradebook
        with Gradebook(db) as gb:
            bad = gb.find_submission_notebook("demo", "demo", "invalid_json")
            assert bad.flagged and bad.needs_manual_grade
    finally:
        cfg.write_text(sqlite_cfg)


WRITER = r"""
import sys, time
sys.path.insert(0, {corpus!r})
from nngrader.core import Result, TestResult
from nngrader.outputs import Log, write_gradebook
from nngrader.spec import load_assignment
db, assignment, bonus, start = sys.argv[1], sys.argv[2], float(sys.argv[3]), float(sys.argv[4])
a = load_assignment({source!r}, assignment)
students = {students!r}
results = []
for k, s in enumerate(students):
    pts = [(t.points if (k + j) % 2 else 0.0) for j, t in enumerate(a.tests)]
    tests = [TestResult(t.grade_id, p, t.points, p > 0) for t, p in zip(a.tests, pts)]
    results.append(Result(s, a.name, sum(pts), a.max_score, "graded", [], tests))
while time.time() < start:
    time.sleep(0.005)
write_gradebook(db, a, results, Log({log!r}))
print("ok")
"""


def expected_score(a_tests, k):
    return sum(t.points if (k + j) % 2 else 0.0 for j, t in enumerate(a_tests))


@pytest.mark.parametrize("backend", ["postgresql", "sqlite"])
def test_two_graders_at_once_lose_and_duplicate_nothing(request, course, backend, tmp_path):
    root, _ = course
    if backend == "postgresql":
        db = request.getfixturevalue("pg_server")("race")
    else:
        db = str(tmp_path / "gradebook.db")
    script = tmp_path / "writer.py"
    script.write_text(WRITER.format(corpus=str(Path(__file__).parent / "grader_corpus"),
                                    source=str(root / "solutions"), students=STUDENTS,
                                    log=str(tmp_path / "log")))
    start = time.time() + 4.0   # both processes are up (imports done) by then
    # two assignments, and the same assignment twice, all three at the same moment
    procs = [subprocess.Popen([sys.executable, str(script), db, a, "0", str(start)],
                              env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True)
             for a in ("demo", "demo2", "demo")]
    outs = [p.communicate(timeout=240) for p in procs]
    for p, (out, err) in zip(procs, outs):
        assert p.returncode == 0 and "ok" in out, err[-3000:]
    from nbgrader.api import Gradebook
    from nngrader.gradebook import url
    from nngrader.spec import load_assignment
    tests = load_assignment(root / "solutions", "demo").tests
    with Gradebook(url(db)) as gb:
        assert sorted(s.id for s in gb.students) == STUDENTS
        for name in ("demo", "demo2"):
            a = gb.find_assignment(name)
            assert len(a.submissions) == len(STUDENTS)
            for k, s in enumerate(STUDENTS):
                sub = gb.find_submission(name, s)
                assert sub.score == expected_score(tests, k), (name, s)
                nb = gb.find_submission_notebook("demo", name, s)
                assert len(nb.grades) == len(tests)
        from nbgrader.api import Grade, SubmittedAssignment
        assert gb.db.query(SubmittedAssignment).count() == 2 * len(STUDENTS)
        assert gb.db.query(Grade).count() == 2 * len(STUDENTS) * len(tests)


def test_gradebook_urls(tmp_path):
    from nngrader.gradebook import redact, url
    assert url(tmp_path / "g.db") == f"sqlite:///{tmp_path / 'g.db'}"
    assert url("postgresql://u:secret@h/db").startswith("postgresql+psycopg")
    assert "secret" not in redact("postgresql://u:secret@h/db")
    (tmp_path / "nbgrader_config.py").write_text(
        'c = get_config()\nc.CourseDirectory.db_url = "sqlite:///sub/gb.db"\n')
    assert configured_url(tmp_path) == f"sqlite:///{tmp_path / 'sub' / 'gb.db'}"
    nowhere = tmp_path / "nowhere"
    assert configured_url(nowhere) == f"sqlite:///{nowhere / 'gradebook.db'}"
