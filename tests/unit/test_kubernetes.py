"""deploy/kubernetes/, offline: every manifest and the rendered kustomize example validate (strict) against the
Kubernetes JSON schemas that `kubernetes-validate` ships, and they say what ibpilot needs (one pod per account,
settings on a volume, probes on the health server, a grace period for the logout, settings ibpilot reads).

kustomize itself is not installable from our registries, so `render` below builds the example with the part of
kustomize it uses (resources, generators, JSON 6902 patches, nameSuffix with name references, labels, images,
namespace) and refuses any other field; its output was compared with `kubectl kustomize` when written.
"""

from __future__ import annotations

import base64
import copy
import json
import re
import shutil
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from ibpilot.settings import Settings, all_env_names

REPO = Path(__file__).resolve().parents[2]
K8S = REPO / "deploy" / "kubernetes"
K8S_VERSION = "1.37.0"
Doc = dict[str, Any]

KNOWN_KEYS = {"apiVersion", "kind", "resources", "nameSuffix", "namePrefix", "namespace", "labels", "images",
              "configMapGenerator", "secretGenerator", "generatorOptions", "patches"}
CLUSTER_SCOPED = {"Namespace"}


class KustomizeError(Exception):
    pass


def load_yaml(path: Path) -> list[Doc]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def _generate(d: Path, spec: Doc, kind: str, options: Doc) -> Doc:
    if not options.get("disableNameSuffixHash"):
        raise KustomizeError(f"{d}: generators need generatorOptions.disableNameSuffixHash here")
    data: dict[str, str] = {}
    for lit in spec.get("literals", []):
        key, _, val = lit.partition("=")
        data[key] = val
    for f in spec.get("files", []):
        key, _, rel = f.partition("=") if "=" in f else (Path(f).name, "=", f)
        data[key] = (d / rel).read_text()
    if kind == "Secret":
        data = {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}
    doc: Doc = {"apiVersion": "v1", "kind": kind, "metadata": {"name": spec["name"]}, "data": data}
    if kind == "Secret":
        doc["type"] = "Opaque"
    return doc


def _json_patch(doc: Doc, ops: list[Doc]) -> None:
    for op in ops:
        *parents, last = [p.replace("~1", "/").replace("~0", "~") for p in op["path"].split("/")[1:]]
        node: Any = doc
        for p in parents:
            node = node[int(p)] if isinstance(node, list) else node[p]
        if op["op"] == "add" and isinstance(node, list):
            node.insert(len(node) if last == "-" else int(last), op["value"])
        elif op["op"] in ("add", "replace"):
            node[int(last) if isinstance(node, list) else last] = op["value"]
        elif op["op"] == "remove":
            del node[int(last) if isinstance(node, list) else last]
        else:
            raise KustomizeError(f"JSON patch op {op['op']} is not supported here")


def _references(doc: Doc) -> list[tuple[str, dict[str, Any], str]]:
    """(kind referred to, the dict holding the name, the key) for every name reference in `doc`."""
    refs: list[tuple[str, dict[str, Any], str]] = []
    if doc["kind"] != "StatefulSet":
        return refs
    spec = doc["spec"]
    refs.append(("Service", spec, "serviceName"))
    pod = spec["template"]["spec"]
    for c in pod.get("containers", []) + pod.get("initContainers", []):
        for ef in c.get("envFrom", []):
            for kind, key in (("ConfigMap", "configMapRef"), ("Secret", "secretRef")):
                if key in ef:
                    refs.append((kind, ef[key], "name"))
        for e in c.get("env", []):
            for kind, key in (("ConfigMap", "configMapKeyRef"), ("Secret", "secretKeyRef")):
                if key in e.get("valueFrom", {}):
                    refs.append((kind, e["valueFrom"][key], "name"))
    for v in pod.get("volumes", []):
        if "secret" in v:
            refs.append(("Secret", v["secret"], "secretName"))
        if "configMap" in v:
            refs.append(("ConfigMap", v["configMap"], "name"))
    return refs


def render(d: Path) -> list[Doc]:
    """`kustomize build d` for the fields deploy/kubernetes uses."""
    k = yaml.safe_load((d / "kustomization.yaml").read_text())
    unknown = set(k) - KNOWN_KEYS
    if unknown:
        raise KustomizeError(f"{d}/kustomization.yaml: fields this renderer does not know: {sorted(unknown)}")
    docs: list[Doc] = []
    for r in k.get("resources", []):
        p = (d / r).resolve()
        docs += render(p) if p.is_dir() else load_yaml(p)
    options = k.get("generatorOptions", {})
    for key, kind in (("configMapGenerator", "ConfigMap"), ("secretGenerator", "Secret")):
        for spec in k.get(key, []):
            gen = _generate(d, spec, kind, options)
            same = [x for x in docs if x["kind"] == kind and x["metadata"]["name"] == spec["name"]]
            behavior = spec.get("behavior", "create")
            if behavior == "create" and not same:
                docs.append(gen)
            elif behavior == "merge" and same:
                same[0].setdefault("data", {}).update(gen["data"])
            else:
                raise KustomizeError(f"{d}: {kind} {spec['name']}: behavior {behavior} with {len(same)} existing")
    for patch in k.get("patches", []):
        t = patch["target"]
        hits = [x for x in docs if x["kind"] == t["kind"] and x["metadata"]["name"] == t["name"]]
        if not hits:
            raise KustomizeError(f"{d}: patch target {t} matches nothing")
        for x in hits:
            _json_patch(x, yaml.safe_load(patch["patch"]))
    prefix, suffix = k.get("namePrefix", ""), k.get("nameSuffix", "")
    if prefix or suffix:
        renamed: dict[tuple[str, str], str] = {}
        for x in docs:
            if x["kind"] not in CLUSTER_SCOPED:
                old = x["metadata"]["name"]
                x["metadata"]["name"] = renamed[(x["kind"], old)] = prefix + old + suffix
        for x in docs:
            for kind, holder, key in _references(x):
                holder[key] = renamed.get((kind, holder[key]), holder[key])
    for lab in k.get("labels", []):
        for x in docs:
            x["metadata"].setdefault("labels", {}).update(lab["pairs"])
            if not lab.get("includeSelectors"):
                continue
            if x["kind"] == "Service":
                x["spec"].setdefault("selector", {}).update(lab["pairs"])
            if x["kind"] == "StatefulSet":
                x["spec"]["selector"]["matchLabels"].update(lab["pairs"])
                x["spec"]["template"]["metadata"].setdefault("labels", {}).update(lab["pairs"])
                for t in x["spec"].get("volumeClaimTemplates", []):
                    t["metadata"].setdefault("labels", {}).update(lab["pairs"])
    for img in k.get("images", []):
        for x in docs:
            if x["kind"] == "StatefulSet":
                for c in x["spec"]["template"]["spec"]["containers"]:
                    name, _, tag = c["image"].partition(":")
                    if name == img["name"]:
                        c["image"] = f"{img.get('newName', name)}:{img.get('newTag', tag)}"
    if "namespace" in k:
        for x in docs:
            if x["kind"] not in CLUSTER_SCOPED:
                x["metadata"]["namespace"] = k["namespace"]
    return docs


def validate(doc: Doc) -> None:
    kubernetes_validate.validate(doc, K8S_VERSION, strict=True)


@pytest.fixture
def example(tmp_path: Path) -> list[Doc]:
    """The example rendered as a user would: the git-ignored secret files filled in first."""
    root = tmp_path / "kubernetes"
    shutil.copytree(K8S, root)
    for acct in (root / "example" / "accounts").iterdir():
        if acct.is_dir():
            (acct / "secrets").mkdir()
            (acct / "secrets" / "tws_password.txt").write_text("Tw5-P4ssw0rd")
            (acct / "secrets" / "totp_secret.txt").write_text("JBSWY3DPEHPK3PXP")
    return render(root / "example")


def by_kind(docs: list[Doc], kind: str) -> list[Doc]:
    return [d for d in docs if d["kind"] == kind]


def test_every_manifest_validates_strictly_against_the_kubernetes_schemas() -> None:
    files = sorted(p for p in K8S.rglob("*.yaml") if p.name != "kustomization.yaml")
    assert len(files) >= 5, files
    for f in files:
        for doc in load_yaml(f):
            validate(doc)


def test_the_rendered_example_validates_and_has_one_set_per_account(example: list[Doc]) -> None:
    for doc in example:
        validate(doc)
    names = {(d["kind"], d["metadata"]["name"]) for d in example}
    accounts = sorted(p.name for p in (K8S / "example" / "accounts").iterdir() if p.is_dir())
    assert len(accounts) >= 2
    for a in accounts:
        assert {("StatefulSet", f"ibpilot-{a}"), ("Service", f"ibpilot-{a}"), ("Service", f"ibpilot-pods-{a}"),
                ("ConfigMap", f"ibpilot-settings-{a}"), ("Secret", f"ibpilot-credentials-{a}")} <= names, a
    assert len(by_kind(example, "StatefulSet")) == len(accounts)
    assert all(d["metadata"].get("namespace") == "trading" for d in example if d["kind"] != "Namespace")


def image_env() -> dict[str, str]:
    """The ENV the image sets (docker/Dockerfile's one ENV block), under the manifests' settings."""
    text = (REPO / "docker" / "Dockerfile").read_text()
    block = re.search(r"^ENV (.+?)(?=^\S)", text, re.M | re.S)
    assert block
    env = dict(re.findall(r"([A-Z_]+)=(\S+)", block.group(1)))
    return {k: v for k, v in env.items() if k in set(all_env_names())}


def _settings_env(docs: list[Doc], sts: Doc) -> tuple[dict[str, str], dict[str, str]]:
    """(environment, {path: secret file text}) that the StatefulSet's container gets."""
    pod = sts["spec"]["template"]["spec"]
    (c,) = pod["containers"]
    objs = {(d["kind"], d["metadata"]["name"]): d for d in docs}
    env: dict[str, str] = image_env()
    for ef in c.get("envFrom", []):
        env.update(objs[("ConfigMap", ef["configMapRef"]["name"])]["data"])
    env.update({e["name"]: e["value"] for e in c.get("env", [])})
    files: dict[str, str] = {}
    vols = {v["name"]: v for v in pod.get("volumes", [])}
    for m in c.get("volumeMounts", []):
        if "secret" in vols.get(m["name"], {}):
            secret = objs.get(("Secret", vols[m["name"]]["secret"]["secretName"]))
            if secret is None:  # the base: made from secret.example.yaml
                continue
            data = {k: base64.b64decode(v).decode() for k, v in secret.get("data", {}).items()}
            data.update(secret.get("stringData", {}))
            files.update({f"{m['mountPath']}/{k}": v for k, v in data.items()})
    return env, files


def _check_set(docs: list[Doc], sts: Doc) -> None:
    spec = sts["spec"]
    assert spec["replicas"] == 1  # one Gateway per username
    pod = spec["template"]["spec"]
    (c,) = pod["containers"]
    env, files = _settings_env(docs, sts)
    assert set(env) <= set(all_env_names()), set(env) - set(all_env_names())
    assert env["TWS_SETTINGS_PATH"].startswith("/home/ibpilot/state/")
    assert not any(n in env for n in ("TWS_PASSWORD", "VNC_SERVER_PASSWORD", "TWOFACTOR_CODE")), "secret in env"
    s = Settings.from_env(env, read_file=lambda p: files[p] if p in files else "placeholder-secret")
    assert s.health_bind == "0.0.0.0"  # the kubelet probes from outside the pod's loopback
    mode = s.trading_mode
    assert mode in ("live", "paper")
    ports = {p["name"]: p["containerPort"] for p in c["ports"]}
    assert ports["health"] == s.health_port_for(mode)
    assert ports[f"api-{mode}"] == s.socat_port(mode)
    # Probes: HTTP on the health server; a startup budget long enough for a push approval (IB's 3 minutes)
    assert c["startupProbe"]["httpGet"] == {"path": "/health", "port": "health"}
    assert c["livenessProbe"]["httpGet"] == {"path": "/health", "port": "health"}
    assert c["readinessProbe"]["httpGet"] == {"path": "/ready", "port": "health"}
    startup = c["startupProbe"]
    assert startup["periodSeconds"] * startup["failureThreshold"] >= 180 + 120
    assert pod["terminationGracePeriodSeconds"] > 90  # the controllers' logout budget
    # settings on the pod's own persistent volume
    claims = {t["metadata"]["name"] for t in spec["volumeClaimTemplates"]}
    mounts = {m["mountPath"]: m["name"] for m in c["volumeMounts"]}
    assert mounts["/home/ibpilot/state"] in claims  # TWS_SETTINGS_PATH is under it (the image's ENV)
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == 1000  # the image's user (docker/Dockerfile)
    # the Service for the API selects this pod and targets its named ports
    labels = spec["template"]["metadata"]["labels"]
    assert spec["selector"]["matchLabels"] == labels
    services = {d["metadata"]["name"]: d for d in by_kind(docs, "Service")}
    assert services[spec["serviceName"]]["spec"]["clusterIP"] == "None"
    api = [sv for sv in services.values() if sv["spec"].get("clusterIP") != "None"
           and sv["spec"]["selector"] == labels]
    assert len(api) == 1, api
    assert {p["targetPort"] for p in api[0]["spec"]["ports"]} <= set(ports)
    assert s.socat_port(mode) in {p["port"] for p in api[0]["spec"]["ports"]}


def test_base_statefulset_runs_one_account_as_ibpilot_expects() -> None:
    docs = [d for f in sorted((K8S / "base").glob("*.yaml")) if f.name != "kustomization.yaml" for d in load_yaml(f)]
    (sts,) = by_kind(docs, "StatefulSet")
    _check_set(docs, sts)
    listed = set(yaml.safe_load((K8S / "base" / "kustomization.yaml").read_text())["resources"])
    assert listed == {"configmap.yaml", "service.yaml", "statefulset.yaml"}  # the Secret is never applied from git


def test_each_account_of_the_example_is_complete(example: list[Doc]) -> None:
    for sts in by_kind(example, "StatefulSet"):
        _check_set(example, sts)
        env, files = _settings_env(example, sts)
        assert files[env["TWS_PASSWORD_FILE"]] == "Tw5-P4ssw0rd"
        if "TWOFACTOR_CODE_FILE" in env:
            assert files[env["TWOFACTOR_CODE_FILE"]] == "JBSWY3DPEHPK3PXP"
        assert sts["spec"]["template"]["spec"]["containers"][0]["image"].endswith(":10.37")
    modes = {json.dumps(d["data"]["TRADING_MODE"]) for d in by_kind(example, "ConfigMap")}
    assert len(modes) == 2  # the example shows a live and a paper account


def test_the_secret_files_are_git_ignored() -> None:
    ignore = (K8S / "example" / "accounts" / ".gitignore").read_text().split()
    assert "secrets/" in ignore


# --- the checks can fail -------------------------------------------------------------------------------


def _base_sts() -> Doc:
    (sts,) = load_yaml(K8S / "base" / "statefulset.yaml")
    return sts


@pytest.mark.parametrize("breakage", ["misspelt field", "wrong type", "missing required field", "bad probe"])
def test_a_broken_manifest_is_refused(breakage: str) -> None:
    sts = copy.deepcopy(_base_sts())
    pod = sts["spec"]["template"]["spec"]
    if breakage == "misspelt field":
        pod["terminationGracePeriodSecond"] = pod.pop("terminationGracePeriodSeconds")
    elif breakage == "wrong type":
        sts["spec"]["replicas"] = "one"
    elif breakage == "missing required field":
        del sts["spec"]["selector"]
    else:
        pod["containers"][0]["livenessProbe"]["httpGet"].pop("port")
    with pytest.raises(kubernetes_validate.ValidationError):
        validate(sts)


def test_the_semantic_checks_fail_on_a_short_grace_period_and_a_loopback_health_server() -> None:
    docs = [d for f in sorted((K8S / "base").glob("*.yaml")) if f.name != "kustomization.yaml" for d in load_yaml(f)]
    short = copy.deepcopy(docs)
    by_kind(short, "StatefulSet")[0]["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] = 30
    with pytest.raises(AssertionError):
        _check_set(short, by_kind(short, "StatefulSet")[0])
    loop = copy.deepcopy(docs)
    by_kind(loop, "ConfigMap")[0]["data"]["HEALTH_BIND"] = "127.0.0.1"
    with pytest.raises(AssertionError):
        _check_set(loop, by_kind(loop, "StatefulSet")[0])


def test_the_renderer_refuses_what_it_does_not_know(tmp_path: Path) -> None:
    (tmp_path / "kustomization.yaml").write_text("resources: []\nreplicas: [{name: x, count: 2}]\n")
    with pytest.raises(KustomizeError, match="replicas"):
        render(tmp_path)
