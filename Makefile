# Every target installs what it needs from the lock files; nothing relies on a pre-set machine.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo test test-ts lint typecheck check bench lock clean

$(STAMP): requirements-dev.lock pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements-dev.lock
	$(BIN)/pip install --quiet --no-deps -e .
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/python scripts/demo.py

test: $(STAMP)
	$(BIN)/ruff check worker jobs tests bench scripts
	$(BIN)/mypy
	rm -f .coverage .coverage.*
	$(BIN)/coverage run -m pytest
	$(BIN)/coverage combine -q
	$(BIN)/coverage report

# The TypeScript client's tests: a private redis-server, the .venv worker in burst mode (needs node >= 18).
test-ts: $(STAMP)
	@command -v node >/dev/null && command -v npm >/dev/null || { echo "test-ts: node and npm are needed (apt-get install nodejs npm)" >&2; exit 2; }
	cd clients/typescript && npm ci --no-audit --no-fund && npm run build && CURRICULUM_WORKER_PYTHON="$(abspath $(BIN))/python" npm test

lint: $(STAMP)
	$(BIN)/ruff check worker jobs tests bench scripts

typecheck: $(STAMP)
	$(BIN)/mypy

bench: $(STAMP)
	$(BIN)/python -m bench

# Re-resolve the pinned dependency sets after changing pyproject.toml (needs uv).
lock:
	uv pip compile pyproject.toml --python-version 3.11 -o requirements.lock
	uv pip compile pyproject.toml --extra dev --python-version 3.11 -o requirements-dev.lock

clean:
	rm -rf $(VENV) .coverage .coverage.* .mypy_cache .ruff_cache .pytest_cache
