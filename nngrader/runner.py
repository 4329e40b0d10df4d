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

from . import executors, exports, outputs, similarity
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
    limits = limits or Limits(cell_timeout=None)
    if limits.cell_timeout is None:     # one policy with nbgrader: the course's config
        import dataclasses
        limits = dataclasses.replace(limits, cell_timeout=course_timeout(paths["root"]))
    sandbox = Sandbox(limits, hide=hide, mode=sandbox_mode)
    for w in sandbox.warnings:
        log.warn(f"SANDBOX: {w}")
    log.info(f"sandbox mode: {sandbox.mode}; assignment {assignment.name} "
             f"({len(assignment.tests)} test cells, {assignment.max_score:g} points)")

    subs_path = Path(submissions)
    tmp, zip_problems = None, []
    if subs_path.is_file() and subs_path.suffix.lower() == ".zip":
        tmp = tempfile.TemporaryDirectory(prefix="nngrader-zip-")
        subs_path, zip_problems = safe_extract(subs_path, tmp.name)
    subs, ignored = find_submissions(subs_path, assignment_name, assignment.notebook)
    for entry, why in zip_problems:
        log.warn(f"zip entry {entry!r}: {why}")
    for entry, why in ignored:
        log.warn(f"input {entry!r} ignored: {why}")
    subs += _rejected_rows(zip_problems, subs)
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

    stop = threading.Event()

    def one(sub):
        if stop.is_set():   # Ctrl-C: start nothing new
            r = empty_result(sub, assignment, PERSON, "not graded: the run was interrupted",
                             sandbox.mode)
            r.transient = True
            return r
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
    interrupted = False
    with _on_ctrl_c(stop, sandbox):
        try:
            dispatch(pool, one, todo, executors.Job.of(assignment, sandbox, seed, data_files),
                     log, results, cache_dir, assignment, bar)
        except KeyboardInterrupt:
            interrupted = True
        finally:
            sandbox.close()     # the slots' warm interpreters
    elapsed = time.monotonic() - t0
    if interrupted:
        for k in [k for k, r in results.items() if r.transient]:
            del results[k]
        log.warn(f"interrupted: {len(results)} result(s) kept (cached); "
                 f"{len(subs) - len(results)} not graded; run the command again to finish")
    ordered = [results[k] for k in sorted(results)]
    missing = []
    if gradebook:
        missing = outputs.write_gradebook(db or paths["gradebook"], assignment, ordered, log)
    outputs.write_csv(out / "grades.csv", ordered, missing, assignment, sandbox)
    outputs.write_feedback(out / "feedback", assignment, ordered)
    outputs.write_report(out, assignment, ordered, missing, sandbox, elapsed, workers)
    exports.write_lms(out, assignment, ordered, missing,   # canvas.csv, moodle.csv
                      (db or paths["gradebook"]) if gradebook else None)
    similarity.write_report(out, assignment, subs, log)   # flags copies, never a grade
    if tmp:
        tmp.cleanup()
    if interrupted:
        raise KeyboardInterrupt
    return {"results": ordered, "out": out, "elapsed": elapsed, "sandbox": sandbox,
            "missing": missing, "assignment": assignment}


def dispatch(pool, one, todo, job, log, results, cache_dir, assignment, bar=None):
    """The seam where submissions go to the executor (local pool or Dask, executors.py);
    every result is cached the moment it arrives, so an interruption loses nothing."""
    with pool:
        for r in pool.map(one, todo, job, log):
            results[r.student] = r
            if not r.transient:
                _save_cached(cache_dir, r, assignment)
            log.info(f"{r.student}: {r.score:g}/{r.max_score:g} {r.status} "
                     f"({r.seconds:.2f}s, {r.attempts} run(s))"
                     + (f" - {'; '.join(r.reasons)}" if r.reasons else ""))
            if bar:
                bar.step(r.student)


class _on_ctrl_c:
    """Ctrl-C stops at once: nothing new starts, running sandboxes are killed, and the
    KeyboardInterrupt reaches the runner only then (finished results are kept)."""

    def __init__(self, stop, sandbox):
        self.stop, self.sandbox, self.old = stop, sandbox, None

    def __enter__(self):
        import signal
        if threading.current_thread() is threading.main_thread():
            def handler(signum, frame):
                self.stop.set()
                self.sandbox.stop.set()
                raise KeyboardInterrupt
            self.old = signal.signal(signal.SIGINT, handler)
        return self

    def __exit__(self, *exc):
        import signal
        if self.old is not None:
            signal.signal(signal.SIGINT, self.old)
        return False


def _rejected_rows(zip_problems, subs):
    """A zip entry that looked like a student's notebook but was rejected gets its own row."""
    from .submission import Submission, clean_name
    rows, have = [], {s.student for s in subs}
    for entry, why in zip_problems:
        if not entry.lower().endswith(".ipynb") or not why.startswith("rejected"):
            continue
        name = clean_name(entry.replace("\\", "/").rstrip("/").split("/")[-1][:-6] or entry)
        name = f"{name} [rejected zip entry]" if name in have else name
        have.add(name)
        rows.append(Submission(student=name, files={}, gradebook=False,
                               problem=f"zip entry {entry!r} {why}; it was not extracted"))
    return rows


def course_timeout(root, default=120.0):
    """``c.ExecutePreprocessor.timeout`` of the course's nbgrader_config.py: one cell time
    policy for nbgrader and nngrader (None or <= 0 there: no limit, here one hour)."""
    f = Path(root) / "nbgrader_config.py"
    if not f.is_file():
        return default
    try:
        from traitlets.config.loader import PyFileConfigLoader
        cwd = os.getcwd()
        try:
            os.chdir(f.parent)
            cfg = PyFileConfigLoader(f.name, path=str(f.parent)).load_config()
        finally:
            os.chdir(cwd)
        t = cfg.ExecutePreprocessor.get("timeout", default)
        return 3600.0 if t is None or float(t) <= 0 else float(t)
    except Exception:  # noqa: BLE001 - a config that does not load: nbgrader would fail too
        return default


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
