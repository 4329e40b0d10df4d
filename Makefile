# nncourse: build the book and the exercises, run the tests.
#   make all    set up .venv, build the book (_build/html) and release the exercises
#   make test   set up .venv and run the whole test suite
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
# nbgrader calls `alembic` through PATH: run everything with the venv first on PATH.
export PATH := $(CURDIR)/$(BIN):$(PATH)
# One BLAS thread: on 2 shared cores threaded OpenBLAS is far slower, not faster.
export OPENBLAS_NUM_THREADS := 1
export OMP_NUM_THREADS := 1
ASSIGNMENTS := $(notdir $(wildcard solutions/ch*))

.PHONY: all setup sandbox postgres browser book exercises student-kit test clean

all: book exercises

setup: $(VENV)/.installed sandbox postgres browser

# Debian packages the project needs, installed as root with apt-get (CI, fresh machines);
# elsewhere a loud WARNING says what is skipped.
#   $(call debian,CHECK-COMMAND,PACKAGES,WARNING)   (no commas inside the arguments)
define debian
	@$(1) >/dev/null 2>&1 || { \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
			apt-get update -qq && apt-get install -y -qq --no-install-recommends $(2) >/dev/null; \
		else \
			echo "WARNING: $(3)"; \
		fi; }
endef

# The class grader (nngrader) runs each submission in a bubblewrap sandbox.
sandbox:
	$(call debian,command -v bwrap,bubblewrap,bubblewrap (bwrap) is missing: nngrader falls back to a weaker sandbox)

# The PostgreSQL gradebook is tested against a server the tests start (initdb and pg_ctl).
postgres:
	$(call debian,ls /usr/lib/postgresql/*/bin/initdb,postgresql,PostgreSQL (initdb and pg_ctl) is missing: the PostgreSQL gradebook tests are SKIPPED)

# The browser suite (tests/test_browser.py: the built site on desktop and phone) drives Debian's
# Chromium (with DejaVu fonts for figure text).
browser:
	$(call debian,command -v chromium,chromium fonts-dejavu-core,chromium is missing: tests/test_browser.py (the rendered book in a browser) is SKIPPED)

$(VENV)/.installed: requirements.txt pyproject.toml student/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet -r requirements.txt
	$(BIN)/pip install --quiet --no-deps -e . -e ./student
	touch $@

book: setup
	$(BIN)/jupyter-book build -W --keep-going .

# One archive for students: released notebooks, nncheck's wheel, requirements, README (no answer key).
student-kit: setup
	$(BIN)/python student/make_kit.py --out _build/student-kit

exercises: setup
	@for a in $(ASSIGNMENTS); do \
		$(BIN)/nbgrader generate_assignment $$a --force --log-level=WARN || exit 1; \
	done

test: setup
	$(BIN)/python -m pytest -n 2 --dist loadgroup --durations=15

clean:
	rm -rf _build gradebook.db
