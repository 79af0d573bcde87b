# surgewatch image: `docker build -t surgewatch:0.1.0 .`
#   docker run --rm -e SURGEWATCH_PSEUDONYM_KEY=... -e KAFKA_BOOTSTRAP_SERVERS=kafka:9092 surgewatch:0.1.0
# Default command is `run`; any subcommand works (`... surgewatch:0.1.0 replay --input ...`).
# For production, pin the base by digest (python:3.11-slim@sha256:...) so rebuilds are reproducible.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# Only what the package needs (pyproject reads README.md); tests and deploy/ stay out of the image.
WORKDIR /src
COPY pyproject.toml README.md ./
COPY streamer ./streamer
COPY detectors ./detectors
RUN pip install . && rm -rf /src

# Non-root, fixed uid (Kubernetes runAsUser/fsGroup use 10001). The state dir exists and is
# owned by it so a named volume mounted there (compose) starts writable.
RUN useradd --system --uid 10001 --user-group --home-dir /var/lib/surgewatch --shell /usr/sbin/nologin surgewatch \
 && mkdir -p /var/lib/surgewatch/state \
 && chown -R 10001:10001 /var/lib/surgewatch
USER 10001:10001
WORKDIR /var/lib/surgewatch

# /metrics (SURGEWATCH_METRICS_PORT)
EXPOSE 9108
ENTRYPOINT ["surgewatch"]
CMD ["run"]
