# course-rnn: the two commands are `make book` and `make test`.
# Both create .venv if missing and install the pinned environment first.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
PYTEST_ARGS ?=

.PHONY: help setup book test test-fast exercises grade serve lint clean

help:
	@echo "make book       build the book into _build/html (the main job)"
	@echo "make test       build the book, then run the whole test suite"
	@echo "make test-fast  run the tests that need no built book"
	@echo "make exercises  build solutions/<a>/ and exercises/<a>/ from solutions/_sources/<a>.md"
	@echo "make grade ASSIGNMENT=... SUBMISSIONS=... [OUT=grading_out]"
	@echo "make serve      serve _build/html on http://localhost:8000"

$(STAMP): requirements.txt pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.txt
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	@touch $(STAMP)

setup: $(STAMP)

book: $(STAMP)
	bash book/assets/vendor.sh && $(BIN)/jupyter-book build . -n -W --keep-going

test: book
	$(BIN)/python -m pytest $(PYTEST_ARGS)

test-fast: $(STAMP)
	$(BIN)/python -m pytest -m "not book and not browser" $(PYTEST_ARGS)

exercises: $(STAMP)
	$(BIN)/course-rnn release

ASSIGNMENT ?=
SUBMISSIONS ?=
OUT ?= grading_out
grade: $(STAMP)
	$(BIN)/course-rnn grade $(ASSIGNMENT) $(SUBMISSIONS) --out $(OUT)

serve:
	$(BIN)/python -m http.server --directory _build/html --bind 127.0.0.1 8000

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

clean:
	rm -rf _build .pytest_cache
