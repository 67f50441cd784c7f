.PHONY: setup setup-test serve test lint bench clean

VENV := .venv
BIN := $(VENV)/bin

setup:
	@scripts/setup

setup-test:
	@scripts/setup --test

serve: setup
	$(BIN)/mnwd serve

lint: setup-test
	$(BIN)/ruff check mnwd tests bench sdk-python
	$(BIN)/ruff format --check mnwd tests bench sdk-python
	$(BIN)/mypy
	$(BIN)/lint-imports --no-cache

test: lint
	$(BIN)/pytest -n auto --dist worksteal --cov --cov-report=term -q

bench: setup  # make bench ARGS="--fast-unsafe --rounds 7 sync_push"
	$(BIN)/python -m bench $(ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .coverage
