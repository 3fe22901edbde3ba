"""configs/cluster/: the Ray cluster-launcher YAML (AWS) and the KubeRay RayJob for the baseline.

Checked offline, at the YAML and schema level: nothing here talks to AWS or Kubernetes.
- AWS: validated against Ray's own launcher schema (`ray/autoscaler/ray-schema.json`, shipped with Ray)
  with `jsonschema`, then through Ray's `prepare_config` + `validate_config`, the checks `ray up` runs
  before it contacts the cloud.
- KubeRay: no CRD ships with Ray, so the manifest is checked against the RayJob / RayCluster fields of
  KubeRay's `ray.io/v1` Go types (field names, required fields, map[string]string for rayStartParams),
  and the Kubernetes resource quantities are parsed here.
- Both: the resources can hold the baseline's `workers` shape (read with raybench's own loader), and
  Ray token auth is configured on every node.
"""

from __future__ import annotations

import copy
import json
import re
import shlex
from pathlib import Path

import pytest
import yaml

from raybench.config import load_config

ROOT = Path(__file__).resolve().parents[2]
AWS = ROOT / "configs" / "cluster" / "aws-baseline.yaml"
KUBERAY = ROOT / "configs" / "cluster" / "kuberay-rayjob-baseline.yaml"
DOCS = ROOT / "docs" / "clusters.md"
BASELINE = ROOT / "configs" / "baseline.yaml"
MB = 1024 * 1024
GIB = 1024 * MB

# vCPUs and memory (bytes) of the instance types a launcher file may name; add a row to use another.
INSTANCE_TYPES = {
    "m5.large": (2, 8 * GIB), "m5.xlarge": (4, 16 * GIB), "m5.2xlarge": (8, 32 * GIB),
    "c5.xlarge": (4, 8 * GIB), "c5.2xlarge": (8, 16 * GIB),
}
# Memory a node keeps for the OS and Ray's own processes beyond what it offers to Ray tasks.
NODE_RESERVE_BYTES = 2 * GIB

# The image built from this repository copies it here (docs/clusters.md, "Build the image").
IMAGE_REPO_ROOT = "/app/"


def baseline_workers():
    return load_config(BASELINE).workers


def slots(cpus: float, memory_mb: float, workers) -> int:
    """Trial workers of the configured shape that fit on one node (as raybench's own check counts)."""
    return int(min(cpus // workers.cpus, memory_mb // workers.memory_mb))


# ---- AWS cluster launcher ----------------------------------------------------------------------

@pytest.fixture(scope="module")
def aws():
    return yaml.safe_load(AWS.read_text(encoding="utf-8"))


def test_aws_validates_against_rays_launcher_schema(aws):
    jsonschema = pytest.importorskip("jsonschema")
    ray_autoscaler = pytest.importorskip("ray.autoscaler")
    schema = json.loads((Path(ray_autoscaler.__file__).parent / "ray-schema.json").read_text())
    jsonschema.validate(aws, schema)


def test_aws_passes_the_checks_ray_up_runs_before_launching(aws):
    util = pytest.importorskip("ray.autoscaler._private.util")
    prepared = util.prepare_config(copy.deepcopy(aws))  # merged with Ray's AWS defaults, as `ray up` does
    util.validate_config(prepared)
    assert prepared["provider"]["type"] == "aws"


def test_aws_node_types_are_consistent(aws):
    types = aws["available_node_types"]
    assert aws["head_node_type"] in types
    workers = [t for t in types if t != aws["head_node_type"]]
    assert workers, "no worker node type"
    assert sum(types[t].get("min_workers", 0) for t in workers) <= aws["max_workers"]
    assert aws["idle_timeout_minutes"] > 0
    assert aws["provider"]["region"] and aws["provider"]["availability_zone"]
    assert aws["auth"]["ssh_user"]


def test_aws_declared_resources_fit_the_instances(aws):
    for name, node in aws["available_node_types"].items():
        itype = node["node_config"]["InstanceType"]
        assert itype in INSTANCE_TYPES, f"{name}: add {itype} to INSTANCE_TYPES"
        vcpus, mem = INSTANCE_TYPES[itype]
        res = node["resources"]
        assert res.get("CPU", vcpus) <= vcpus, name
        assert res.get("memory", 0) <= mem - NODE_RESERVE_BYTES, name


def test_aws_min_workers_hold_the_baseline_workers(aws):
    w = baseline_workers()
    assert w.accelerator == "none"
    head = aws["head_node_type"]
    total = 0
    for name, node in aws["available_node_types"].items():
        vcpus, mem = INSTANCE_TYPES[node["node_config"]["InstanceType"]]
        cpus = node["resources"].get("CPU", vcpus)
        memory_mb = node["resources"].get("memory", mem - NODE_RESERVE_BYTES) / MB
        count = 1 if name == head else node.get("min_workers", 0)
        total += count * slots(cpus, memory_mb, w)
    assert total >= w.count, f"the cluster holds {total} of the baseline's {w.count} workers"


def test_aws_ships_the_working_tree_and_installs_it(aws):
    assert aws["file_mounts"]["~/raybench"] == "."
    setup = " ".join(aws["setup_commands"])
    assert "pip install -e ~/raybench" in setup
    assert not re.search(r"git\+|https?://", setup), "install from the file mount, not from a host"
    assert ".venv" in aws["rsync_exclude"]


def test_aws_token_auth_on_every_node(aws):
    assert aws["file_mounts"]["~/.ray/auth_token"] == "~/.ray/auth_token"
    for key in ("head_start_ray_commands", "worker_start_ray_commands"):
        starts = [c for c in aws[key] if "ray start" in c]
        assert starts, key
        for cmd in starts:
            assert re.search(r"RAY_AUTH_MODE=token\b.*ray start", cmd), cmd


# ---- KubeRay RayJob ----------------------------------------------------------------------------

# Field names of KubeRay's ray.io/v1 types (rayjob_types.go, raycluster_types.go), v1.1 to v1.5.
RAYJOB_SPEC = {
    "activeDeadlineSeconds", "backoffLimit", "rayClusterSpec", "submitterPodTemplate", "metadata",
    "clusterSelector", "submitterConfig", "managedBy", "deletionStrategy", "entrypoint", "runtimeEnvYAML",
    "jobId", "submissionMode", "entrypointResources", "entrypointNumCpus", "entrypointNumGpus",
    "ttlSecondsAfterFinished", "shutdownAfterJobFinishes", "suspend",
}
RAYCLUSTER_SPEC = {
    "headGroupSpec", "workerGroupSpecs", "rayVersion", "enableInTreeAutoscaling", "autoscalerOptions",
    "headServiceAnnotations", "suspend", "gcsFaultToleranceOptions", "managedBy", "authOptions",
}
HEAD_GROUP = {"serviceType", "headService", "enableIngress", "rayStartParams", "template"}
HEAD_GROUP_REQUIRED = {"rayStartParams", "template"}
WORKER_GROUP = {
    "groupName", "replicas", "minReplicas", "maxReplicas", "numOfHosts", "rayStartParams", "template",
    "scaleStrategy", "suspend", "idleTimeoutSeconds",
}
WORKER_GROUP_REQUIRED = {"groupName", "minReplicas", "maxReplicas", "rayStartParams", "template"}

_QUANTITY = re.compile(r"^([0-9.]+)(m|k|M|G|T|Ki|Mi|Gi|Ti)?$")
_FACTORS = {None: 1, "m": 1e-3, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12,
            "Ki": 1024, "Mi": MB, "Gi": GIB, "Ti": 1024 * GIB}


def quantity(value) -> float:
    """A Kubernetes resource quantity ("4", "200m", "6Gi") as a number (CPUs or bytes)."""
    m = _QUANTITY.match(str(value))
    assert m, f"not a Kubernetes quantity: {value!r}"
    return float(m.group(1)) * _FACTORS[m.group(2)]


@pytest.fixture(scope="module")
def manifests():
    docs = [d for d in yaml.safe_load_all(KUBERAY.read_text(encoding="utf-8")) if d]
    return {d["kind"]: d for d in docs}


@pytest.fixture(scope="module")
def rayjob(manifests):
    return manifests["RayJob"]


def containers(rayjob):
    """(role, container) for the head, every worker group and the submitter."""
    spec = rayjob["spec"]
    cluster = spec["rayClusterSpec"]
    out = [("head", c) for c in cluster["headGroupSpec"]["template"]["spec"]["containers"]]
    for g in cluster["workerGroupSpecs"]:
        out += [(g["groupName"], c) for c in g["template"]["spec"]["containers"]]
    out += [("submitter", c) for c in spec["submitterPodTemplate"]["spec"]["containers"]]
    return out


def test_rayjob_structure_follows_the_crd(rayjob):
    assert rayjob["apiVersion"] == "ray.io/v1" and rayjob["kind"] == "RayJob"
    assert rayjob["metadata"]["name"]
    spec = rayjob["spec"]
    assert set(spec) <= RAYJOB_SPEC, set(spec) - RAYJOB_SPEC
    assert isinstance(spec["entrypoint"], str) and spec["entrypoint"]
    assert spec["shutdownAfterJobFinishes"] is True
    assert isinstance(spec["ttlSecondsAfterFinished"], int) and spec["ttlSecondsAfterFinished"] >= 0
    cluster = spec["rayClusterSpec"]
    assert set(cluster) <= RAYCLUSTER_SPEC, set(cluster) - RAYCLUSTER_SPEC
    head = cluster["headGroupSpec"]
    assert HEAD_GROUP_REQUIRED <= set(head) <= HEAD_GROUP
    groups = cluster["workerGroupSpecs"]
    assert groups and len({g["groupName"] for g in groups}) == len(groups)
    for g in groups:
        assert WORKER_GROUP_REQUIRED <= set(g) <= WORKER_GROUP, g["groupName"]
        assert 0 <= g["minReplicas"] <= g.get("replicas", g["minReplicas"]) <= g["maxReplicas"]
    for params in [head["rayStartParams"]] + [g["rayStartParams"] for g in groups]:
        # map[string]string in the CRD: an unquoted number is rejected by the API server.
        assert all(isinstance(k, str) and isinstance(v, str) for k, v in params.items()), params
    assert spec["submitterPodTemplate"]["spec"]["restartPolicy"] == "Never"
    for role, c in containers(rayjob):
        assert c["name"] and c["image"], role


def test_rayjob_resources_requests_fit_limits(rayjob):
    for role, c in containers(rayjob):
        req, lim = c["resources"]["requests"], c["resources"]["limits"]
        for k in ("cpu", "memory"):
            assert quantity(req[k]) <= quantity(lim[k]), (role, k)


def test_rayjob_workers_hold_the_baseline_workers(rayjob):
    w = baseline_workers()
    cluster = rayjob["spec"]["rayClusterSpec"]
    assert cluster["headGroupSpec"]["rayStartParams"].get("num-cpus") == "0", "keep trials off the head"
    total = 0
    for g in cluster["workerGroupSpecs"]:
        (c,) = g["template"]["spec"]["containers"]
        lim, req = c["resources"]["limits"], c["resources"]["requests"]
        params = g["rayStartParams"]
        cpus = float(params.get("num-cpus", quantity(lim["cpu"])))
        assert cpus <= quantity(req["cpu"]), "Ray must not advertise CPUs the pod did not request"
        ray_memory = float(params["memory"])
        store = float(params.get("object-store-memory", 0))
        assert ray_memory + store <= quantity(lim["memory"]) - 256 * MB, g["groupName"]
        total += g["minReplicas"] * slots(cpus, ray_memory / MB, w)
    assert total >= w.count, f"the cluster holds {total} of the baseline's {w.count} workers"


def test_rayjob_entrypoint_runs_the_baseline_into_the_data_volume(rayjob, manifests):
    from raybench.cli._main import build_parser

    argv = shlex.split(rayjob["spec"]["entrypoint"])
    assert argv[0] == "raybench"
    args = build_parser().parse_args(argv[1:])
    assert args.command == "run" and args.address == "auto"
    assert args.config.startswith(IMAGE_REPO_ROOT)
    local = ROOT / args.config[len(IMAGE_REPO_ROOT):]
    assert local.is_file(), local
    assert load_config(local).name == "baseline"

    head = rayjob["spec"]["rayClusterSpec"]["headGroupSpec"]["template"]["spec"]
    mounts = {m["mountPath"]: m["name"] for m in head["containers"][0]["volumeMounts"]}
    mount = next((p for p in mounts if args.out.startswith(p.rstrip("/") + "/")), None)
    assert mount, f"--out {args.out} is on no volume of the head pod (the driver runs there)"
    volume = next(v for v in head["volumes"] if v["name"] == mounts[mount])
    claim = volume["persistentVolumeClaim"]["claimName"]
    pvc = manifests["PersistentVolumeClaim"]
    assert pvc["metadata"]["name"] == claim
    assert quantity(pvc["spec"]["resources"]["requests"]["storage"]) >= GIB


def test_rayjob_token_auth_from_one_secret_everywhere(rayjob):
    secrets = set()
    for role, c in containers(rayjob):
        env = {e["name"]: e for e in c.get("env", [])}
        assert env.get("RAY_AUTH_MODE", {}).get("value") == "token", role
        ref = env["RAY_AUTH_TOKEN"]["valueFrom"]["secretKeyRef"]
        assert "value" not in env["RAY_AUTH_TOKEN"], f"{role}: never inline the token"
        secrets.add((ref["name"], ref["key"]))
    assert len(secrets) == 1, secrets
    (name, key), = secrets
    assert f"generic {name}" in DOCS.read_text(encoding="utf-8") and key in KUBERAY.read_text(encoding="utf-8")


def test_docs_show_both_files_and_token_auth():
    text = DOCS.read_text(encoding="utf-8")
    for needle in ("configs/cluster/aws-baseline.yaml", "configs/cluster/kuberay-rayjob-baseline.yaml",
                   "ray up", "ray down", "ray job submit", "kubectl apply", "ray get-auth-token",
                   "RAY_AUTH_MODE=token ray start --head --node-ip-address 127.0.0.1"):
        assert needle in text, needle
