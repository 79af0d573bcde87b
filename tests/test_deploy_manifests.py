"""deploy/k8s, deploy/compose.yaml and docs/runbook.md agree with the code they deploy.

No cluster and no Docker engine needed: the manifests are parsed, and the
settings they give surgewatch are fed to the real CLI parser, so a renamed
variable, a port the probes do not serve, or a state dir off the volume fails
here instead of in production. Also: images pinned, the Secret the Deployment
reads exists under that key, the PrometheusRule is the promtool-tested rule
files, and every runbook link lands on a section.

``python3 tests/test_deploy_manifests.py --write-prometheusrule`` regenerates
deploy/k8s/prometheusrule.yaml from deploy/prometheus/rules.
"""
from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
K8S = ROOT / "deploy/k8s"
COMPOSE = ROOT / "deploy/compose.yaml"
RULES = ROOT / "deploy/prometheus/rules"
RUNBOOK = ROOT / "docs/runbook.md"
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def k8s_docs() -> list[dict]:
    return [d for f in sorted(K8S.glob("*.yaml")) if f.name != "kustomization.yaml"
            for d in yaml.safe_load_all(f.read_text()) if d]


def kind(k: str) -> dict:
    found = [d for d in k8s_docs() if d["kind"] == k]
    assert len(found) == 1, f"expected one {k}, found {len(found)}"
    return found[0]


def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


def container() -> dict:
    return kind("Deployment")["spec"]["template"]["spec"]["containers"][0]


# -- parsing, kustomization, images ------------------------------------------------------
def test_every_manifest_parses_and_kustomization_lists_exactly_the_files():
    kust = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    files = {f.name for f in K8S.glob("*.yaml")} - {"kustomization.yaml"}
    assert set(kust["resources"]) == files
    for d in k8s_docs():
        assert d.get("apiVersion") and d.get("kind") and d["metadata"].get("name"), d
    assert compose()["services"]


def images(node) -> list[str]:
    if isinstance(node, dict):
        own = [node["image"]] if isinstance(node.get("image"), str) else []
        return own + [i for v in node.values() for i in images(v)]
    if isinstance(node, list):
        return [i for v in node for i in images(v)]
    return []


def pinned(image: str) -> bool:
    if "@sha256:" in image:
        return True
    name, _, tag = image.rpartition(":")
    return bool(name) and "/" not in tag and tag not in ("", "latest")


@pytest.mark.parametrize("image, ok", [("prom/prometheus:v3.5.0", True), ("registry:5000/x/y:1.2", True),
                                       ("grafana/grafana", False), ("registry:5000/x/y", False),
                                       ("apache/kafka:latest", False), ("x@sha256:" + "0" * 64, True)])
def test_pin_check_itself(image, ok):
    assert pinned(image) is ok


def test_every_image_is_pinned_to_a_version():
    all_images = images(k8s_docs()) + images(compose())
    assert len(all_images) >= 6
    assert [i for i in all_images if not pinned(i)] == []


# -- settings reach the real CLI ---------------------------------------------------------
def known_env_vars() -> set[str]:
    """Every variable name the CLI mentions (cli.py, config.py, and the key's name)."""
    from streamer.pseudonym import KEY_ENV

    text = "".join((ROOT / "streamer" / f).read_text() for f in ("cli.py", "config.py"))
    return set(re.findall(r"\b((?:SURGEWATCH|KAFKA)_[A-Z0-9_]+)\b", text)) | {KEY_ENV}


def surgewatch_services() -> dict[str, dict]:
    return {n: s for n, s in compose()["services"].items() if str(s.get("image", "")).startswith("surgewatch:")}


def test_every_env_var_the_manifests_set_is_one_the_cli_reads():
    known = known_env_vars()
    k8s = set(kind("ConfigMap")["data"]) | {e["name"] for e in container().get("env", [])}
    assert k8s - known == set()
    for name, svc in surgewatch_services().items():
        assert set(svc.get("environment") or {}) - known == set(), name


def parse_run(monkeypatch, environ: dict[str, str]):
    """What `surgewatch run` would use given only this environment."""
    from streamer.cli import _parser

    for var in known_env_vars():
        monkeypatch.delenv(var, raising=False)
    for k, v in environ.items():
        monkeypatch.setenv(k, str(v))
    return _parser().parse_args(["run"])


def test_k8s_settings_give_a_reachable_metrics_port_and_a_state_dir_on_the_volume(monkeypatch):
    args = parse_run(monkeypatch, kind("ConfigMap")["data"])
    c = container()
    port = {p["name"]: p["containerPort"] for p in c["ports"]}["metrics"]
    assert args.metrics_port == port
    assert args.metrics_addr == "0.0.0.0", "probes and Prometheus connect from outside the pod"
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        assert c[probe]["httpGet"]["port"] in ("metrics", port) and c[probe]["httpGet"]["path"] == "/metrics"
    pod = kind("Deployment")["spec"]["template"]
    assert pod["metadata"]["annotations"]["prometheus.io/port"] == str(port)
    svc = kind("Service")
    assert svc["spec"]["ports"][0]["targetPort"] in ("metrics", port)
    pvc_mount = next(m["mountPath"] for m in c["volumeMounts"]
                     if any(v["name"] == m["name"] and "persistentVolumeClaim" in v for v in pod["spec"]["volumes"]))
    assert args.state_dir == pvc_mount
    assert args.bootstrap_servers and args.alertmanager_url


def test_deployment_is_a_single_non_root_read_only_instance_reading_the_secret_key():
    dep = kind("Deployment")
    assert dep["spec"]["replicas"] == 1
    assert dep["spec"]["strategy"]["type"] == "Recreate"  # never two pods on one checkpoint
    c = container()
    sc, psc = c["securityContext"], dep["spec"]["template"]["spec"]["securityContext"]
    assert psc["runAsNonRoot"] is True and psc["runAsUser"] != 0
    assert sc["readOnlyRootFilesystem"] is True and sc["allowPrivilegeEscalation"] is False
    assert c["resources"]["requests"] and c["resources"]["limits"]["memory"]
    from streamer.pseudonym import KEY_ENV

    ref = next(e["valueFrom"]["secretKeyRef"] for e in c["env"] if e["name"] == KEY_ENV)
    secret = kind("Secret")
    assert ref["name"] == secret["metadata"]["name"]
    assert ref["key"] in {**secret.get("stringData", {}), **secret.get("data", {})}


def test_k8s_scrape_job_label_is_the_one_the_rules_select():
    svc, mon = kind("Service"), kind("ServiceMonitor")
    assert svc["metadata"]["name"] == "surgewatch"  # ServiceMonitor job label = Service name
    assert 'job="surgewatch"' in (RULES / "surgewatch-alerts.yml").read_text()
    assert mon["spec"]["selector"]["matchLabels"].items() <= svc["metadata"]["labels"].items()
    assert mon["spec"]["endpoints"][0]["port"] in {p["name"] for p in svc["spec"]["ports"]}


def test_compose_surgewatch_serves_where_prometheus_scrapes_and_checkpoints_to_its_volume(monkeypatch):
    svc = compose()["services"]["surgewatch"]
    args = parse_run(monkeypatch, svc["environment"])
    assert args.metrics_addr == "0.0.0.0"
    assert f"127.0.0.1:{args.metrics_port}" in (ROOT / "deploy/prometheus/prometheus.yml").read_text()
    assert "s#127.0.0.1:9108#surgewatch:9108#g" in " ".join(compose()["services"]["prometheus"]["command"])
    assert f":{args.metrics_port}/metrics" in " ".join(svc["healthcheck"]["test"])
    assert any(v.split(":")[1] == args.state_dir for v in svc["volumes"])
    assert "pseudonym_key" in svc["secrets"] and "/run/secrets/pseudonym_key" in " ".join(svc["entrypoint"])


def test_compose_bind_mounts_and_build_context_exist():
    cfg = compose()
    base = COMPOSE.parent
    assert (base / cfg["services"]["surgewatch"]["build"]["context"] / "Dockerfile").is_file()
    for name, svc in cfg["services"].items():
        for v in svc.get("volumes", []):
            src = v.split(":")[0]
            if src.startswith("."):
                assert (base / src).exists(), f"{name}: {src} missing"


@pytest.mark.parametrize("service, source", [("prometheus", "deploy/prometheus/prometheus.yml"),
                                             ("alertmanager", "deploy/alertmanager/alertmanager.yml"),
                                             ("grafana", "deploy/grafana/provisioning/datasources/surgewatch.yml")])
def test_compose_address_rewrites_still_match_the_configs(service, source):
    """The containers sed loopback addresses to service names; a config edit that
    changes the address would otherwise silently leave them pointing at themselves."""
    cmd = " ".join(compose()["services"][service]["command"])
    subs = re.findall(r"s#([^#]+)#([^#]*)#", cmd)
    assert subs
    text = (ROOT / source).read_text()
    for old, new in subs:
        assert old in text, f"{service}: {old!r} no longer in {source}"
        assert not new.startswith(("http://127.", "127.")), new


def test_dockerfile_runs_surgewatch_as_non_root():
    text = (ROOT / "Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.11", text, re.M)
    user = re.findall(r"^USER\s+(\S+)", text, re.M)
    assert user and not user[-1].startswith(("0", "root"))
    assert 'ENTRYPOINT ["surgewatch"]' in text and 'CMD ["run"]' in text


# -- rules and runbook --------------------------------------------------------------------
def rule_groups() -> list[dict]:
    files = sorted(RULES.glob("*.yml"), key=lambda p: ("recording" not in p.name, p.name))
    return [g for f in files for g in yaml.safe_load(f.read_text())["groups"]]


def render_prometheusrule() -> str:
    class Dumper(yaml.SafeDumper):
        pass

    Dumper.add_representer(str, lambda d, v: d.represent_scalar("tag:yaml.org,2002:str", v,
                                                                style="|" if "\n" in v else None))
    doc = {"apiVersion": "monitoring.coreos.com/v1", "kind": "PrometheusRule",
           "metadata": {"name": "surgewatch", "labels": {"app.kubernetes.io/name": "surgewatch"}},
           "spec": {"groups": rule_groups()}}
    head = ("# GENERATED from deploy/prometheus/rules/*.yml (the promtool-tested source); do not edit here.\n"
            "# tests/test_deploy_manifests.py fails when the two differ. Regenerate:\n"
            "#   python3 tests/test_deploy_manifests.py --write-prometheusrule\n"
            "# Add the label your Prometheus's ruleSelector wants (kube-prometheus-stack: release: <name>).\n")
    return head + yaml.dump(doc, Dumper=Dumper, sort_keys=False, allow_unicode=True, width=120)


def test_prometheusrule_is_the_tested_rule_files():
    assert kind("PrometheusRule")["spec"]["groups"] == rule_groups(), \
        "regenerate: python3 tests/test_deploy_manifests.py --write-prometheusrule"


def github_anchors(markdown: str) -> set[str]:
    """Anchors GitHub creates: heading slugs plus explicit <a id=...>."""
    slugs = set()
    for h in re.findall(r"^#{1,6}\s+(.+?)\s*$", markdown, re.M):
        slugs.add(re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-"))
    return slugs | set(re.findall(r'<a id="([^"]+)"', markdown))


def test_every_runbook_link_lands_on_a_section():
    from detectors import default_detectors
    from streamer.alertmanager import DEFAULT_RUNBOOK

    anchors = github_anchors(RUNBOOK.read_text())
    wanted = {}
    for g in rule_groups():
        for r in g["rules"]:
            if "alert" in r:
                url = r["annotations"]["runbook_url"]
                assert url.startswith(DEFAULT_RUNBOOK + "#"), r["alert"]
                wanted[r["alert"]] = url.split("#", 1)[1]
    # the Alertmanager sink links campaign alerts to #<detector with - for _>
    for det in default_detectors():
        wanted[det.name] = det.name.replace("_", "-")
    missing = {who: a for who, a in wanted.items() if a not in anchors}
    assert missing == {}


def test_operations_doc_lists_exactly_the_metrics_surgewatch_serves():
    from tests.test_ops_configs import exported_metric_names

    served = {re.sub(r"_(bucket|count|sum)$", "", n) for n in exported_metric_names() if n.startswith("surgewatch_")}
    served = {n for n in served if not n.endswith("_created")}
    documented = set(re.findall(r"^\| `(surgewatch_\w+)`", (ROOT / "docs/operations.md").read_text(), re.M))
    assert documented == served


if __name__ == "__main__":
    if sys.argv[1:] == ["--write-prometheusrule"]:
        (K8S / "prometheusrule.yaml").write_text(render_prometheusrule())
        print(f"wrote {K8S / 'prometheusrule.yaml'}")
    else:
        sys.exit(f"usage: {sys.argv[0]} --write-prometheusrule")
