"""Fault injection: every kind, on the next N matching requests, and the request log."""

import http.client
import json
import time

import pytest
from botocore.exceptions import ClientError, ConnectionClosedError, ReadTimeoutError

from emulators import Emulators
from emulators.clients import client, send, sign

DIST = "E2EXAMPLE123"


def batch(ref, *paths):
    return {"CallerReference": ref, "Paths": {"Quantity": len(paths), "Items": list(paths)}}


def code_of(excinfo):
    err = excinfo.value.response
    return err["ResponseMetadata"]["HTTPStatusCode"], err["Error"]["Code"]


@pytest.mark.parametrize("kind, cf_answer, cd_answer", [
    ("http500", (500, "InternalError"), (500, "InternalFailure")),
    ("http503", (503, "ServiceUnavailable"), (503, "ServiceUnavailable")),
    ("throttle", (400, "Throttling"), (400, "ThrottlingException")),
])
def test_error_faults_answer_in_each_services_format(emu, cf, cd, kind, cf_answer, cd_answer):
    emu.inject_fault(kind, "cloudfront")
    emu.inject_fault(kind, "codedeploy")
    with pytest.raises(ClientError) as e:
        cf.list_invalidations(DistributionId=DIST)
    assert code_of(e) == cf_answer
    dep = emu.seed_deployment()
    with pytest.raises(ClientError) as e:
        cd.get_deployment(deploymentId=dep)
    assert code_of(e) == cd_answer
    # one use each: the next calls succeed
    assert cf.list_invalidations(DistributionId=DIST)["InvalidationList"]["Quantity"] == 0
    assert cd.get_deployment(deploymentId=dep)["deploymentInfo"]["deploymentId"] == dep
    assert [e["fault"] for e in emu.requests()] == [kind, kind, None, None]


def test_count_and_operation_select_the_faulted_requests(emu, cd):
    dep = emu.seed_deployment()
    ex = emu.seed_hook_execution(dep)
    emu.inject_fault("http500", "codedeploy", "PutLifecycleEventHookExecutionStatus", count=2)
    cd.get_deployment(deploymentId=dep)  # another operation: not faulted
    for _ in range(2):
        with pytest.raises(ClientError):
            cd.put_lifecycle_event_hook_execution_status(
                deploymentId=dep, lifecycleEventHookExecutionId=ex, status="Succeeded")
    cd.put_lifecycle_event_hook_execution_status(
        deploymentId=dep, lifecycleEventHookExecutionId=ex, status="Succeeded")
    assert len(emu.reports()) == 1


def test_botocore_retries_through_throttling(emu):
    """The standard retry mode treats the injected answers as retryable, as AWS's are."""
    dep = emu.seed_deployment()
    emu.inject_fault("throttle", "codedeploy", count=1)
    emu.inject_fault("http503", "codedeploy", count=1)
    r = client(emu, "codedeploy", attempts=3).get_deployment(deploymentId=dep)
    assert r["ResponseMetadata"]["RetryAttempts"] == 2


def test_error_fault_injects_any_code(emu, cf):
    emu.inject_fault("error", "cloudfront", "CreateInvalidation", status=400,
                     code="TooManyInvalidationsInProgress", message="injected")
    with pytest.raises(ClientError) as e:
        cf.create_invalidation(DistributionId=DIST, InvalidationBatch=batch("r", "/*"))
    assert code_of(e) == (400, "TooManyInvalidationsInProgress")
    assert emu.invalidations() == []
    with pytest.raises(ValueError):
        emu.inject_fault("error", "cloudfront")  # status and code are required


def test_delay_then_a_normal_answer(emu, cf):
    emu.inject_fault("delay", "cloudfront", seconds=0.4)
    start = time.monotonic()
    cf.create_invalidation(DistributionId=DIST, InvalidationBatch=batch("r", "/*"))
    assert time.monotonic() - start >= 0.4
    assert len(emu.invalidations()) == 1


def test_drop_closes_the_connection_without_an_answer(emu):
    dep = emu.seed_deployment()
    emu.inject_fault("drop", "codedeploy")
    with pytest.raises(ConnectionClosedError):
        client(emu, "codedeploy").get_deployment(deploymentId=dep)
    assert emu.requests()[-1]["status"] == "dropped"
    emu.inject_fault("drop", "rapi")
    with pytest.raises((http.client.RemoteDisconnected, ConnectionResetError)):
        send(emu.rapi_url + "/2018-06-01/runtime/invocation/next")


def test_apply_then_fail_takes_effect_and_answers_500(emu, cf, cd):
    emu.inject_fault("apply_then_fail", "cloudfront")
    with pytest.raises(ClientError) as e:
        cf.create_invalidation(DistributionId=DIST, InvalidationBatch=batch("deploy-7", "/*"))
    assert code_of(e)[0] == 500
    (created,) = emu.invalidations()
    # the idempotent retry (same CallerReference) gets the invalidation that was created
    again = cf.create_invalidation(DistributionId=DIST, InvalidationBatch=batch("deploy-7", "/*"))
    assert again["Invalidation"]["Id"] == created["Id"] and len(emu.invalidations()) == 1

    dep = emu.seed_deployment()
    ex = emu.seed_hook_execution(dep)
    emu.inject_fault("apply_then_fail", "codedeploy", "PutLifecycleEventHookExecutionStatus")
    with pytest.raises(ClientError) as e:
        cd.put_lifecycle_event_hook_execution_status(
            deploymentId=dep, lifecycleEventHookExecutionId=ex, status="Succeeded")
    assert code_of(e) == (500, "InternalFailure")
    with pytest.raises(ClientError) as e:  # the retry learns it was already done
        cd.put_lifecycle_event_hook_execution_status(
            deploymentId=dep, lifecycleEventHookExecutionId=ex, status="Succeeded")
    assert code_of(e) == (400, "LifecycleEventAlreadyCompletedException")
    assert [r["status"] for r in emu.reports()] == ["Succeeded"]


def test_hang_never_answers_and_stop_still_returns_quickly():
    emu = Emulators.start()
    try:
        emu.inject_fault("hang", "codedeploy")
        with pytest.raises(ReadTimeoutError):
            client(emu, "codedeploy", timeout=0.5).get_deployment(deploymentId="d-AAAAAAAAA")
    finally:
        start = time.monotonic()
        emu.stop()
    assert time.monotonic() - start < 3


def test_fault_on_the_runtime_api(emu):
    rid = emu.queue_event({})
    emu.inject_fault("http500", "rapi", "Response")
    c = http.client.HTTPConnection(*emu.rapi_address.split(":"), timeout=5)
    c.request("GET", "/2018-06-01/runtime/invocation/next")
    c.getresponse().read()
    c.request("POST", f"/2018-06-01/runtime/invocation/{rid}/response", b"{}")
    r = c.getresponse()
    assert (r.status, json.loads(r.read())["errorType"]) == (500, "InternalServerError")
    assert emu.wait_outcome(rid, 0.1) is None
    c.request("POST", f"/2018-06-01/runtime/invocation/{rid}/response", b"{}")
    assert c.getresponse().status == 202


def test_unknown_fault_kind_or_service_is_refused(emu):
    with pytest.raises(ValueError):
        emu.inject_fault("explode", "cloudfront")
    with pytest.raises(ValueError):
        emu.inject_fault("http500", "dynamodb")


def test_the_request_log_never_holds_secrets(tmp_path):
    log = tmp_path / "requests.jsonl"
    token = "SECRET-SESSION-TOKEN-VALUE"
    with Emulators.start(session_token=token, log_path=str(log)) as emu:
        cf = client(emu, "cloudfront", token=token)
        cf.create_invalidation(DistributionId=DIST, InvalidationBatch=batch("r", "/*"))
        url = f"{emu.cloudfront_url}/2020-05-31/distribution/{DIST}/invalidation"
        headers = sign("GET", url, "cloudfront", token=token, secret_key="wrong")
        assert send(url, headers=headers)[0] == 403
        signature = headers["Authorization"].split("Signature=")[1]
        entries = emu.requests()
    text = log.read_text()
    assert [json.loads(line) for line in text.splitlines()] == entries
    assert [(e["operation"], e["status"], e["signature"]) for e in entries] == \
        [("CreateInvalidation", 201, "ok"), ("ListInvalidations", 403, "mismatch")]
    assert set(entries[0]) >= {"time", "service", "operation", "method", "path", "status",
                               "signature", "fault"}
    for secret in (token, signature, "wJalrXUtnFEMI", "AWS4-HMAC-SHA256"):
        assert secret not in text


def test_an_emulator_bug_answers_500_instead_of_hanging_up(emu, cf, monkeypatch):
    monkeypatch.setattr(emu.cloudfront, "handle", lambda req, op: 1 / 0)
    with pytest.raises(ClientError) as e:
        cf.list_invalidations(DistributionId=DIST)
    assert code_of(e) == (500, "InternalFailure")
