# streamproc worker image.
#   docker build -t streamproc .
#   docker run --rm -e STREAMPROC_BROKER=kafka:9092 -p 9464:9464 streamproc
# Any subcommand works too: `docker run --rm streamproc --help`.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# An unprivileged system user; its home is writable (matplotlib's cache, backtest output).
RUN useradd --system --uid 10001 --user-group --create-home --home-dir /home/streamproc \
        --shell /usr/sbin/nologin streamproc

# Only what the wheel needs: README.md is the package's readme, schemas/ ship inside it.
COPY pyproject.toml README.md /tmp/src/
COPY streamproc/ /tmp/src/streamproc/
COPY schemas/ /tmp/src/schemas/
RUN pip install --no-cache-dir /tmp/src && rm -rf /tmp/src

USER streamproc
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
