import sys
from pathlib import Path

import pytest

# `from tests.kafka_broker import ...` also under plain `pytest` (python -m pytest adds the cwd).
_ROOT = str(Path(__file__).resolve().parents[1])
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)


def pytest_configure(config):
    config.addinivalue_line(
        "markers",
        "kafka: needs a real Kafka broker (the kafka_bootstrap fixture starts deploy/kafka/broker.sh)",
    )


# --- Kafka broker (deploy/kafka/broker.sh, helpers in tests/kafka_broker.py) -----------------
# Session-scoped and lazy: the broker starts only when a test requests kafka_bootstrap, once per
# session, and is stopped at the end if this session started it. SURGEWATCH_TEST_BOOTSTRAP=host:port
# points the tests at an already running broker instead.
@pytest.fixture(scope="session")
def kafka_bootstrap():
    from tests import kafka_broker

    bootstrap = kafka_broker.ensure_broker()
    try:
        yield bootstrap
    finally:
        kafka_broker.stop_broker()
