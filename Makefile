# theset-daemon: `make run` starts it on the embedded defaults, `make test` proves it.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install run test test-slow check lint format bench clean

install: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: install
	$(BIN)/theset-daemon run

# pytest-xdist: the in-process tests spread over the workers, while the fault, process, browser
# and timing tests each run whole, one after another, on a worker of their own (XDIST_GROUPS in
# tests/conftest.py). They mostly wait, so three workers suit two cores. Plain `pytest` runs serially.
# pytest's exit code 5 means "no tests collected": a failure here, never a pass.
TEST_WORKERS ?= 3
test: install
	@$(BIN)/pytest -n $(TEST_WORKERS) --dist loadgroup; status=$$?; \
	if [ $$status -eq 5 ]; then echo "make test: pytest collected no tests" >&2; exit 1; fi; \
	exit $$status

test-slow: install
	$(BIN)/pytest -m slow

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

check: lint test

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# Every benchmark three times (the slow catalog sync once); medians against targets in BENCHMARKS.md.
bench: install
	$(BIN)/python -m bench --runs 3 --write BENCHMARKS.md

clean:
	rm -rf $(VENV) .theset .pytest_cache .mypy_cache .ruff_cache *.egg-info
