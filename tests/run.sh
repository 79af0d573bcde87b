#!/usr/bin/env bash
# The whole test suite on a fresh machine: install what is needed, fetch the
# Kafka broker (cached), then pytest. The broker is started once per pytest
# session by tests/conftest.py and stopped at the end.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== installing surgewatch and test dependencies"
python3 -m pip install --quiet --disable-pip-version-check -e '.[test]'

if [ -f tests/system-packages.sh ]; then
  echo "== system packages (Prometheus, Alertmanager)"
  bash tests/system-packages.sh
fi

echo "== fetching the Kafka broker (cached after the first time)"
bash deploy/kafka/broker.sh fetch

echo "== running the tests"
exec python3 -m pytest "$@"
