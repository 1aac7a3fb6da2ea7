# streamproc worker image.
#   docker build -t streamproc .
#   docker run --rm -e STREAMPROC_BROKER=kafka:9092 -p 9464:9464 streamproc
# Any subcommand works too: `docker run --rm streamproc --help`. It runs with a read-only
# root filesystem as well: `docker run --read-only --tmpfs /tmp ...` (deploy/kubernetes does).
FROM python:3.11-slim

# Nothing is written to the image at run time: no bytecode, and matplotlib's cache (the
# backtest's plots; the worker does not import it) goes to /tmp, an emptyDir under
# Kubernetes. The worker itself writes no files (--engine faust: a directory under /tmp).
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    MPLCONFIGDIR=/tmp/matplotlib

# An unprivileged system user with a fixed uid and gid, 10001: deploy/kubernetes runs the
# pods as that uid (runAsUser/runAsGroup), and a bind mount can be given that owner. Its
# home is writable under docker (backtest output); under Kubernetes the root filesystem is
# read-only and nothing needs it.
RUN groupadd --system --gid 10001 streamproc \
    && useradd --system --uid 10001 --gid 10001 --create-home --home-dir /home/streamproc \
        --shell /usr/sbin/nologin streamproc

# Only what the wheel needs: README.md is the package's readme, schemas/ ship inside it.
COPY pyproject.toml README.md /tmp/src/
COPY streamproc/ /tmp/src/streamproc/
COPY schemas/ /tmp/src/schemas/
# pip compiles the bytecode here, at build time; at run time Python writes none
# (PYTHONDONTWRITEBYTECODE), so the image's files never change under a running worker.
RUN pip install --no-cache-dir /tmp/src && rm -rf /tmp/src

# Numeric, so that Kubernetes' runAsNonRoot can check it without reading /etc/passwd.
USER 10001:10001
WORKDIR /home/streamproc

# In a container the endpoint must listen on all interfaces (the default is loopback).
ENV STREAMPROC_METRICS_HOST=0.0.0.0 \
    STREAMPROC_METRICS_PORT=9464
EXPOSE 9464

# Liveness only: /readyz is 503 during state recovery and rebalances, which is not a
# reason to call the container unhealthy. The slim image has no curl, hence python.
# (A port set in a --config file instead of STREAMPROC_METRICS_PORT is not seen here.)
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/livez' % os.environ.get('STREAMPROC_METRICS_PORT', '9464'), timeout=4)"]

# The worker checkpoints its state and exits on SIGTERM (within ~20 s): give it
# `docker stop -t 30` / compose `stop_grace_period: 30s`.
STOPSIGNAL SIGTERM
ENTRYPOINT ["streamproc"]
CMD ["worker"]
