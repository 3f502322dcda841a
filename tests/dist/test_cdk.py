"""deploy/cdk synthesized offline (the CDK app run by node, no AWS account, no CLI), asserting on
the CloudFormation template: runtime, handlers, architectures, names, and the IAM policy
statement by statement.

"*" is allowed only for actions that the service authorization reference lists without a
resource type (a statement naming an ARN never matches those, it would deny them):
codedeploy:PutLifecycleEventHookExecutionStatus, ListDeploymentTargets, BatchGetDeploymentTargets.
Everything else names its ARN.

With -c ecsNative=true the stack also holds the ECS-native hook function (handler auto,
HOOKHOST_ECS_STAGE_MAP), its own role (no CodeDeploy permission at all) and the role ECS assumes to
invoke it (lambda:InvokeFunction on that function only); without it, nothing of the kind appears
and the templates are those of before."""
import fcntl
import json
import os
import pathlib
import shutil
import subprocess
import zipfile

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
CDK = ROOT / "deploy" / "cdk"
ACCOUNT, REGION = "123456789012", "eu-west-1"
DIST_ID, APP, GROUP = "E2EXAMPLE123", "shop", "shop-bluegreen"
GROUP_ARN = f"arn:aws:codedeploy:{REGION}:{ACCOUNT}:deploymentgroup:{APP}/{GROUP}"
DIST_ARN = f"arn:aws:cloudfront::{ACCOUNT}:distribution/{DIST_ID}"
NO_RESOURCE_TYPE = {"codedeploy:PutLifecycleEventHookExecutionStatus", "codedeploy:ListDeploymentTargets",
                    "codedeploy:BatchGetDeploymentTargets"}
NETWORK_ERRORS = ("ENOTFOUND", "EAI_AGAIN", "ECONNREFUSED", "ETIMEDOUT", "ECONNRESET", "network")


@pytest.fixture(scope="session")
def cdk_app(tmp_path_factory):
    """deploy/cdk compiled to JavaScript once (tsc), with node_modules installed by `npm ci`."""
    if not shutil.which("node") or not shutil.which("npm"):
        pytest.skip("node and npm are needed for the CDK app (deploy/README.md)")
    (ROOT / "build").mkdir(exist_ok=True)
    with open(ROOT / "build" / ".npm-ci.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (CDK / "node_modules" / "aws-cdk-lib" / "package.json").exists():
            r = subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=CDK, capture_output=True,
                               text=True, timeout=900)
            if r.returncode != 0:
                out = r.stdout + r.stderr
                if any(e in out for e in NETWORK_ERRORS):
                    pytest.skip(f"npm cannot reach its registry: {out.strip().splitlines()[-1]}")
                pytest.fail(f"npm ci failed:\n{out[-3000:]}")
    out = tmp_path_factory.mktemp("cdkjs")
    r = subprocess.run([str(CDK / "node_modules" / ".bin" / "tsc"), "-p", str(CDK), "--outDir", str(out)],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, f"tsc failed (the app does not type-check):\n{r.stdout}{r.stderr}"
    return out / "bin" / "hookhost.js"


@pytest.fixture(scope="session")
def fake_dist(tmp_path_factory):
    """Stand-ins for layer.zip and hooks-only.zip: the template does not depend on their content,
    and CDK stages (copies and hashes) the real 7 MB ones on every synth."""
    d = tmp_path_factory.mktemp("dist")
    for name, entry in (("layer.zip", "bootstrap"), ("hooks-only.zip", "hooks/AfterAllowTraffic.lua")):
        with zipfile.ZipFile(d / name, "w") as z:
            z.writestr(entry, "stand-in\n")
    return d


ECS_BOTH_CD = {"hooks": "AfterAllowTestTraffic,AfterAllowTraffic", "testUrl": "http://test-alb.example.com:8080/",
               "alarmNames": "shop-5xx"}
ALL_HOOKS = ["BeforeInstall", "AfterInstall", "AfterAllowTestTraffic", "BeforeAllowTraffic", "AfterAllowTraffic"]
APPSPEC_HOOKS = ["AfterAllowTestTraffic", "BeforeAllowTraffic", "AfterAllowTraffic"]
# Every synth of the module, by name: context on top of the base (None removes a base value).
CASES = {
    "default": {},
    "every_hook_arm64": {
        "architecture": "arm64", "hooks": ",".join(ALL_HOOKS), "alarmNames": "shop-5xx,shop-latency",
        "alarmPrefix": "shop-canary-", "testUrl": "http://test-alb.example.com:8080/health",
        "testExpectStatus": "204", "invalidationPaths": "/index.html,/assets/*",
        "timeoutSeconds": "120", "memoryMb": "512", "namePrefix": "shop"},
    "auto": {"autoHandler": "true"},
    "auto_prefix": {"autoHandler": "true", "alarmPrefix": "shop-"},
    "alarms_without_gate": {"hooks": "AfterAllowTraffic", "alarmNames": "shop-5xx"},
    "report_group": {"reportResource": "deploymentgroup"},
    "agnostic": {"account": None, "region": None, "reportResource": "deploymentgroup"},
    "appspec": {"hooks": ",".join(APPSPEC_HOOKS), "alarmNames": "shop-5xx",
                "testUrl": "http://test-alb.example.com:8080/"},
    # ECS-native: the hook function alone (no CodeDeploy deployment group given).
    "ecs": {"ecsNative": "true", "applicationName": None, "deploymentGroupName": None},
    "ecs_gate_arm64": {"ecsNative": "true", "applicationName": None, "deploymentGroupName": None,
                       "architecture": "arm64", "namePrefix": "shop", "alarmPrefix": "shop-",
                       "ecsStages": "POST_TEST_TRAFFIC_SHIFT=BeforeAllowTraffic,"
                                    "POST_PRODUCTION_TRAFFIC_SHIFT=AfterAllowTraffic"},
    "ecs_agnostic": {"ecsNative": "true", "applicationName": None, "deploymentGroupName": None,
                     "account": None, "region": None},
    # Both controllers at once (a service moving from CodeDeploy to ECS-native), and the same
    # CodeDeploy context without ecsNative: the CodeDeploy part must be the same.
    "ecs_both": {"ecsNative": "true", **ECS_BOTH_CD,
                 "ecsStages": "POST_TEST_TRAFFIC_SHIFT=AfterAllowTestTraffic,PRE_SCALE_UP,"
                              "POST_PRODUCTION_TRAFFIC_SHIFT=AfterAllowTraffic"},
    "ecs_both_off": ECS_BOTH_CD,
}
ECS_CASES = {n for n in CASES if n.startswith("ecs") and n != "ecs_both_off"}
BAD_CASES = [
    ({"hooks": "AfterAllowTraffic,Bogus"}, "'Bogus' is not an ECS lifecycle event"),
    ({"architecture": "riscv64"}, "expected x86_64 or arm64"),
    ({"reportResource": "group"}, "expected any or deploymentgroup"),
    ({"distributionId": "E2*"}, "distributionId"),
    ({"alarmNames": "prod-*"}, "alarmNames"),
    ({"hooks": "BeforeAllowTraffic"}, "BeforeAllowTraffic (the alarm gate) needs -c alarmNames"),
    ({"hooks": "AfterAllowTestTraffic"}, "AfterAllowTestTraffic (the smoke test) needs -c testUrl"),
    ({"hooks": "AfterAllowTestTraffic", "testUrl": "test-alb:8080"}, "an http:// or https:// URL"),
    ({"invalidationWait": "soon"}, "invalidationWait"),
    ({"deploymentGroupName": None}, "missing context value: -c deploymentGroupName"),
    # ECS-native.
    ({"ecsNative": "true", "ecsStages": "POST_PRODUCTION_TRAFFIC_SHIFT=AfterAllowTraffic,AfterAllowTraffic"},
     "'AfterAllowTraffic' is not an ECS lifecycle stage with hooks"),
    # A stage ECS documents but the runtime (src/event.c) does not know: its events would fail.
    ({"ecsNative": "true", "ecsStages": "PRE_PRODUCTION_TRAFFIC_SHIFT=AfterAllowTraffic"},
     "'PRE_PRODUCTION_TRAFFIC_SHIFT' is not an ECS lifecycle stage with hooks"),
    ({"ecsNative": "true", "ecsStages": "POST_SCALE_UP,POST_SCALE_UP=AfterAllowTraffic"},
     "'POST_SCALE_UP' is named twice"),
    ({"ecsNative": "true", "ecsStages": "POST_PRODUCTION_TRAFFIC_SHIFT=../AfterAllowTraffic"},
     "the script is a hook name"),
    ({"ecsNative": "true", "ecsStages": "POST_TEST_TRAFFIC_SHIFT=AfterAllowTestTraffic"},
     "AfterAllowTestTraffic (the smoke test) needs -c testUrl"),
    ({"ecsNative": "true", "ecsStages": "POST_TEST_TRAFFIC_SHIFT=BeforeAllowTraffic"},
     "BeforeAllowTraffic (the alarm gate) needs -c alarmNames"),
    ({"ecsNative": "true", "ecsStages": ","}, "ecsStages: name at least one ECS lifecycle stage"),
    ({"ecsNative": "true", "deploymentGroupName": None}, "missing context value: -c deploymentGroupName"),
    ({"ecsNative": "true", "applicationName": None, "deploymentGroupName": None, "autoHandler": "true"},
     "-c autoHandler: settings of the CodeDeploy functions"),
    ({"ecsStages": "POST_PRODUCTION_TRAFFIC_SHIFT=AfterAllowTraffic"}, "a setting of -c ecsNative=true"),
]


@pytest.fixture(scope="session")
def synthesized(cdk_app, fake_dist, tmp_path_factory):
    """{case name: template dict, or the error message for a refused context}."""
    base = {"distributionId": DIST_ID, "applicationName": APP, "deploymentGroupName": GROUP,
            "account": ACCOUNT, "region": REGION, "distDir": str(fake_dist)}
    work = tmp_path_factory.mktemp("synth")
    cases = list(CASES.items()) + [(f"bad{i}", c) for i, (c, _) in enumerate(BAD_CASES)]
    batch = []
    for name, extra in cases:
        ctx = {k: v for k, v in {**base, **extra}.items() if v is not None}
        batch.append({"name": name, "outdir": str(work / name), "context": ctx})
    (work / "cases.json").write_text(json.dumps(batch))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "CDK_"))}
    env["NODE_PATH"] = str(CDK / "node_modules")
    r = subprocess.run(["node", str(pathlib.Path(__file__).with_name("cdk_synth.js")), str(cdk_app),
                        str(work / "cases.json")], capture_output=True, text=True, env=env, timeout=600)
    assert r.returncode == 0, f"node failed:\n{r.stdout}{r.stderr}"
    out = {}
    for res in json.loads(r.stdout):
        if res["ok"]:
            out[res["name"]] = json.loads((work / res["name"] / "HookhostHooks.template.json").read_text())
        else:
            out[res["name"]] = res["error"]
    return out


@pytest.fixture
def template(synthesized):
    def get(name):
        t = synthesized[name]
        assert isinstance(t, dict), f"synth of {name} failed: {t}"
        return t
    return get


def resolve(value):
    """A template value as a string: Fn::Join flattened, pseudo parameters as ${AWS::X}, and
    AWS::Partition as "aws" (the tests deploy nowhere)."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and "Ref" in value:
        return "aws" if value["Ref"] == "AWS::Partition" else "${%s}" % value["Ref"]
    if isinstance(value, dict) and "Fn::Join" in value:
        sep, parts = value["Fn::Join"]
        return sep.join(resolve(p) for p in parts)
    if isinstance(value, dict) and "Fn::GetAtt" in value:
        return "${%s.%s}" % tuple(value["Fn::GetAtt"])
    raise AssertionError(f"unexpected template value {value!r}")


def resources(template, kind):
    return [r["Properties"] for r in template["Resources"].values() if r["Type"] == kind]


def statements(template):
    """{Sid: (sorted actions, sorted resources)} of the hook role's policies."""
    policies = resources(template, "AWS::IAM::Policy")
    assert len(policies) == 1, "one policy, on the one hook role"
    out = {}
    for st in policies[0]["PolicyDocument"]["Statement"]:
        assert st["Effect"] == "Allow" and "Condition" not in st and "NotResource" not in st
        actions = st["Action"] if isinstance(st["Action"], list) else [st["Action"]]
        res = st["Resource"] if isinstance(st["Resource"], list) else [st["Resource"]]
        assert st["Sid"] not in out
        out[st["Sid"]] = (sorted(actions), sorted(resolve(r) for r in res))
    return out


def assert_star_only_without_resource_type(st):
    for sid, (actions, res) in st.items():
        if "*" in res:
            assert res == ["*"] and set(actions) <= NO_RESOURCE_TYPE, f"{sid}: {actions} on {res}"
        else:
            assert not set(actions) & NO_RESOURCE_TYPE or sid == "ReportHookStatus", sid


def log_arn(name, account=ACCOUNT, region=REGION):
    return f"arn:aws:logs:{region}:{account}:log-group:/aws/lambda/{name}:*"


def assert_role_is_the_only_grant(template):
    roles = resources(template, "AWS::IAM::Role")
    assert len(roles) == 1
    role = roles[0]
    assert "ManagedPolicyArns" not in role, "no managed policy: AWSLambdaBasicExecutionRole grants logs on *"
    assert "Policies" not in role
    assert role["AssumeRolePolicyDocument"]["Statement"] == [
        {"Action": "sts:AssumeRole", "Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}}]


def test_default_stack(template):
    t = template("default")
    fns = resources(t, "AWS::Lambda::Function")
    assert len(fns) == 1
    fn = fns[0]
    name = "CodeDeployHook_hookhost_AfterAllowTraffic"
    assert fn["FunctionName"] == name
    assert fn["Runtime"] == "provided.al2023"
    assert fn["Handler"] == "AfterAllowTraffic"
    assert fn["Architectures"] == ["x86_64"]
    assert fn["Timeout"] == 60 and fn["MemorySize"] == 256
    assert fn["Environment"]["Variables"] == {"DistributionId": DIST_ID}
    assert fn["LoggingConfig"]["LogFormat"] == "JSON"  # Lambda sets AWS_LAMBDA_LOG_FORMAT=JSON
    layer_id = fn["Layers"][0]["Ref"]
    layer = t["Resources"][layer_id]
    assert layer["Type"] == "AWS::Lambda::LayerVersion"
    assert layer["Properties"]["CompatibleRuntimes"] == ["provided.al2023"]
    assert layer["Properties"]["CompatibleArchitectures"] == ["x86_64"]

    log_groups = resources(t, "AWS::Logs::LogGroup")
    assert [g["LogGroupName"] for g in log_groups] == [f"/aws/lambda/{name}"]

    assert_role_is_the_only_grant(t)
    assert statements(t) == {
        "InvalidateDistribution": (["cloudfront:CreateInvalidation", "cloudfront:GetInvalidation"], [DIST_ARN]),
        "ReportHookStatus": (["codedeploy:PutLifecycleEventHookExecutionStatus"], ["*"]),
        "Logs": (["logs:CreateLogStream", "logs:PutLogEvents"], [log_arn(name)]),
    }
    assert_star_only_without_resource_type(statements(t))


def test_every_ecs_hook_on_arm64_with_the_alarm_gate(template):
    hooks = ALL_HOOKS
    t = template("every_hook_arm64")
    fns = resources(t, "AWS::Lambda::Function")
    assert sorted(f["Handler"] for f in fns) == sorted(hooks)
    for f in fns:
        assert f["FunctionName"] == f"CodeDeployHook_shop_{f['Handler']}"
        assert f["Architectures"] == ["arm64"] and f["Runtime"] == "provided.al2023"
        assert f["Timeout"] == 120 and f["MemorySize"] == 512
        # The names the shipped hooks read (lua/hooks/*.lua).
        assert f["Environment"]["Variables"] == {
            "DistributionId": DIST_ID, "ALARM_NAMES": "shop-5xx,shop-latency", "ALARM_PREFIX": "shop-canary-",
            "TEST_URL": "http://test-alb.example.com:8080/health", "TEST_EXPECT_STATUS": "204",
            "INVALIDATION_PATHS": "/index.html,/assets/*"}
    layer = resources(t, "AWS::Lambda::LayerVersion")[0]
    assert layer["CompatibleArchitectures"] == ["arm64"]
    st = statements(t)
    assert st["AlarmGate"] == (["cloudwatch:DescribeAlarms"],
                               [f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:shop-5xx",
                                f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:shop-canary-*",
                                f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:shop-latency"])
    assert st["Logs"][1] == sorted(log_arn(f"CodeDeployHook_shop_{h}") for h in hooks)
    assert set(st) == {"InvalidateDistribution", "ReportHookStatus", "AlarmGate", "Logs"}
    assert_star_only_without_resource_type(st)


def test_auto_handler(template):
    t = template("auto")
    fns = resources(t, "AWS::Lambda::Function")
    assert [(f["FunctionName"], f["Handler"]) for f in fns] == [("CodeDeployHook_hookhost_auto", "auto")]
    st = statements(t)
    # What _HANDLER=auto calls (hookhost.codedeploy.current_lifecycle_event), and the only "*":
    # actions with no resource type in the service authorization data.
    assert st["FindLifecycleEvent"] == (
        ["codedeploy:BatchGetDeploymentTargets", "codedeploy:ListDeploymentTargets"], ["*"])
    assert_star_only_without_resource_type(st)
    assert "AlarmGate" not in st  # no alarms configured

    st = statements(template("auto_prefix"))
    assert st["AlarmGate"] == (["cloudwatch:DescribeAlarms"], [f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:shop-*"])


def test_alarm_permission_only_with_the_alarm_gate_hook(template):
    st = statements(template("alarms_without_gate"))
    assert "AlarmGate" not in st


def test_report_resource_scoped_to_the_deployment_group(template):
    st = statements(template("report_group"))
    assert st["ReportHookStatus"] == (["codedeploy:PutLifecycleEventHookExecutionStatus"], [GROUP_ARN])
    assert not any("*" in res for _, res in st.values())


def test_environment_agnostic_stack_uses_pseudo_parameters(template):
    st = statements(template("agnostic"))
    assert st["InvalidateDistribution"][1] == ["arn:aws:cloudfront::${AWS::AccountId}:distribution/E2EXAMPLE123"]
    assert st["ReportHookStatus"][1] == [
        f"arn:aws:codedeploy:${{AWS::Region}}:${{AWS::AccountId}}:deploymentgroup:{APP}/{GROUP}"]


@pytest.mark.parametrize("i", range(len(BAD_CASES)))
def test_bad_context_is_refused(synthesized, i):
    context, message = BAD_CASES[i]
    result = synthesized[f"bad{i}"]
    assert isinstance(result, str), f"{context} should have been refused"
    assert message in result


def test_appspec_names_the_functions_the_stack_creates(template):
    yaml = pytest.importorskip("yaml")
    spec = yaml.safe_load((ROOT / "deploy" / "appspec.yml").read_text())
    assert spec["version"] == 0.0
    props = spec["Resources"][0]["TargetService"]["Properties"]
    assert spec["Resources"][0]["TargetService"]["Type"] == "AWS::ECS::Service"
    assert {"TaskDefinition", "LoadBalancerInfo"} <= set(props)
    assert {"ContainerName", "ContainerPort"} <= set(props["LoadBalancerInfo"])
    hooks = [next(iter(h.items())) for h in spec["Hooks"]]
    events = [e for e, _ in hooks]
    order = ["BeforeInstall", "AfterInstall", "AfterAllowTestTraffic", "BeforeAllowTraffic", "AfterAllowTraffic"]
    assert events == sorted(events, key=order.index), "hooks in lifecycle order"
    assert events == APPSPEC_HOOKS
    t = template("appspec")
    names = {f["Handler"]: f["FunctionName"] for f in resources(t, "AWS::Lambda::Function")}
    for event, arn in hooks:
        assert arn == f"arn:aws:lambda:<REGION>:<ACCOUNT_ID>:function:{names[event]}"


# ---- ECS-native blue/green (-c ecsNative=true) ----

ECS_STAGE_MAP_DEFAULT = "POST_PRODUCTION_TRAFFIC_SHIFT=AfterAllowTraffic"


def logical_ids(template, kind):
    return [k for k, r in template["Resources"].items() if r["Type"] == kind]


def trusting(template, service):
    """Logical ids of the roles that the given service principal (alone) may assume."""
    out = []
    for rid in logical_ids(template, "AWS::IAM::Role"):
        trust = template["Resources"][rid]["Properties"]["AssumeRolePolicyDocument"]["Statement"]
        if any(st.get("Principal", {}).get("Service") == service for st in trust):
            assert trust == [{"Action": "sts:AssumeRole", "Effect": "Allow", "Principal": {"Service": service}}]
            out.append(rid)
    return out


def role_statements(template, role_id):
    """{Sid: (sorted actions, sorted resources)} of the one policy attached to one role."""
    role = template["Resources"][role_id]["Properties"]
    assert "ManagedPolicyArns" not in role and "Policies" not in role
    policies = [p for p in resources(template, "AWS::IAM::Policy") if p["Roles"] == [{"Ref": role_id}]]
    assert len(policies) == 1, f"one policy on {role_id}"
    out = {}
    for st in policies[0]["PolicyDocument"]["Statement"]:
        assert st["Effect"] == "Allow" and "Condition" not in st and "NotResource" not in st
        assert "NotAction" not in st
        actions = st["Action"] if isinstance(st["Action"], list) else [st["Action"]]
        res = st["Resource"] if isinstance(st["Resource"], list) else [st["Resource"]]
        assert st["Sid"] not in out
        out[st["Sid"]] = (sorted(actions), sorted(resolve(r) for r in res))
    return out


def ecs_parts(template):
    """(function logical id, its properties, its role's id, the invoke role's id)."""
    fns = [(k, r["Properties"]) for k, r in template["Resources"].items()
           if r["Type"] == "AWS::Lambda::Function" and r["Properties"]["FunctionName"].startswith("EcsHook_")]
    assert len(fns) == 1, "one ECS hook function"
    fid, fn = fns[0]
    invoke = trusting(template, "ecs.amazonaws.com")
    assert len(invoke) == 1, "one role for ECS to assume"
    return fid, fn, fn["Role"]["Fn::GetAtt"][0], invoke[0]


def assert_ecs_function(fn, name, stage_map, extra_env=None, arch="x86_64"):
    assert fn["FunctionName"] == name
    assert not name.startswith("CodeDeployHook_")  # out of reach of AWSCodeDeployRoleForECSLimited
    assert fn["Runtime"] == "provided.al2023"
    assert fn["Architectures"] == [arch]
    # _HANDLER is what Lambda sets from Handler (a reserved variable: it cannot be in Variables).
    assert fn["Handler"] == "auto"
    env = fn["Environment"]["Variables"]
    assert "_HANDLER" not in env
    assert env == {"DistributionId": DIST_ID, "HOOKHOST_ECS_STAGE_MAP": stage_map, **(extra_env or {})}
    assert fn["LoggingConfig"]["LogFormat"] == "JSON"
    assert len(fn["Layers"]) == 1


def assert_invoke_role(template, fid, invoke_id):
    """ECS may assume it (trust checked by trusting()), and it may invoke that one function only."""
    assert role_statements(template, invoke_id) == {
        "InvokeHook": (["lambda:InvokeFunction"], ["${%s.Arn}" % fid])}


def assert_no_codedeploy(st):
    for sid, (actions, _) in st.items():
        assert not any(a.lower().startswith("codedeploy:") for a in actions), f"{sid}: {actions}"


def assert_no_star(st):
    for sid, (actions, res) in st.items():
        assert not any("*" == r for r in res), f"{sid}: {actions} on {res}"


def test_ecs_native_alone(template):
    t = template("ecs")
    fid, fn, role_id, invoke_id = ecs_parts(t)
    name = "EcsHook_hookhost"
    assert_ecs_function(fn, name, ECS_STAGE_MAP_DEFAULT)
    assert fn["Timeout"] == 60 and fn["MemorySize"] == 256
    # The runtime layer, as for the CodeDeploy functions.
    layer = t["Resources"][fn["Layers"][0]["Ref"]]
    assert layer["Type"] == "AWS::Lambda::LayerVersion"
    assert layer["Properties"]["CompatibleRuntimes"] == ["provided.al2023"]
    # No CodeDeploy function, role or permission without a deployment group.
    assert [f["FunctionName"] for f in resources(t, "AWS::Lambda::Function")] == [name]
    assert sorted(logical_ids(t, "AWS::IAM::Role")) == sorted([role_id, invoke_id])
    assert "codedeploy:" not in json.dumps(t).lower()  # (the layer's description names CodeDeploy)
    assert trusting(t, "lambda.amazonaws.com") == [role_id]

    st = role_statements(t, role_id)
    assert st == {
        "InvalidateDistribution": (["cloudfront:CreateInvalidation", "cloudfront:GetInvalidation"], [DIST_ARN]),
        "Logs": (["logs:CreateLogStream", "logs:PutLogEvents"], [log_arn(name)]),
    }
    assert_no_codedeploy(st)
    assert_no_star(st)
    assert_invoke_role(t, fid, invoke_id)
    assert [g["LogGroupName"] for g in resources(t, "AWS::Logs::LogGroup")] == [f"/aws/lambda/{name}"]

    # The lifecycle hook entry to put in the service's deploymentConfiguration.
    out = t["Outputs"]
    assert out["EcsHookArn"]["Value"] == {"Fn::GetAtt": [fid, "Arn"]}
    assert out["EcsInvokeRoleArn"]["Value"] == {"Fn::GetAtt": [invoke_id, "Arn"]}
    hook = json.loads(resolve(out["EcsLifecycleHook"]["Value"]))
    assert hook == {"hookTargetArn": "${%s.Arn}" % fid, "roleArn": "${%s.Arn}" % invoke_id,
                    "lifecycleStages": ["POST_PRODUCTION_TRAFFIC_SHIFT"]}
    assert not any(k.endswith("Arn") and k.startswith(tuple(ALL_HOOKS + ["auto"])) for k in out)


def test_ecs_native_stages_alarm_gate_arm64(template):
    t = template("ecs_gate_arm64")
    fid, fn, role_id, invoke_id = ecs_parts(t)
    name = "EcsHook_shop"
    assert_ecs_function(fn, name, "POST_TEST_TRAFFIC_SHIFT=BeforeAllowTraffic,"
                                  "POST_PRODUCTION_TRAFFIC_SHIFT=AfterAllowTraffic",
                        {"ALARM_PREFIX": "shop-"}, arch="arm64")
    st = role_statements(t, role_id)
    assert st["AlarmGate"] == (["cloudwatch:DescribeAlarms"], [f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:shop-*"])
    assert set(st) == {"InvalidateDistribution", "AlarmGate", "Logs"}
    assert_no_codedeploy(st)
    assert_no_star(st)
    assert_invoke_role(t, fid, invoke_id)
    hook = json.loads(resolve(t["Outputs"]["EcsLifecycleHook"]["Value"]))
    assert hook["lifecycleStages"] == ["POST_TEST_TRAFFIC_SHIFT", "POST_PRODUCTION_TRAFFIC_SHIFT"]


def test_ecs_native_environment_agnostic(template):
    t = template("ecs_agnostic")
    fid, fn, role_id, invoke_id = ecs_parts(t)
    st = role_statements(t, role_id)
    assert st["InvalidateDistribution"][1] == ["arn:aws:cloudfront::${AWS::AccountId}:distribution/E2EXAMPLE123"]
    assert st["Logs"][1] == ["arn:aws:logs:${AWS::Region}:${AWS::AccountId}:log-group:/aws/lambda/EcsHook_hookhost:*"]
    assert_invoke_role(t, fid, invoke_id)


def test_ecs_native_next_to_codedeploy(template):
    """Both controllers: the ECS function serves three stages (one by its own script name), and
    the CodeDeploy part is exactly what the same context gives without ecsNative."""
    t, off = template("ecs_both"), template("ecs_both_off")
    fid, fn, role_id, invoke_id = ecs_parts(t)
    # PRE_SCALE_UP has no entry in the map: under _HANDLER=auto it runs hooks/PRE_SCALE_UP.lua.
    assert_ecs_function(fn, "EcsHook_hookhost",
                        "POST_TEST_TRAFFIC_SHIFT=AfterAllowTestTraffic,POST_PRODUCTION_TRAFFIC_SHIFT=AfterAllowTraffic",
                        {"ALARM_NAMES": "shop-5xx", "TEST_URL": "http://test-alb.example.com:8080/"})
    hook = json.loads(resolve(t["Outputs"]["EcsLifecycleHook"]["Value"]))
    assert hook["lifecycleStages"] == ["POST_TEST_TRAFFIC_SHIFT", "PRE_SCALE_UP", "POST_PRODUCTION_TRAFFIC_SHIFT"]
    st = role_statements(t, role_id)
    assert set(st) == {"InvalidateDistribution", "Logs"}  # BeforeAllowTraffic is not one of its scripts
    assert_no_codedeploy(st)
    assert_no_star(st)
    assert_invoke_role(t, fid, invoke_id)

    for rid, r in off["Resources"].items():
        assert t["Resources"].get(rid) == r, f"{rid} differs with ecsNative"
    for k, o in off["Outputs"].items():
        assert t["Outputs"].get(k) == o
    ecs_only = set(t["Resources"]) - set(off["Resources"])
    assert {fid, role_id, invoke_id} <= ecs_only
    # The CodeDeploy functions' role may not invoke anything, and ECS's role is not theirs.
    cd_role = trusting(off, "lambda.amazonaws.com")[0]
    assert "lambda:InvokeFunction" not in json.dumps(role_statements(t, cd_role))


@pytest.mark.parametrize("name", [n for n in CASES if n not in ECS_CASES])
def test_nothing_ecs_without_the_option(template, name):
    t = template(name)
    text = json.dumps(t)
    assert "ecs.amazonaws.com" not in text
    assert "HOOKHOST_ECS_STAGE_MAP" not in text
    assert "lambda:InvokeFunction" not in text
    assert "EcsHook" not in text
    assert not any(k.startswith("Ecs") for k in t.get("Outputs", {}))
    assert all(f["FunctionName"].startswith("CodeDeployHook_") for f in resources(t, "AWS::Lambda::Function"))


def test_every_ecs_template_names_its_resources(template):
    """No "*" anywhere in the ECS roles' policies: every resource there has an ARN."""
    for name in ECS_CASES:
        t = template(name)
        fid, fn, role_id, invoke_id = ecs_parts(t)
        for rid in (role_id, invoke_id):
            assert_no_star(role_statements(t, rid))
