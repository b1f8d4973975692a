# tfx-prod: one venv, installed only from requirements.lock.
#   make run    - set up (if needed) and run the pipeline on the bundled taxi data
#   make test   - set up (if needed) and run the test suite
#   make bench  - benchmarks against TFX's own taxi example (writes benchmarks/results/,
#                 then README.md's benchmark blocks from them; BENCH_ARGS=--smoke for a quick check)
#   make lock   - re-resolve requirements.in into requirements.lock (needs `uv`)

VENV      ?= .venv
PY        := $(VENV)/bin/python
STAMP     := $(VENV)/.installed
# TFX 1.16 needs CPython 3.10: take python3.10 from PATH, else pyenv's, else /usr/bin.
PYTHON310 ?= $(shell for p in python3.10 $${PYENV_ROOT:-$$HOME/.pyenv}/versions/3.10*/bin/python3.10 /usr/local/bin/python3.10 /usr/bin/python3.10; do \
               $$p -c 'import sys; assert sys.version_info[:2] == (3, 10)' >/dev/null 2>&1 && { echo $$p; break; }; done)
RUN_ARGS  ?=
TEST_ARGS ?=
# Every core (xdist); files sharing an expensive fixture run on one worker
# (their `xdist_group` marks). `make test PARALLEL=` runs serially.
PARALLEL  ?= -n auto --dist loadgroup
BENCH_ARGS ?=
IMAGE     ?= tfx-prod-pipeline:latest

.PHONY: install run test test-fast bench lock clean test-system-deps bench-system-deps image

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
	$(PY) -m pytest $(PARALLEL) $(TEST_ARGS)

# The report test renders HTML in headless Chromium (Debian's package).
test-system-deps:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing Debian's chromium for the report test"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else echo "error: the report test needs Chromium: sudo apt-get install -y chromium"; exit 1; fi; }
	@command -v prometheus >/dev/null 2>&1 && command -v promtool >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing Debian's prometheus for the serving metrics test"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq prometheus >/dev/null; \
	  else echo "error: the serving metrics test needs Prometheus: sudo apt-get install -y prometheus"; exit 1; fi; }
	@command -v systemd-analyze >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing Debian's systemd (systemd-analyze) for the --emit systemd test"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq systemd >/dev/null; \
	  else echo "error: the --emit systemd test needs systemd-analyze: sudo apt-get install -y systemd"; exit 1; fi; }

# The serving benchmark's load generator is Debian's wrk.
bench-system-deps:
	@command -v wrk >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing Debian's wrk for the serving benchmark"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; \
	  else echo "error: the serving benchmark needs wrk: sudo apt-get install -y wrk"; exit 1; fi; }

test-fast: install
	$(PY) -m pytest $(PARALLEL) -m "not e2e" $(TEST_ARGS)

# The README's blocks are rewritten even when a run failed (they then say so),
# and make still exits with the benchmarks' status. A smoke run leaves both alone.
bench: install bench-system-deps
	$(PY) -m benchmarks.run_all $(BENCH_ARGS); status=$$?; \
	case " $(BENCH_ARGS) " in *" --smoke "*) exit $$status;; esac; \
	$(PY) -m benchmarks.readme_tables && exit $$status

lock:
	uv pip compile requirements.in --python-version 3.10 --python-platform x86_64-manylinux_2_28 \
	  --no-header --annotation-style line -o requirements.lock

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache

# The image every Kubeflow task runs (deploy/pipeline.Dockerfile); push it where your cluster can pull it.
image:
	@command -v docker >/dev/null 2>&1 || { echo "error: make image needs docker (https://docs.docker.com/engine/install/); none found on PATH"; exit 1; }
	docker build -f deploy/pipeline.Dockerfile -t $(IMAGE) .
