"""What the grader leaves behind: log, gradebook rows, grades.csv, feedback, class report."""

import csv
import datetime
import html
import sys
import threading
from pathlib import Path

from .core import FLAGGED, GRADED, MISSING, PERSON


def venv_path():
    """Put this interpreter's bin/ on PATH (nbgrader calls ``alembic`` from PATH)."""
    import os
    bindir = str(Path(sys.executable).parent)
    if bindir not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = bindir + os.pathsep + os.environ.get("PATH", "")


class Log:
    def __init__(self, path, stream=sys.stderr):
        self.path, self.stream, self.lock = Path(path), stream, threading.Lock()
        self.path.parent.mkdir(parents=True, exist_ok=True)

    def _w(self, level, msg, echo):
        line = f"{datetime.datetime.now().isoformat(timespec='seconds')} {level} {printable(msg)}"
        with self.lock:
            with open(self.path, "a", encoding="utf-8") as f:
                f.write(line + "\n")
            if echo:
                self.stream.write(line + "\n")

    def info(self, msg):
        self._w("INFO", msg, False)

    def warn(self, msg):
        self._w("WARNING", msg, True)

    def error(self, msg):
        self._w("ERROR", msg, True)


def printable(text):
    """Text safe for a terminal or a log: ANSI escapes and other control characters
    (except newlines and tabs) are shown as '?'."""
    return "".join(ch if ch.isprintable() or ch in "\n\t" else "?" for ch in str(text))


def cell(text):
    """A spreadsheet-safe CSV cell: no formula (=, +, -, @, tab, CR first), printable."""
    text = printable(text).replace("\n", " ")
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def file_name(student):
    return "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in student).lstrip(".") \
        or "_"


# -- nbgrader's gradebook ------------------------------------------------------------------


def ensure_assignment(gb, assignment):
    """Make sure the gradebook knows the assignment (normally ``nbgrader generate_assignment``
    has put it there); create it from the source if not, so formgrader/export work."""
    from nbgrader.api import MissingEntry
    try:
        a = gb.find_assignment(assignment.name)
        nb = gb.find_notebook(assignment.notebook, assignment.name)
        known = {c.name for c in nb.grade_cells}
        if all(c.grade_id in known for c in assignment.tests):
            return
    except MissingEntry:
        a = None
    if a is None:
        gb.update_or_create_assignment(assignment.name)
    gb.update_or_create_notebook(assignment.notebook, assignment.name)
    for c in assignment.cells:
        if c.kind == "test":
            gb.update_or_create_grade_cell(c.grade_id, assignment.notebook, assignment.name,
                                           max_score=c.points, cell_type="code")
        if c.kind in ("test", "answer", "locked") and c.grade_id:
            gb.update_or_create_source_cell(c.grade_id, assignment.notebook, assignment.name,
                                            cell_type="code", locked=c.kind != "answer",
                                            source=c.source, checksum=None)
        if c.kind == "answer":
            gb.update_or_create_solution_cell(c.grade_id, assignment.notebook, assignment.name)


def write_gradebook(db_path, assignment, results, log):
    """Scores into nbgrader's gradebook: ``auto_score`` per test cell; a submission that needs
    a person has ``needs_manual_grade`` set on its cells, is ``flagged``, and carries the
    reason as an automatic comment (formgrader shows all three). Returns the students of the
    gradebook without a submission."""
    from nbgrader.api import MissingEntry
    import warnings
    from .gradebook import open_gradebook
    venv_path()  # nbgrader runs the ``alembic`` script when it creates a gradebook
    # db_path: a path (SQLite) or a SQLAlchemy URL (PostgreSQL); one writer at a time
    with warnings.catch_warnings(), open_gradebook(db_path) as gb:
        warnings.simplefilter("ignore")
        ensure_assignment(gb, assignment)
        for r in results:
            if not getattr(r, "gradebook", True):
                continue   # identity in doubt: grades.csv only, a person decides
            gb.update_or_create_student(r.student)
            try:
                gb.find_submission(assignment.name, r.student)
            except MissingEntry:
                gb.add_submission(assignment.name, r.student)
            sub = gb.find_submission(assignment.name, r.student)
            if r.timestamp:
                try:
                    from nbgrader import utils
                    sub.timestamp = utils.parse_utc(r.timestamp)
                except Exception:  # noqa: BLE001 - a bad timestamp.txt
                    log.warn(f"{r.student}: unreadable timestamp {r.timestamp!r}")
            nb = gb.find_submission_notebook(assignment.notebook, assignment.name, r.student)
            person = r.status == PERSON
            nb.flagged = r.status in (PERSON, FLAGGED)
            by_id = {t.grade_id: t for t in r.tests}
            for g in nb.grades:
                t = by_id.get(g.name)
                if t is None:
                    continue
                g.auto_score = t.points
                g.needs_manual_grade = person
            text = f"[nngrader] {r.status}" + (": " + "; ".join(r.reasons) if r.reasons else "")
            for c in nb.comments:
                c.auto_comment = text
            gb.db.commit()
        have = {r.student for r in results if getattr(r, "gradebook", True)}
        missing = []
        for s in sorted(gb.students, key=lambda s: s.id):
            if s.id in have:
                continue
            missing.append(s.id)
            # a submission nngrader graded before and that is gone now (a withdrawn
            # student): removed, so the gradebook and nbgrader export say what grades.csv
            # says; one graded by nbgrader itself is left alone
            try:
                nb = gb.find_submission_notebook(assignment.notebook, assignment.name, s.id)
            except MissingEntry:
                continue
            if nb.comments and all((c.auto_comment or "").startswith("[nngrader]")
                                   for c in nb.comments):
                gb.remove_submission(assignment.name, s.id)
                gb.db.commit()
                log.warn(f"{s.id}: no submission any more; the earlier nngrader grade was "
                         "removed from the gradebook")
        return missing


# -- grades.csv -----------------------------------------------------------------------------


def write_csv(path, results, missing, assignment, sandbox):
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["student", "assignment", "score", "max_score", "status", "reason",
                    "sandbox"])
        for r in results:
            w.writerow([cell(r.student), cell(r.assignment), f"{r.score:g}",
                        f"{r.max_score:g}", r.status, cell(" | ".join(r.reasons)), r.sandbox])
        for s in missing:
            w.writerow([cell(s), cell(assignment.name), "0", f"{assignment.max_score:g}",
                        MISSING, "in the gradebook but no submission found", sandbox.mode])


# -- feedback -------------------------------------------------------------------------------


def feedback_markdown(assignment, r):
    lines = [f"# {assignment.name}: feedback for {r.student}", "",
             f"**Score: {r.score:g} / {r.max_score:g}** ({r.status})", ""]
    if r.status == PERSON:
        lines += ["Your submission could not be graded automatically; an instructor will "
                  "look at it.", ""]
    if r.reasons:
        lines += ["Notes from the grader:", ""] + [f"- {x}" for x in r.reasons] + [""]
    for t in r.tests:
        mark = "passed" if t.passed else "failed"
        lines += [f"## {t.grade_id}: {t.points:g} / {t.max_points:g} ({mark})", ""]
        for m in t.messages:   # nncheck messages only: never the source of a hidden test
            lines += ["```", m.rstrip(), "```", ""]
    lines += [f"Hidden checks drew fresh random inputs (seeds: "
              f"{', '.join(f'{k}={v}' for k, v in r.seeds.items()) or 'none'})."]
    return "\n".join(lines) + "\n"


def write_feedback(folder, assignment, results):
    folder.mkdir(parents=True, exist_ok=True)
    for r in results:
        md = feedback_markdown(assignment, r)
        (folder / f"{file_name(r.student)}.md").write_text(md, encoding="utf-8")
        body = []
        in_code = False
        for line in md.splitlines():
            if line.startswith("```"):
                body.append("</pre>" if in_code else "<pre>")
                in_code = not in_code
            elif in_code:
                body.append(html.escape(line))
            elif line.startswith("## "):
                body.append(f"<h2>{html.escape(line[3:])}</h2>")
            elif line.startswith("# "):
                body.append(f"<h1>{html.escape(line[2:])}</h1>")
            elif line.startswith("- "):
                body.append(f"<li>{html.escape(line[2:])}</li>")
            elif line:
                body.append(f"<p>{html.escape(line).replace('**', '')}</p>")
        (folder / f"{file_name(r.student)}.html").write_text(
            "<!doctype html><meta charset='utf-8'><title>feedback</title>"
            "<style>body{font-family:sans-serif;max-width:50em;margin:2em auto}"
            "pre{background:#f4f4f4;padding:.6em;white-space:pre-wrap}</style>\n"
            + "\n".join(body) + "\n", encoding="utf-8")


# -- class report ---------------------------------------------------------------------------


def write_report(out, assignment, results, missing, sandbox, elapsed, workers):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    scores = [r.score for r in results]
    counts = {s: sum(r.status == s for r in results) for s in (GRADED, FLAGGED, PERSON)}
    graded = [r for r in results if r.status != PERSON]
    fig, ax = plt.subplots(figsize=(6, 3.2))
    ax.hist(scores, bins=min(20, max(5, int(assignment.max_score) + 1)),
            range=(0, assignment.max_score), color="#4c72b0", edgecolor="white")
    ax.set_xlabel(f"score (out of {assignment.max_score:g})")
    ax.set_ylabel("students")
    ax.set_title(f"{assignment.name}: scores")
    fig.tight_layout()
    fig.savefig(out / "score_histogram.png", dpi=110)
    plt.close(fig)

    rates = []
    for t in assignment.tests:
        ok = [next((x.passed for x in r.tests if x.grade_id == t.grade_id), False)
              for r in graded]
        rates.append((t.grade_id, sum(ok) / len(ok) if ok else 0.0))
    fig, ax = plt.subplots(figsize=(6, 0.45 * len(rates) + 1.2))
    ax.barh([g for g, _ in rates][::-1], [100 * v for _, v in rates][::-1], color="#55a868")
    ax.set_xlim(0, 100)
    ax.set_xlabel("% of students passing")
    ax.set_title("pass rate of every test")
    fig.tight_layout()
    fig.savefig(out / "test_pass_rate.png", dpi=110)
    plt.close(fig)

    mean = sum(scores) / len(scores) if scores else 0.0
    lines = [f"# Class report: {assignment.name}", "",
             f"- submissions: {len(results)} ({counts[GRADED]} graded, {counts[FLAGGED]} graded "
             f"with flags, {counts[PERSON]} need a person); no submission: {len(missing)}",
             f"- mean score {mean:.2f} / {assignment.max_score:g}",
             f"- grading time {elapsed:.1f} s with {workers} worker(s); sandbox: {sandbox.mode}",
             ""]
    if sandbox.warnings:
        lines += ["**Sandbox warnings:**", ""] + [f"- {w}" for w in sandbox.warnings] + [""]
    lines += ["![score histogram](score_histogram.png)", "",
              "![pass rate of every test](test_pass_rate.png)", "",
              "| test | points | pass rate |", "| --- | --- | --- |"]
    pts = {t.grade_id: t.points for t in assignment.tests}
    lines += [f"| {g} | {pts[g]:g} | {100 * v:.0f}% |" for g, v in rates]
    lines += ["", "## Needs a person", ""]
    lines += [f"- **{r.student}**: {'; '.join(r.reasons)}" for r in results
              if r.status == PERSON] or ["(none)"]
    lines += ["", "## Graded with flags", ""]
    lines += [f"- **{r.student}** ({r.score:g}): {'; '.join(r.reasons)}" for r in results
              if r.status == FLAGGED] or ["(none)"]
    (out / "report.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
