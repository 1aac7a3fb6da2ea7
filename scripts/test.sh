#!/usr/bin/env bash
# Set up everything the test suite needs on a fresh machine, then run it.
#   scripts/test.sh                 the default suite (what CI runs)
#   scripts/test.sh -m slow         the slow soak tests
#   scripts/test.sh tests/core -q   any pytest arguments
set -euo pipefail
cd "$(dirname "$0")/.."

PY="${PYTHON:-python3.11}"
command -v "$PY" >/dev/null 2>&1 || PY=python3
"$PY" -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
  || { echo "streamproc needs Python 3.11 or newer (found $("$PY" --version))" >&2; exit 1; }

# Debian tools the integration tests use: promtool (lints /metrics, checks the
# Prometheus config), prometheus and alertmanager (a real monitoring stack scraping a
# worker; amtool checks deploy/alertmanager.yml), kcat (an independent Kafka client),
# stunnel4 (terminates TLS in front of the embedded broker) and openssl (makes the
# certificates for it).
missing=0
for tool in promtool prometheus amtool kcat stunnel4 openssl; do
  command -v "$tool" >/dev/null 2>&1 || missing=1
done
# Debian names the Alertmanager binary prometheus-alertmanager; upstream, alertmanager.
command -v alertmanager >/dev/null 2>&1 || command -v prometheus-alertmanager >/dev/null 2>&1 \
  || missing=1
if [ "$missing" -eq 1 ]; then
  if command -v apt-get >/dev/null 2>&1; then
    SUDO=""
    if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
    echo "installing prometheus, prometheus-alertmanager, kcat, stunnel4 and openssl with apt-get..."
    $SUDO apt-get update -qq
    # Whether or not the packages start their own services, the tests run theirs on free ports.
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends \
      prometheus prometheus-alertmanager kcat stunnel4 openssl >/dev/null
  else
    echo "warning: prometheus, alertmanager, kcat, stunnel4 or openssl is missing; the tests" \
      "that need them will be skipped" >&2
  fi
fi

if [ ! -x .venv/bin/python ]; then "$PY" -m venv .venv; fi
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e '.[test]'
.venv/bin/ruff check streamproc tests benchmarks
exec .venv/bin/python -m pytest "$@"
