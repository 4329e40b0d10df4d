"""Run the worker for one submission in a fresh, isolated, resource-capped process.

Mechanisms, best first (the weaker ones are reported, never silent):

- ``bwrap`` (bubblewrap): an empty root with only the OS (``/usr``), the Python install,
  the venv and ``nncheck`` mounted read-only; the course repository, ``nnref``,
  ``solutions/``, the gradebook and other submissions do not exist inside. New pid, net,
  ipc and uts namespaces (no network; the whole process tree dies with the sandbox).
- ``unshare``: no network and own pid namespace, but the file system is visible.
- plain subprocess: only the resource limits below.

In every mode: a fresh working directory, ``setrlimit`` caps (address space, CPU time,
processes, file size, core dumps, open files), a distinct unprivileged uid per worker slot
when the grader runs as root (so ``RLIMIT_NPROC`` bites and nothing of the grader is
writable), a per-cell and a total wall-time limit that kills the process group, and a
byte cap on everything the process prints.

Slot uids are leased system-wide (an ``flock`` on a root-only lock file per uid), not just
per grader: the uid-wide ``kill(-1)`` that ends a run and the uid-wide ``RLIMIT_NPROC``
must never reach a sandbox of another grader process that runs at the same time (two
courses, two assignments, two test workers). A run whose preferred uid is leased takes
the next free one.
"""

import contextlib
import fcntl
import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

WORKER = Path(__file__).with_name("worker.py")


@dataclass
class Limits:
    memory: int = 2 << 30           # RLIMIT_AS, bytes (torch needs ~1 GiB of address space)
    cpu: int = 120                  # RLIMIT_CPU, seconds for the whole run
    nproc: int = 32                 # RLIMIT_NPROC (threads count too)
    fsize: int = 64 << 20           # RLIMIT_FSIZE, bytes per file
    nofile: int = 256
    cell_timeout: float = 60.0      # wall time of one cell
    startup_timeout: float = 120.0  # wall time until the notebook is ready (imports)
    total_timeout: float = 300.0    # wall time of one run
    output_cap: int = 1 << 20       # bytes kept per cell and stream
    result_cap: int = 16 << 20      # bytes of one hidden-test result


@dataclass
class RunResult:
    events: list = field(default_factory=list)
    returncode: int | None = None
    killed: str | None = None        # the grader killed it: "timeout", "total timeout",
    #                                  "startup timeout", "protocol"; None: it ended itself
    running: int | None = None       # cell index running when the process ended
    stderr: str = ""
    seconds: float = 0.0
    oom: bool | None = None          # the kernel's OOM killer fired during the run
    uid: int | None = None           # the uid the run leased


UID_SPAN = 256   # a run may lease any uid in [uid_base, uid_base + UID_SPAN)


def _lock_dir():
    """A directory only this (root) process's uid can write, for the uid lease files."""
    for d in (Path("/run/nngrader"),
              Path(tempfile.gettempdir()) / f"nngrader-uid-leases-{os.getuid()}"):
        try:
            d.mkdir(mode=0o700, exist_ok=True)
            st = os.lstat(d)
        except OSError:
            continue
        if stat.S_ISDIR(st.st_mode) and st.st_uid == os.getuid() and not st.st_mode & 0o077:
            return d
    raise RuntimeError("nngrader: no private directory for the uid lease files")


def _try_lock(d, uid, block=False):
    fd = os.open(d / f"uid-{uid}.lock",
                 os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | (0 if block else fcntl.LOCK_NB))
    except BlockingIOError:
        os.close(fd)
        return None
    except BaseException:
        os.close(fd)
        raise
    return fd


@contextlib.contextmanager
def uid_lease(preferred, base=None, span=UID_SPAN, clean=True):
    """Hold ``preferred`` (or the next free uid of the range) for this process alone.

    Every grader process (and every thread) that runs student code as a slot uid leases
    it here first, so a uid-wide kill or process count only ever concerns its own run.
    Whatever an earlier holder left behind (a grader that crashed) is killed on entry
    (``clean``).
    """
    base = preferred if base is None else base
    d = _lock_dir()
    fd = uid = None
    for k in range(span):
        uid = base + (preferred - base + k) % span
        fd = _try_lock(d, uid)
        if fd is not None:
            break
    if fd is None:             # all leased: wait for the preferred one
        uid = preferred
        fd = _try_lock(d, uid, block=True)
    try:
        if clean:
            _kill_uid(uid)
        yield uid
    finally:
        os.close(fd)


def _kill_uid(uid):
    """SIGKILL every process of ``uid`` (what escaped the process group: setsid, ...)."""
    pid = os.fork()
    if pid == 0:
        try:
            os.setgid(uid)
            os.setuid(uid)
            os.kill(-1, signal.SIGKILL)
        finally:
            os._exit(0)
    os.waitpid(pid, 0)


def _oom_kills():
    """The kernel's OOM-kill counters (system-wide and this cgroup's), or None."""
    n, found = 0, False
    try:
        for line in open("/proc/vmstat"):
            if line.startswith("oom_kill "):
                n, found = n + int(line.split()[1]), True
    except (OSError, ValueError):
        pass
    try:
        for line in open("/proc/self/cgroup"):
            if line.startswith("0::"):
                ev = Path("/sys/fs/cgroup") / line[3:].strip().lstrip("/") / "memory.events"
                for e in open(ev):
                    if e.startswith("oom_kill "):
                        n, found = n + int(e.split()[1]), True
    except (OSError, ValueError):
        pass
    return n if found else None


def _world_traversable(path):
    p = Path(path).resolve()
    for part in [p, *p.parents]:
        try:
            if not os.stat(part).st_mode & 0o001:
                return False
        except OSError:
            return False
    return True


class Sandbox:
    def __init__(self, limits=None, hide=(), mode=None, uid_base=61000, extra_ro=()):
        self.limits = limits or Limits()
        self.hide = [Path(h).resolve() for h in hide if h]
        self.warnings = []
        self.extra_ro = [Path(p).resolve() for p in extra_ro]
        self.mode = mode or self._detect()
        self.uid_base = uid_base if os.getuid() == 0 else None
        if self.uid_base is not None and self.mode != "bwrap" and not (
                _world_traversable(sys.base_prefix) and _world_traversable(sys.prefix)):
            self.warnings.append("cannot drop to an unprivileged uid outside bwrap (the "
                                 "Python install is not world-readable): student code "
                                 "runs as root")
            self.uid_base = None
        if self.uid_base is None and os.getuid() != 0:
            self.warnings.append("the grader is not root: student code runs as the "
                                 "grader's own uid (RLIMIT_NPROC is shared with it)")

    # -- mechanism -----------------------------------------------------------------------
    def _detect(self):
        if shutil.which("bwrap"):
            probe = subprocess.run(["bwrap", "--ro-bind", "/", "/", "--unshare-net",
                                    "--unshare-pid", "true"], capture_output=True)
            if probe.returncode == 0:
                return "bwrap"
            self.warnings.append("bwrap is installed but cannot create namespaces here "
                                 f"({probe.stderr.decode(errors='replace').strip()})")
        else:
            self.warnings.append("bubblewrap (bwrap) is not installed: student code can "
                                 "READ the course files (solutions/, nnref, gradebook). "
                                 "Install it: apt-get install bubblewrap")
        if shutil.which("unshare"):
            probe = subprocess.run(["unshare", "--net", "--pid", "--fork", "true"],
                                   capture_output=True)
            if probe.returncode == 0:
                self.warnings.append("sandbox degraded to unshare: no network and own pid "
                                     "namespace, but the file system is visible")
                return "unshare"
        self.warnings.append("no namespace sandbox available: plain subprocess with "
                             "resource limits only (network and files are reachable)")
        return "plain"

    def _binds(self):
        import nncheck
        ro = {Path(sys.base_prefix).resolve(), Path(sys.prefix).resolve(),
              Path(nncheck.__file__).resolve().parent, *self.extra_ro}
        return sorted(ro, key=lambda p: len(p.parts))

    def _bwrap_prefix(self, workdir):
        args = ["bwrap", "--perms", "1777", "--tmpfs", "/tmp", "--ro-bind", "/usr", "/usr"]
        for d in ("bin", "lib", "lib64", "sbin", "lib32", "libx32"):
            p = Path("/" + d)
            if p.is_symlink():
                args += ["--symlink", os.readlink(p), str(p)]
            elif p.is_dir():
                args += ["--ro-bind", str(p), str(p)]
        for f in ("/etc/ld.so.cache", "/etc/alternatives", "/etc/fonts", "/etc/localtime",
                  "/etc/passwd", "/etc/group", "/etc/ssl/certs", "/etc/matplotlibrc"):
            if os.path.exists(f):
                args += ["--ro-bind", f, f]
        made = {Path("/"), Path("/tmp"), Path("/usr")}
        for b in self._binds():
            for parent in reversed(b.parents):
                if parent not in made:
                    args += ["--perms", "0755", "--dir", str(parent)]
                    made.add(parent)
            args += ["--ro-bind", str(b), str(b)]
            made.add(b)
        for h in self.hide:  # course files that happen to lie under a bound path
            if any(h == b or b in h.parents for b in self._binds()):
                args += (["--tmpfs", str(h)] if h.is_dir() else ["--ro-bind", "/dev/null", str(h)])
        args += ["--ro-bind", str(WORKER), "/nngrader/worker.py",
                 "--perms", "0755", "--dir", "/home",
                 "--bind", str(workdir), "/home/student", "--chdir", "/home/student",
                 "--dev", "/dev", "--proc", "/proc",
                 "--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts",
                 "--unshare-cgroup-try", "--die-with-parent", "--new-session",
                 "--setenv", "HOME", "/home/student"]
        return args, "/nngrader/worker.py", "/home/student"

    # -- one run -------------------------------------------------------------------------
    def run(self, job, files=(), slot=0):
        """Run ``job`` (see worker.py); ``files``: (name, bytes) put in the working dir."""
        t0 = time.monotonic()
        if self.uid_base is None:
            return self._run(job, files, None, t0)
        with uid_lease(self.uid_base + slot, base=self.uid_base) as uid:
            return self._run(job, files, uid, t0)

    def _run(self, job, files, uid, t0):
        lim = self.limits
        workdir = Path(tempfile.mkdtemp(prefix="nngrader-"))
        try:
            for name, data in files:
                (workdir / name).write_bytes(data)
            if uid is not None:
                for p in [workdir, *workdir.rglob("*")]:
                    os.chown(p, uid, uid)
            env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "MPLBACKEND": "Agg",
                   "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
                   "MKL_NUM_THREADS": "1", "PYTHONDONTWRITEBYTECODE": "1",
                   "PYTHONNOUSERSITE": "1", "PYTHONUNBUFFERED": "1"}
            if self.mode == "bwrap":
                prefix, worker, cwd = self._bwrap_prefix(workdir)
                env_args = []
                for k, v in {**env, "MPLCONFIGDIR": "/home/student/.mpl"}.items():
                    env_args += ["--setenv", k, v]
                cmd = prefix + env_args + [sys.executable, worker]
            else:
                cwd = str(workdir)
                env.update(HOME=cwd, MPLCONFIGDIR=str(workdir / ".mpl"))
                cmd = [sys.executable, str(WORKER)]
                if self.mode == "unshare":
                    cmd = ["unshare", "--net", "--pid", "--fork", "--kill-child"] + cmd
            job = dict(job, cwd=cwd, uid=uid, output_cap=lim.output_cap,
                       limits={"as": lim.memory, "cpu": lim.cpu, "nproc": lim.nproc,
                               "fsize": lim.fsize, "core": 0, "nofile": lim.nofile})
            res = self._drive(cmd, env, job, t0, uid)
            res.uid = uid
            return res
        finally:
            shutil.rmtree(workdir, ignore_errors=True)

    def _drive(self, cmd, env, job, t0, uid):
        lim = self.limits
        res = RunResult()
        r, w = os.pipe()
        job = dict(job, chan_fd=w)
        oom0 = _oom_kills()
        proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, pass_fds=(w,), env=env,
                                start_new_session=True, cwd="/")
        os.close(w)
        lock = threading.Lock()
        state = {"cell": None, "since": time.monotonic(), "bad": None, "ready": False}
        err_buf = bytearray()

        def feed():
            try:
                proc.stdin.write(json.dumps(job).encode())
                proc.stdin.close()
            except OSError:
                pass

        def drain():
            while True:
                chunk = proc.stdout.read(65536)
                if not chunk:
                    break
                if len(err_buf) < lim.output_cap:
                    err_buf.extend(chunk[: lim.output_cap - len(err_buf)])

        def events():
            with os.fdopen(r, "rb") as chan:
                while True:
                    line = chan.readline(lim.result_cap * 2 + (1 << 20))
                    if not line:
                        break
                    if not line.endswith(b"\n"):
                        state["bad"] = "a reply from the sandbox was too long"
                        break
                    try:
                        ev = json.loads(line)
                    except ValueError:
                        state["bad"] = "unreadable reply from the sandbox"
                        break
                    if not isinstance(ev, dict):
                        continue
                    with lock:
                        res.events.append(ev)
                        if ev.get("ev") == "ready":
                            state["ready"] = True
                            state["since"] = time.monotonic()
                        elif ev.get("ev") in ("start", "hcall"):
                            state["cell"], state["since"] = ev.get("i"), time.monotonic()
                        elif ev.get("ev") == "end":
                            state["cell"] = None
                            state["since"] = time.monotonic()

        threads = [threading.Thread(target=f, daemon=True) for f in (feed, drain, events)]
        for t in threads:
            t.start()
        # The process is never reaped before its group and its uid are killed: while it
        # is a zombie its pid (= the process group id) cannot be reused by another
        # process, so killpg never hits a stranger.
        while not self._exited(proc.pid):
            time.sleep(0.02)
            now = time.monotonic()
            with lock:
                cell, since, ready = state["cell"], state["since"], state["ready"]
            if state["bad"]:
                res.killed = "protocol"
            elif not ready and now - since > max(lim.startup_timeout, lim.cell_timeout):
                res.killed = "startup timeout"   # imports on an overloaded machine
            elif ready and now - since > lim.cell_timeout:
                res.killed = "timeout"
            elif now - t0 > lim.total_timeout:
                res.killed = "total timeout"
            if res.killed:
                res.running = cell
                self._kill(proc, uid)
                break
        self._exited(proc.pid, block=True)
        self._kill(proc, uid)
        _, status = os.waitpid(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        oom1 = _oom_kills()
        res.oom = None if oom0 is None or oom1 is None else oom1 > oom0
        for t in threads[1:]:
            t.join(timeout=5)
        res.returncode = proc.returncode
        if res.killed is None and not any(e.get("ev") == "done" for e in res.events):
            res.running = self._last_open(res.events)
        res.stderr = err_buf.decode("utf-8", "replace")
        res.seconds = time.monotonic() - t0
        return res

    @staticmethod
    def _last_open(events):
        open_cell = None
        for e in events:
            if e.get("ev") in ("start", "hcall"):
                open_cell = e.get("i")
            elif e.get("ev") in ("end", "hidden"):
                open_cell = None
        return open_cell

    @staticmethod
    def _exited(pid, block=False):
        """Has ``pid`` exited? Leaves it a zombie (not reaped)."""
        flags = os.WEXITED | os.WNOWAIT | (0 if block else os.WNOHANG)
        while True:
            try:
                return os.waitid(os.P_PID, pid, flags) is not None
            except ChildProcessError:
                return True
            except InterruptedError:
                continue

    @staticmethod
    def _kill(proc, uid):
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        if uid is not None:
            # Whatever escaped the process group (setsid, double fork) runs as this slot's
            # uid, which this run leased for itself alone (uid_lease): kill all of it.
            _kill_uid(uid)
