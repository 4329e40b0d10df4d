"""nbgrader's gradebook on any SQLAlchemy database: SQLite (default) or PostgreSQL.

``url(db)`` turns a path or URL into a SQLAlchemy URL; ``configured_url(root)`` reads
``c.CourseDirectory.db_url`` from the course's ``nbgrader_config.py``, so nngrader and
nbgrader's own commands (``formgrader``, ``export``) share one database.

``open_gradebook(db)`` is nbgrader's ``Gradebook`` with one writer at a time: graders of
two assignments, or two processes on two hosts, writing the same gradebook at once queue
behind a lock the database itself holds (PostgreSQL: an advisory lock; SQLite: an
``flock`` next to the file), so the create-if-missing steps of nbgrader's API (student,
submission, schema) never race; nbgrader's unique constraints stay the last line. A
transient failure (a dropped connection, a serialisation error) is retried.
"""

import contextlib
import fcntl
import os
import time
from pathlib import Path

LOCK_KEY = 0x6E6E6772   # "nngr": the advisory lock every nngrader writer takes


def url(db):
    """A SQLAlchemy URL for ``db``: a path as SQLite; ``postgresql://`` with the driver
    that is installed (SQLAlchemy 2.1 means psycopg 3 by it; the course pins psycopg2)."""
    db = str(db)
    if "://" not in db:
        return f"sqlite:///{Path(db).resolve()}"
    scheme, rest = db.split("://", 1)
    if scheme in ("postgresql", "postgres"):
        try:
            import psycopg  # noqa: F401
            return f"postgresql+psycopg://{rest}"
        except ImportError:
            return f"postgresql+psycopg2://{rest}"
    return db


def course_config(root):
    """The traitlets config of ``root/nbgrader_config.py`` (empty without one), loaded as
    nbgrader loads it: from the course root, which the file may read as ``os.getcwd()``."""
    from traitlets.config import Config
    from traitlets.config.loader import PyFileConfigLoader
    root = Path(root).resolve()
    if not (root / "nbgrader_config.py").is_file():
        return Config()
    cwd = os.getcwd()
    try:
        os.chdir(root)
        return PyFileConfigLoader("nbgrader_config.py", path=str(root)).load_config()
    finally:
        os.chdir(cwd)


def configured_url(root):
    """``c.CourseDirectory.db_url`` of ``root/nbgrader_config.py`` (relative SQLite paths
    resolved against ``root``), or ``root/gradebook.db``."""
    root = Path(root).resolve()
    default = url(root / "gradebook.db")
    db = course_config(root).get("CourseDirectory", {}).get("db_url")
    if not db:
        return default
    db = str(db)
    if db.startswith("sqlite:///") and not db.startswith("sqlite:////"):
        return url(root / db[len("sqlite:///"):])
    return url(db)


def redact(db):
    """The URL without its password (for logs and reports)."""
    from sqlalchemy.engine import make_url
    try:
        return make_url(url(db)).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001
        return "<database>"


@contextlib.contextmanager
def writer_lock(db):
    """Hold the gradebook's writer lock (blocking) for the duration of the block."""
    u = url(db)
    if u.startswith("postgresql"):
        import sqlalchemy as sa
        engine = sa.create_engine(u, poolclass=sa.pool.NullPool)
        try:
            with engine.connect() as conn:
                conn.execute(sa.text("SELECT pg_advisory_lock(:k)"), {"k": LOCK_KEY})
                try:
                    yield
                finally:
                    conn.execute(sa.text("SELECT pg_advisory_unlock(:k)"), {"k": LOCK_KEY})
        finally:
            engine.dispose()
    elif u.startswith("sqlite:///"):
        path = Path(u[len("sqlite:///"):])
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(f"{path}.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)
    else:
        yield   # another server: its own transactions and nbgrader's constraints


def _transient(e):
    from sqlalchemy.exc import DBAPIError, OperationalError
    if isinstance(e, OperationalError):
        return True
    code = getattr(getattr(e, "orig", None), "pgcode", None)
    return isinstance(e, DBAPIError) and code in ("40001", "40P01")  # serialisation, deadlock


@contextlib.contextmanager
def open_gradebook(db, attempts=5):
    """nbgrader's ``Gradebook`` on ``db`` under the writer lock."""
    from nbgrader.api import Gradebook
    with writer_lock(db):
        for k in range(attempts):
            try:
                gb = Gradebook(url(db))
                break
            except Exception as e:  # noqa: BLE001
                if k == attempts - 1 or not _transient(e):
                    raise
                time.sleep(0.5 * 2 ** k)
        try:
            yield gb
        except BaseException:
            gb.db.rollback()
            raise
        finally:
            gb.close()
