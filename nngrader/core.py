"""Grade one submission: repair, run in the sandbox, compare in this (clean) process."""

import contextlib
import json
import os
import secrets
import signal
import time
from dataclasses import asdict, dataclass, field

from nncheck import grading as G
from nncheck.compare import CheckFailed

from .submission import BIG_NOTEBOOK, BIG_READ, match, pick_notebook, read_notebook

GRADED, FLAGGED, PERSON, MISSING = "graded", "graded with flags", "needs a person", "no submission"


@dataclass
class TestResult:
    grade_id: str
    points: float
    max_points: float
    passed: bool
    messages: list = field(default_factory=list)   # what the student may read
    visible_ok: bool | None = None
    hidden_ok: bool | None = None


@dataclass
class Result:
    student: str
    assignment: str
    score: float
    max_score: float
    status: str
    reasons: list = field(default_factory=list)
    tests: list = field(default_factory=list)
    seeds: dict = field(default_factory=dict)
    notebook: str | None = None
    seconds: float = 0.0
    attempts: int = 0
    digest: str = ""
    timestamp: str | None = None
    sandbox: str = ""
    transient: bool = False          # an infrastructure failure: not cached, retried
    gradebook: bool = True           # False: identity in doubt, kept out of the gradebook

    def to_json(self):
        return asdict(self)

    @classmethod
    def from_json(cls, d):
        d = dict(d)
        d["tests"] = [TestResult(**t) for t in d.get("tests", [])]
        return cls(**d)


def _signal_reason(rc, res=None, limits=None):
    """Why the process ended by itself (``res.killed is None``: not the grader's doing)."""
    if rc is not None and 128 < rc < 160:
        rc = 128 - rc   # a shell-style status (bwrap's init reports 128 + signal)
    if rc is None or rc >= 0:
        return f"the notebook's process exited (code {rc}: os._exit or a fatal error)"
    sig = -rc
    if sig == signal.SIGKILL:
        # Only the kernel or something outside sends SIGKILL (the grader's own kills are
        # res.killed): say which, as far as it is known, and never guess.
        if getattr(res, "oom", None):
            return "the notebook's process was killed by the kernel's out-of-memory killer"
        wall = getattr(res, "seconds", None)
        if limits is not None and (wall is None or wall * (os.cpu_count() or 1) >= limits.cpu):
            # RLIMIT_CPU's hard limit (after an ignored SIGXCPU) is possible only then
            return (f"the notebook's process was killed (SIGKILL): its CPU time limit "
                    f"({limits.cpu:g} s), or something outside the notebook")
        return ("the notebook's process was killed (SIGKILL) from outside the notebook, "
                "not by a grader limit")
    names = {signal.SIGSEGV: "crashed (segmentation fault)",
             signal.SIGXCPU: "used up its CPU time limit",
             signal.SIGXFSZ: "wrote a file larger than the limit",
             signal.SIGABRT: "aborted (SIGABRT)", signal.SIGBUS: "crashed (bus error)"}
    return f"the notebook's process {names.get(sig, f'died of signal {sig}')}"


def empty_result(sub, assignment, status, reason, sandbox=""):
    tests = [TestResult(c.grade_id, 0.0, c.points, False, [reason]) for c in assignment.tests]
    return Result(sub.student, assignment.name, 0.0, assignment.max_score, status, [reason],
                  tests, digest=sub.digest(), timestamp=sub.timestamp, sandbox=sandbox,
                  gradebook=getattr(sub, "gradebook", True))


def grade_submission(sub, assignment, sandbox, *, slot=0, seed=None, max_restarts=2,
                     data_files=()):
    t0 = time.monotonic()
    name, flags, fatal = pick_notebook(sub, assignment)
    flags = list(sub.notes) + flags
    if fatal:
        r = empty_result(sub, assignment, PERSON, fatal, sandbox.mode)
        r.reasons += flags
        return r
    try:
        big = sub.size(name) > BIG_NOTEBOOK
        with BIG_READ if big else contextlib.nullcontext():   # the grader's memory
            cells, fatal = read_notebook(lambda: sub.read(name))   # no copy kept
    except OSError as e:
        return empty_result(sub, assignment, PERSON, f"the notebook {name!r} cannot be read "
                            f"({type(e).__name__})", sandbox.mode)
    if fatal:
        r = empty_result(sub, assignment, PERSON, fatal, sandbox.mode)
        r.reasons += flags
        r.notebook = name
        return r
    plan = match(assignment, cells)
    flags += plan.flags
    src = {c.index: c for c in assignment.cells}

    # The grader draws every hidden input now, with seeds it records.
    seed_rng = secrets.SystemRandom() if seed is None else None
    seeds, drawn, job_cells = {}, {}, []
    for i, u in enumerate(plan.units):
        jc = {"i": i, "source": u["source"], "trusted": u["trusted"], "hidden": []}
        if u["test"] is not None:
            for j, call in enumerate(src[u["test"]].hidden):
                s = seed_rng.getrandbits(32) if seed_rng else (seed + 7919 * i + j) % 2**32
                args = G.draw_cases(call.cases, s)
                key = f"{src[u['test']].grade_id}#{j}"
                seeds[key] = s
                drawn[(i, j)] = (s, args)
                jc["hidden"].append({
                    "expr": call.expr, "ref_label": call.ref, "name": call.name,
                    "kwargs": {k: G.encode(v) for k, v in call.kwargs.items()},
                    "cases": [[G.encode(a) for a in case] for case in args],
                    "max_bytes": sandbox.limits.result_cap})
        job_cells.append(jc)

    # Run; if the process dies or hangs in a cell, re-run without that cell (max_restarts).
    skip, ends, hidden, notes, attempts, hits = {}, {}, {}, [], 0, []
    person, lost = None, []
    while True:
        attempts += 1
        res = sandbox.run({"cells": job_cells, "skip": sorted(skip)},
                          files=data_files, slot=slot)
        # The first event for a cell wins: the student's code can write to the channel
        # (it is its own process), but only after the genuine events of earlier cells,
        # and a forged result still has to match nnref on inputs it never chose. The
        # sandbox has already dropped every event out of the plan's order (res.forged).
        run_ends, run_hidden = {}, {}
        for e in res.events:
            if e["ev"] == "end":
                run_ends.setdefault(e["i"], e)
            elif e["ev"] == "hidden":
                run_hidden.setdefault((e["i"], e["j"]), e)
        if res.forged and not any("channel" in n for n in notes):
            notes.append("the notebook wrote fake events to the grader's channel (ignored)")
        if res.channel_dropped and not any("channel limit" in n for n in notes):
            notes.append(f"the notebook sent more than {sandbox.limits.channel_cap >> 20} MiB "
                         "of results; the rest was not kept (channel limit)")
        for lim in res.limits_hit:
            if lim not in hits:
                hits.append(lim)
        for k in res.interrupted:
            lab = plan.units[k]["label"] if 0 <= k < len(plan.units) else f"cell {k}"
            notes.append(f"{lab}: ran longer than {sandbox.limits.cell_timeout:g} s and was "
                         "interrupted (KeyboardInterrupt); what it defined before is kept")
        ends.update(run_ends)
        hidden.update(run_hidden)
        if res.killed == "interrupted":
            person = "not graded: the run was interrupted"
            break
        if not any(e.get("ev") == "ready" for e in res.events):
            if res.killed == "startup timeout":
                why = (f"it was not ready after {sandbox.limits.startup_timeout:g} s "
                       "(the machine is overloaded?)")
            elif res.killed:
                why = f"it was stopped ({res.killed})"
            else:
                why = (res.stderr.strip().splitlines()
                       or [_signal_reason(res.returncode, res, sandbox.limits)])[-1][:300]
            person = "the sandbox could not start the notebook: " + why
            break
        if any(e.get("ev") == "done" for e in res.events):
            break
        k = res.running
        if res.killed == "timeout":
            why = (f"ran longer than {sandbox.limits.cell_timeout:g} s (infinite loop?) and "
                   "did not stop on KeyboardInterrupt")
            if k is not None and plan.units[k]["test"] is None:
                lost.append(plan.units[k]["label"])
        elif res.killed == "total timeout":
            why = f"the notebook exceeded {sandbox.limits.total_timeout:g} s in total"
        elif res.killed == "protocol":
            why = f"the notebook tampered with the grader's channel ({res.protocol})"
        elif res.killed == "disk quota":
            why = f"filled its disk quota ({sandbox.limits.disk >> 20} MiB)"
        else:
            why = _signal_reason(res.returncode, res, sandbox.limits)
        label = plan.units[k]["label"] if k is not None else "start-up"
        notes.append(f"{label}: {why}")
        if k is None or k in skip or attempts > max_restarts or res.killed in (
                "total timeout", "protocol"):
            if k is not None:
                skip[k] = why
            notes.append("cells after it were not run")
            break
        skip[k] = why
    if hits:
        flags.append("hit a limit: " + "; ".join(hits))
    if lost and person is None:
        person = ("cell(s) " + ", ".join(lost) + " had to be stopped (time limit) and the "
                  "notebook re-run without them, so what they defined is missing: the score "
                  "below may be too low")
        lost_person = True
    else:
        lost_person = False
    if notes:
        flags.append("execution problems: " + "; ".join(notes)
                     + (" (re-ran without the offending cell)" if attempts > 1 else ""))

    # Judge every test cell here, against nnref, in the grader's process.
    tests_by_src = {}
    truncated = []
    for i, u in enumerate(plan.units):
        if u["test"] is None:
            if ends.get(i, {}).get("truncated"):
                truncated.append(u["label"])
            continue
        cell = src[u["test"]]
        msgs, vis_ok = [], None
        end = ends.get(i)
        if i in skip and end is None:
            msgs.append(f"This test cell could not run: it {skip[i]}.")
            vis_ok = False
        elif end is None:
            msgs.append("This test cell did not run (the notebook stopped before it).")
            vis_ok = False
        elif end.get("error"):
            err = end["error"]
            msgs.append(f"{err.get('ename')}: {err.get('evalue')}")
            vis_ok = False
        else:
            vis_ok = True
        hid_ok = None
        if vis_ok:
            hid_ok = True
            for j, call in enumerate(cell.hidden):
                ok, msg = judge(call, drawn[(i, j)], hidden.get((i, j)))
                if not ok:
                    hid_ok = False
                    msgs.append(msg)
                    break   # like grade(): the first failing check ends the cell
        if end and end.get("truncated"):
            truncated.append(u["label"])
        passed = bool(vis_ok and hid_ok is not False)
        tests_by_src[cell.index] = TestResult(cell.grade_id, cell.points if passed else 0.0,
                                              cell.points, passed, msgs, vis_ok, hid_ok)
    tests = [tests_by_src[c.index] for c in assignment.tests]
    if truncated:
        flags.append("output over the byte limit was cut in: " + ", ".join(truncated[:10])
                     + (f" and {len(truncated) - 10} more cell(s)" if len(truncated) > 10 else ""))
    untrusted = [c.grade_id for c in assignment.tests if not c.hidden]
    if untrusted:
        flags.append("note: test cell(s) without hidden grade() checks are judged inside the "
                     "student's process only: " + ", ".join(untrusted))
    score = float(sum(t.points for t in tests))
    transient = False
    if person is None and not getattr(sub, "gradebook", True):
        person = "the student's identity is in doubt (see below)"
        lost_person = True
    if person:
        status, reasons = PERSON, [person] + flags
        transient = not lost_person
    else:
        real = [f for f in flags if not f.startswith("note:")]
        status, reasons = (FLAGGED if real else GRADED), flags
    return Result(sub.student, assignment.name, score, assignment.max_score, status, reasons,
                  tests, seeds, name, time.monotonic() - t0, attempts, sub.digest(),
                  sub.timestamp, sandbox.mode, transient, getattr(sub, "gradebook", True))


def judge(call, drawn, ev):
    """Compare the student's outputs with nnref (here, never in the student's process)."""
    seed, args_list = drawn
    if ev is None:
        return False, f"{call.ref}: the hidden check did not run (the notebook stopped)."
    if "raw" in ev:
        try:
            ev = json.loads(ev["raw"])
        except (ValueError, RecursionError):
            ev = {}
    if not isinstance(ev, dict):
        ev = {}
    name = ev.get("name")
    name = str(name)[:200] if isinstance(name, (str, int, float)) and name != "" else \
        str(call.name or call.ref)
    results = ev.get("results")
    if not isinstance(results, list):
        return False, f"{name}: the reply of the hidden check was unreadable."
    results = [r if isinstance(r, dict) else {"error": f"{name}: unreadable result."}
               for r in results[: len(args_list)]]
    ref = G.reference(call.ref)
    n = len(args_list)
    for c, args in enumerate(args_list):
        if c >= len(results):
            return False, f"{name}: no result for case {c + 1} of {n}."
        r = results[c]
        if "error" in r:
            return False, str(r["error"])[:4000]
        if "bad_output" in r:
            return False, (f"{name}: the result could not be read as numbers "
                           f"({str(r['bad_output'])[:1000]}). " + G.case_context(c, n, args, seed))
        if "out" not in r:
            return False, f"{name}: unreadable result for case {c + 1} of {n}."
        try:
            got = G.decode(r["out"])
        except (Exception, RecursionError) as e:  # noqa: BLE001 - a forged reply
            return False, f"{name}: unreadable result ({type(e).__name__})."
        expected = ref(*args, **call.kwargs)
        try:
            G.compare_case(got, expected, name, c, n, args, seed,
                           rtol=call.rtol, atol=call.atol, hint=call.hint)
        except CheckFailed as e:
            return False, str(e)
        except Exception as e:  # noqa: BLE001
            return False, f"{name}: the result could not be compared ({type(e).__name__}: {e})"
    return True, None
