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


def _shell():
    """The expensive part (IPython, nncheck): done once per zygote, or once per run."""
    from traitlets.config import Config
    cfg = Config()
    cfg.HistoryManager.enabled = False
    cfg.InteractiveShell.colors = "NoColor"
    from IPython.core.interactiveshell import InteractiveShell
    InteractiveShell.enable_gui = lambda self, gui=None: None  # %matplotlib inline: no GUI
    shell = InteractiveShell.instance(config=cfg)
    from nncheck import grading as G  # the shared pieces: name, call, encode/decode
    return shell, G


def main():
    job = json.loads(sys.stdin.buffer.read().decode("utf-8"))
    os.chdir(job.get("cwd") or ".")
    _limits(job)
    _drop_privileges(job.get("uid"))
    run_job(job)


def run_job(job, prepared=None):
    chan = os.fdopen(int(job.get("chan_fd", 3)), "w", buffering=1, encoding="utf-8")
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

    shell, G = prepared or _shell()

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
    try:
        st = os.statvfs(".")
        used = (st.f_blocks - st.f_bfree) * st.f_frsize
    except OSError:
        used = 0
    send(ev="done", disk=used)
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


# -- the zygote: a warm interpreter per worker slot ------------------------------------------
#
# Started once per slot inside the same bubblewrap sandbox as a one-shot run (read-only OS,
# no course, no network), as root of that sandbox, it imports numpy, matplotlib, IPython and
# nncheck and then only forks: it never runs student code itself. Every job's child, before
# any student code, gets a mount and IPC namespace of its own with a fresh size-capped tmpfs
# as /home (its home and its /tmp: one disk quota), fresh random seeds, the job's rlimits,
# the job's unprivileged uid (no capabilities, no_new_privs) and no descriptor of the
# zygote's. Students never share anything but the zygote's clean, read-only-in-effect
# memory (copy-on-write), exactly what a fresh interpreter would have imported.

_CLONE_NEWNS, _CLONE_NEWIPC = 0x00020000, 0x08000000
_MS_NOSUID, _MS_NODEV, _MS_BIND, _MS_REC, _MS_PRIVATE = 2, 4, 0x1000, 0x4000, 0x40000
_MS_RDONLY, _MS_REMOUNT = 1, 32


def _paths_below_tmp():
    """The read-only binds of the sandbox that lie below /tmp: the Python install, the venv
    and nncheck (the same set as the sandbox's binds), outermost first, nested ones left out."""
    import nncheck
    paths = {os.path.realpath(p) for p in (sys.prefix, sys.base_prefix,
                                           os.path.dirname(nncheck.__file__))}
    below = sorted((p for p in paths if p.startswith("/tmp/")), key=len)
    return [p for i, p in enumerate(below)
            if not any(p.startswith(q + "/") for q in below[:i])]


def _warm():
    import numpy  # noqa: F401
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot  # noqa: F401
    except Exception:  # noqa: BLE001 - matplotlib is optional for the worker
        pass
    return _shell()


def _child(job, chan_fd, out_fd, libc):
    import ctypes
    os.dup2(out_fd, 1)
    os.dup2(out_fd, 2)
    os.closerange(3, chan_fd)
    os.closerange(chan_fd + 1, 1 << 16)

    def check(rc, what):
        if rc != 0:
            raise OSError(ctypes.get_errno(), f"zygote child: {what} failed")
    check(libc.unshare(_CLONE_NEWNS | _CLONE_NEWIPC), "unshare")
    check(libc.mount(None, b"/", None, _MS_REC | _MS_PRIVATE, None), "private /")
    quota = int(job.get("disk", 256 << 20))
    opts = f"size={quota},nr_inodes={max(4096, quota >> 12)},mode=0755".encode()
    check(libc.mount(b"tmpfs", b"/home", b"tmpfs", _MS_NOSUID | _MS_NODEV, opts), "tmpfs")
    uid = job.get("uid")
    for d in ("/home/student", "/home/.tmp"):
        os.mkdir(d, 0o700)
        if uid is not None:
            os.chown(d, uid, uid)
    keep = _paths_below_tmp()   # the interpreter or nncheck may live below /tmp (CI's clone)
    held = [os.open(p, os.O_PATH | os.O_DIRECTORY) for p in keep]
    check(libc.mount(b"/home/.tmp", b"/tmp", None, _MS_BIND, None), "bind /tmp")
    for p, fd in zip(keep, held):   # mounted again on top of the fresh /tmp, read-only
        os.makedirs(p, exist_ok=True)
        check(libc.mount(f"/proc/self/fd/{fd}".encode(), p.encode(), None, _MS_BIND | _MS_REC,
                         None), f"bind {p}")
        check(libc.mount(None, p.encode(), None, _MS_REMOUNT | _MS_BIND | _MS_RDONLY, None),
              f"read-only {p}")
        os.close(fd)
    import base64
    for name, data in job.pop("files", []):
        path = os.path.join("/home/student", os.path.basename(name))
        with open(path, "wb") as f:
            f.write(base64.b64decode(data))
        if uid is not None:
            os.chown(path, uid, uid)
    import random
    random.seed()
    try:
        import numpy as np
        np.random.seed()
    except Exception:  # noqa: BLE001
        pass
    os.chdir("/home/student")
    job["chan_fd"] = chan_fd
    _limits(job)
    _drop_privileges(uid)


def zygote(sock_fd):
    import ctypes
    import socket
    libc = ctypes.CDLL(None, use_errno=True)
    prepared = _warm()
    sock = socket.socket(fileno=sock_fd)
    sock.sendall(b'{"ready": true}\n')
    while True:
        # only descriptors come here: the job (a student's notebook) goes straight to the
        # child through its own pipe, so the zygote's memory never holds one to pass on
        try:
            head, fds, _, _ = socket.recv_fds(sock, 16, 3)
        except OSError:
            break
        if head != b"job" or len(fds) != 3:
            break
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            try:
                sock.close()
                with os.fdopen(fds[2], "rb") as jr:
                    job = json.loads(jr.read())
                _child(job, fds[0], fds[1], libc)
                run_job(job, prepared)
            except BaseException:  # noqa: BLE001
                traceback.print_exc()
                sys.stderr.flush()
            os._exit(70)
        for fd in fds:
            os.close(fd)
        sock.sendall(json.dumps({"forked": pid}).encode() + b"\n")
        _, status = os.waitpid(pid, 0)
        sock.sendall(json.dumps({"exit": os.waitstatus_to_exitcode(status)}).encode() + b"\n")
    os._exit(0)


if __name__ == "__main__" and len(sys.argv) == 3 and sys.argv[1] == "--zygote":
    zygote(int(sys.argv[2]))
elif __name__ == "__main__":
    try:
        main()
    except BaseException:
        traceback.print_exc()
        sys.stderr.flush()
        os._exit(70)
