"""Settings from flags and environment, with the environment as the default.

Every flag of ``run`` has an environment variable (shown in ``--help``), so
the same image runs on a laptop, in compose and on Kubernetes. Kafka security
settings use the names platform teams already know.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field

__all__ = ["env", "env_bool", "env_int", "usable_cpus", "KafkaSettings", "KAFKA_SECURITY_ENV"]


def env(name: str, default: str | None = None) -> str | None:
    v = os.environ.get(name)
    return v if v not in (None, "") else default


def env_int(name: str, default: int) -> int:
    v = env(name)
    if v is None:
        return default
    try:
        return int(v)
    except ValueError:
        raise SystemExit(f"surgewatch: environment variable {name}={v!r} is not an integer") from None


_TRUE, _FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")


def env_bool(name: str, default: bool) -> bool:
    """1/true/yes/on or 0/false/no/off (any case); unset or empty: ``default``."""
    v = env(name)
    if v is None:
        return default
    if v.lower() in _TRUE:
        return True
    if v.lower() in _FALSE:
        return False
    raise SystemExit(f"surgewatch: environment variable {name}={v!r} is not a boolean (1/0, true/false, yes/no, on/off)")


def usable_cpus() -> int:
    """CPUs this process may run on (its affinity mask: a container's cpuset, ``taskset``);
    a CPU quota (cgroup cpu.max) is not seen here."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):   # not on Linux
        return os.cpu_count() or 1


# flag dest -> (environment variable, kafka-python keyword)
KAFKA_SECURITY_ENV = {
    "security_protocol": ("KAFKA_SECURITY_PROTOCOL", "security_protocol"),
    "sasl_mechanism": ("KAFKA_SASL_MECHANISM", "sasl_mechanism"),
    "sasl_username": ("KAFKA_SASL_USERNAME", "sasl_plain_username"),
    "sasl_password": ("KAFKA_SASL_PASSWORD", "sasl_plain_password"),
    "ssl_cafile": ("KAFKA_SSL_CAFILE", "ssl_cafile"),
    "ssl_certfile": ("KAFKA_SSL_CERTFILE", "ssl_certfile"),
    "ssl_keyfile": ("KAFKA_SSL_KEYFILE", "ssl_keyfile"),
    "ssl_password": ("KAFKA_SSL_PASSWORD", "ssl_password"),
}


@dataclass
class KafkaSettings:
    """Connection settings shared by consumer and producers."""

    bootstrap_servers: str = "127.0.0.1:9092"
    security: dict[str, str] = field(default_factory=dict)
    client_id: str = "surgewatch"

    @classmethod
    def from_args(cls, args) -> "KafkaSettings":
        sec = {}
        for dest, (_, kw) in KAFKA_SECURITY_ENV.items():
            v = getattr(args, dest, None)
            if v:
                sec[kw] = v
        return cls(bootstrap_servers=args.bootstrap_servers, security=sec)

    def client_kwargs(self) -> dict:
        kw = {"bootstrap_servers": self.bootstrap_servers.split(","), "client_id": self.client_id}
        kw.update(self.security)
        if "ssl_cafile" in kw or "ssl_certfile" in kw:
            kw.setdefault("security_protocol", "SSL")
        return kw


def add_kafka_args(p, *, bootstrap_required: bool = True) -> None:
    """Add --bootstrap-servers and the security flags to an argparse parser."""
    p.add_argument("--bootstrap-servers", default=env("KAFKA_BOOTSTRAP_SERVERS"),
                   required=bootstrap_required and not env("KAFKA_BOOTSTRAP_SERVERS"),
                   help="Kafka brokers, comma separated [env KAFKA_BOOTSTRAP_SERVERS]")
    g = p.add_argument_group("Kafka security (TLS / SASL)")
    for dest, (var, _) in KAFKA_SECURITY_ENV.items():
        flag = "--kafka-" + dest.replace("_", "-")
        g.add_argument(flag, dest=dest, default=env(var), help=f"[env {var}]")
