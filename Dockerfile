# syntax=docker/dockerfile:1
# Image of stream-guard: the worker (default command), and every other subcommand
# (`docker run IMAGE loadgen ...`, `docker run IMAGE settings`).
# Used by docker-compose.yml; deploy/k8s/ runs the same image.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm
# the Rust toolchain that builds the compiled text kernel (native/), build stage only
ARG RUST_IMAGE=rust:1.95-slim-bookworm

FROM ${RUST_IMAGE} AS rust

FROM ${PYTHON_IMAGE} AS build
# a compiler only for dependencies without a wheel on the target platform (e.g. arm64);
# build stage only, so the toolchain's exact Debian version does not matter
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends build-essential \
    && rm -rf /var/lib/apt/lists/*
COPY --from=rust /usr/local/cargo /usr/local/cargo
COPY --from=rust /usr/local/rustup /usr/local/rustup
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 \
    CARGO_HOME=/usr/local/cargo RUSTUP_HOME=/usr/local/rustup
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:/usr/local/cargo/bin:$PATH
WORKDIR /src
# dependencies first, so that a code change does not reinstall them
COPY pyproject.toml README.md ./
COPY native ./native
COPY stream_guard ./stream_guard
# the project itself (its dependencies are pinned to ranges in pyproject.toml) with the
# compiled kernel; the runtime stage gets the venv only, no toolchain
# hadolint ignore=DL3013
RUN pip install ".[loadgen]" \
    && python -c "import stream_guard._native"

FROM ${PYTHON_IMAGE}
RUN useradd --system --uid 10001 --user-group --home-dir /var/lib/stream-guard --create-home stream-guard
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    STREAM_GUARD_DATA_DIR=/var/lib/stream-guard \
    STREAM_GUARD_METRICS_HOST=0.0.0.0 \
    STREAM_GUARD_METRICS_PORT=9108
USER 10001:10001
WORKDIR /var/lib/stream-guard
VOLUME ["/var/lib/stream-guard"]
EXPOSE 9108
# liveness of the worker; services that run another subcommand disable it
HEALTHCHECK --interval=15s --timeout=3s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('STREAM_GUARD_METRICS_PORT', '9108'), timeout=2)"]
ENTRYPOINT ["stream-guard"]
CMD ["worker"]
