"""The CodeDeploy emulator, driven by botocore (and raw signed JSON 1.1 for odd input)."""

import json
import time

import pytest
from botocore.exceptions import ClientError

from emulators.clients import codedeploy_raw, send

CORAL = ":http://internal.amazon.com/coral/com.amazonaws.codedeploy/"


def code_of(excinfo):
    err = excinfo.value.response
    return err["ResponseMetadata"]["HTTPStatusCode"], err["Error"]["Code"]


def put(cd, dep, ex, status="Succeeded"):
    return cd.put_lifecycle_event_hook_execution_status(
        deploymentId=dep, lifecycleEventHookExecutionId=ex, status=status)


def test_report_is_accepted_once_then_already_completed(emu, cd):
    dep = emu.seed_deployment()
    ex = emu.seed_hook_execution(dep, "AfterAllowTraffic")
    before = time.time()
    assert put(cd, dep, ex)["lifecycleEventHookExecutionId"] == ex
    with pytest.raises(ClientError) as e:
        put(cd, dep, ex, "Failed")
    assert code_of(e) == (400, "LifecycleEventAlreadyCompletedException")
    (report,) = emu.reports(dep)
    assert (report["execution_id"], report["status"], report["lifecycle_event"]) == \
        (ex, "Succeeded", "AfterAllowTraffic")
    assert before <= report["time"] <= time.time()
    assert [a["result"] for a in emu.report_attempts()] == \
        ["accepted", "LifecycleEventAlreadyCompletedException"]
    assert cd.get_deployment(deploymentId=dep)["deploymentInfo"]["status"] == "Succeeded"


def test_failed_report_fails_the_deployment(emu, cd):
    dep = emu.seed_deployment()
    ex = emu.seed_hook_execution(dep, "BeforeAllowTraffic")
    put(cd, dep, ex, "Failed")
    assert cd.get_deployment(deploymentId=dep)["deploymentInfo"]["status"] == "Failed"
    assert [r["status"] for r in emu.reports()] == ["Failed"]


@pytest.mark.parametrize("case, code", [
    ("unknown deployment", "DeploymentDoesNotExistException"),
    ("malformed deployment", "InvalidDeploymentIdException"),
    ("unknown execution", "InvalidLifecycleEventHookExecutionIdException"),
    ("execution of another deployment", "InvalidLifecycleEventHookExecutionIdException"),
    ("bad status", "InvalidLifecycleEventHookExecutionStatusException"),
])
def test_report_errors(emu, cd, case, code):
    dep = emu.seed_deployment()
    ex = emu.seed_hook_execution(dep)
    other = emu.seed_hook_execution(emu.seed_deployment())
    args = {"unknown deployment": ("d-NOSUCH123", ex, "Succeeded"),
            "malformed deployment": ("not-an-id", ex, "Succeeded"),
            "unknown execution": (dep, "bogus", "Succeeded"),
            "execution of another deployment": (dep, other, "Succeeded"),
            "bad status": (dep, ex, "Skipped")}[case]
    with pytest.raises(ClientError) as e:
        put(cd, *args)
    assert code_of(e) == (400, code)
    assert emu.reports() == []


def test_get_deployment_and_ecs_targets_show_the_running_hook(emu, cd):
    dep = emu.seed_deployment(application="app", group="dg", target_id="cl:svc")
    emu.seed_hook_execution(dep, "AfterAllowTraffic")
    info = cd.get_deployment(deploymentId=dep)["deploymentInfo"]
    assert (info["deploymentId"], info["applicationName"], info["deploymentGroupName"],
            info["status"], info["computePlatform"]) == (dep, "app", "dg", "InProgress", "ECS")
    assert cd.list_deployment_targets(deploymentId=dep)["targetIds"] == ["cl:svc"]
    target = cd.get_deployment_target(deploymentId=dep, targetId="cl:svc")["deploymentTarget"]
    assert target["deploymentTargetType"] == "ECSTarget"
    events = {e["lifecycleEventName"]: e["status"] for e in target["ecsTarget"]["lifecycleEvents"]}
    assert events["AfterAllowTraffic"] == "InProgress" and events["BeforeInstall"] == "Succeeded"
    assert target["ecsTarget"]["status"] == "InProgress"
    (batch,) = cd.batch_get_deployment_targets(deploymentId=dep, targetIds=["cl:svc"])["deploymentTargets"]
    assert batch == target | {"ecsTarget": target["ecsTarget"] | {"lastUpdatedAt": batch["ecsTarget"]["lastUpdatedAt"]}}
    with pytest.raises(ClientError) as e:
        cd.get_deployment_target(deploymentId=dep, targetId="cl:other")
    assert code_of(e) == (400, "DeploymentTargetDoesNotExistException")
    with pytest.raises(ClientError) as e:
        cd.get_deployment(deploymentId="d-NOSUCH123")
    assert code_of(e) == (400, "DeploymentDoesNotExistException")


@pytest.mark.parametrize("op, body, code", [
    ("GetDeployment", b"{}", "DeploymentIdRequiredException"),
    ("GetDeployment", b"[not json", "SerializationException"),
    ("DeleteEverything", b"{}", "UnknownOperationException"),
])
def test_errors_have_the_json_1_1_shape(emu, op, body, code):
    status, headers, raw = codedeploy_raw(emu, op, body)
    assert status == 400
    assert headers["X-Amzn-ErrorType"] == code + CORAL
    assert headers["Content-Type"] == "application/x-amz-json-1.1"
    doc = json.loads(raw)
    assert doc["__type"] == code and doc["message"]


def test_target_errors(emu):
    dep = emu.seed_deployment()
    for op, args, code in [
            ("GetDeploymentTarget", {"deploymentId": dep}, "DeploymentTargetIdRequiredException"),
            ("BatchGetDeploymentTargets", {"deploymentId": dep, "targetIds": ["t"] * 26},
             "DeploymentTargetListSizeExceededException")]:
        status, headers, raw = codedeploy_raw(emu, op, json.dumps(args).encode())
        assert (status, json.loads(raw)["__type"]) == (400, code)


def test_incomplete_signature(emu):
    status, headers, raw = codedeploy_raw(emu, "GetDeployment", b"{}")
    assert status == 400  # a good signature: DeploymentIdRequiredException
    status, headers, raw = send(emu.codedeploy_url + "/", "POST", b"{}", {
        "X-Amz-Target": "CodeDeploy_20141006.GetDeployment",
        "Authorization": "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20260101/us-east-1/codedeploy, "
                         "SignedHeaders=host, Signature=" + "0" * 64})
    assert (status, json.loads(raw)["__type"]) == (400, "IncompleteSignatureException")
    assert headers["X-Amzn-ErrorType"] == "IncompleteSignatureException" + CORAL
    assert emu.signature_failures == 1
