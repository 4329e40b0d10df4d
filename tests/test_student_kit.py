"""The student kit (`make student-kit`): one archive without the answer key that installs into a
fresh venv, where every released notebook, answers filled in, runs clean.

The venv is a real fresh one (no --system-site-packages): pip resolves the kit's
requirements.txt with this machine's pip configuration (its local package mirror and wheel
cache; on a student's machine that is PyPI), installs nncheck from the kit's wheel and torch
from the already downloaded CPU wheel. It takes a few minutes on 2 shared cores, hence `slow`.
"""

import json
import os
import shutil
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import nbformat
import pytest

from nbharness import EXERCISES, ROOT, SOLUTIONS, solved_release

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group(name="student_kit")]

sys.path.insert(0, str(ROOT / "student"))
import make_kit  # noqa: E402


@pytest.fixture(scope="module")
def kit(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("kit")
    archive = make_kit.build(tmp / "out")
    with zipfile.ZipFile(archive) as z:
        names = z.namelist()
        z.extractall(tmp / "unpacked")
    return archive, names, tmp / "unpacked" / make_kit.NAME, tmp


def test_the_kit_is_one_archive_without_the_answer_key(kit):
    archive, names, folder, _ = kit
    assert archive.name == "nncourse-student-kit.zip"
    assert all(n.startswith("nncourse-student-kit/") for n in names)
    for bad in ("solutions/", "nnref", "build/", ".egg-info", "gradebook", "tests/"):
        assert not [n for n in names if bad in n], f"the kit contains {bad}"
    released = sorted(p.name for p in EXERCISES.iterdir() if p.is_dir())
    assert sorted(p.name for p in (folder / "exercises").iterdir()) == released
    for a in released:
        nb = folder / "exercises" / a / f"{a}.ipynb"
        assert nb.read_bytes() == (EXERCISES / a / f"{a}.ipynb").read_bytes(), a
        text = nb.read_text()
        for marker in ("BEGIN SOLUTION", "BEGIN HIDDEN TESTS", "nnref"):
            assert marker not in text, f"{a}: the released notebook holds {marker!r}"
    wheels = list((folder / "wheels").glob("*.whl"))
    assert [w.name for w in wheels] == ["nncheck-0.1.0-py3-none-any.whl"]
    with zipfile.ZipFile(wheels[0]) as whl:
        assert all(n.startswith(("nncheck/", "nncheck-")) for n in whl.namelist())
    reqs = (folder / "requirements.txt").read_text()
    assert "./wheels/nncheck-0.1.0-py3-none-any.whl" in reqs and "./student" not in reqs
    readme = (folder / "README.md").read_text()
    assert "download.pytorch.org/whl/cpu" in readme and "Windows" in readme and "macOS" in readme


def test_the_kit_build_is_reproducible(kit, tmp_path):
    archive, _, _, _ = kit
    again = make_kit.build(tmp_path)
    with zipfile.ZipFile(archive) as a, zipfile.ZipFile(again) as b:
        assert a.namelist() == b.namelist()
        for name in a.namelist():
            if not name.endswith(".whl"):   # a wheel's RECORD is rebuilt, its files are equal
                assert a.read(name) == b.read(name), name


def du(path):
    return sum(p.stat().st_size for p in Path(path).rglob("*") if p.is_file() and not p.is_symlink())


def test_the_kit_installs_in_a_fresh_venv_and_every_notebook_runs(kit):
    _, _, folder, tmp = kit
    venv = tmp / "venv"
    before = {p.relative_to(folder) for p in folder.rglob("*")}
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    py = venv / "bin" / "python"
    t0 = time.monotonic()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VIRTUAL_ENV", "PYTHONPATH"))}
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env['PATH']}"
    proc = subprocess.run([str(py), "-m", "pip", "install", "--quiet", "-r", "requirements.txt"],
                          cwd=folder, env=env, capture_output=True, text=True, timeout=1500)
    assert proc.returncode == 0, proc.stderr[-3000:]
    install_s = time.monotonic() - t0
    after = {p.relative_to(folder) for p in folder.rglob("*")}
    assert after == before, f"the install left {sorted(map(str, after - before))} in the kit"
    check = subprocess.run([str(py), "-c", "import torch, nncheck; print(torch.__version__)\n"
                            "import importlib.util as u; print(u.find_spec('nnref') is None)"],
                           cwd=folder, env=env, capture_output=True, text=True,
                           check=True).stdout.split()
    assert check[1] == "True", "nnref is importable in the student's venv"
    print(f"\nstudent kit: install {install_s:.0f} s, venv {du(venv) / 2**30:.2f} GiB, "
          f"torch {check[0]}")

    work = tmp / "work"
    shutil.copytree(folder / "exercises", work)
    timings = {}
    for nb_path in sorted(work.glob("*/*.ipynb")):
        a = nb_path.stem
        solution = nbformat.read(SOLUTIONS / a / f"{a}.ipynb", as_version=4)
        nbformat.write(solved_release(nbformat.read(nb_path, as_version=4), solution), nb_path)
        t0 = time.monotonic()
        run = subprocess.run(
            [str(venv / "bin" / "jupyter"), "nbconvert", "--to", "notebook", "--execute",
             "--allow-errors", "--ExecutePreprocessor.timeout=300", "--output", f"{a}.out.ipynb",
             str(nb_path)], cwd=nb_path.parent, env=dict(env, MPLBACKEND="Agg"),
            capture_output=True, text=True, timeout=900)
        timings[a] = time.monotonic() - t0
        assert run.returncode == 0, run.stderr[-3000:]
        out = json.loads((nb_path.parent / f"{a}.out.ipynb").read_text())
        errors = [(c.get("metadata", {}).get("nbgrader", {}).get("grade_id"), o.get("ename"),
                   o.get("evalue", "")[:300])
                  for c in out["cells"] for o in c.get("outputs", []) if o.get("output_type") == "error"]
        assert not errors, f"{a} in the student's venv: {errors}"
    print("notebooks in the kit's venv (s): " + ", ".join(f"{a} {t:.1f}" for a, t in timings.items()))
