"""Where submissions are graded: a local thread pool (default) or a Dask cluster.

The seam is one method, ``map(one, subs, job, log)``, that yields a ``Result`` for every
submission as it finishes (the runner caches it and moves the progress bar at once):

- ``LocalExecutor`` calls ``one(sub)``, the runner's in-process function, in a thread pool
  (every thread drives one sandbox; today's behaviour).
- ``DaskExecutor`` sends ``grade_remote(sub, job)`` to a ``dask.distributed`` cluster:
  ``job`` (a ``Job``) is the picklable twin of ``one``: the parsed assignment, the limits,
  the seed and the data files. Every worker process is a grader: it runs the notebook in
  its own sandbox and compares with *its* ``nnref``, which must be the grader's (checked
  when the executor connects).

A worker that dies in the middle of a submission loses nothing: the scheduler runs the
task again on another worker, and only that run's result comes back (graded once). A
submission on which ``distributed.scheduler.allowed-failures`` + 1 workers died in a row
ends as "needs a person" (``KilledWorker``), never as an endless retry.

``make_executor`` is the one place where the backend is chosen.
"""

import dataclasses
import hashlib
import os
import socket
import threading
import traceback
import uuid
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

from .core import PERSON, empty_result, grade_submission
from .sandbox import Limits, Sandbox


class ClusterError(RuntimeError):
    """The cluster cannot grade this class (unreachable, no workers, another nnref)."""


def make_executor(scheduler=None, workers=None, **kw):
    """``scheduler`` (``tcp://host:port``): a Dask cluster; otherwise the local pool.
    A cluster that cannot grade ends the command with a clear message."""
    if scheduler:
        try:
            return DaskExecutor(scheduler, **kw)
        except ClusterError as e:
            raise SystemExit(f"nngrader: {e}") from None
    return LocalExecutor(workers)


@dataclass
class Job:
    """What a grader process needs, besides the submission, to grade it (picklable)."""
    assignment: object
    limits: Limits
    seed: int | None = None
    data_files: list = field(default_factory=list)
    hide: list = field(default_factory=list)     # the grader's course paths (kept hidden)

    @classmethod
    def of(cls, assignment, sandbox, seed, data_files):
        return cls(assignment, sandbox.limits, seed, list(data_files),
                   [str(h) for h in sandbox.hide])


class LocalExecutor:
    """Today's pool: ``workers`` threads, each grading one submission at a time."""

    name = "local"

    def __init__(self, workers=None):
        self.workers = workers or os.cpu_count() or 1

    def map(self, one, subs, job, log):
        with ThreadPoolExecutor(max_workers=self.workers) as pool:
            for fut in as_completed([pool.submit(one, s) for s in subs]):
                yield fut.result()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


class DaskExecutor:
    """Each submission is one task on a ``dask.distributed`` cluster."""

    name = "dask"

    def __init__(self, scheduler=None, *, client=None, timeout="30s", check=True):
        from distributed import Client
        self.own = client is None
        try:
            self.client = client or Client(scheduler, timeout=timeout)
        except (OSError, TimeoutError, ValueError) as e:
            raise ClusterError(f"cannot reach the Dask scheduler at {scheduler} "
                               f"({type(e).__name__}: {e})") from e
        self.address = self.client.scheduler.address
        info = self.client.run(worker_info) if check else {}
        if check and not info:
            self.close()
            raise ClusterError(f"the Dask cluster at {self.address} has no workers")
        mine = nnref_digest()
        bad = sorted(w for w, i in info.items() if i["nnref"] != mine)
        if bad:
            self.close()
            raise ClusterError(f"worker(s) {', '.join(bad)} have another nnref than this "
                               "grader: install the same course on every worker")
        self.info = info
        self.workers = sum(self.client.nthreads().values()) or 1

    def map(self, one, subs, job, log):
        from distributed import KilledWorker, as_completed as dask_completed
        for w, i in sorted(self.info.items()):
            log.info(f"dask worker {w} on {i['host']}: sandbox {i['mode']}")
            for warning in i["warnings"]:
                log.warn(f"SANDBOX on dask worker {w}: {warning}")
        # One task group (key = (group, student)): the scheduler queues the class and hands
        # a worker only as many submissions as it has threads (worker-saturation).
        group = f"nngrader-{job.assignment.name}-{uuid.uuid4().hex[:8]}"
        futs = {}
        for sub in subs:
            key = (group, sub.student)
            futs[self.client.submit(grade_remote, portable(sub), job, key=key,
                                    pure=False)] = sub
        allowed = self._allowed_failures()
        for fut in dask_completed(list(futs)):
            sub = futs.pop(fut)
            try:
                r, host = fut.result()
                log.info(f"{sub.student}: graded on {host}")
            except KilledWorker as e:
                log.error(f"{sub.student}: {e}")
                r = empty_result(sub, job.assignment, PERSON,
                                 f"the grading worker died each time it ran this submission "
                                 f"({allowed + 1} workers in a row); it was not graded",
                                 "dask")
            except Exception as e:  # noqa: BLE001 - the cluster failed, not the student
                log.error(f"{sub.student}: cluster error\n{traceback.format_exc()}")
                r = empty_result(sub, job.assignment, PERSON,
                                 f"internal grader error on the cluster "
                                 f"({type(e).__name__}: {e})", "dask")
                r.transient = True
            fut.release()
            yield r

    def _allowed_failures(self):
        def get(dask_scheduler=None):
            import dask
            return dask.config.get("distributed.scheduler.allowed-failures")
        try:
            return int(self.client.run_on_scheduler(get))
        except Exception:  # noqa: BLE001 - an older scheduler: the default
            return 3

    def close(self):
        if self.own:
            self.client.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False


def portable(sub):
    """The submission with its files read here: a worker on another host cannot open the
    grader's paths (a file that cannot be read stays as it is, for the worker to report)."""
    files = {}
    for name, v in sub.files.items():
        if isinstance(v, (bytes, bytearray)):
            files[name] = v
            continue
        try:
            files[name] = sub.read(name) if hasattr(sub, "read") else Path(v).read_bytes()
        except Exception:  # noqa: BLE001
            files[name] = v
    return dataclasses.replace(sub, files=files)


# -- what runs on a Dask worker ----------------------------------------------------------

_SANDBOXES = {}
_LOCK = threading.Lock()


def _sandbox(job):
    """One sandbox per limits and worker process (the bwrap probe runs once)."""
    import nnref
    hide = [*job.hide, str(Path(nnref.__file__).resolve().parent)]
    key = (repr(job.limits), tuple(hide))
    with _LOCK:
        if key not in _SANDBOXES:
            _SANDBOXES[key] = Sandbox(job.limits, hide=[h for h in hide if Path(h).exists()])
        return _SANDBOXES[key]


def grade_remote(sub, job):
    """Grade one submission in this worker process: (Result, host)."""
    sandbox = _sandbox(job)
    try:
        r = grade_submission(sub, job.assignment, sandbox, slot=0, seed=job.seed,
                             data_files=job.data_files)
    except Exception as e:  # noqa: BLE001 - one failure never touches another grade
        r = empty_result(sub, job.assignment, PERSON,
                         f"internal grader error ({type(e).__name__}: {e})", sandbox.mode)
        r.transient = True
    return r, socket.gethostname()


def nnref_digest():
    """The answer key's identity: a hash of nnref's source files."""
    import nnref
    h = hashlib.sha256()
    root = Path(nnref.__file__).resolve().parent
    for p in sorted(root.rglob("*.py")):
        h.update(str(p.relative_to(root)).encode() + b"\0" + p.read_bytes())
    return h.hexdigest()


def worker_info():
    sandbox = Sandbox(Limits())
    return {"host": socket.gethostname(), "nnref": nnref_digest(), "mode": sandbox.mode,
            "warnings": sandbox.warnings}
