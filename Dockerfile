# tonebridge images, one build file, three targets:
#
#   docker build --target cpu    -t tonebridge:local .         # api, worker, jobs, CPU trainer
#   docker build --target cuda   -t tonebridge-cuda:local .    # the GPU trainer
#   docker build --target mlflow -t tonebridge-mlflow:local .  # MLflow server on PostgreSQL
#
# Dependencies are installed before the source is copied, so editing tonebridge/ rebuilds only
# the last layers. Versions come from constraints.txt; the package itself goes in with --no-deps.
# Each target installs the extras it runs (scripts/requirements.py expands them from
# pyproject.toml): cpu [worker,trainer,api,s3,gcs], cuda [gpu,s3,gcs].

# --- base: the interpreter, the user, the caches; no dependencies yet ----------------------
FROM python:3.11.11-slim-bookworm AS base
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONUNBUFFERED=1 \
    DATA_DIR=/var/lib/tonebridge \
    HF_HOME=/var/cache/huggingface
# A numeric user, so that Kubernetes' runAsNonRoot can check it.
RUN groupadd --gid 10001 tonebridge \
    && useradd --create-home --uid 10001 --gid 10001 tonebridge \
    && mkdir -p /var/lib/tonebridge /var/cache/huggingface \
    && chown tonebridge /var/lib/tonebridge /var/cache/huggingface
WORKDIR /app
COPY pyproject.toml constraints.txt scripts/requirements.py ./

# --- cpu: api, worker, jobs and the CPU trainer -------------------------------------------
FROM base AS cpu
# (SHELL is inherited from base; repeated for hadolint, which reads each stage alone.)
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
# torch first, from the CPU index: PyPI's torch for Linux is a multi-GB CUDA build.
RUN python requirements.py worker trainer api s3 gcs > requirements.txt \
    && pip install --no-cache-dir --index-url https://download.pytorch.org/whl/cpu \
        "torch==$(grep -E '^torch==' constraints.txt | cut -d= -f3)" \
    && pip install --no-cache-dir -c constraints.txt -r requirements.txt
COPY README.md ./
COPY tonebridge ./tonebridge
RUN pip install --no-cache-dir --no-deps .
USER 10001:10001
EXPOSE 8000
VOLUME ["/var/cache/huggingface"]
ENTRYPOINT ["tonebridge"]

# --- cuda: the GPU trainer ------------------------------------------------------------------
FROM base AS cuda
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
# The CUDA wheels carry the CUDA user-space libraries (cuBLAS, cuDNN, ...); the driver comes
# from the host through the NVIDIA Container Toolkit. Pick the variant the hosts' driver
# supports (e.g. --build-arg TORCH_CUDA=cu126). bitsandbytes (QLoRA) is one of the requirements.
ARG TORCH_CUDA=cu128
ENV NVIDIA_VISIBLE_DEVICES=all \
    NVIDIA_DRIVER_CAPABILITIES=compute,utility
RUN python requirements.py gpu s3 gcs > requirements.txt \
    && pip install --no-cache-dir --index-url "https://download.pytorch.org/whl/${TORCH_CUDA}" \
        "torch==$(grep -E '^torch==' constraints.txt | cut -d= -f3)" \
    && pip install --no-cache-dir -c constraints.txt -r requirements.txt
COPY README.md ./
COPY tonebridge ./tonebridge
RUN pip install --no-cache-dir --no-deps .
USER 10001:10001
VOLUME ["/var/cache/huggingface"]
ENTRYPOINT ["tonebridge"]

# --- mlflow: the tracking server with a PostgreSQL driver (the stock image has none) -------
FROM python:3.11.11-slim-bookworm AS mlflow
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONUNBUFFERED=1
# The server's version follows the client's (mlflow-skinny in constraints.txt); boto3 and
# google-cloud-storage let it keep artifacts in S3 or GCS (--artifacts-destination s3://...).
COPY constraints.txt /tmp/constraints.txt
RUN pip install --no-cache-dir \
        "mlflow==$(grep -E '^mlflow-skinny==' /tmp/constraints.txt | cut -d= -f3)" \
        "boto3==$(grep -E '^boto3==' /tmp/constraints.txt | cut -d= -f3)" \
        "google-cloud-storage==$(grep -E '^google-cloud-storage==' /tmp/constraints.txt | cut -d= -f3)" \
        psycopg2-binary==2.9.13 \
    && groupadd --gid 10001 mlflow \
    && useradd --create-home --uid 10001 --gid 10001 mlflow \
    && mkdir -p /mlflow/artifacts && chown -R mlflow /mlflow
USER 10001:10001
EXPOSE 5000
VOLUME ["/mlflow/artifacts"]
ENTRYPOINT ["mlflow"]
