# Pulse worker and CLI image: `docker build -t pulse:0.1.0 .`
#
# Two stages: the first installs Pulse and its dependencies into a virtualenv
# (every dependency, RocksDB's rocksdict included, comes as a manylinux wheel, so
# no compiler is needed), the second copies only that virtualenv onto the same
# slim base and runs as an unprivileged user. The base is pinned to an exact
# patch release; pin its digest too where builds must be reproducible:
#   docker buildx imagetools inspect python:3.11.13-slim-bookworm
ARG PYTHON_IMAGE=python:3.11.13-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY topics ./topics
COPY signals ./signals
COPY engine ./engine
RUN python -m venv /opt/pulse \
 && /opt/pulse/bin/pip install --only-binary=:all: . \
 && /opt/pulse/bin/pulse --help >/dev/null

FROM ${PYTHON_IMAGE}
LABEL org.opencontainers.image.title="pulse" \
      org.opencontainers.image.description="Streaming customer-success signal engine" \
      org.opencontainers.image.licenses="Apache-2.0"
# A fixed numeric uid/gid, so Kubernetes' runAsNonRoot can check it and a volume's
# fsGroup can match it.
RUN groupadd --system --gid 10001 pulse \
 && useradd --system --uid 10001 --gid 10001 --home-dir /var/lib/pulse --no-create-home \
      --shell /usr/sbin/nologin pulse \
 && install -d -o 10001 -g 10001 -m 0750 /var/lib/pulse
COPY --from=build /opt/pulse /opt/pulse
ENV PATH=/opt/pulse/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PULSE_DATA_DIR=/var/lib/pulse
USER 10001:10001
WORKDIR /var/lib/pulse
# The worker's HTTP port (PULSE_WEB_PORT): /healthz, /readyz, /metrics, /accounts.
EXPOSE 6066
ENTRYPOINT ["pulse"]
CMD ["worker"]
