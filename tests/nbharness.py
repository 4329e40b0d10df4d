"""Helpers shared by the tests that run nbgrader and notebooks for real."""

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
SOLUTIONS = ROOT / "solutions"
EXERCISES = ROOT / "exercises"
MISTAKES = ROOT / "tests" / "mistakes"


def assignments():
    """Every folder of solutions/ holding its notebook: discovered, never listed by hand."""
    return sorted(p.name for p in SOLUTIONS.iterdir()
                  if p.is_dir() and (p / f"{p.name}.ipynb").exists())


def nbgrader(*args, cwd):
    """Run the real nbgrader command line in ``cwd``; fail with its output if it fails."""
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    proc = subprocess.run([sys.executable, "-m", "nbgrader", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=900)
    if proc.returncode != 0:
        raise AssertionError(f"nbgrader {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}")
    return proc


def make_course(tmp, assignment):
    """A scratch course: the repo's nbgrader config and one source assignment."""
    shutil.copy(ROOT / "nbgrader_config.py", tmp / "nbgrader_config.py")
    shutil.copytree(SOLUTIONS / assignment, tmp / "solutions" / assignment,
                    ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"))
    nbgrader("generate_assignment", assignment, "--force", cwd=tmp)
    return tmp / "exercises" / assignment / f"{assignment}.ipynb"


def load_mistakes(assignment):
    path = MISTAKES / f"{assignment}.json"
    assert path.exists(), (f"{assignment} has no typical mistakes: add {path.relative_to(ROOT)} "
                           "(see CONTRIBUTING.md)")
    mistakes = json.loads(path.read_text())
    assert mistakes, f"{path.name} lists no mistake"
    return mistakes


def cell_by_grade_id(nb, grade_id):
    for cell in nb.cells:
        if cell.metadata.get("nbgrader", {}).get("grade_id") == grade_id:
            return cell
    raise AssertionError(f"no cell with grade_id {grade_id!r}")


def apply_mistake(solution_nb, mistake):
    """The solution notebook with one answer cell patched as the mistake says."""
    nb = nbformat.from_dict(json.loads(json.dumps(solution_nb)))
    cell = cell_by_grade_id(nb, mistake["cell"])
    assert mistake["find"] in cell.source, (
        f"mistake {mistake['name']!r}: {mistake['find']!r} not found in cell {mistake['cell']!r}")
    cell.source = cell.source.replace(mistake["find"], mistake["replace"])
    return nb


def solved_release(released_nb, solution_nb):
    """The release with every answer cell filled in from the solution: an honest student
    who solved everything (the solution markers removed, the hidden tests never seen)."""
    nb = nbformat.from_dict(json.loads(json.dumps(released_nb)))
    answers = {c.metadata["nbgrader"]["grade_id"]: c.source for c in solution_nb.cells
               if c.metadata.get("nbgrader", {}).get("solution")}
    for cell in nb.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if grade_id in answers:
            cell.source = re.sub(r"^[ \t]*### (BEGIN|END) SOLUTION[ \t]*\n?", "",
                                 answers[grade_id], flags=re.M)
    return nb


def submit(tmp, assignment, student, nb):
    folder = tmp / "submitted" / student / assignment
    folder.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, folder / f"{assignment}.ipynb")


def scores(tmp, assignment):
    """{student: (score, max_score)} from the gradebook that autograde filled."""
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{tmp / 'gradebook.db'}") as gb:
        return {s.student.id: (s.score, s.max_score)
                for s in gb.assignment_submissions(assignment)}


def scores_without_the_stderr_rule(tmp, assignment):
    """{student: score} from nbgrader's autograded notebooks, a test cell passing iff it
    raised no error: nbgrader's own verdict minus its rule that any stderr output (a
    numpy RuntimeWarning, say) fails the cell, a rule the class grader drops on purpose."""
    result = {}
    for nb_path in (tmp / "autograded").glob(f"*/{assignment}/{assignment}.ipynb"):
        nb = nbformat.read(nb_path, as_version=4)
        result[nb_path.parents[1].name] = sum(
            cell.metadata["nbgrader"]["points"] for cell in nb.cells
            if cell.metadata.get("nbgrader", {}).get("grade")
            and not any(o.get("output_type") == "error" for o in cell.get("outputs", [])))
    return result


def blocked_ipython_dir(tmp, modules=("nnref",)):
    """An IPYTHONDIR whose start-up makes ``import nnref`` fail, as on a student's laptop."""
    startup = tmp / "ipython" / "profile_default" / "startup"
    startup.mkdir(parents=True)
    (startup / "00-no-answer-key.py").write_text(
        "import sys\n"
        "class _NoAnswerKey:\n"
        f"    blocked = {tuple(modules)!r}\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] in self.blocked:\n"
        "            raise ModuleNotFoundError(f'No module named {name!r} (not a student package)')\n"
        "        return None\n"
        "sys.meta_path.insert(0, _NoAnswerKey())\n"
        "for m in [m for m in sys.modules if m.split('.')[0] in _NoAnswerKey.blocked]:\n"
        "    del sys.modules[m]\n")
    return tmp / "ipython"


def execute(nb, cwd, env_extra=None, allow_errors=True, timeout=300):
    """Execute a notebook in a fresh kernel; returns the executed notebook."""
    from nbclient import NotebookClient

    env = dict(os.environ, **(env_extra or {}))
    client = NotebookClient(nb, kernel_name="python3", timeout=timeout, allow_errors=allow_errors,
                            resources={"metadata": {"path": str(cwd)}})
    client.execute(env=env)
    return nb


def errors(nb):
    """(index, cell, ename) for every cell whose execution raised."""
    found = []
    for i, cell in enumerate(nb.cells):
        for out in cell.get("outputs", []):
            if out.get("output_type") == "error":
                found.append((i, cell, out["ename"]))
    return found
