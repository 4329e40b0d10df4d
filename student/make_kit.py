"""Build the student kit: ONE archive with what a student needs and nothing of the answer key.

    python student/make_kit.py [--out _build/student-kit]      (or: make student-kit)

The archive ``nncourse-student-kit.zip`` holds one folder, ``nncourse-student-kit/``, with

- ``exercises/<assignment>/<assignment>.ipynb``: the released notebooks (``exercises/``, what
  ``nbgrader generate_assignment`` produces: no solutions, no hidden tests);
- ``wheels/nncheck-<version>-py3-none-any.whl``: the check helper, built from a scratch copy of
  ``student/`` (so neither the repository nor the student's folder gets ``build/`` or
  ``*.egg-info`` folders);
- ``requirements.txt``: the pins of ``requirements-student.txt`` with the wheel in place of
  ``./student``;
- ``README.md``: how to install it (CPU-only PyTorch on every operating system) and work.

No ``solutions/``, no ``nnref``, no hidden test: the build fails if any file of the kit mentions
one. The zip is reproducible (sorted entries, fixed timestamps).
"""

import argparse
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NAME = "nncourse-student-kit"
FORBIDDEN = ("BEGIN SOLUTION", "BEGIN HIDDEN TESTS", "nnref")
EPOCH = (2026, 1, 1, 0, 0, 0)

README = """# nncourse: the student kit

The graded notebooks of the course (`exercises/`), the check helper `nncheck` (`wheels/`) and
what they need (`requirements.txt`). The course's pages for students explain how checks and
grading work.

## Install (Python 3.11, once)

Open a terminal in this folder (the one with this README).

**Linux.** PyPI's default `torch` wheel for Linux is the CUDA build (about 2.5 GiB with its
NVIDIA packages). Install the CPU-only build first, from PyTorch's CPU index:

```bash
python3.11 -m venv .venv
. .venv/bin/activate
pip install torch=={torch} --index-url https://download.pytorch.org/whl/cpu
pip install -r requirements.txt
```

**macOS** (PyPI's wheel has no CUDA; it is the CPU/Apple-GPU build):

```bash
python3.11 -m venv .venv
. .venv/bin/activate
pip install -r requirements.txt
```

**Windows** (PyPI's wheel for Windows is CPU-only; PowerShell):

```powershell
py -3.11 -m venv .venv
.venv\\Scripts\\Activate.ps1
pip install -r requirements.txt
```

What it costs on Linux (measured for this kit): {cost}

`nncheck` is installed from its wheel: nothing is built, no `build/` folder appears here.

## Work

```bash
jupyter notebook exercises/
```

Open `exercises/<assignment>/<assignment>.ipynb`, fill in the cells marked `YOUR CODE HERE`, run
the test cell under each. Submit the notebook **under its original name**.
"""

# Measured with `pip install --dry-run --report` for Linux x86_64, Python 3.11, against the CPU
# index, and the size of the fresh venv that tests/test_student_kit.py builds.
COST = ("114 packages, about 280 MB to download (torch {torch}+cpu alone is 190 MB), and the "
        "finished `.venv` takes about 1.35 GiB on disk. macOS and Windows wheels are of a "
        "similar size (not measured here).")


def student_requirements():
    """The pinned packages of requirements-student.txt (one source of the pins), minus ./student."""
    lines = (ROOT / "requirements-student.txt").read_text().splitlines()
    return [ln.strip() for ln in lines if ln.strip() and not ln.lstrip().startswith(("#", "."))]


def build_wheel(dest):
    """nncheck's wheel, built from a scratch copy of student/ (no build/ left anywhere)."""
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "nncheck-src"
        src.mkdir()
        shutil.copy(ROOT / "student" / "pyproject.toml", src)
        shutil.copytree(ROOT / "student" / "nncheck", src / "nncheck",
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                        "--quiet", "-w", str(dest), str(src)], check=True)
    wheels = sorted(Path(dest).glob("nncheck-*.whl"))
    assert len(wheels) == 1, wheels
    return wheels[0]


def assignments():
    return sorted(p.name for p in (ROOT / "exercises").iterdir()
                  if p.is_dir() and (p / f"{p.name}.ipynb").exists())


def check_clean(folder):
    """Fail loudly if anything in the kit carries a solution, a hidden test or the answer key."""
    for path in sorted(Path(folder).rglob("*")):
        if path.is_dir():
            assert path.name not in ("solutions", "nnref", "build") and not \
                path.name.endswith(".egg-info"), f"the kit must not contain {path}"
            continue
        if path.suffix == ".whl":    # nncheck only (its code names nnref: hidden tests need it)
            with zipfile.ZipFile(path) as whl:
                names = whl.namelist()
            assert all(n.startswith(("nncheck/", "nncheck-")) for n in names), names
            continue
        data = path.read_bytes()
        for marker in FORBIDDEN:
            assert marker.encode() not in data, f"{path.name} contains {marker!r}"


def build(out):
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    torch_pin = next(r.split("==")[1] for r in student_requirements() if r.startswith("torch=="))
    with tempfile.TemporaryDirectory() as tmp:
        kit = Path(tmp) / NAME
        for a in assignments():
            (kit / "exercises" / a).mkdir(parents=True)
            shutil.copy(ROOT / "exercises" / a / f"{a}.ipynb", kit / "exercises" / a)
        wheel = build_wheel(kit / "wheels")
        reqs = student_requirements() + [f"./wheels/{wheel.name}"]
        (kit / "requirements.txt").write_text(
            "# The student kit's packages (from requirements-student.txt); on Linux install the\n"
            "# CPU-only torch first (README.md).\n" + "\n".join(reqs) + "\n")
        (kit / "README.md").write_text(README.format(torch=torch_pin,
                                                     cost=COST.format(torch=torch_pin)))
        check_clean(kit)
        archive = out / f"{NAME}.zip"
        with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as z:
            for path in sorted(kit.rglob("*")):
                if path.is_file():
                    info = zipfile.ZipInfo(str(path.relative_to(kit.parent)), EPOCH)
                    info.compress_type = zipfile.ZIP_DEFLATED
                    info.external_attr = 0o644 << 16
                    z.writestr(info, path.read_bytes())
    return archive


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "_build" / "student-kit"))
    archive = build(parser.parse_args(argv).out)
    print(f"wrote {archive} ({archive.stat().st_size / 1024:.0f} KiB)")


if __name__ == "__main__":
    main()
