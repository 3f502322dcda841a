"""deploy/cdk synthesized offline (the CDK app run by node, no AWS account, no CLI), asserting on
the CloudFormation template: runtime, handlers, architectures, names, and the IAM policy
statement by statement.

"*" is allowed only for actions that the service authorization reference lists without a
resource type (a statement naming an ARN never matches those, it would deny them):
codedeploy:PutLifecycleEventHookExecutionStatus, ListDeploymentTargets, BatchGetDeploymentTargets.
Everything else names its ARN."""
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
}
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
