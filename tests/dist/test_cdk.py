"""deploy/cdk synthesized offline (the CDK app run by node, no AWS account, no CLI), asserting on
the CloudFormation template: runtime, handlers, architectures, names, and the IAM policy
statement by statement."""
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


@pytest.fixture
def synth(cdk_app, fake_dist, tmp_path):
    """synth(**context) -> the stack's template (dict); raises with node's output on failure."""

    def run(expect_failure=False, **context):
        ctx = {"distributionId": DIST_ID, "applicationName": APP, "deploymentGroupName": GROUP,
               "account": ACCOUNT, "region": REGION, "distDir": str(fake_dist)}
        ctx.update(context)
        ctx = {k: v for k, v in ctx.items() if v is not None}
        outdir = tmp_path / f"cdk.out.{len(list(tmp_path.iterdir()))}"
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "CDK_"))}
        env.update({"CDK_OUTDIR": str(outdir), "CDK_CONTEXT_JSON": json.dumps(ctx),
                    "NODE_PATH": str(CDK / "node_modules")})
        r = subprocess.run(["node", str(cdk_app)], capture_output=True, text=True, env=env, timeout=300)
        if expect_failure:
            assert r.returncode != 0, "synth should have failed"
            return r.stdout + r.stderr
        assert r.returncode == 0, f"synth failed:\n{r.stdout}{r.stderr}"
        return json.loads((outdir / "HookhostHooks.template.json").read_text())

    return run


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


def test_default_stack(synth):
    t = synth()
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
        "ReportHookStatus": (["codedeploy:PutLifecycleEventHookExecutionStatus"], [GROUP_ARN]),
        "Logs": (["logs:CreateLogStream", "logs:PutLogEvents"], [log_arn(name)]),
    }
    assert '"*"' not in json.dumps(resources(t, "AWS::IAM::Policy"))


def test_every_ecs_hook_on_arm64_with_the_alarm_gate(synth):
    hooks = ["BeforeInstall", "AfterInstall", "AfterAllowTestTraffic", "BeforeAllowTraffic", "AfterAllowTraffic"]
    t = synth(architecture="arm64", hooks=",".join(hooks), alarmNames="shop-5xx,shop-latency",
              alarmPrefix="shop-canary-", testUrl="http://test-alb.example.com:8080/health",
              testExpectStatus="204", invalidationPaths="/index.html,/assets/*",
              timeoutSeconds="120", memoryMb="512", namePrefix="shop")
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
    assert '"*"' not in json.dumps(resources(t, "AWS::IAM::Policy"))


def test_auto_handler(synth):
    t = synth(autoHandler="true")
    fns = resources(t, "AWS::Lambda::Function")
    assert [(f["FunctionName"], f["Handler"]) for f in fns] == [("CodeDeployHook_hookhost_auto", "auto")]
    st = statements(t)
    # What _HANDLER=auto calls (hookhost.codedeploy.current_lifecycle_event), and the only "*":
    # actions with no resource type in the service authorization data.
    assert st["FindLifecycleEvent"] == (
        ["codedeploy:BatchGetDeploymentTargets", "codedeploy:ListDeploymentTargets"], ["*"])
    stars = [sid for sid, (_, res) in st.items() if "*" in res]
    assert stars == ["FindLifecycleEvent"]
    assert "AlarmGate" not in st  # no alarms configured

    st = statements(synth(autoHandler="true", alarmPrefix="shop-"))
    assert st["AlarmGate"] == (["cloudwatch:DescribeAlarms"], [f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:shop-*"])


def test_alarm_permission_only_with_the_alarm_gate_hook(synth):
    st = statements(synth(hooks="AfterAllowTraffic", alarmNames="shop-5xx"))
    assert "AlarmGate" not in st


def test_report_resource_any(synth):
    st = statements(synth(reportResource="any"))
    assert st["ReportHookStatus"] == (["codedeploy:PutLifecycleEventHookExecutionStatus"], ["*"])


def test_environment_agnostic_stack_uses_pseudo_parameters(synth):
    t = synth(account=None, region=None)
    st = statements(t)
    assert st["InvalidateDistribution"][1] == ["arn:aws:cloudfront::${AWS::AccountId}:distribution/E2EXAMPLE123"]
    assert st["ReportHookStatus"][1] == [
        f"arn:aws:codedeploy:${{AWS::Region}}:${{AWS::AccountId}}:deploymentgroup:{APP}/{GROUP}"]


@pytest.mark.parametrize("context, message", [
    ({"hooks": "AfterAllowTraffic,Bogus"}, "'Bogus' is not an ECS lifecycle event"),
    ({"architecture": "riscv64"}, "expected x86_64 or arm64"),
    ({"distributionId": "E2*"}, "distributionId"),
    ({"alarmNames": "prod-*"}, "alarmNames"),
    ({"hooks": "BeforeAllowTraffic"}, "BeforeAllowTraffic (the alarm gate) needs -c alarmNames"),
    ({"hooks": "AfterAllowTestTraffic"}, "AfterAllowTestTraffic (the smoke test) needs -c testUrl"),
    ({"hooks": "AfterAllowTestTraffic", "testUrl": "test-alb:8080"}, "an http:// or https:// URL"),
    ({"invalidationWait": "soon"}, "invalidationWait"),
    ({"deploymentGroupName": None}, "missing context value: -c deploymentGroupName"),
])
def test_bad_context_is_refused(synth, context, message):
    assert message in synth(expect_failure=True, **context)


def test_appspec_names_the_functions_the_stack_creates(synth):
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
    assert events == ["AfterAllowTestTraffic", "BeforeAllowTraffic", "AfterAllowTraffic"]
    t = synth(hooks=",".join(events), alarmNames="shop-5xx", testUrl="http://test-alb.example.com:8080/")
    names = {f["Handler"]: f["FunctionName"] for f in resources(t, "AWS::Lambda::Function")}
    for event, arn in hooks:
        assert arn == f"arn:aws:lambda:<REGION>:<ACCOUNT_ID>:function:{names[event]}"
