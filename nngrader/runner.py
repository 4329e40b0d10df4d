"""Grade a whole class: parallel, resumable, one submission never touches another."""

import json
import os
import queue
import sys
import tempfile
import threading
import time
import traceback
from pathlib import Path

from . import executors, outputs
from .core import PERSON, Result, empty_result, grade_submission
from .sandbox import Limits, Sandbox
from .spec import load_assignment
from .submission import find_submissions, safe_extract


class Progress:
    """A one-line progress bar on stderr (no dependency)."""

    def __init__(self, total, stream=sys.stderr, width=30):
        self.total, self.done, self.stream, self.width = total, 0, stream, width
        self.t0 = time.monotonic()
        self.lock = threading.Lock()
        self.tty = getattr(stream, "isatty", lambda: False)()

    def step(self, label=""):
        with self.lock:
            self.done += 1
            frac = self.done / max(self.total, 1)
            bar = "#" * int(frac * self.width)
            el = time.monotonic() - self.t0
            eta = el / self.done * (self.total - self.done) if self.done else 0
            line = (f"[{bar:<{self.width}}] {self.done}/{self.total} "
                    f"{el:5.1f}s eta {eta:5.1f}s {label[:30]}")
            if self.tty:
                self.stream.write("\r" + line + ("\n" if self.done == self.total else ""))
            elif self.done == self.total or self.done % max(1, self.total // 10) == 0:
                self.stream.write(line + "\n")
            self.stream.flush()


def course_paths(root):
    root = Path(root).resolve()
    return {"root": root, "source": root / "solutions", "release": root / "exercises",
            "gradebook": root / "gradebook.db"}


def grade_class(root, assignment_name, submissions, out=None, *, workers=None,
                limits=None, seed=None, gradebook=True, log=None, force=False,
                sandbox_mode=None, progress=True, executor=None, db=None):
    paths = course_paths(root)
    out = Path(out or paths["root"] / "nngraded" / assignment_name).resolve()
    out.mkdir(parents=True, exist_ok=True)
    log = log or outputs.Log(out / "grader.log")
    assignment = load_assignment(paths["source"], assignment_name)
    import nnref
    hide = [paths["root"], Path(nnref.__file__).resolve().parent, paths["source"],
            paths["gradebook"], Path(submissions).resolve(), out]
    sandbox = Sandbox(limits or Limits(), hide=hide, mode=sandbox_mode)
    for w in sandbox.warnings:
        log.warn(f"SANDBOX: {w}")
    log.info(f"sandbox mode: {sandbox.mode}; assignment {assignment.name} "
             f"({len(assignment.tests)} test cells, {assignment.max_score:g} points)")

    subs_path = Path(submissions)
    tmp = None
    if subs_path.is_file() and subs_path.suffix == ".zip":
        tmp = tempfile.TemporaryDirectory(prefix="nngrader-zip-")
        subs_path = safe_extract(subs_path, tmp.name)
        kids = [p for p in subs_path.iterdir() if not p.name.startswith((".", "__MACOSX"))]
        if len(kids) == 1 and kids[0].is_dir() and not list(kids[0].glob("*.ipynb")) and \
                kids[0].name != assignment_name:
            subs_path = kids[0]  # a zip of one top folder
    subs = find_submissions(subs_path, assignment_name)
    data_files = _data_files(paths["release"] / assignment_name)
    cache_dir = out / "results"
    cache_dir.mkdir(exist_ok=True)
    pool = executor or executors.make_executor(workers=workers)   # local pool or Dask
    workers = pool.workers

    results, todo = {}, []
    for sub in subs:
        cached = _load_cached(cache_dir, sub, assignment)
        if cached is not None and not force:
            results[sub.student] = cached
        else:
            todo.append(sub)
    log.info(f"{len(subs)} submission(s): {len(results)} already graded, {len(todo)} to grade, "
             f"{workers} worker(s)")
    bar = Progress(len(todo)) if progress and todo else None
    slots = queue.Queue()
    for k in range(workers):
        slots.put(k)

    def one(sub):
        slot = slots.get()
        try:
            return grade_submission(sub, assignment, sandbox, slot=slot, seed=seed,
                                    data_files=data_files)
        except Exception as e:  # noqa: BLE001 - one failure never touches another grade
            log.error(f"{sub.student}: grader error\n{traceback.format_exc()}")
            r = empty_result(sub, assignment, PERSON,
                             f"internal grader error ({type(e).__name__}: {e})", sandbox.mode)
            r.transient = True
            return r
        finally:
            slots.put(slot)

    t0 = time.monotonic()
    with pool:
        for r in pool.map(one, todo, executors.Job.of(assignment, sandbox, seed, data_files),
                          log):
            results[r.student] = r
            if not r.transient:
                _save_cached(cache_dir, r, assignment)
            log.info(f"{r.student}: {r.score:g}/{r.max_score:g} {r.status} "
                     f"({r.seconds:.2f}s, {r.attempts} run(s))"
                     + (f" - {'; '.join(r.reasons)}" if r.reasons else ""))
            if bar:
                bar.step(r.student)
    elapsed = time.monotonic() - t0
    ordered = [results[k] for k in sorted(results)]
    missing = []
    if gradebook:
        missing = outputs.write_gradebook(db or paths["gradebook"], assignment, ordered, log)
    outputs.write_csv(out / "grades.csv", ordered, missing, assignment, sandbox)
    outputs.write_feedback(out / "feedback", assignment, ordered)
    outputs.write_report(out, assignment, ordered, missing, sandbox, elapsed, workers)
    if tmp:
        tmp.cleanup()
    return {"results": ordered, "out": out, "elapsed": elapsed, "sandbox": sandbox,
            "missing": missing, "assignment": assignment}


def _data_files(release_dir, limit=20 << 20):
    files = []
    if release_dir.is_dir():
        for p in sorted(release_dir.iterdir()):
            if p.is_file() and p.suffix != ".ipynb" and p.stat().st_size <= limit:
                files.append((p.name, p.read_bytes()))
    return files


def _key(sub, assignment):
    return f"{sub.digest()}:{assignment.digest}"


def _load_cached(cache_dir, sub, assignment):
    f = cache_dir / f"{_safe(sub.student)}.json"
    try:
        d = json.loads(f.read_text())
    except (OSError, ValueError):
        return None
    if d.get("key") != _key(sub, assignment) or d["result"].get("transient"):
        return None
    return Result.from_json(d["result"])


def _save_cached(cache_dir, r, assignment):
    f = cache_dir / f"{_safe(r.student)}.json"
    tmp = f.with_suffix(".tmp")
    tmp.write_text(json.dumps({"key": f"{r.digest}:{assignment.digest}",
                               "result": r.to_json()}, indent=1))
    os.replace(tmp, f)  # atomic: an interrupted run leaves no half result


def _safe(name):
    return "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in name)
