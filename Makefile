# This is School ClassLink integration. `make run` and `make test` set themselves up on a fresh machine.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
SAMVENV := .venv-sam
SAM    := $(SAMVENV)/bin/sam
# The security scanners (checkov, bandit): their own virtualenv, like SAM's, since checkov pins
# many packages of its own.
SCANVENV := .venv-scan
SCAN     := $(SCANVENV)/.installed
# sam build needs the functions' runtime (python3.12) on PATH; pyenv keeps it here on our machines.
PY312_BIN ?= $(shell ls -d $$HOME/.pyenv/versions/3.12*/bin 2>/dev/null | tail -n 1)

.PHONY: setup run test test-unit test-integration test-e2e screenshots lint scan typecheck bench lock sam-validate sam-build clean

setup: $(STAMP)

$(STAMP): pyproject.toml requirements/dev.lock
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Python 3.11+ is required, found " + sys.version' 
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements/dev.lock
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $(STAMP)

# Re-pin every dependency (run after changing pyproject.toml's dependencies).
lock:
	rm -rf .venv-lock && $(PYTHON) -m venv .venv-lock
	.venv-lock/bin/python -m pip install --quiet --upgrade pip
	.venv-lock/bin/python -m pip install --quiet '.[dev]'
	.venv-lock/bin/python -m pip freeze --exclude classlink-sync > requirements/dev.lock
	rm -rf .venv-lock

run: $(STAMP)
	$(BIN)/classlink-sync demo

# The suite runs on every core (pytest-xdist; each worker sets up its own local stack once).
# TEST_WORKERS=0 runs it in one process. Modules go to the workers whole, longest first, in the
# order tests/conftest.py gives them (MODULE_SECONDS), not xdist's order by number of tests.
TEST_WORKERS ?= auto

test: $(STAMP)
	$(BIN)/python -m pytest -q -p no:cacheprovider -n $(TEST_WORKERS) --dist loadscope --no-loadscope-reorder tests

test-unit: $(STAMP)
	$(BIN)/python -m pytest -q tests/unit

test-integration: $(STAMP)
	$(BIN)/python -m pytest -q tests/integration

# The portal's screenshots in docs/screenshots, taken again by the browser test (needs chromium).
screenshots: $(STAMP)
	SCREENSHOTS_DIR=docs/screenshots $(BIN)/python -m pytest -q -p no:cacheprovider tests/e2e/test_portal_browser.py

test-e2e: $(STAMP)
	$(BIN)/python -m pytest -q tests/e2e

lint: $(STAMP) scan
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

$(SCAN): requirements/scan.txt
	test -d $(SCANVENV) || $(PYTHON) -m venv $(SCANVENV)
	$(SCANVENV)/bin/python -m pip install --quiet -r requirements/scan.txt
	touch $(SCAN)

# Security scans; both run, and any finding fails. checkov: the template (its cloudformation
# framework reads the SAM resources; `serverless` is the Serverless Framework's), each finding
# fixed or skipped in the resource's Metadata with the reason. --skip-download: no platform
# account, so nothing to fetch. bandit: the shipped Python and the local tooling (pyproject's
# [tool.bandit]), every severity; a false positive takes `# nosec BXXX # reason` on its line.
scan: $(SCAN)
	status=0; \
	$(SCANVENV)/bin/checkov --file template.yaml --framework cloudformation --quiet --compact --skip-download || status=1; \
	$(SCANVENV)/bin/bandit -c pyproject.toml -r layers functions local --severity-level low --confidence-level low -q || status=1; \
	exit $$status

bench: $(STAMP)
	$(BIN)/python -m bench

$(SAM):
	$(PYTHON) -m venv $(SAMVENV)
	$(SAMVENV)/bin/python -m pip install --quiet -r requirements/sam.txt

sam-validate: $(SAM)
	$(SAM) validate --lint

sam-build: $(SAM)
	PATH="$(PY312_BIN):$$PATH" $(SAM) build

clean:
	rm -rf $(VENV) $(SAMVENV) $(SCANVENV) .aws-sam .pytest_cache .mypy_cache .ruff_cache
