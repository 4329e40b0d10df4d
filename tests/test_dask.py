"""nngrader on a real Dask cluster: a scheduler and two worker processes on 127.0.0.1.

The same class graded locally and on the cluster gets the same grades (fixed seed); a
re-run on the cluster comes from the cache; a worker killed in the middle of a submission
loses nothing (the submission is graded once, on another worker); a submission that
kills every worker it lands on ends as "needs a person".
"""

import csv
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent / "grader_corpus"))
import build_corpus as corpus  # noqa: E402

from nngrader.executors import DaskExecutor, LocalExecutor  # noqa: E402
from nngrader.runner import grade_class  # noqa: E402
from nngrader.sandbox import Limits  # noqa: E402

distributed = pytest.importorskip("distributed")
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group(name="dask")]
LIMITS = dict(cell_timeout=60.0, total_timeout=300.0, startup_timeout=180.0)
SAME = ["honest_full", "honest_partial", "honest_stub", "renamed", "invalid_json", "os_exit"]
SLEEP = "import time\ntime.sleep({})"


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    base = tmp_path_factory.mktemp("dask")
    root = corpus.make_course(base / "course")
    corpus.build(root, base, only=SAME)
    kills = base / "kills" / "submitted"
    release = lambda: corpus.fill(corpus._load_release(root))  # noqa: E731
    for student, nb in {
            "sleeper": corpus.insert_after(release(), "imports", SLEEP.format(6)),
            "poison": corpus.insert_after(release(), "imports", SLEEP.format(120)),
            "quick": release(), "quick2": release(), "quick3": release()}.items():
        d = kills / student / corpus.ASSIGNMENT
        d.mkdir(parents=True)
        (d / f"{corpus.ASSIGNMENT}.ipynb").write_text(json.dumps(nb))
    return root, base


@pytest.fixture(scope="module")
def cluster():
    """Scheduler + 2 nanny-managed worker processes (1 thread each) on 127.0.0.1."""
    import dask
    from distributed import Client, LocalCluster
    with dask.config.set({"distributed.scheduler.allowed-failures": 1,
                          "distributed.scheduler.worker-saturation": 1.0}):
        c = LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                         host="127.0.0.1", dashboard_address=None)
        try:
            client = Client(c)
            try:
                client.wait_for_workers(2, timeout=60)
                yield c, client
            finally:
                client.close()
        finally:
            c.close()


def rows(path):
    return {r["student"]: r for r in csv.DictReader(open(path))}


def test_cluster_grades_like_the_local_pool_and_resumes(course, cluster):
    root, base = course
    c, _ = cluster
    local = grade_class(root, corpus.ASSIGNMENT, base / "submitted", base / "local", seed=7,
                        executor=LocalExecutor(2), limits=Limits(**LIMITS),
                        gradebook=False, progress=False)
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}:{os.environ['PATH']}")
    cmd = [sys.executable, "-m", "nngrader", "grade", corpus.ASSIGNMENT, str(base / "submitted"),
           "--scheduler", c.scheduler_address, "--seed", "7", "--out", str(base / "dask")]
    run = subprocess.run(cmd, cwd=root, env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    ours, theirs = rows(base / "local" / "grades.csv"), rows(base / "dask" / "grades.csv")
    assert set(ours) == set(SAME) == set(theirs)
    for s in SAME:
        assert {k: v for k, v in theirs[s].items()} == ours[s], s
    assert {r.student: r.seeds for r in local["results"]}["honest_full"]
    log = (base / "dask" / "grader.log").read_text()
    assert "graded on" in log and "dask worker" in log
    # the gradebook (nbgrader_config.py's db_url) got the cluster's grades
    from nbgrader.api import Gradebook
    with Gradebook(f"sqlite:///{root / 'gradebook.db'}") as gb:
        assert gb.find_submission("demo", "honest_partial").score == 4
    # resume: nothing is graded twice
    again = subprocess.run(cmd, cwd=root, env=env, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr[-3000:]
    assert f"{len(SAME)} already graded, 0 to grade" in (base / "dask" / "grader.log").read_text()
    assert rows(base / "dask" / "grades.csv") == theirs


def _killer(address, targets, stop, killed):
    """Kill (SIGKILL) the worker process running a target submission, once it has run
    ``delay`` s there; ``targets``: student -> how many times to kill (None: always)."""
    from distributed import Client
    with Client(address, timeout=30) as client:
        seen = {}
        while not stop.is_set():
            try:
                proc = client.processing()
            except Exception:  # noqa: BLE001 - the scheduler is busy with a dead worker
                time.sleep(0.2)
                continue
            now = time.monotonic()
            for addr, keys in proc.items():
                for key in keys:
                    # keys are (group, student)
                    student = key[-1] if isinstance(key, (tuple, list)) else None
                    if student not in targets:
                        continue
                    left = targets[student]
                    if left is not None and killed.count(student) >= left:
                        continue
                    t = seen.setdefault((addr, key), now)
                    if now - t < 2.0:     # let the sandbox start: kill mid-submission
                        continue
                    try:
                        pid = client.run(os.getpid, workers=[addr])[addr]
                        os.kill(pid, signal.SIGKILL)
                        killed.append(student)
                    except Exception:  # noqa: BLE001 - the worker is already gone
                        pass
            time.sleep(0.2)


def test_killed_worker_loses_nothing_and_poison_needs_a_person(course, cluster):
    root, base = course
    c, client = cluster
    stop, killed = threading.Event(), []
    t = threading.Thread(target=_killer, args=(c.scheduler_address,
                                               {"sleeper": 1, "poison": None}, stop, killed))
    t.start()
    try:
        res = grade_class(root, corpus.ASSIGNMENT, base / "kills" / "submitted",
                          base / "kills-out",
                          executor=DaskExecutor(client=client), limits=Limits(**LIMITS),
                          gradebook=False, progress=False, seed=3)
    finally:
        stop.set()
        t.join(timeout=30)
    by = {r.student: r for r in res["results"]}
    assert sorted(by) == ["poison", "quick", "quick2", "quick3", "sleeper"]
    assert killed.count("sleeper") == 1, killed
    assert killed.count("poison") == 2, killed        # allowed-failures = 1: two workers
    assert (by["sleeper"].score, by["sleeper"].status) == (5, "graded"), by["sleeper"].reasons
    for s in ("quick", "quick2", "quick3"):
        assert (by[s].score, by[s].status) == (5, "graded"), by[s].reasons
    assert by["poison"].status == "needs a person"
    assert "died" in by["poison"].reasons[0], by["poison"].reasons
    log = (base / "kills-out" / "grader.log").read_text()
    assert log.count("sleeper: 5/5 graded") == 1, log      # graded once
    assert log.count("sleeper: graded on") == 1, log
    assert len(rows(base / "kills-out" / "grades.csv")) == 5
    client.wait_for_workers(2, timeout=60)                  # the nannies restarted them


def test_unreachable_scheduler_is_a_clear_error():
    from nngrader.executors import make_executor
    with socket.socket() as s:          # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(SystemExit, match="cannot reach the Dask scheduler"):
        make_executor(f"tcp://127.0.0.1:{port}", timeout="2s")
