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
    """A text stream that keeps at most ``cap`` bytes (counted in UTF-8)."""

    def __init__(self, cap):
        self.cap, self.parts, self.size, self.truncated = cap, [], 0, False

    def write(self, s):
        if not isinstance(s, str):
            s = str(s)
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


def main():
    job = json.loads(sys.stdin.buffer.read().decode("utf-8"))
    chan = os.fdopen(int(job.get("chan_fd", 3)), "w", buffering=1, encoding="utf-8")
    os.chdir(job.get("cwd") or ".")
    _limits(job)
    _drop_privileges(job.get("uid"))
    import faulthandler
    faulthandler.enable(file=sys.__stderr__)

    me = os.getpid()
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
            res = shell.run_cell(cell["source"], store_history=False, silent=False)
            exc = res.error_before_exec or res.error_in_exec
            if exc is not None:
                error = {"ename": type(exc).__name__, "evalue": str(exc)[:4000]}
        except BaseException as exc:  # noqa: BLE001 - anything the student raises
            error = {"ename": type(exc).__name__, "evalue": str(exc)[:4000]}
        finally:
            sys.stdout, sys.stderr = real_out, real_err
        if os.getpid() != me:
            os._exit(0)  # a child forked by the student's cell never runs the next cells
        send(ev="end", i=i, error=error, stdout=out.getvalue(), stderr=err.getvalue(),
             truncated=out.truncated or err.truncated)
        if error is not None or not cell.get("hidden"):
            continue
        for j, call in enumerate(cell["hidden"]):
            send(ev="hcall", i=i, j=j)
            sys.stdout, sys.stderr = _Capped(cap), _Capped(cap)
            try:
                results, name = _collect(shell, G, call)
            except BaseException as exc:  # noqa: BLE001
                results, name = [{"error": f"{type(exc).__name__}: {exc}"[:4000]}], None
            finally:
                sys.stdout, sys.stderr = real_out, real_err
            if os.getpid() != me:
                os._exit(0)
            send(ev="hidden", i=i, j=j, name=name, results=results)
    send(ev="done")
    chan.close()
    os._exit(0)


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
    for case in call["cases"]:
        args = tuple(G.decode(a) for a in case)
        try:
            got = G.call_student(student, args, kwargs, name)
        except G.CheckFailed as e:
            results.append({"error": str(e)[:4000]})
            break  # grade() stops at the first failing case
        try:
            results.append({"out": G.encode(got, max_bytes=call.get("max_bytes", 16 << 20))})
        except Exception as e:  # noqa: BLE001
            results.append({"bad_output": f"{type(e).__name__}: {e}"[:1000]})
    return results, str(name)[:200]


if __name__ == "__main__":
    try:
        main()
    except BaseException:
        traceback.print_exc()
        sys.stderr.flush()
        os._exit(70)
