# tfx-prod: one venv, installed only from requirements.lock.
#   make run    - set up (if needed) and run the pipeline on the bundled taxi data
#   make test   - set up (if needed) and run the test suite
#   make bench  - benchmarks against TFX's own taxi example (writes benchmarks/results/)
#   make lock   - re-resolve requirements.in into requirements.lock (needs `uv`)

VENV      ?= .venv
PY        := $(VENV)/bin/python
STAMP     := $(VENV)/.installed
# TFX 1.16 needs CPython 3.10: take python3.10 from PATH, else pyenv's, else /usr/bin.
PYTHON310 ?= $(shell for p in python3.10 $${PYENV_ROOT:-$$HOME/.pyenv}/versions/3.10*/bin/python3.10 /usr/local/bin/python3.10 /usr/bin/python3.10; do \
               $$p -c 'import sys; assert sys.version_info[:2] == (3, 10)' >/dev/null 2>&1 && { echo $$p; break; }; done)
RUN_ARGS  ?=
TEST_ARGS ?=

.PHONY: install run test test-fast bench lock clean test-system-deps

install: $(STAMP)

$(STAMP): requirements.lock setup.py
	@test -n "$(PYTHON310)" || { echo "error: no python3.10 found (TFX 1.16 supports 3.9-3.10 only). Install it, or pass PYTHON310=/path/to/python3.10"; exit 1; }
	@test -x $(PY) || { echo "creating $(VENV) with $(PYTHON310)"; $(PYTHON310) -m venv $(VENV); }
	$(PY) -m pip install --quiet --disable-pip-version-check --upgrade "pip==24.2"
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.lock
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	$(PY) -m pip check
	@touch $(STAMP)

run: install
	$(VENV)/bin/tfx-prod run $(RUN_ARGS)

test: install test-system-deps
	$(PY) -m pytest $(TEST_ARGS)

# The report test renders HTML in headless Chromium (Debian's package).
test-system-deps:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing Debian's chromium for the report test"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else echo "error: the report test needs Chromium: sudo apt-get install -y chromium"; exit 1; fi; }

test-fast: install
	$(PY) -m pytest -m "not e2e" $(TEST_ARGS)

bench: install
	$(PY) -m benchmarks.run_all

lock:
	uv pip compile requirements.in --python-version 3.10 --python-platform x86_64-manylinux_2_28 \
	  --no-header --annotation-style line -o requirements.lock

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
