"""LMS exports (Canvas, Moodle): their columns, empty cells where no grade is final, the
roster from nbgrader's gradebook, and no cell a spreadsheet would execute."""

import csv
from types import SimpleNamespace

from nngrader.core import Result
from nngrader.exports import write_lms

A = SimpleNamespace(name="ch01_neuron", max_score=12.0)


def result(student, score, status="graded"):
    return Result(student, A.name, score, A.max_score, status)


def read(path):
    return list(csv.reader(open(path, encoding="utf-8")))


def test_canvas_and_moodle_columns_and_scores(tmp_path):
    results = [result("alice", 12), result("bob", 6.5), result("erin", 0, "needs a person")]
    write_lms(tmp_path, A, results, ["frank"])
    canvas = read(tmp_path / "canvas.csv")
    assert canvas[0] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section",
                         "ch01_neuron"]
    assert canvas[1][0].strip() == "Points Possible" and canvas[1][-1] == "12"
    rows = {r[3]: r for r in canvas[2:]}
    assert rows["alice"][-1] == "12" and rows["bob"][-1] == "6.5"
    assert rows["erin"][-1] == "" and rows["frank"][-1] == ""   # no final grade: left empty
    moodle = read(tmp_path / "moodle.csv")
    assert moodle[0] == ["First name", "Last name", "ID number", "Username", "Email address",
                         "ch01_neuron"]
    assert {r[3]: r[-1] for r in moodle[1:]} == {"alice": "12", "bob": "6.5", "erin": "",
                                                  "frank": ""}


def test_roster_comes_from_the_gradebook(tmp_path):
    from nbgrader.api import Gradebook
    db = tmp_path / "gradebook.db"
    with Gradebook(f"sqlite:///{db}") as gb:
        gb.update_or_create_student("alice", first_name="Alice", last_name="Liddell",
                                    email="alice@example.org", lms_user_id="4711")
    write_lms(tmp_path, A, [result("alice", 12)], [], db)
    canvas = read(tmp_path / "canvas.csv")[2]
    assert canvas[:4] == ["Liddell, Alice", "4711", "", "alice"]
    assert read(tmp_path / "moodle.csv")[1] == ["Alice", "Liddell", "4711", "alice",
                                                "alice@example.org", "12"]


def test_no_cell_is_a_formula(tmp_path):
    evil = ["=HYPERLINK(\"http://x\",\"y\")", "+1+2", "-3", "@SUM(A1)", "\tx"]
    write_lms(tmp_path, SimpleNamespace(name="=cmd|' /C calc'!A0", max_score=5.0),
              [result(s, 5) for s in evil], ["=1+1"])
    for f in ("canvas.csv", "moodle.csv"):
        for row in read(tmp_path / f):
            for value in row:
                assert not value.startswith(("=", "+", "-", "@", "\t")), (f, value)
    names = [r[3] for r in read(tmp_path / "canvas.csv")[2:]]
    assert names[0] == "'" + evil[0]     # kept readable, just not executable
