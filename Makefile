# nncourse: build the book and the exercises, run the tests.
#   make all    set up .venv, build the book (_build/html) and release the exercises
#   make test   set up .venv and run the whole test suite
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
# nbgrader calls `alembic` through PATH: run everything with the venv first on PATH.
export PATH := $(CURDIR)/$(BIN):$(PATH)
export MPLBACKEND := Agg
ASSIGNMENTS := $(notdir $(wildcard solutions/ch*))

.PHONY: all setup book exercises test clean

all: book exercises

setup: $(VENV)/.installed

$(VENV)/.installed: requirements.txt pyproject.toml student/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet -r requirements.txt
	$(BIN)/pip install --quiet --no-deps -e . -e ./student
	touch $@

book: setup
	$(BIN)/jupyter-book build -W --keep-going .

exercises: setup
	@for a in $(ASSIGNMENTS); do \
		$(BIN)/nbgrader generate_assignment $$a --force --log-level=WARN || exit 1; \
	done

test: setup
	$(BIN)/python -m pytest -n 2 --dist loadgroup

clean:
	rm -rf _build gradebook.db
