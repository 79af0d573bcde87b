"""Kafka security settings pass through from flags and environment; flags win."""
from __future__ import annotations

import pytest

from streamer.cli import _parser
from streamer.config import KAFKA_SECURITY_ENV, KafkaSettings


@pytest.fixture
def clean_env(monkeypatch):
    for var, _ in KAFKA_SECURITY_ENV.values():
        monkeypatch.delenv(var, raising=False)
    monkeypatch.delenv("KAFKA_BOOTSTRAP_SERVERS", raising=False)
    return monkeypatch


def settings(argv: list[str]) -> KafkaSettings:
    return KafkaSettings.from_args(_parser().parse_args(argv))


def test_sasl_ssl_from_environment(clean_env):
    clean_env.setenv("KAFKA_BOOTSTRAP_SERVERS", "b1:9093,b2:9093")
    clean_env.setenv("KAFKA_SECURITY_PROTOCOL", "SASL_SSL")
    clean_env.setenv("KAFKA_SASL_MECHANISM", "SCRAM-SHA-512")
    clean_env.setenv("KAFKA_SASL_USERNAME", "surgewatch")
    clean_env.setenv("KAFKA_SASL_PASSWORD", "s3cret")
    clean_env.setenv("KAFKA_SSL_CAFILE", "/etc/kafka/ca.pem")
    kw = settings(["run"]).client_kwargs()
    assert kw["bootstrap_servers"] == ["b1:9093", "b2:9093"]
    assert kw["security_protocol"] == "SASL_SSL" and kw["sasl_mechanism"] == "SCRAM-SHA-512"
    assert kw["sasl_plain_username"] == "surgewatch" and kw["sasl_plain_password"] == "s3cret"
    assert kw["ssl_cafile"] == "/etc/kafka/ca.pem"


def test_flags_override_environment(clean_env):
    clean_env.setenv("KAFKA_SECURITY_PROTOCOL", "SASL_PLAINTEXT")
    kw = settings(["run", "--bootstrap-servers", "h:1", "--kafka-security-protocol", "SSL",
                   "--kafka-ssl-certfile", "/c.pem", "--kafka-ssl-keyfile", "/k.pem"]).client_kwargs()
    assert kw["security_protocol"] == "SSL"
    assert kw["ssl_certfile"] == "/c.pem" and kw["ssl_keyfile"] == "/k.pem"
    assert "sasl_plain_username" not in kw


def test_tls_files_imply_ssl_when_no_protocol_is_given(clean_env):
    kw = settings(["run", "--bootstrap-servers", "h:1", "--kafka-ssl-cafile", "/ca.pem"]).client_kwargs()
    assert kw["security_protocol"] == "SSL"


def test_plaintext_by_default(clean_env):
    kw = settings(["run", "--bootstrap-servers", "h:1"]).client_kwargs()
    assert "security_protocol" not in kw and not any(k.startswith(("sasl", "ssl")) for k in kw)


def test_kafka_python_accepts_every_passed_setting():
    from kafka import KafkaConsumer

    known = set(KafkaConsumer.DEFAULT_CONFIG)
    assert {kw for _, kw in KAFKA_SECURITY_ENV.values()} <= known


def test_metrics_address_is_configurable(clean_env):
    clean_env.setenv("SURGEWATCH_METRICS_ADDR", "127.0.0.1")
    args = _parser().parse_args(["run", "--bootstrap-servers", "h:1"])
    assert args.metrics_addr == "127.0.0.1"
    args = _parser().parse_args(["run", "--bootstrap-servers", "h:1", "--metrics-addr", "10.0.0.5"])
    assert args.metrics_addr == "10.0.0.5"
