"""Command line: ``python -m nngrader {release,grade} ...`` (run from the course root)."""

import argparse
import subprocess
import sys
from pathlib import Path


def _release(args):
    from .spec import load_assignment
    root = Path(args.root).resolve()
    a = load_assignment(root / "solutions", args.assignment)  # fails loudly on a bad hidden test
    cmd = [sys.executable, "-m", "nbgrader", "generate_assignment", args.assignment, "--force"]
    print("+", " ".join(cmd[1:]), file=sys.stderr)
    from .outputs import venv_path
    venv_path()
    rc = subprocess.run(cmd, cwd=root).returncode
    if rc:
        return rc
    print(f"released {a.name}: {len(a.tests)} test cells, {a.max_score:g} points, "
          f"{sum(len(c.hidden) for c in a.tests)} hidden grade() checks -> "
          f"exercises/{a.name}/{a.notebook}.ipynb")
    for c in a.tests:
        if not c.hidden:
            print(f"warning: test cell {c.grade_id} has no hidden grade() check: its points "
                  "are decided inside the student's process", file=sys.stderr)
    return 0


def _grade(args):
    from .executors import make_executor
    from .gradebook import configured_url, redact
    from .runner import grade_class
    from .sandbox import Limits
    lim = Limits(memory=int(args.memory_mb) << 20, cell_timeout=args.cell_timeout,
                 total_timeout=args.timeout, cpu=int(args.timeout))
    try:
        res = _grade_class(args, grade_class, lim, make_executor, configured_url)
    except KeyboardInterrupt:
        print("interrupted: every finished result is kept; run the same command again to "
              "grade the rest", file=sys.stderr)
        return 130
    return _summary(args, res, redact, configured_url)


def _grade_class(args, grade_class, lim, make_executor, configured_url):
    return grade_class(args.root, args.assignment, args.submissions, args.out,
                      workers=args.workers, limits=lim, seed=args.seed,
                      gradebook=not args.no_gradebook, force=args.force,
                      executor=make_executor(args.scheduler, args.workers),
                      db=args.db or configured_url(args.root))


def _summary(args, res, redact, configured_url):
    out = res["out"]
    n = len(res["results"])
    person = sum(r.status == "needs a person" for r in res["results"])
    print(f"graded {n} submission(s) in {res['elapsed']:.1f} s; {person} need a person.\n"
          f"  grades:   {out / 'grades.csv'}\n  report:   {out / 'report.md'}\n"
          f"  feedback: {out / 'feedback'}/<student>.html\n  log:      {out / 'grader.log'}")
    if not args.no_gradebook:
        print(f"  gradebook: {redact(args.db or configured_url(args.root))}")
    return 0


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m nngrader", description=__doc__)
    p.add_argument("--root", default=".", help="course root (nbgrader_config.py; default .)")
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("release", help="nbgrader generate_assignment + hidden-test checks")
    r.add_argument("assignment")
    g = sub.add_parser("grade", help="grade a class (folder, zip, or nbgrader submitted/)")
    g.add_argument("assignment")
    g.add_argument("submissions", nargs="?", default="submitted")
    g.add_argument("--workers", type=int, default=None, help="default: number of cores")
    g.add_argument("--out", default=None, help="default: nngraded/<assignment>")
    g.add_argument("--memory-mb", type=int, default=2048)
    g.add_argument("--cell-timeout", type=float, default=None,
                   help="seconds per cell (default: ExecutePreprocessor.timeout of "
                        "nbgrader_config.py, the policy stock nbgrader uses)")
    g.add_argument("--timeout", type=float, default=900.0, help="per submission, seconds")
    g.add_argument("--seed", type=int, default=None, help="fix the hidden inputs (debugging)")
    g.add_argument("--force", action="store_true", help="re-grade even if cached")
    g.add_argument("--no-gradebook", action="store_true")
    g.add_argument("--scheduler", default=None, metavar="tcp://HOST:PORT",
                   help="grade on this Dask cluster (default: a local pool of --workers)")
    g.add_argument("--db", default=None, metavar="URL",
                   help="gradebook: a SQLAlchemy URL (postgresql://user@host/db) or a path "
                        "(default: c.CourseDirectory.db_url of nbgrader_config.py)")
    args = p.parse_args(argv)
    return {"release": _release, "grade": _grade}[args.cmd](args)


if __name__ == "__main__":
    sys.exit(main())
