# The tonebridge image: the `tonebridge` command line (topics, workers, API).
FROM python:3.11-slim

ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONUNBUFFERED=1
WORKDIR /app

COPY pyproject.toml constraints.txt README.md ./
COPY tonebridge ./tonebridge
# torch first, from the CPU index: an unpinned torch makes pip pick a multi-GB CUDA build.
RUN pip install --index-url https://download.pytorch.org/whl/cpu \
        "torch==$(grep -E '^torch==' constraints.txt | cut -d= -f3)" \
    && pip install -c constraints.txt .

RUN useradd --create-home --uid 10001 tonebridge \
    && mkdir -p /var/lib/tonebridge && chown tonebridge /var/lib/tonebridge
USER tonebridge
ENTRYPOINT ["tonebridge"]
