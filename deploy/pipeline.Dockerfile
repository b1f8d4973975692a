# The image every task of the compiled Kubeflow spec runs (KFP OSS and Vertex).
#   make image                      (docker build -f deploy/pipeline.Dockerfile -t tfx-prod-pipeline:latest .)
# KFP runs the IR `command` (python -m orchestration.kfp_entrypoint ...) with
# no ENTRYPOINT involved, and the spec's project paths are relative to the
# project root, hence WORKDIR /opt/tfx-prod (pipeline/kubeflow_runner.py:
# IMAGE_PROJECT_DIR). deploy/pipeline_dockerfile_test.py checks both.
FROM python:3.10-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    TF_USE_LEGACY_KERAS=1 \
    TF_CPP_MIN_LOG_LEVEL=1

WORKDIR /opt/tfx-prod

# The lock is complete and resolved already: no resolver run, then verify it.
COPY requirements.lock ./
RUN pip install "pip==24.2" \
 && pip install --no-deps -r requirements.lock \
 && pip check

COPY setup.py ./
COPY pipeline/ pipeline/
COPY components/ components/
COPY modules/ modules/
COPY serving/ serving/
COPY orchestration/ orchestration/
COPY tfx_prod/ tfx_prod/
COPY data/taxi/schema/ data/taxi/schema/
COPY data/taxi/tfx-prod.yaml data/taxi/tfx-prod.yaml
# Editable, so the installed packages are these files; `python -m` also puts
# WORKDIR first on sys.path, so the spec's module resolves from here regardless.
RUN pip install --no-deps --no-build-isolation -e .
