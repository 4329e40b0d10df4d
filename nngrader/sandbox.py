"""Run the worker for one submission in a fresh, isolated, resource-capped process.

Mechanisms, best first (the weaker ones are reported, never silent):

- ``bwrap`` (bubblewrap): an empty root with only the OS (``/usr``), the Python install,
  the venv and ``nncheck`` mounted read-only; the course repository, ``nnref``,
  ``solutions/``, the gradebook and other submissions do not exist inside. New pid, net,
  ipc and uts namespaces (no network; the whole process tree dies with the sandbox).
- ``unshare``: no network and own pid namespace, but the file system is visible.
- plain subprocess: only the resource limits below.

In every mode: a fresh working area, ``setrlimit`` caps (address space, CPU time,
processes, file size, core dumps, open files), a distinct unprivileged uid per worker slot
when the grader runs as root (so ``RLIMIT_NPROC`` bites and nothing of the grader is
writable), a per-cell and a total wall-time limit kept by the grader's own clock, and a
byte cap on everything the process prints or writes to the grader's channel.

Limits for the whole submission (not per process), with the best mechanism the machine has,
each degrading with a warning (``Sandbox.warnings``) and flagged when a submission hits it
(``RunResult.limits_hit``):

- disk: the working area (the student's home *and* its ``/tmp``) is one size-capped tmpfs
  mounted by the grader (root); otherwise the grader measures it and stops the run;
- memory and processes of the whole tree: a cgroup per run (v2, else v1 memory+pids), so
  forked children share one memory cap and tmpfs pages count in it too.

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
    memory: int = 2 << 30           # RLIMIT_AS per process (torch needs ~1 GiB of it)
    tree_memory: int | None = None  # the cgroup's cap on the whole tree (None: ``memory``)
    cpu: int = 600                  # RLIMIT_CPU, seconds for the whole run
    nproc: int = 32                 # RLIMIT_NPROC (threads count too); cgroup pids.max
    fsize: int = 64 << 20           # RLIMIT_FSIZE, bytes per file
    nofile: int = 256
    disk: int = 256 << 20           # working area + /tmp of the whole submission
    cell_timeout: float = 120.0     # wall time of one cell (nbgrader_config.py's policy)
    startup_timeout: float = 120.0  # wall time until the notebook is ready (imports)
    total_timeout: float = 900.0    # wall time of one run
    interrupt_grace: float = 10.0   # after a cell's time is up: KeyboardInterrupt, then kill
    output_cap: int = 1 << 20       # bytes of a cell's output kept (in the sandbox)
    result_cap: int = 4 << 20       # bytes of one hidden check's results (all cases)
    event_cap: int = 8 << 20        # bytes of one line on the channel
    channel_cap: int = 32 << 20     # bytes kept from the channel per run


@dataclass
class RunResult:
    events: list = field(default_factory=list)   # accepted, validated events only
    returncode: int | None = None
    killed: str | None = None        # the grader killed it: "timeout", "total timeout",
    #                                  "startup timeout", "protocol", "disk quota";
    #                                  None: it ended itself
    running: int | None = None       # cell index running when the process ended
    stderr: str = ""
    seconds: float = 0.0
    oom: bool | None = None          # the kernel's OOM killer fired during the run
    uid: int | None = None           # the uid the run leased
    forged: int = 0                  # channel events rejected (out of order, duplicate, bad)
    interrupted: list = field(default_factory=list)   # cells stopped by KeyboardInterrupt
    limits_hit: list = field(default_factory=list)    # "the disk quota (256 MiB)", ...
    channel_dropped: int = 0         # bytes over channel_cap, read and thrown away
    startup: float | None = None     # seconds from launch to the worker's "ready"
    protocol: str | None = None      # why the channel was cut (a bad line)


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


def _kill_uid(uid, sig=signal.SIGKILL):
    """SIGKILL every process of ``uid`` (what escaped the process group: setsid, ...)."""
    pid = os.fork()
    if pid == 0:
        try:
            os.setgid(uid)
            os.setuid(uid)
            os.kill(-1, sig)
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


_libc = None


def _c():
    global _libc
    if _libc is None:
        import ctypes
        _libc = ctypes.CDLL(None, use_errno=True)
    return _libc


def remove_tree(path):
    """Delete ``path`` whatever its depth or path lengths (no recursion, never follows a
    link): every subdirectory is first moved up to the top, then emptied."""
    path = Path(path)
    try:
        top = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    except FileNotFoundError:
        return
    except NotADirectoryError:
        os.unlink(path)
        return
    n = 0
    try:
        todo = [None]                      # None: the top itself; else a name in top
        while todo:
            name = todo.pop()
            try:
                fd = top if name is None else os.open(
                    name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=top)
            except FileNotFoundError:
                continue
            try:
                for e in list(os.scandir(fd)):
                    if not e.is_dir(follow_symlinks=False):
                        os.unlink(e.name, dir_fd=fd)
                    elif name is None:
                        todo.append(e.name)
                    else:                  # move it up: the depth never grows
                        n += 1
                        os.rename(e.name, f".nngrader-rm{n}", src_dir_fd=fd, dst_dir_fd=top)
                        todo.append(f".nngrader-rm{n}")
            finally:
                if fd != top:
                    os.close(fd)
            if name is not None:
                os.rmdir(name, dir_fd=top)
    finally:
        os.close(top)
    os.rmdir(path)


class WorkArea:
    """The submission's disk: ``home/`` (its working directory) and ``tmp/`` (its /tmp), on
    one tmpfs of ``quota`` bytes when the grader may mount one (root), else on the host's
    temp file system with the grader measuring it (``over_quota``)."""

    def __init__(self, quota, uid=None, mount=True):
        self.quota = int(quota)
        self.path = Path(tempfile.mkdtemp(prefix="nngrader-"))
        self.mounted = False
        if mount:
            opts = f"size={self.quota},nr_inodes={max(4096, self.quota >> 12)},mode=0755"
            self.mounted = _c().mount(b"tmpfs", str(self.path).encode(), b"tmpfs",
                                      2 | 4, opts.encode()) == 0   # MS_NOSUID | MS_NODEV
        self.home, self.tmp = self.path / "home", self.path / "tmp"
        if self.mounted:   # who owns it: a grader that died leaves it to the next (sweep)
            (self.path / ".owner").write_text(f"{os.getpid()} {_start_time(os.getpid())}")
        for d in (self.home, self.tmp):
            d.mkdir(mode=0o700)
            if uid is not None:
                os.chown(d, uid, uid)

    def used(self, budget=20000):
        """Bytes in use (a tmpfs knows; else a bounded walk, at least what it saw)."""
        if self.mounted:
            st = os.statvfs(self.path)
            return (st.f_blocks - st.f_bfree) * st.f_frsize
        total, stack = 0, [str(self.path)]
        while stack and budget > 0:
            try:
                with os.scandir(stack.pop()) as it:
                    for e in it:
                        budget -= 1
                        if e.is_dir(follow_symlinks=False):
                            stack.append(e.path)
                        else:
                            total += e.stat(follow_symlinks=False).st_blocks * 512
            except OSError:
                pass
        return total

    def full(self):
        return self.used() >= self.quota - (64 << 10)

    def cleanup(self):
        if self.mounted and _c().umount2(str(self.path).encode(), 2) == 0:  # MNT_DETACH
            os.rmdir(self.path)
            return
        remove_tree(self.path)


def _start_time(pid):
    try:
        return open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def sweep_stale_areas():
    """Unmount the working areas of graders that died (killed workers, crashes)."""
    tmp = os.path.realpath(tempfile.gettempdir())
    try:
        mounts = [ln.split()[1] for ln in open("/proc/mounts")]
    except OSError:
        return 0
    n = 0
    for m in mounts:
        if not (m.startswith(tmp + "/nngrader-") and m.count("/") == tmp.count("/") + 1):
            continue
        try:
            pid, start = open(os.path.join(m, ".owner")).read().split()
        except (OSError, ValueError):
            continue
        if _start_time(int(pid)) == start:
            continue        # its grader is alive
        if _c().umount2(m.encode(), 2) == 0:
            with contextlib.suppress(OSError):
                os.rmdir(m)
            n += 1
    return n


class Cgroups:
    """One cgroup per run under the grader's own: v2 (memory, pids) if its controllers are
    delegated here, else v1 (the memory and pids hierarchies). ``None`` parts: unavailable."""

    def __init__(self):
        self.version, self.parents, self.n = None, {}, 0
        own = {}
        try:
            for line in open("/proc/self/cgroup"):
                _, ctrl, path = line.rstrip("\n").split(":", 2)
                for c in (ctrl.split(",") if ctrl else ["2"]):
                    own[c] = path.lstrip("/")
        except (OSError, ValueError):
            return
        base = Path("/sys/fs/cgroup")
        v2 = base / own.get("2", "")
        try:
            ctl = (v2 / "cgroup.subtree_control").read_text().split()
        except OSError:
            ctl = []
        if "memory" in ctl and "pids" in ctl and self._probe({"2": v2}):
            self.version, self.parents = 2, {"2": v2}
            return
        v1 = {c: base / c / own[c] for c in ("memory", "pids") if c in own}
        if len(v1) == 2 and self._probe(v1):
            self.version, self.parents = 1, v1

    def sweep(self):
        """Remove the run cgroups that graders which died (killed workers) left behind."""
        n = 0
        for parent in self.parents.values():
            try:
                kids = [d for d in parent.iterdir() if d.name.startswith("nngrader-")]
            except OSError:
                continue
            for d in kids:
                try:
                    os.kill(int(d.name.split("-")[1]), 0)
                    continue                # its grader is alive
                except ProcessLookupError:
                    pass
                except (ValueError, IndexError, PermissionError):
                    continue
                self.remove({"2" if self.version == 2 else "pids": d})
                n += not d.exists()
        return n

    @staticmethod
    def _probe(parents):
        made = []
        try:
            for p in parents.values():
                d = p / f"nngrader-probe-{os.getpid()}"
                d.mkdir()
                made.append(d)
            return True
        except OSError:
            return False
        finally:
            for d in made:
                with contextlib.suppress(OSError):
                    d.rmdir()

    def new(self, memory, pids):
        """A fresh group (its dirs; the ``cgroup.procs`` files a launcher writes into)."""
        self.n += 1
        name = f"nngrader-{os.getpid()}-{threading.get_ident() % 100000}-{self.n}"
        dirs = {k: p / name for k, p in self.parents.items()}
        for k, d in dirs.items():
            d.mkdir()
            if k == "2":
                (d / "memory.max").write_text(str(memory))
                with contextlib.suppress(OSError):
                    (d / "memory.swap.max").write_text("0")
                (d / "pids.max").write_text(str(pids))
            elif k == "memory":
                (d / "memory.limit_in_bytes").write_text(str(memory))
                with contextlib.suppress(OSError):
                    (d / "memory.memsw.limit_in_bytes").write_text(str(memory))
            else:
                (d / "pids.max").write_text(str(pids))
        return dirs

    @staticmethod
    def _kv(f):
        try:
            return {k: int(v) for k, v in (ln.split() for ln in open(f) if ln.strip())}
        except (OSError, ValueError):
            return {}

    def report(self, dirs):
        """{"oom": bool, "pids": bool, "peak": bytes or None}."""
        if self.version == 2:
            d = dirs["2"]
            ev, pe = self._kv(d / "memory.events"), self._kv(d / "pids.events")
            peak = self._read_int(d / "memory.peak")
            return {"oom": ev.get("oom_kill", 0) > 0 or ev.get("max", 0) > 0 and
                    ev.get("oom", 0) > 0, "pids": pe.get("max", 0) > 0, "peak": peak}
        m, p = dirs["memory"], dirs["pids"]
        oc = self._kv(m / "memory.oom_control")
        return {"oom": oc.get("oom_kill", 0) > 0 or oc.get("under_oom", 0) > 0,
                "pids": self._kv(p / "pids.events").get("max", 0) > 0,
                "peak": self._read_int(m / "memory.max_usage_in_bytes")}

    @staticmethod
    def _read_int(f):
        try:
            return int(Path(f).read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    @staticmethod
    def pids(dirs):
        d = dirs.get("2") or dirs.get("pids")
        try:
            return [int(x) for x in (d / "cgroup.procs").read_text().split()]
        except (OSError, ValueError):
            return []

    def remove(self, dirs):
        for _ in range(100):
            left = self.pids(dirs)
            if not left:
                break
            if "2" in dirs:
                with contextlib.suppress(OSError):
                    (dirs["2"] / "cgroup.kill").write_text("1")
            for pid in left:
                with contextlib.suppress(OSError):
                    os.kill(pid, signal.SIGKILL)
            time.sleep(0.01)
        for d in dirs.values():
            for _ in range(50):
                try:
                    d.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.02)


# A launcher that moves itself into the run's cgroup(s) before the sandbox starts, so that
# nothing of the submission ever runs outside them.
_ENTER = 'while [ "$1" != -- ]; do echo $$ > "$1" || exit 97; shift; done; shift; exec "$@"'


def _descendants(pid):
    out, stack = [], [pid]
    while stack:
        p = stack.pop()
        try:
            for t in os.listdir(f"/proc/{p}/task"):
                kids = open(f"/proc/{p}/task/{t}/children").read().split()
                stack += [int(k) for k in kids]
                out += [int(k) for k in kids]
        except (OSError, ValueError):
            pass
    return out


def _status_field(pid, field):
    """The first number of a field ("Uid", "PPid") of /proc/<pid>/status, or None."""
    try:
        for line in open(f"/proc/{pid}/status"):
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return None


def _world_traversable(path):
    p = Path(path).resolve()
    for part in [p, *p.parents]:
        try:
            if not os.stat(part).st_mode & 0o001:
                return False
        except OSError:
            return False
    return True


class _OneShot:
    """A fresh process per run: ``python worker.py`` (inside bwrap/unshare or plain)."""

    def __init__(self, cmd, env, job, w):
        self.p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, pass_fds=(w,), env=env,
                                  start_new_session=True, cwd="/")
        self.pid, self.stdout, self.job, self.disk_used = self.p.pid, self.p.stdout, job, 0

    def feed(self):
        try:
            self.p.stdin.write(json.dumps(self.job).encode())
            self.p.stdin.close()
        except OSError:
            pass

    def exited(self, block=False):
        return Sandbox._exited(self.pid, block)

    def reap(self):
        _, status = os.waitpid(self.pid, 0)
        self.p.returncode = os.waitstatus_to_exitcode(status)
        return self.p.returncode

    def kill_group(self):
        try:
            os.killpg(self.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


class Zygote:
    """A warm interpreter for one worker slot (worker.py ``--zygote``), in bubblewrap.

    It imports numpy, matplotlib, IPython and nncheck once and forks a child per job;
    the child isolates itself before any student code (see worker.py). The grader moves
    the zygote into the run's cgroup for the fork only, so the child is born inside it."""

    def __init__(self, sandbox):
        import socket
        lim = sandbox.limits
        self.sandbox = sandbox
        a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        prefix, worker, _ = sandbox._bwrap_prefix(None)
        env_args = []
        for k, v in {**_ENV, "MPLCONFIGDIR": "/home/student/.mpl", "TMPDIR": "/tmp",
                     "HOME": "/home/student"}.items():
            env_args += ["--setenv", k, v]
        cmd = prefix + env_args + [sys.executable, worker, "--zygote", str(b.fileno())]
        self.p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, pass_fds=(b.fileno(),),
                                  env=dict(_ENV), start_new_session=True, cwd="/")
        b.close()
        self.sock, self.buf, self.tail = a, b"", bytearray()
        threading.Thread(target=self._drain, daemon=True).start()
        t0 = time.monotonic()
        msg = self._line(timeout=lim.startup_timeout)
        self.startup = time.monotonic() - t0
        if not msg or not msg.get("ready"):
            self.close()
            raise RuntimeError("the zygote did not start: "
                               + self.tail.decode(errors="replace")[-500:])
        exe = os.path.realpath(sys.executable)
        self.pid = next((q for q in _descendants(self.p.pid)
                         if _exe(q) == exe), None)
        if self.pid is None:
            self.close()
            raise RuntimeError("the zygote's process was not found")

    def _drain(self):
        while True:
            chunk = self.p.stdout.read(4096)
            if not chunk:
                break
            self.tail = (self.tail + chunk)[-65536:]

    def _line(self, timeout=None, block=True):
        import select
        deadline = None if timeout is None else time.monotonic() + timeout
        while b"\n" not in self.buf:
            wait = None if deadline is None else max(0.0, deadline - time.monotonic())
            if not block:
                wait = 0
            ready, _, _ = select.select([self.sock], [], [], wait)
            if not ready:
                return None
            chunk = self.sock.recv(65536)
            if not chunk:
                return {"eof": True}
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        try:
            return json.loads(line)
        except ValueError:
            return {"eof": True}

    def alive(self):
        return self.p.poll() is None

    def start(self, w, out_w, job_r, cg):
        import socket
        if cg:
            for d in cg.values():
                (d / "cgroup.procs").write_text(str(self.pid))
        try:
            socket.send_fds(self.sock, [b"job"], [w, out_w, job_r])
            msg = self._line(timeout=60)
        finally:
            if cg:
                for k, d in self.sandbox.cgroups.parents.items():
                    (d / "cgroup.procs").write_text(str(self.pid))
        if not msg or "forked" not in msg:
            raise RuntimeError("the zygote did not fork")
        kids = [q for q in _descendants(self.pid) if _status_field(q, "PPid") == self.pid]
        return kids[0] if kids else None

    def close(self):
        with contextlib.suppress(OSError):
            self.sock.close()
        with contextlib.suppress(OSError):
            os.killpg(self.p.pid, signal.SIGKILL)
        with contextlib.suppress(Exception):
            self.p.wait(timeout=5)


class _ZygoteRun:
    """One job forked by a slot's zygote (the handle _drive watches)."""

    def __init__(self, zygote, job, w, cg):
        r, out_w = os.pipe()
        job_r, job_w = os.pipe()
        try:
            self.z = zygote
            self.pid = zygote.start(w, out_w, job_r, cg)
        except BaseException:
            os.close(r)
            os.close(job_w)
            raise
        finally:
            os.close(out_w)
            os.close(job_r)
        self.stdout = os.fdopen(r, "rb")
        self.job, self.job_w = job, job_w
        self.rc, self.disk_used = None, 0

    def feed(self):
        try:
            with os.fdopen(self.job_w, "wb") as f:
                f.write(json.dumps(self.job).encode())
        except OSError:
            pass

    def exited(self, block=False):
        if self.rc is not None:
            return True
        msg = self.z._line(block=block)
        if msg is None:
            return False
        self.rc = msg.get("exit", -9) if "eof" not in msg else -9
        return True

    def reap(self):
        return self.rc

    def measure_disk(self):
        if self.pid:
            try:
                st = os.statvfs(f"/proc/{self.pid}/root/home")
                self.disk_used = max(self.disk_used, (st.f_blocks - st.f_bfree) * st.f_frsize)
            except OSError:
                pass

    def kill_group(self):
        if self.pid:
            with contextlib.suppress(OSError):
                os.kill(self.pid, signal.SIGKILL)


def _exe(pid):
    try:
        return os.path.realpath(f"/proc/{pid}/exe")
    except OSError:
        return None


_ENV = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "MPLBACKEND": "Agg",
        "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
        "PYTHONDONTWRITEBYTECODE": "1", "PYTHONNOUSERSITE": "1", "PYTHONUNBUFFERED": "1"}


class Sandbox:
    def __init__(self, limits=None, hide=(), mode=None, uid_base=61000, extra_ro=(),
                 zygote=None):
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
        self.stop = threading.Event()   # set on Ctrl-C: every running sandbox is killed
        self.cgroups = Cgroups()
        self.cgroups.sweep()
        if self.cgroups.version is None:
            self.warnings.append("no cgroup (v2 or v1 memory+pids) can be created here: "
                                 "memory and processes are capped per process only "
                                 "(forked children each get the full memory cap)")
        self.mount = os.getuid() == 0 and self._probe_mount()
        if self.mount:
            sweep_stale_areas()
        # a warm interpreter per slot: needs bwrap as root (the zygote's children mount
        # their own tmpfs and drop to the slot uid); elsewhere one fresh process per run
        able = self.mode == "bwrap" and self.uid_base is not None
        self.zygote = able if zygote is None else (zygote and able)
        self._zygotes, self._zlock = {}, threading.Lock()
        if not self.mount:
            self.warnings.append("cannot mount a size-capped tmpfs (not root?): the working "
                                 "area's disk quota is measured by the grader instead")

    @staticmethod
    def _probe_mount():
        try:
            w = WorkArea(1 << 20)
        except OSError:
            return False
        ok = w.mounted
        w.cleanup()
        return ok

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

    def _bwrap_prefix(self, area):
        args = ["bwrap", "--ro-bind", "/usr", "/usr"]
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
        made = {Path("/"), Path("/usr")}
        if area is not None:   # the run's /home and /tmp first: a bind below /tmp (a venv or a
            # course checkout in /tmp) is mounted on top of it, not hidden by it
            args += ["--perms", "0755", "--dir", "/home",
                     "--bind", str(area.home), "/home/student", "--bind", str(area.tmp), "/tmp"]
            made |= {Path("/home"), Path("/home/student"), Path("/tmp")}
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
        if area is not None:
            args += ["--chdir", "/home/student"]
        else:   # a zygote: each child mounts its own /home (and /tmp inside it)
            args += ["--perms", "0755", "--dir", "/home", "--perms", "0700", "--dir", "/tmp",
                     "--chdir", "/"]
        args += ["--ro-bind", str(WORKER), "/nngrader/worker.py",
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
            return self._run(job, files, None, t0, slot)
        with uid_lease(self.uid_base + slot, base=self.uid_base) as uid:
            return self._run(job, files, uid, t0, slot)

    def _zygote(self, slot):
        """The warm interpreter of this slot (its leased uid; started on first use,
        restarted if it died)."""
        with self._zlock:
            z = self._zygotes.get(slot)
            if z is None or not z.alive():
                if z is not None:
                    z.close()
                z = self._zygotes[slot] = Zygote(self)
            return z

    def close(self):
        """End the slots' zygotes (they also end with the grader: --die-with-parent)."""
        with self._zlock:
            for z in self._zygotes.values():
                z.close()
            self._zygotes.clear()

    def _run_zygote(self, job, files, uid, t0, slot):
        import base64
        lim = self.limits
        z = self._zygote(uid)   # keyed by the leased uid: one run at a time per zygote
        cg = None
        try:
            if self.cgroups.version:
                cg = self.cgroups.new(lim.tree_memory or lim.memory, lim.nproc + 8)
            job = dict(job, cwd="/home/student", uid=uid, output_cap=lim.output_cap,
                       disk=lim.disk,
                       files=[(n, base64.b64encode(d).decode()) for n, d in files],
                       limits={"as": lim.memory, "cpu": lim.cpu, "nproc": lim.nproc,
                               "fsize": lim.fsize, "core": 0, "nofile": lim.nofile})
            res = self._drive(None, None, job, t0, uid, None, cg, zygote=z)
            res.uid = uid
            if cg is not None:
                self._cgroup_flags(res, cg)
            return res
        finally:
            if cg is not None:
                self.cgroups.remove(cg)

    def _cgroup_flags(self, res, cg):
        lim = self.limits
        rep = self.cgroups.report(cg)
        if rep["oom"]:
            res.oom = True
            res.limits_hit.append(f"the memory limit of the whole submission "
                                  f"({(lim.tree_memory or lim.memory) >> 20} MiB, cgroup)")
        if rep["pids"]:
            res.limits_hit.append(f"the process limit ({lim.nproc} processes, cgroup)")

    def _run(self, job, files, uid, t0, slot=0):
        lim = self.limits
        if self.zygote:
            return self._run_zygote(job, files, uid, t0, slot)
        area = WorkArea(lim.disk, uid, mount=self.mount)
        cg = None
        try:
            for name, data in files:
                (area.home / name).write_bytes(data)
                if uid is not None:
                    os.chown(area.home / name, uid, uid)
            env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "MPLBACKEND": "Agg",
                   "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
                   "MKL_NUM_THREADS": "1", "PYTHONDONTWRITEBYTECODE": "1",
                   "PYTHONNOUSERSITE": "1", "PYTHONUNBUFFERED": "1"}
            if self.mode == "bwrap":
                prefix, worker, cwd = self._bwrap_prefix(area)
                env_args = []
                for k, v in {**env, "MPLCONFIGDIR": "/home/student/.mpl",
                             "TMPDIR": "/tmp"}.items():
                    env_args += ["--setenv", k, v]
                cmd = prefix + env_args + [sys.executable, worker]
            else:
                cwd = str(area.home)
                env.update(HOME=cwd, MPLCONFIGDIR=str(area.home / ".mpl"), TMPDIR=str(area.tmp))
                cmd = [sys.executable, str(WORKER)]
                if self.mode == "unshare":
                    cmd = ["unshare", "--net", "--pid", "--fork", "--kill-child"] + cmd
            if self.cgroups.version:
                cg = self.cgroups.new(lim.tree_memory or lim.memory, lim.nproc + 8)
                cmd = ["/bin/sh", "-c", _ENTER, "sh",
                       *[str(d / "cgroup.procs") for d in cg.values()], "--", *cmd]
            job = dict(job, cwd=cwd, uid=uid, output_cap=lim.output_cap,
                       limits={"as": lim.memory, "cpu": lim.cpu, "nproc": lim.nproc,
                               "fsize": lim.fsize, "core": 0, "nofile": lim.nofile})
            res = self._drive(cmd, env, job, t0, uid, area, cg)
            res.uid = uid
            if cg is not None:
                self._cgroup_flags(res, cg)
            if res.killed == "disk quota" or area.full():
                res.limits_hit.append(f"the disk quota of the working area and /tmp "
                                      f"({lim.disk >> 20} MiB)")
            return res
        finally:
            if cg is not None:
                self.cgroups.remove(cg)
            area.cleanup()

    def _interrupt(self, proc, uid, cg):
        """KeyboardInterrupt in the notebook (SIGINT to the submission's own processes)."""
        pids = self.cgroups.pids(cg) if cg else [proc.pid] + _descendants(proc.pid)
        for pid in pids:
            if uid is None or _status_field(pid, "Uid") == uid:
                with contextlib.suppress(OSError):
                    os.kill(pid, signal.SIGINT)

    def _drive(self, cmd, env, job, t0, uid, area=None, cg=None, zygote=None):
        lim = self.limits
        res = RunResult()
        r, w = os.pipe()
        job = dict(job, chan_fd=w)
        n_cells = len(job.get("cells", []))
        hidden_n = {c["i"]: len(c.get("hidden", [])) for c in job.get("cells", [])}
        oom0 = _oom_kills()
        try:
            proc = (_ZygoteRun(zygote, job, w, cg) if zygote is not None else
                    _OneShot(cmd, env, job, w))
        finally:
            os.close(w)
        lock = threading.Lock()
        # The grader's clock: ``since`` moves only on a genuine-looking step of the plan
        # (cells and hidden checks strictly in order, each started once, ended once), so
        # nothing the notebook writes can give a cell more time than the plan has steps.
        state = {"open": None, "last": (-1, -2), "since": time.monotonic(), "bad": None,
                 "ready": False, "done": False, "kept": 0, "interrupt": None}
        err_buf = bytearray()

        def feed():
            proc.feed()

        def drain():
            while True:
                chunk = proc.stdout.read(65536)
                if not chunk:
                    break
                if len(err_buf) < lim.output_cap:
                    err_buf.extend(chunk[: lim.output_cap - len(err_buf)])

        def accept(ev):
            """The validated, slimmed event, or None (rejected: counted as forged)."""
            kind, i, j = ev.get("ev"), ev.get("i"), ev.get("j")
            now = time.monotonic()
            if kind == "ready":
                if state["ready"]:
                    return None
                state["ready"], state["since"] = True, now
                res.startup = now - t0
                return {"ev": "ready"}
            if not state["ready"] or state["done"]:
                return None
            if kind == "done":
                if state["open"] is not None:
                    return None
                state["done"] = True
                if type(ev.get("disk")) is int:
                    state["disk"] = ev["disk"]
                return {"ev": "done"}
            if type(i) is not int or not 0 <= i < n_cells:
                return None
            if kind in ("start", "hcall"):
                key = (i, -1) if kind == "start" else (i, j)
                if kind == "hcall" and (type(j) is not int or not 0 <= j < hidden_n.get(i, 0)):
                    return None
                if state["open"] is not None or key <= state["last"]:
                    return None
                state["open"], state["last"], state["since"] = key, key, now
                return {"ev": kind, "i": i, **({"j": j} if kind == "hcall" else {})}
            if kind == "end" and state["open"] == (i, -1):
                state["open"], state["since"] = None, now
                err = ev.get("error")
                if err is not None:
                    err = {"ename": str(err.get("ename"))[:200] if isinstance(err, dict) else
                           "Error", "evalue": str(err.get("evalue"))[:4000]
                           if isinstance(err, dict) else str(err)[:4000]}
                return {"ev": "end", "i": i, "error": err,
                        "truncated": ev.get("truncated") is True}
            if kind == "hidden" and state["open"] == (i, j):
                state["open"], state["since"] = None, now
                return {"ev": "hidden", "i": i, "j": j}   # + the raw line, kept by events()
            return None

        def events():
            with os.fdopen(r, "rb") as chan:
                while True:
                    line = chan.readline(lim.event_cap + 1)
                    if not line:
                        break
                    if len(line) > lim.event_cap:
                        state["bad"] = (f"a line longer than {lim.event_cap >> 20} MiB "
                                        "on the grader's channel")
                        break
                    try:
                        ev = json.loads(line)
                    except (ValueError, RecursionError):
                        state["bad"] = "unreadable line on the grader's channel"
                        break
                    with lock:
                        ok = accept(ev) if isinstance(ev, dict) else None
                        if ok is None:
                            res.forged += 1
                            continue
                        if ok["ev"] == "hidden":
                            if state["kept"] + len(line) > lim.channel_cap:
                                res.channel_dropped += len(line)
                                continue
                            state["kept"] += len(line)
                            ok["raw"] = line       # parsed again, one at a time, to judge
                        res.events.append(ok)
                del ev
            # read to the end so the writer never blocks; nothing more is kept
            # (the loop above stops only at EOF or on a bad line)

        threads = [threading.Thread(target=f, daemon=True) for f in (feed, drain, events)]
        for t in threads:
            t.start()
        # The process is never reaped before its group and its uid are killed: while it
        # is a zombie its pid (= the process group id) cannot be reused by another
        # process, so killpg never hits a stranger.
        next_disk = time.monotonic() + 0.5
        while not proc.exited():
            time.sleep(0.02)
            now = time.monotonic()
            with lock:
                opened, since, ready = state["open"], state["since"], state["ready"]
                intr = state["interrupt"]
            if intr is not None and intr != opened:
                state["interrupt"] = None           # the interrupted step ended
                intr = None
            if self.stop.is_set():
                res.killed = "interrupted"
            elif state["bad"]:
                res.killed = "protocol"
            elif not ready and now - since > max(lim.startup_timeout, lim.cell_timeout):
                res.killed = "startup timeout"   # imports on an overloaded machine
            elif ready and intr is not None and now - since > lim.cell_timeout + \
                    lim.interrupt_grace:
                res.killed = "timeout"           # KeyboardInterrupt did not stop it
            elif ready and intr is None and now - since > lim.cell_timeout:
                if opened is not None and opened[1] == -1:
                    state["interrupt"] = opened
                    res.interrupted.append(opened[0])
                    self._interrupt(proc, uid, cg)
                else:
                    res.killed = "timeout"
            elif now - t0 > lim.total_timeout:
                res.killed = "total timeout"
            elif area is not None and not area.mounted and now > next_disk:
                next_disk = now + 0.5
                if area.full():
                    res.killed = "disk quota"
            elif zygote is not None:
                proc.measure_disk()
            if res.killed:
                res.running = opened[0] if opened else None
                self._kill(proc, uid, cg)
                break
        proc.exited(block=True)
        self._kill(proc, uid, cg)
        proc.returncode = proc.reap()
        if zygote is not None and max(proc.disk_used, state.get("disk", 0)) >= \
                lim.disk - (64 << 10):
            res.limits_hit.append(f"the disk quota of the working area and /tmp "
                                  f"({lim.disk >> 20} MiB)")
        oom1 = _oom_kills()
        res.oom = None if oom0 is None or oom1 is None else oom1 > oom0
        for t in threads[1:]:
            t.join(timeout=5)
        res.returncode = proc.returncode
        if res.killed is None and not state["done"]:
            res.running = state["open"][0] if state["open"] else None
        if state["bad"] and res.killed is None:
            res.killed = "protocol"
        res.protocol = state["bad"]
        res.stderr = err_buf.decode("utf-8", "replace")
        res.seconds = time.monotonic() - t0
        return res

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

    def _kill(self, proc, uid, cg=None):
        if cg:
            for pid in self.cgroups.pids(cg):
                with contextlib.suppress(OSError):
                    os.kill(pid, signal.SIGKILL)
        proc.kill_group()
        if uid is not None:
            # Whatever escaped the process group (setsid, double fork) runs as this slot's
            # uid, which this run leased for itself alone (uid_lease): kill all of it.
            _kill_uid(uid)
