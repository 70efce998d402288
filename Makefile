# The two quick-start commands: `make run` (the main job) and `make test` (every check).
.PHONY: run test deps lock bench clean

VENV := .venv
BIN := $(VENV)/bin

deps:
	@./scripts/bootstrap

run: deps
	@$(BIN)/python -m scripts.quickstart

test: deps
	$(BIN)/ruff check .
	$(BIN)/ruff format --check agent server protocol rescue tests bench scripts
	$(BIN)/mypy
	$(BIN)/pytest $(PYTEST_ARGS)

bench: deps
	$(BIN)/python -m bench

# Regenerate the hashed lock file after changing dependencies in pyproject.toml.
lock:
	$(BIN)/uv pip compile pyproject.toml --extra dev --generate-hashes --python-version 3.11 -o requirements.lock

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache build/dist build/work
