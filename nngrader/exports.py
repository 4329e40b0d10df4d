"""What an instructor hands to the LMS: gradebook CSV files for Canvas and Moodle.

Both are written next to ``grades.csv``, one row per student, in the layout each LMS's
own gradebook export uses (and reads back on import):

- ``canvas.csv``: ``Student, ID, SIS User ID, SIS Login ID, Section, <assignment>``, with
  Canvas's "Points Possible" second row. Canvas matches a row by its ID / SIS ids; a column
  whose header is not an existing ``<name> (<id>)`` becomes a new assignment.
- ``moodle.csv``: ``First name, Last name, ID number, Username, Email address,
  <assignment>``; Moodle's "Import grades from CSV" maps one identifying column (Username,
  Email address or ID number) to its users and the score column to a grade item.

Only graded submissions carry a score. "needs a person" and "no submission" leave the
cell empty, so an import keeps whatever the LMS has until a person decides. Every text
cell goes through ``outputs.cell``: a value a spreadsheet would execute (``=``, ``+``,
``-``, ``@`` first) is neutralised, as in ``grades.csv``.
"""

import csv

from .core import PERSON
from .outputs import cell


def roster(db):
    """student id -> (first name, last name, email, LMS user id) from nbgrader's
    gradebook (``nbgrader db student import`` fills them); {} without a gradebook."""
    if db is None:
        return {}
    import warnings
    from nbgrader.api import Gradebook
    from .gradebook import url
    try:
        with warnings.catch_warnings(), Gradebook(url(db)) as gb:
            warnings.simplefilter("ignore")
            return {s.id: (s.first_name or "", s.last_name or "", s.email or "",
                           s.lms_user_id or "") for s in gb.students}
    except Exception:  # noqa: BLE001 - the exports still have the student ids
        return {}


def _rows(results, missing):
    for r in results:
        yield r.student, (None if r.status == PERSON else r.score)
    for s in missing:
        yield s, None


def _num(x):
    return "" if x is None else f"{x:g}"


def write_canvas(path, assignment, results, missing, people):
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["Student", "ID", "SIS User ID", "SIS Login ID", "Section",
                    cell(assignment.name)])
        w.writerow(["    Points Possible", "", "", "", "", f"{assignment.max_score:g}"])
        for student, score in _rows(results, missing):
            first, last, _, lms = people.get(student, ("", "", "", ""))
            name = f"{last}, {first}" if last and first else (last or first or student)
            w.writerow([cell(name), cell(lms), "", cell(student), "", _num(score)])


def write_moodle(path, assignment, results, missing, people):
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["First name", "Last name", "ID number", "Username", "Email address",
                    cell(assignment.name)])
        for student, score in _rows(results, missing):
            first, last, email, lms = people.get(student, ("", "", "", ""))
            w.writerow([cell(first), cell(last), cell(lms), cell(student), cell(email),
                        _num(score)])


def write_lms(out, assignment, results, missing, db=None):
    """``canvas.csv`` and ``moodle.csv`` in ``out``; names and emails from ``db``."""
    people = roster(db)
    write_canvas(out / "canvas.csv", assignment, results, missing, people)
    write_moodle(out / "moodle.csv", assignment, results, missing, people)
