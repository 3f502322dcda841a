"""The service models: scripts/gen-models (botocore data/ -> build/models), and where
hookhost.aws.model finds a service's model at run time (the function package's own first, then
the packaged ones, then the repository's build/models)."""
import gzip
import json
import os
import pathlib
import shutil
import subprocess

import pytest

from luarun import outcome

ROOT = pathlib.Path(__file__).resolve().parent.parent.parent
GEN = ROOT / "scripts" / "gen-models"
BUILD_MODELS = ROOT / "build" / "models"
BOTOCORE_DATA = pathlib.Path("/usr/lib/python3/dist-packages/botocore/data")


def gen(*args):
    return subprocess.run(["/usr/bin/python3", str(GEN), *map(str, args)], capture_output=True,
                          text=True, timeout=300)


def botocore_service_dir(name):
    base = BOTOCORE_DATA / name
    return base / sorted(p.name for p in base.iterdir() if (p / "service-2.json").exists())[-1]


TINY = {
    "version": "2.0",
    "documentation": "the service",
    "metadata": {"apiVersion": "2020-01-01", "protocol": "json", "jsonVersion": "1.1",
                 "endpointPrefix": "tiny", "serviceId": "Tiny", "targetPrefix": "Tiny_20200101",
                 "uid": "tiny-2020-01-01", "serviceFullName": "Tiny"},
    "operations": {"DoIt": {"name": "DoIt", "http": {"method": "POST", "requestUri": "/"},
                            "input": {"shape": "DoItRequest"}, "documentation": "does it",
                            "errors": [{"shape": "Oops"}], "deprecated": True}},
    "shapes": {
        "DoItRequest": {"type": "structure", "required": ["Name"], "documentation": "x",
                        "members": {"Name": {"shape": "Name", "documentation": "the name",
                                             "locationName": "name"}}},
        "Name": {"type": "string", "min": 1, "max": 10, "pattern": "^[a-z]+$"},
        "Oops": {"type": "structure", "members": {}, "exception": True,
                 "error": {"httpStatusCode": 400}},
    },
}


def tiny_data(tmp_path, gz=False):
    data = tmp_path / "data"
    old = data / "tiny" / "2019-01-01"
    new = data / "tiny" / "2020-01-01"
    old.mkdir(parents=True)
    new.mkdir(parents=True)
    (old / "service-2.json").write_text(json.dumps({**TINY, "operations": {}}))
    text = json.dumps(TINY)
    if gz:
        with gzip.open(new / "service-2.json.gz", "wt") as f:
            f.write(text)
    else:
        (new / "service-2.json").write_text(text)
    (new / "paginators-1.json").write_text(json.dumps(
        {"pagination": {"DoIt": {"input_token": "T", "output_token": "T", "result_key": "R",
                                 "documentation": "dropped"}}}))
    (new / "waiters-2.json").write_text(json.dumps(
        {"version": 2, "waiters": {"Done": {"delay": 5, "maxAttempts": 3, "operation": "DoIt",
                                            "description": "dropped",
                                            "acceptors": [{"state": "success", "matcher": "status",
                                                           "expected": 200}]}}}))
    return data


@pytest.mark.parametrize("gz", [False, True], ids=["json", "json.gz"])
def test_generator_keeps_what_the_runtime_reads_from_the_newest_version(tmp_path, gz):
    data = tiny_data(tmp_path, gz)
    out = tmp_path / "out"
    p = gen("--data", data, "--out", out)
    assert p.returncode == 0, p.stderr
    svc = json.loads((out / "tiny" / "service-2.json").read_text())
    assert list(svc["operations"]) == ["DoIt"]  # 2020-01-01, not the older 2019-01-01
    assert "documentation" not in json.dumps(svc) and "deprecated" not in json.dumps(svc)
    assert svc["metadata"] == {k: v for k, v in TINY["metadata"].items() if k != "uid"}
    assert svc["operations"]["DoIt"] == {"name": "DoIt", "errors": [{"shape": "Oops"}],
                                         "http": {"method": "POST", "requestUri": "/"},
                                         "input": {"shape": "DoItRequest"}}
    assert svc["shapes"]["Name"] == {"type": "string", "min": 1, "max": 10}
    assert svc["shapes"]["DoItRequest"]["members"] == {"Name": {"shape": "Name",
                                                                "locationName": "name"}}
    pag = json.loads((out / "tiny" / "paginators-1.json").read_text())
    assert pag == {"pagination": {"DoIt": {"input_token": "T", "output_token": "T",
                                           "result_key": "R"}}}
    wait = json.loads((out / "tiny" / "waiters-2.json").read_text())
    assert wait["waiters"]["Done"] == {"delay": 5, "maxAttempts": 3, "operation": "DoIt",
                                       "acceptors": [{"state": "success", "matcher": "status",
                                                      "expected": 200}]}
    # deterministic and only rewritten when changed
    before = (out / "tiny" / "service-2.json").stat().st_mtime_ns
    assert gen("--data", data, "--out", out).returncode == 0
    assert (out / "tiny" / "service-2.json").stat().st_mtime_ns == before


def test_generator_prunes_other_services_and_says_what_is_wrong(tmp_path):
    data = tiny_data(tmp_path)
    out = tmp_path / "out"
    (out / "stale").mkdir(parents=True)
    (out / "stale" / "service-2.json").write_text("{}")
    assert gen("--data", data, "--out", out, "--services", "tiny", "--prune").returncode == 0
    assert sorted(p.name for p in out.iterdir()) == ["tiny"]

    p = gen("--data", data, "--out", out, "--services", "nosuch")
    assert p.returncode == 1 and "nosuch: no such service folder" in p.stderr
    p = gen("--data", data, "--out", out, "--services", "../etc")
    assert p.returncode == 1 and "not a service name: ../etc" in p.stderr
    p = gen("--data", tmp_path / "absent", "--out", out)
    assert p.returncode == 1 and "is not a folder" in p.stderr
    (data / "tiny" / "2020-01-01" / "service-2.json").write_text('{"metadata": ')
    p = gen("--data", data, "--out", out)
    assert p.returncode == 1 and "tiny/2020-01-01/service-2.json" in p.stderr


def test_make_built_every_botocore_service():
    assert (BUILD_MODELS / ".stamp").exists(), "make builds build/models"
    services = sorted(p.name for p in BOTOCORE_DATA.iterdir()
                      if p.is_dir() and any((v / "service-2.json").exists() for v in p.iterdir()))
    built = sorted(p.name for p in BUILD_MODELS.iterdir() if (p / "service-2.json").exists())
    assert built == services
    ecs = (BUILD_MODELS / "ecs" / "service-2.json").read_text()
    assert "documentation" not in ecs
    assert len(ecs) < os.path.getsize(botocore_service_dir("ecs") / "service-2.json") / 4


# ---- where the runtime finds a model ----------------------------------------------------------

PROBE = """
local model = require("hookhost.aws.model")
return function()
  local m, err = model.load("ecs")
  if not m then return {err = err} end
  local w = assert(model.waiters(m))
  local p = assert(model.paginators(m))
  return {dir = m.dir, probe = m.snake.hookhost_probe, describe = m.snake.describe_services,
          waiter = w.ServicesStable and w.ServicesStable.delay,
          paginator = p.ListTasks and p.ListTasks.result_key,
          ints = m.shapes.DescribeServicesRequest and math.type(m.metadata and
                   (function() for _, s in pairs(m.shapes) do if s.max then return s.max end end end)())}
end
"""


def run_probe(hookhost, write, env):
    script = write("probe.lua", PROBE)
    p = hookhost("run", script, env=env)
    assert p.returncode == 0, p.stderr
    return outcome(p)["result"]


def probe_model(dest, raw):
    """A model of ecs with one more operation, HookhostProbe: botocore's own files (raw) or the
    generator's output for a data/ folder holding them."""
    src = botocore_service_dir("ecs")
    svc = json.loads((src / "service-2.json").read_text())
    svc["operations"]["HookhostProbe"] = {"name": "HookhostProbe",
                                          "http": {"method": "POST", "requestUri": "/"}}
    if raw:
        dest.mkdir(parents=True)
        (dest / "service-2.json").write_text(json.dumps(svc))
        shutil.copy(src / "waiters-2.json", dest)
        shutil.copy(src / "paginators-1.json", dest)
        return
    data = dest.parent / "data" / "ecs" / "2099-01-01"
    data.mkdir(parents=True)
    (data / "service-2.json").write_text(json.dumps(svc))
    shutil.copy(src / "waiters-2.json", data)
    p = gen("--data", data.parent.parent, "--out", dest.parent)
    assert p.returncode == 0, p.stderr


def test_the_repository_build_models_by_default(hookhost, write):
    r = run_probe(hookhost, write, {})
    assert r["dir"] == str(ROOT / "lua" / ".." / "build" / "models" / "ecs")
    assert r["describe"] == "DescribeServices" and "probe" not in r
    assert r["waiter"] == 15 and r["paginator"] == "taskArns"
    assert r["ints"] == "integer"  # cjson decodes numbers as floats; the loader makes counts ints


@pytest.mark.parametrize("raw", [True, False], ids=["botocore-files", "generated"])
def test_a_function_package_model_replaces_the_packaged_one(hookhost, write, tmp_path, raw):
    task = tmp_path / "task"
    probe_model(task / "models" / "ecs", raw)
    r = run_probe(hookhost, write, {"LAMBDA_TASK_ROOT": str(task)})
    assert r["dir"] == str(task / "models" / "ecs")
    assert r["probe"] == "HookhostProbe" and r["describe"] == "DescribeServices"
    assert r["waiter"] == 15
    # its own paginators or none: never the packaged model's, which may not match it
    assert r.get("paginator") == ("taskArns" if raw else None)


def test_the_packaged_models_beside_the_library(hookhost, write, tmp_path):
    """The packages' layout: <library>/hookhost/models/<service>/ (function.zip's root,
    layer.zip's lua/)."""
    lib = tmp_path / "lib"
    shutil.copytree(ROOT / "lua" / "hookhost", lib / "hookhost")
    probe_model(lib / "hookhost" / "models" / "ecs", raw=False)
    r = run_probe(hookhost, write, {"HOOKHOST_LUA_DIR": str(lib)})
    assert r["dir"] == str(lib / "hookhost" / "models" / "ecs")
    assert r["probe"] == "HookhostProbe"


def test_a_broken_or_missing_model_is_a_clear_error(hookhost, write, tmp_path):
    task = tmp_path / "task"
    (task / "models" / "ecs").mkdir(parents=True)
    (task / "models" / "ecs" / "service-2.json").write_text('{"metadata": {')
    r = run_probe(hookhost, write, {"LAMBDA_TASK_ROOT": str(task)})
    assert r["err"].startswith(str(task / "models" / "ecs" / "service-2.json") + ": not a service model")
    script = write("missing.lua", 'local model = require("hookhost.aws.model")\n'
                   'return function() return {select(2, model.load("nosuch")), '
                   'select(2, model.load("../../etc"))} end')
    p = hookhost("run", script)
    res = json.loads(p.stdout.strip().splitlines()[-1])["result"]
    assert res[0].startswith('no model for service "nosuch" (looked in ')
    assert res[1].startswith("not a service name: ../../etc")


LAZY_PROBE = """
local aws = require("hookhost.aws")
local model = require("hookhost.aws.model")
return function()
  local out = {}
  local m = assert(model.load("ec2"))
  local ec2 = aws.client("ec2")
  out.made = model.stats(m)
  ec2:describe_instances({InstanceIds = {"i-0123456789abcdef0"}})
  out.called = model.stats(m)
  out.max_is_integer = math.type(m.shapes.DescribeInstancesRequest and m.shapes.Integer
                                 and (m.shapes.MaxResults or {}).max or 0)
  out.op_name = m.operations.CreateTags.name
  local n = 0
  for _ in pairs(m.shapes) do n = n + 1 end
  out.iterated, out.all = n, model.stats(m)
  return out
end
"""


def test_a_client_decodes_only_the_operations_and_shapes_it_uses(hookhost, write):
    """ec2's model is ~4,000 shapes: making its client decodes none, a call decodes the
    shapes of its input and output, and iterating still sees them all."""
    p = hookhost("run", "--dry-run", "--region", "us-east-1", write("lazy.lua", LAZY_PROBE))
    assert p.returncode == 0, p.stderr
    r = json.loads(p.stdout.strip().splitlines()[-1])["result"]
    total = r["made"]["shapes_total"]
    assert r["made"]["lazy"] is True and total > 1000
    assert r["made"]["operations"] == 0 and r["made"]["shapes"] == 0
    assert r["called"]["operations"] == 1
    assert 2 <= r["called"]["shapes"] < 100
    assert r["max_is_integer"] in ("integer", 0) and r["op_name"] == "CreateTags"
    assert r["iterated"] == total and r["all"]["shapes"] == total


DAMAGED_PROBE = """
local aws = require("hookhost.aws")
local model = require("hookhost.aws.model")
return function()
  local m, err = model.load("ecs")
  if not m then return {load = err} end
  local ok, e = pcall(function() return m.shapes.DescribeServicesRequest end)
  local ok2, e2 = pcall(function()
    return aws.client("ecs"):describe_services({services = {"s"}})
  end)
  return {ok = ok, err = tostring(e), call_ok = ok2, call_err = tostring(e2)}
end
"""


def damaged_run(hookhost, write, tmp_path, text):
    task = tmp_path / "task"
    (task / "models" / "ecs").mkdir(parents=True, exist_ok=True)
    path = task / "models" / "ecs" / "service-2.json"
    path.write_bytes(text)
    p = hookhost("run", "--dry-run", "--region", "us-east-1",
                 write("damaged.lua", DAMAGED_PROBE), env={"LAMBDA_TASK_ROOT": str(task)})
    assert p.returncode == 0, p.stderr
    return str(path), json.loads(p.stdout.strip().splitlines()[-1])["result"]


def test_a_damaged_lazy_model_is_a_clear_error_naming_the_file(hookhost, write, tmp_path):
    good = (BUILD_MODELS / "ecs" / "service-2.json").read_bytes()
    assert good.startswith(b'{"hookhost":{"format":"hookhost-model-1"')
    # truncated: found when the model loads
    path, r = damaged_run(hookhost, write, tmp_path, good[: len(good) // 2])
    assert r["load"].startswith(path + ": truncated or damaged model (")
    # an unfinished first line
    path, r = damaged_run(hookhost, write, tmp_path, good[:200])
    assert r["load"] == path + ": not a hookhost model (its first line is incomplete)"
    # another format
    path, r = damaged_run(hookhost, write, tmp_path,
                          good.replace(b'"hookhost-model-1"', b'"hookhost-model-9"', 1))
    assert r["load"].startswith(path + ": model format hookhost-model-9 is not hookhost-model-1")
    # a shape's value damaged in place (same size): an error of the index and of the call
    header, body = good.split(b"\n", 1)
    at = body.index(b'\n"DescribeServicesRequest":') + len(b'\n"DescribeServicesRequest":')
    end = body.index(b"\n", at)
    body = body[:at] + b"x" * (end - at) + body[end:]
    path, r = damaged_run(hookhost, write, tmp_path, header + b"\n" + body)
    assert r["ok"] is False and r["call_ok"] is False
    want = path + ': damaged model: shape "DescribeServicesRequest" ('
    assert r["err"].startswith(want) and r["call_err"].startswith(want), r
