# The two commands: `make demo` and `make test`. Each creates the virtualenv it needs on first use.
PYTHON ?= python3
VENV := .venv
SDK_VENV := .venv-sdk
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed
SDK_INSTALLED := $(SDK_VENV)/.installed

.PHONY: demo test test-long lint sandbox bench clean chromium redis-server

demo: $(INSTALLED)
	$(VENV)/bin/labelrounds demo

test: $(INSTALLED) $(SDK_INSTALLED) chromium redis-server
	LABELROUNDS_SDK_PYTHON=$(abspath $(SDK_VENV))/bin/python $(PY) -m pytest -q -n 2 --dist loadscope

# Only the reliability tests change with LABELROUNDS_LONG_TESTS=1 (tests/reliability/budget.py: more seeds,
# examples, kills and load); the rest of the suite is what `make test` runs.
test-long: $(INSTALLED)
	LABELROUNDS_LONG_TESTS=1 $(PY) -m pytest -q tests/reliability

lint: $(INSTALLED)
	$(VENV)/bin/ruff check labelrounds tasks flows deployments

sandbox: $(INSTALLED)
	$(VENV)/bin/labelrounds sandbox serve --seed lemons

$(INSTALLED): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[dev]"
	touch $@

# The official SDK, for the compatibility tests and the tutorial walkthrough (see pyproject's compat extra).
$(SDK_INSTALLED): requirements-sdk.txt
	test -x $(SDK_VENV)/bin/python || $(PYTHON) -m venv $(SDK_VENV)
	$(SDK_VENV)/bin/python -m pip install -q -r requirements-sdk.txt
	touch $@

# Headless Chromium (Debian's package) for the end-to-end test that looks at the Prefect UI.
chromium:
	@command -v chromium >/dev/null || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null)

# The redis-server binary: the HA scale-out test starts a private instance of it on a free port.
redis-server:
	@command -v redis-server >/dev/null || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null)

clean:
	rm -rf $(VENV) $(SDK_VENV) .pytest_cache .hypothesis
