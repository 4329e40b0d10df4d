"""The sandboxed side of the class grader: runs ONE submission, reports over a pipe.

This file is executed inside the sandbox (``python worker.py``), as an unprivileged uid,
in a fresh process, with nothing of the course visible except ``nncheck`` (no nnref, no
solutions, no gradebook, no other submission). It imports nothing from ``nngrader``.

Protocol: the job arrives as one JSON document on stdin (read completely before any
student code runs); events go out as JSON lines on the channel fd (``chan_fd``):
``start``/``end`` around every cell, ``hidden`` with the student's outputs on the inputs
the grader drew, ``done`` at the end. Nothing here judges anything: the grader compares.
Whatever the student's code does to this process can only change the outputs it returns.
"""

import json
import os
import resource
import sys
import traceback


def _limits(job):
    lim = job.get("limits") or {}
    table = {"as": resource.RLIMIT_AS, "cpu": resource.RLIMIT_CPU,
             "nproc": resource.RLIMIT_NPROC, "fsize": resource.RLIMIT_FSIZE,
             "core": resource.RLIMIT_CORE, "nofile": resource.RLIMIT_NOFILE}
    for key, res in table.items():
        if lim.get(key) is not None:
            v = int(lim[key])
            hard = v + 5 if key == "cpu" else v  # SIGXCPU first, SIGKILL 5 s later
            try:
                resource.setrlimit(res, (v, hard))
            except (ValueError, OSError) as e:
                print(f"nngrader worker: cannot set {key} limit: {e}", file=sys.stderr)


def _drop_privileges(uid):
    if uid is None or os.getuid() != 0:
        return
    os.setgroups([])
    os.setgid(uid)
    os.setuid(uid)  # all capabilities go with it
    try:
        import ctypes
        ctypes.CDLL(None).prctl(38, 1, 0, 0, 0)  # PR_SET_NO_NEW_PRIVS
    except Exception:
        pass


class _Capped:
    """A text stream that keeps at most ``cap`` bytes (counted in UTF-8) and counts the rest."""

    def __init__(self, cap):
        self.cap, self.parts, self.size, self.truncated = cap, [], 0, False

    def write(self, s):
        if not isinstance(s, str):
            s = str(s)
        if self.truncated:
            return len(s)
        n = len(s.encode("utf-8", "replace"))
        if self.size + n > self.cap:
            room = max(self.cap - self.size, 0)
            s = s.encode("utf-8", "replace")[:room].decode("utf-8", "ignore")
            self.truncated = True
            n = room
        if s:
            self.parts.append(s)
            self.size += n
        return len(s)

    def flush(self):
        pass

    def isatty(self):
        return False

    def getvalue(self):
        return "".join(self.parts)

    encoding = "utf-8"
    errors = "replace"


def _exact(v, depth=0):
    """Exact numbers (Decimal, Fraction, object arrays of them) as float64 when the
    conversion is exact; otherwise a clear error. Anything else is returned as is."""
    import decimal
    import fractions
    import numpy as np
    if depth > 20:
        return v
    if isinstance(v, (decimal.Decimal, fractions.Fraction)):
        f = float(v)
        same = (decimal.Decimal(f) == v) if isinstance(v, decimal.Decimal) else \
            (fractions.Fraction(f) == v)
        if not same:
            raise ValueError(f"{type(v).__name__} {v} is not exactly a float64 number: "
                             "return floats (or a numpy float64 array)")
        return f
    if isinstance(v, np.ndarray) and v.dtype.kind == "O":
        flat = [_exact(x, depth + 1) for x in v.ravel().tolist()]
        if all(isinstance(x, (int, float, np.number)) and not isinstance(x, bool)
               for x in flat):
            return np.array(flat, dtype=np.float64).reshape(v.shape)
        return v
    if type(v) in (list, tuple):
        return type(v)(_exact(x, depth + 1) for x in v)
    if type(v) is dict:
        return {k: _exact(x, depth + 1) for k, x in v.items()}
    return v


def main():
    job = json.loads(sys.stdin.buffer.read().decode("utf-8"))
    chan = os.fdopen(int(job.get("chan_fd", 3)), "w", buffering=1, encoding="utf-8")
    os.chdir(job.get("cwd") or ".")
    _limits(job)
    _drop_privileges(job.get("uid"))
    import faulthandler
    faulthandler.enable(file=sys.__stderr__)

    me = os.getpid()
    # The grader's clock: when a cell's time is up it sends SIGINT, which becomes a
    # KeyboardInterrupt inside the cell (what it defined before stays); outside a cell the
    # signal is ignored.
    import signal
    in_cell = [False]

    def on_sigint(signum, frame):
        if in_cell[0] and os.getpid() == me:
            raise KeyboardInterrupt
    signal.signal(signal.SIGINT, on_sigint)
    # Children forked by the student's code yield the CPU to the notebook itself.
    os.register_at_fork(after_in_child=lambda: os.nice(10))

    def send(**ev):
        if os.getpid() != me:  # a forked child of the student's code stays silent
            return
        chan.write(json.dumps(ev) + "\n")
        chan.flush()

    from traitlets.config import Config
    cfg = Config()
    cfg.HistoryManager.enabled = False
    cfg.InteractiveShell.colors = "NoColor"
    from IPython.core.interactiveshell import InteractiveShell
    InteractiveShell.enable_gui = lambda self, gui=None: None  # %matplotlib inline: no GUI
    shell = InteractiveShell.instance(config=cfg)
    from nncheck import grading as G  # the shared pieces: name, call, encode/decode

    cap = int(job.get("output_cap", 1 << 20))
    skip = set(job.get("skip", []))
    send(ev="ready")
    real_out, real_err = sys.stdout, sys.stderr
    for cell in job["cells"]:
        i = cell["i"]
        if i in skip:
            continue
        send(ev="start", i=i)
        if cell.get("trusted"):
            # A cell that comes from the instructor's source: undo what the student may
            # have installed to rewrite cells (input/AST transformers).
            shell.input_transformers_post = []
            shell.ast_transformers = []
        out, err = _Capped(cap), _Capped(cap)
        sys.stdout, sys.stderr = out, err
        error = None
        try:
            in_cell[0] = True
            res = shell.run_cell(cell["source"], store_history=False, silent=False)
            in_cell[0] = False
            exc = res.error_before_exec or res.error_in_exec
            if exc is not None:
                error = {"ename": type(exc).__name__, "evalue": _text(exc)}
        except BaseException as exc:  # noqa: BLE001 - anything the student raises
            in_cell[0] = False
            error = {"ename": type(exc).__name__, "evalue": _text(exc)}
        finally:
            in_cell[0] = False
            sys.stdout, sys.stderr = real_out, real_err
        if os.getpid() != me:
            os._exit(0)  # a child forked by the student's cell never runs the next cells
        # the outputs stay here: the grader needs only whether they were cut
        send(ev="end", i=i, error=error, truncated=out.truncated or err.truncated)
        del out, err
        if error is not None or not cell.get("hidden"):
            continue
        for j, call in enumerate(cell["hidden"]):
            send(ev="hcall", i=i, j=j)
            sys.stdout, sys.stderr = _Capped(cap), _Capped(cap)
            try:
                in_cell[0] = True
                results, name = _collect(shell, G, call)
            except BaseException as exc:  # noqa: BLE001
                results, name = [{"error": f"{type(exc).__name__}: {_text(exc)}"[:4000]}], None
            finally:
                in_cell[0] = False
                sys.stdout, sys.stderr = real_out, real_err
            if os.getpid() != me:
                os._exit(0)
            send(ev="hidden", i=i, j=j, name=name, results=results)
    send(ev="done")
    chan.close()
    os._exit(0)


def _text(exc):
    try:
        return str(exc)[:4000]
    except BaseException:  # noqa: BLE001 - a __str__ that raises
        return f"<{type(exc).__name__}>"


def _collect(shell, G, call):
    """Evaluate the student expression and call it on every drawn case."""
    ref = call["ref_label"]
    try:
        student = eval(compile(call["expr"], "<hidden test>", "eval"), shell.user_ns)
    except BaseException as e:  # noqa: BLE001 - NameError when a cell was not run, ...
        return [{"error": f"{ref}: the expression {call['expr']!r} failed: "
                          f"{type(e).__name__}: {e}"[:4000]}], None
    name = G.student_name(student, ref, call.get("name"))
    try:
        G.check_callable(student, name)
    except G.CheckFailed as e:
        return [{"error": str(e)}], str(name)[:200]
    kwargs = {k: G.decode(v) for k, v in call["kwargs"].items()}
    results = []
    cap = int(call.get("max_bytes", 4 << 20))
    budget, size = [cap], 0          # raw bytes of arrays; JSON bytes of everything
    for case in call["cases"]:
        args = tuple(G.decode(a) for a in case)
        try:
            got = G.call_student(student, args, kwargs, name)
        except G.CheckFailed as e:
            results.append({"error": str(e)[:4000]})
            break  # grade() stops at the first failing case
        try:
            enc = G.encode(_exact(got), _budget=budget)
            size += len(json.dumps(enc))
            if size > cap * 3 // 2:
                raise G.EncodeError(f"result too large (over {cap >> 20} MiB)")
            results.append({"out": enc})
        except Exception as e:  # noqa: BLE001
            results.append({"bad_output": f"{type(e).__name__}: {_text(e)}"[:1000]})
    return results, str(name)[:200]


if __name__ == "__main__":
    try:
        main()
    except BaseException:
        traceback.print_exc()
        sys.stderr.flush()
        os._exit(70)
