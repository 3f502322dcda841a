"""deploy/cdk synthesized offline (the CDK app run by node, no AWS account, no CLI), asserting on
the CloudFormation template: runtime, handlers, architectures, names, and the IAM policy
statement by statement.

"*" is allowed only for actions that the service authorization reference lists without a
resource type (a statement naming an ARN never matches those, it would deny them):
codedeploy:PutLifecycleEventHookExecutionStatus, ListDeploymentTargets, BatchGetDeploymentTargets;
and for cloudwatch:DescribeAlarms, which returns composite alarms only to a permission on "*".
Everything else names its ARN.

Every synthesized variant also runs cdk-nag's AwsSolutions and Serverless packs (-c cdkNag=true):
no finding may be left, and each suppression carries its reason. Contexts that would fail every
deployment (a bootstrap of the other architecture, a hook without its script, a timeout too short
for the reserve or for an invalidation wait, ...) are refused at synth.

With -c ecsNative=true the stack also holds the ECS-native hook function (handler auto,
HOOKHOST_ECS_STAGE_MAP), its own role (no CodeDeploy permission at all) and the role ECS assumes to
invoke it (lambda:InvokeFunction on that function only); without it, nothing of the kind appears
and the templates are those of before."""
import csv
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
# DescribeAlarms returns composite alarms only when allowed on "*" (DescribeAlarms API reference).
STAR_ONLY = NO_RESOURCE_TYPE | {"cloudwatch:DescribeAlarms"}
ALARM_GATE = (["cloudwatch:DescribeAlarms"], ["*"])
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


ELF_MACHINE = {"x86_64": 62, "arm64": 183}
SHIPPED_HOOKS = ["AfterAllowTestTraffic", "BeforeAllowTraffic", "AfterAllowTraffic"]


def fake_elf(arch):
    """The 64-byte header of a little-endian 64-bit ELF executable for arch, and some padding."""
    ident = b"\x7fELF" + bytes([2, 1, 1, 0]) + bytes(8)
    return ident + (2).to_bytes(2, "little") + ELF_MACHINE[arch].to_bytes(2, "little") + bytes(44) + b"\0" * 4096


@pytest.fixture(scope="session")
def fake_dist(tmp_path_factory):
    """Stand-ins for the layer zips and hooks-only.zip (CDK stages, copies and hashes the real ones
    on every synth): a bootstrap that is only an ELF header, and the hook scripts by name.
    {"shipped"} is what `make dist` builds on x86_64 (layer.zip, in <root>/build/dist, with
    <root>/deploy/cdk as the directory a default distDir is resolved from); "custom_x86" and
    "custom_arm64" (layer-arm64.zip, as `make dist ARCH=arm64` names it) hold every ECS hook and a
    PRE_SCALE_UP script; "both" holds both layers; "swapped" an arm64 bootstrap in layer.zip and an
    x86_64 one in layer-arm64.zip; "not_elf" a bootstrap that is not a program."""
    root = tmp_path_factory.mktemp("fakerepo")
    (root / "deploy" / "cdk").mkdir(parents=True)
    dists = {"shipped": root / "build" / "dist"}
    for name in ("custom_x86", "custom_arm64", "both", "swapped", "not_elf"):
        dists[name] = root / "other" / name
    contents = {"shipped": ({"layer.zip": "x86_64"}, SHIPPED_HOOKS),
                "custom_x86": ({"layer.zip": "x86_64"}, ALL_HOOKS + ["PRE_SCALE_UP"]),
                "custom_arm64": ({"layer-arm64.zip": "arm64"}, ALL_HOOKS + ["PRE_SCALE_UP"]),
                "both": ({"layer.zip": "x86_64", "layer-arm64.zip": "arm64"}, SHIPPED_HOOKS),
                "swapped": ({"layer.zip": "arm64", "layer-arm64.zip": "x86_64"}, SHIPPED_HOOKS),
                "not_elf": ({"layer.zip": None}, SHIPPED_HOOKS)}
    for name, d in dists.items():
        layers, hooks = contents[name]
        d.mkdir(parents=True)
        for zname, arch in layers.items():
            # Deflated as `zip -X` writes it; the arm64 one stored, the other method the reader knows.
            method = zipfile.ZIP_STORED if arch == "arm64" else zipfile.ZIP_DEFLATED
            with zipfile.ZipFile(d / zname, "w", method) as z:
                z.writestr("bootstrap", fake_elf(arch) if arch else b"#!/bin/sh\nexec hookhost serve\n")
                z.writestr("lua/hookhost/", "")
        with zipfile.ZipFile(d / "hooks-only.zip", "w", zipfile.ZIP_DEFLATED) as z:
            for h in hooks:
                z.writestr(f"hooks/{h}.lua", "return function() end\n")
    dists["missing"] = root / "nowhere"
    dists["app"] = root / "deploy" / "cdk"
    return dists


ECS_BOTH_CD = {"hooks": "AfterAllowTestTraffic,AfterAllowTraffic", "testUrl": "http://test-alb.example.com:8080/",
               "alarmNames": "shop-5xx"}
ALL_HOOKS = ["BeforeInstall", "AfterInstall", "AfterAllowTestTraffic", "BeforeAllowTraffic", "AfterAllowTraffic"]
APPSPEC_HOOKS = ["AfterAllowTestTraffic", "BeforeAllowTraffic", "AfterAllowTraffic"]
# Every synth of the module, by name: context on top of the base (None removes a base value).
CASES = {
    "default": {},
    "every_hook_arm64": {
        "architecture": "arm64", "distDir": "@custom_arm64", "hooks": ",".join(ALL_HOOKS), "alarmNames": "shop-5xx,shop-latency",
        "alarmPrefix": "shop-canary-", "testUrl": "http://test-alb.example.com:8080/health",
        "testExpectStatus": "204", "invalidationPaths": "/index.html,/assets/*",
        "timeoutSeconds": "120", "memoryMb": "512", "namePrefix": "shop"},
    "auto": {"autoHandler": "true"},
    "auto_prefix": {"autoHandler": "true", "alarmPrefix": "shop-"},
    "alarms_without_gate": {"hooks": "AfterAllowTraffic", "alarmNames": "shop-5xx"},
    "report_group": {"reportResource": "deploymentgroup"},
    "report_application": {"reportResource": "application"},
    "agnostic": {"account": None, "region": None, "reportResource": "deploymentgroup"},
    "appspec": {"hooks": ",".join(APPSPEC_HOOKS), "alarmNames": "shop-5xx",
                "testUrl": "http://test-alb.example.com:8080/"},
    # ECS-native: the hook function alone (no CodeDeploy deployment group given).
    "ecs": {"ecsNative": "true", "applicationName": None, "deploymentGroupName": None},
    "ecs_gate_arm64": {"ecsNative": "true", "applicationName": None, "deploymentGroupName": None,
                       "architecture": "arm64", "distDir": "@custom_arm64", "namePrefix": "shop",
                       "alarmPrefix": "shop-",
                       "ecsStages": "POST_TEST_TRAFFIC_SHIFT=BeforeAllowTraffic,"
                                    "POST_PRODUCTION_TRAFFIC_SHIFT=AfterAllowTraffic"},
    "ecs_agnostic": {"ecsNative": "true", "applicationName": None, "deploymentGroupName": None,
                     "account": None, "region": None},
    # Both controllers at once (a service moving from CodeDeploy to ECS-native), and the same
    # CodeDeploy context without ecsNative: the CodeDeploy part must be the same.
    "ecs_both": {"ecsNative": "true", **ECS_BOTH_CD, "distDir": "@custom_x86",
                 "ecsStages": "POST_TEST_TRAFFIC_SHIFT=AfterAllowTestTraffic,PRE_SCALE_UP,"
                              "POST_PRODUCTION_TRAFFIC_SHIFT=AfterAllowTraffic"},
    "ecs_both_off": {**ECS_BOTH_CD, "distDir": "@custom_x86"},
    # Issue 15: no hook that invalidates, so no distribution and no CloudFront permission.
    "gate_only": {"hooks": "BeforeAllowTraffic", "alarmNames": "shop-5xx", "distributionId": None},
    "ecs_gate_only": {"ecsNative": "true", "applicationName": None, "deploymentGroupName": None,
                      "distributionId": None, "alarmNames": "shop-5xx",
                      "ecsStages": "POST_TEST_TRAFFIC_SHIFT=BeforeAllowTraffic"},
    # Asynchronous invocations with an on-failure destination and the errors alarm's topic.
    "async_destination": {"onFailureArn": f"arn:aws:sqs:{REGION}:{ACCOUNT}:hook-failures",
                          "maxEventAgeSeconds": "1800", "retryAttempts": "1",
                          "errorAlarmTopicArn": f"arn:aws:sns:{REGION}:{ACCOUNT}:ops"},
    # The runtime's and the smoke test's settings, and the log groups'.
    "settings": {"hooks": "AfterAllowTestTraffic", "testUrl": "https://test-alb.example.com:8443/health",
                 "distributionId": None, "logLevel": "debug", "reserveMs": "2000", "testRetries": "5",
                 "testTimeoutMs": "3000", "logRetentionDays": "90", "logRemoval": "destroy"},
    "invalidation_wait": {"invalidationWait": "true"},
    # Both layers in the folder: each architecture takes its own.
    "both_x86": {"distDir": "@both"},
    "both_arm64": {"distDir": "@both", "architecture": "arm64"},
    # No distDir: the default, ../../build/dist from the CDK app's directory (the current one).
    "default_dist_dir": {"distDir": None, "@cwd": "app"},
}
ECS_CASES = {n for n in CASES if n.startswith("ecs") and n != "ecs_both_off"}
BAD_CASES = [
    ({"hooks": "AfterAllowTraffic,Bogus"}, "'Bogus' is not an ECS lifecycle event"),
    ({"architecture": "riscv64"}, "expected x86_64 or arm64"),
    ({"reportResource": "group"}, "expected any, application or deploymentgroup"),
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
# Issue 15: contexts that deployed would fail (or misbehave on) every deployment, and the message.
PACKAGE_CASES = [
    # 3: a bootstrap of the other architecture: every invocation would fail to start. arm64
    # functions take layer-arm64.zip (make dist ARCH=arm64), x86_64 ones layer.zip.
    ({"architecture": "arm64"}, "{dist}/layer-arm64.zip: cannot be read (ENOENT); run `make dist ARCH=arm64` "
                                "or set -c distDir=..."),
    ({"distDir": "@custom_arm64"}, "{dist}/layer.zip: cannot be read (ENOENT); run `make dist` or set -c distDir=..."),
    ({"distDir": "@swapped", "architecture": "arm64"},
     "architecture arm64: the bootstrap in {dist}/layer-arm64.zip is x86_64 (rebuild it with `make dist ARCH=arm64`, "
     "or set -c architecture=x86_64)"),
    ({"distDir": "@swapped"}, "architecture x86_64: the bootstrap in {dist}/layer.zip is arm64 "
                              "(rebuild it with `make dist`, or set -c architecture=arm64)"),
    ({"distDir": "@not_elf"}, "architecture x86_64: the bootstrap in {dist}/layer.zip is not an ELF executable"),
    ({"distDir": "@missing"}, "{dist}/layer.zip: cannot be read (ENOENT); run `make dist` or set -c distDir=..."),
    # 5: hooks and ECS stages without a script in the package.
    ({"hooks": "BeforeInstall"}, "hooks: BeforeInstall has no script hooks/BeforeInstall.lua in {dist}/hooks-only.zip"),
    ({"ecsNative": "true", "applicationName": None, "deploymentGroupName": None, "ecsStages": "PRE_SCALE_UP"},
     "ecsStages: PRE_SCALE_UP has no script hooks/PRE_SCALE_UP.lua in {dist}/hooks-only.zip"),
]
SETTING_CASES = [
    # 4: waiting for an invalidation with a timeout shorter than the wait.
    ({"invalidationWait": "true", "timeoutSeconds": "60"},
     "invalidationWait=true: an invalidation can take up to the 10 minutes the AWS SDK's waiter polls"),
    ({"invalidationWait": "true", "timeoutSeconds": "600"}, "set -c timeoutSeconds=640 or more"),
    ({"invalidationWait": "true", "timeoutSeconds": "900", "reserveMs": "300000"},
     "lower -c reserveMs to 270000 or less with -c timeoutSeconds=900"),
    # 6: the distribution is required where a hook invalidates, and only there.
    ({"distributionId": None}, "missing context value: -c distributionId=... (hooks: AfterAllowTraffic"),
    ({"distributionId": None, "autoHandler": "true"}, "the auto handler runs AfterAllowTraffic"),
    # 2: asynchronous invocation settings.
    ({"maxEventAgeSeconds": "21600"}, "maxEventAgeSeconds 21600: 60 to 3600"),
    ({"retryAttempts": "3"}, "retryAttempts 3: 0 to 2"),
    ({"onFailureArn": "arn:aws:s3:::hook-failures"}, "onFailureArn 'arn:aws:s3:::hook-failures'"),
    ({"errorAlarmTopicArn": f"arn:aws:sqs:{REGION}:{ACCOUNT}:q"}, "errorAlarmTopicArn"),
    ({"ecsNative": "true", "applicationName": None, "deploymentGroupName": None,
      "onFailureArn": f"arn:aws:sqs:{REGION}:{ACCOUNT}:q"}, "-c onFailureArn: settings of the CodeDeploy functions"),
    # 9: timeouts that leave the script no time, credentials in the URL, repeated hooks, settings.
    ({"timeoutSeconds": "1"}, "timeoutSeconds 1: leaves the script 700 ms after the runtime's 300 ms reserve"),
    ({"timeoutSeconds": "10", "reserveMs": "8000"}, "timeoutSeconds 10: leaves the script 2000 ms"),
    ({"reserveMs": "700000"}, "reserveMs 700000: 0 to 600000"),
    ({"hooks": "AfterAllowTestTraffic", "testUrl": "http://deploy:s3cret@test-alb.example.com:8080/"},
     "testUrl: has user:password@ in it"),
    ({"hooks": "AfterAllowTraffic,AfterAllowTraffic"}, "hooks: 'AfterAllowTraffic' is named twice"),
    ({"logLevel": "verbose"}, "logLevel 'VERBOSE': one of TRACE, DEBUG, INFO, WARN, ERROR, FATAL"),
    ({"logRetentionDays": "31"}, "-c logRetentionDays=31: one of 1, 3, 5, 7, 14, 30"),
    ({"logRemoval": "keep"}, "-c logRemoval=keep: expected retain or destroy"),
    ({"testRetries": "100"}, "testRetries '100': 0 to 50"),
    ({"testTimeoutMs": "0"}, "testTimeoutMs '0': 1 to 900000 ms"),
]



ALL_BAD = BAD_CASES + PACKAGE_CASES + SETTING_CASES


@pytest.fixture(scope="session")
def synthesized(cdk_app, fake_dist, tmp_path_factory):
    """{case name: (template dict, cdk-nag findings, cloud assembly dir), or the error message
    for a refused context}. Every good case runs with -c cdkNag=true (both packs)."""
    base = {"distributionId": DIST_ID, "applicationName": APP, "deploymentGroupName": GROUP,
            "account": ACCOUNT, "region": REGION, "distDir": str(fake_dist["shipped"])}
    work = tmp_path_factory.mktemp("synth")
    cases = [(n, {**c, "cdkNag": "true"}) for n, c in CASES.items()]
    cases += [(f"bad{i}", c) for i, (c, _) in enumerate(ALL_BAD)]
    batch = []
    for name, extra in cases:
        ctx = {k: v for k, v in {**base, **extra}.items() if v is not None and not k.startswith("@")}
        if str(ctx.get("distDir", "")).startswith("@"):
            ctx["distDir"] = str(fake_dist[ctx["distDir"][1:]])
        case = {"name": name, "outdir": str(work / name), "context": ctx}
        if "@cwd" in extra:
            case["cwd"] = str(fake_dist[extra["@cwd"]])
        batch.append(case)
    (work / "cases.json").write_text(json.dumps(batch))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "CDK_"))}
    env["NODE_PATH"] = str(CDK / "node_modules")
    r = subprocess.run(["node", str(pathlib.Path(__file__).with_name("cdk_synth.js")), str(cdk_app),
                        str(work / "cases.json")], capture_output=True, text=True, env=env, timeout=600)
    assert r.returncode == 0, f"node failed:\n{r.stdout}{r.stderr}"
    out = {}
    for res in json.loads(r.stdout):
        if res["ok"]:
            out[res["name"]] = (json.loads((work / res["name"] / "HookhostHooks.template.json").read_text()),
                                res["findings"], work / res["name"])
        else:
            out[res["name"]] = res["error"]
    return out


@pytest.fixture
def template(synthesized):
    def get(name):
        t = synthesized[name]
        assert isinstance(t, tuple), f"synth of {name} failed: {t}"
        return t[0]
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
            assert res == ["*"] and set(actions) <= STAR_ONLY, f"{sid}: {actions} on {res}"
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
    # Issue 15, 1: on "*", or CloudWatch leaves composite alarms out of the gate's answer.
    assert st["AlarmGate"] == ALARM_GATE
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
    assert st["AlarmGate"] == ALARM_GATE


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


@pytest.mark.parametrize("i", range(len(ALL_BAD)))
def test_bad_context_is_refused(synthesized, fake_dist, i):
    context, message = ALL_BAD[i]
    result = synthesized[f"bad{i}"]
    assert isinstance(result, str), f"{context} should have been refused"
    dist = context.get("distDir", "@shipped")
    assert message.format(dist=fake_dist[dist[1:]]) in result


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
    """No "*" but the alarm gate's (composite alarms are returned only to a permission on "*")."""
    for sid, (actions, res) in st.items():
        assert not any("*" == r for r in res) or (sid, (actions, res)) == ("AlarmGate", ALARM_GATE), \
            f"{sid}: {actions} on {res}"


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
    assert st["AlarmGate"] == ALARM_GATE
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
    """No "*" in the ECS roles' policies but the alarm gate's: every other resource has an ARN."""
    for name in ECS_CASES:
        t = template(name)
        fid, fn, role_id, invoke_id = ecs_parts(t)
        for rid in (role_id, invoke_id):
            assert_no_star(role_statements(t, rid))


# ---- Issue 15: deployment safety, cdk-nag ----

def of_type(template, kind):
    return {k: r for k, r in template["Resources"].items() if r["Type"] == kind}


def test_async_invocation_settings_and_errors_alarm_by_default(template):
    """2: CodeDeploy waits one hour for a report; Lambda's defaults would retry a throttled event
    for six. Every CodeDeploy function has an EventInvokeConfig within the hour and an alarm on
    its Errors (a function error means a report was not delivered)."""
    for name in ("default", "every_hook_arm64", "auto", "appspec"):
        t = template(name)
        fns = of_type(t, "AWS::Lambda::Function")
        configs = resources(t, "AWS::Lambda::EventInvokeConfig")
        assert sorted(c["FunctionName"]["Ref"] for c in configs) == sorted(fns), name
        for c in configs:
            assert c["MaximumEventAgeInSeconds"] == 3600 and c["MaximumRetryAttempts"] == 2
            assert c["Qualifier"] == "$LATEST" and "DestinationConfig" not in c
        alarms = resources(t, "AWS::CloudWatch::Alarm")
        assert len(alarms) == len(fns)
        by_fn = {a["Dimensions"][0]["Value"]["Ref"]: a for a in alarms}
        assert sorted(by_fn) == sorted(fns)
        for fid, a in by_fn.items():
            assert a["AlarmName"] == fns[fid]["Properties"]["FunctionName"] + "-Errors"
            assert (a["Namespace"], a["MetricName"], a["Statistic"], a["Period"]) == ("AWS/Lambda", "Errors", "Sum", 60)
            assert a["Dimensions"][0]["Name"] == "FunctionName"
            assert a["Threshold"] == 1 and a["EvaluationPeriods"] == 1
            assert a["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
            assert a["TreatMissingData"] == "notBreaching" and "AlarmActions" not in a


def test_async_on_failure_destination(template):
    t = template("async_destination")
    (c,) = resources(t, "AWS::Lambda::EventInvokeConfig")
    queue = f"arn:aws:sqs:{REGION}:{ACCOUNT}:hook-failures"
    assert c["MaximumEventAgeInSeconds"] == 1800 and c["MaximumRetryAttempts"] == 1
    assert c["DestinationConfig"] == {"OnFailure": {"Destination": queue}}
    st = statements(t)
    assert st["OnFailureDestination"] == (["sqs:SendMessage"], [queue])
    assert_star_only_without_resource_type(st)
    (a,) = resources(t, "AWS::CloudWatch::Alarm")
    assert a["AlarmActions"] == [f"arn:aws:sns:{REGION}:{ACCOUNT}:ops"]


def test_ecs_function_has_no_async_settings(template):
    """ECS invokes its hook synchronously: no EventInvokeConfig, no destination there."""
    t = template("ecs")
    assert not resources(t, "AWS::Lambda::EventInvokeConfig")
    assert not resources(t, "AWS::CloudWatch::Alarm")


def test_permissions_follow_the_hooks_deployed(template):
    """6: CloudFront only with a hook that invalidates, and the distribution required only then."""
    t = template("gate_only")
    st = statements(t)
    assert set(st) == {"ReportHookStatus", "AlarmGate", "Logs"}
    assert "cloudfront" not in json.dumps(st)
    (fn,) = resources(t, "AWS::Lambda::Function")
    assert fn["Environment"]["Variables"] == {"ALARM_NAMES": "shop-5xx"}
    t = template("ecs_gate_only")
    fid, fn, role_id, invoke_id = ecs_parts(t)
    assert set(role_statements(t, role_id)) == {"AlarmGate", "Logs"}
    assert "DistributionId" not in fn["Environment"]["Variables"]
    # With a hook that invalidates, the grant is there (test_default_stack); the smoke test
    # alone gets neither CloudFront nor CloudWatch.
    assert set(statements(template("settings"))) == {"ReportHookStatus", "Logs"}


def test_role_description_says_what_the_report_may_reach(template):
    """7: the description no longer claims "one deployment group" for the default "*"."""
    def description(name):
        (role,) = resources(template(name), "AWS::IAM::Role")
        return role["Description"]
    assert description("default") == ('hookhost CodeDeploy hooks: report hook status (any deployment group: '
                                      'Resource "*"), invalidate E2EXAMPLE123')
    assert f"deployment group {APP}/{GROUP} only" in description("report_group")
    assert f"deployment groups of {APP})" in description("report_application")
    assert "invalidate" not in description("gate_only")
    st = statements(template("report_application"))
    assert st["ReportHookStatus"][1] == [f"arn:aws:codedeploy:{REGION}:{ACCOUNT}:deploymentgroup:{APP}/*"]


def test_stack_header_does_not_overstate():
    text = (CDK / "lib" / "hookhost-stack.ts").read_text()
    header = text[:text.index("import ")]
    assert "one deployment group" not in header and "report to one" not in text
    readme = (ROOT / "deploy" / "README.md").read_text()
    assert "would never match" not in readme
    assert "deploymentgroup:<app>/*" in readme or "deploymentgroup:<application>/*" in readme


def test_invalidation_wait_gets_a_timeout_that_fits(template):
    """4: with invalidationWait=true and no timeout given, the functions get 900 s."""
    t = template("invalidation_wait")
    (fn,) = resources(t, "AWS::Lambda::Function")
    assert fn["Timeout"] == 900 and fn["Environment"]["Variables"]["INVALIDATION_WAIT"] == "true"


def test_settings_of_the_runtime_smoke_test_and_log_groups(template):
    """9: log level, reserve, the smoke test's retries and timeout; retention and removal."""
    t = template("settings")
    (fid, fn), = of_type(t, "AWS::Lambda::Function").items()
    p = fn["Properties"]
    assert p["LoggingConfig"] == {"ApplicationLogLevel": "DEBUG", "LogFormat": "JSON",
                                  "LogGroup": {"Ref": p["LoggingConfig"]["LogGroup"]["Ref"]}}
    assert p["Environment"]["Variables"] == {
        "TEST_URL": "https://test-alb.example.com:8443/health", "TEST_RETRIES": "5", "TEST_TIMEOUT_MS": "3000",
        "HOOKHOST_RESERVE_MS": "2000"}
    (group,) = of_type(t, "AWS::Logs::LogGroup").values()
    assert group["Properties"]["RetentionInDays"] == 90
    assert group["DeletionPolicy"] == "Delete"


def test_log_groups_retained_by_default(template):
    for name in ("default", "ecs", "ecs_both"):
        groups = of_type(template(name), "AWS::Logs::LogGroup").values()
        assert groups and all(g["DeletionPolicy"] == "Retain" and g["UpdateReplacePolicy"] == "Retain"
                              for g in groups), name
        assert all(g["Properties"]["RetentionInDays"] == 30 for g in groups)


def test_default_dist_dir_is_found_from_the_app_directory(template):
    """9: run from the CDK app's directory, the default ../../build/dist is found wherever the app
    was compiled (the tests compile it to a temporary directory)."""
    t, d = template("default_dist_dir"), template("default")
    code = [r["Properties"]["Content"] for r in resources_of(t, "AWS::Lambda::LayerVersion")]
    assert code == [r["Properties"]["Content"] for r in resources_of(d, "AWS::Lambda::LayerVersion")]


def resources_of(template, kind):
    return [r for r in template["Resources"].values() if r["Type"] == kind]


def nag_report(outdir, pack):
    """Rows of cdk-nag's CSV report: {Rule ID, Resource ID, Compliance, Exception Reason, ...}."""
    found = list(outdir.glob(f"{pack}-*HookhostHooks-NagReport.csv"))
    assert len(found) == 1, f"cdk-nag wrote no {pack} report in {outdir}: did the packs run?"
    path = found[0]
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


@pytest.mark.parametrize("name", list(CASES))
def test_cdk_nag_passes_with_reasoned_suppressions(synthesized, name):
    """AwsSolutions and Serverless: no error or warning left, and every suppression has a reason
    that names what makes the rule not apply."""
    got = synthesized[name]
    assert isinstance(got, tuple), f"synth of {name} failed: {got}"
    template_, findings, outdir = got
    assert findings == [], "\n".join(f"{f['level']} {f['path']}: {f['text']}" for f in findings)
    for pack in ("AwsSolutions", "Serverless"):
        rows = nag_report(outdir, pack)
        assert rows, pack
        assert not [r for r in rows if r["Compliance"] == "Non-Compliant"]
        for r in rows:
            if r["Compliance"] == "Suppressed":
                assert len(r["Exception Reason"]) >= 60, r
    # The suppressions travel with the template (cdk-nag's metadata), each with its reason.
    for rid, res in template_["Resources"].items():
        for sup in res.get("Metadata", {}).get("cdk_nag", {}).get("rules_to_suppress", []):
            assert sup["id"] in NAG_SUPPRESSIBLE, (rid, sup["id"])
            assert len(sup["reason"]) >= 60, (rid, sup)


# The only rules the stack suppresses, each for a reason checked in the reason text above.
NAG_SUPPRESSIBLE = {"AwsSolutions-IAM5", "Serverless-LambdaDLQ", "Serverless-LambdaTracing",
                    "Serverless-LambdaAsyncFailureDestination"}


def test_nag_star_suppression_names_the_actions(template):
    """The Resource::* suppression says why for exactly the actions on "*" in that role."""
    def star_reason(t):
        for res in t["Resources"].values():
            for sup in res.get("Metadata", {}).get("cdk_nag", {}).get("rules_to_suppress", []):
                if sup.get("applies_to") == ["Resource::*"]:
                    return sup["reason"]
        return None
    assert "codedeploy:PutLifecycleEventHookExecutionStatus" in star_reason(template("default"))
    assert "DescribeAlarms" not in star_reason(template("default"))
    assert "composite alarms" in star_reason(template("every_hook_arm64"))
    assert star_reason(template("report_group")) is None
    ecs_gate = star_reason(template("ecs_gate_arm64"))
    assert "composite alarms" in ecs_gate and "codedeploy" not in ecs_gate


def test_layer_of_the_functions_architecture(synthesized, fake_dist):
    """With layer.zip and layer-arm64.zip side by side, an x86_64 stack publishes layer.zip and an
    arm64 stack layer-arm64.zip: the asset CDK staged is that file, byte for byte."""
    for name, zname, arch in (("both_x86", "layer.zip", "x86_64"), ("both_arm64", "layer-arm64.zip", "arm64")):
        got = synthesized[name]
        assert isinstance(got, tuple), f"synth of {name} failed: {got}"
        t, _, outdir = got
        (layer,) = resources(t, "AWS::Lambda::LayerVersion")
        assert layer["CompatibleArchitectures"] == [arch]
        assert all(f["Architectures"] == [arch] for f in resources(t, "AWS::Lambda::Function"))
        key = layer["Content"]["S3Key"]
        staged = outdir / f"asset.{key}"
        assert staged.is_file(), sorted(p.name for p in outdir.iterdir())
        assert staged.read_bytes() == (fake_dist["both"] / zname).read_bytes(), f"{name} staged another zip"
