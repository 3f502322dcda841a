"""The Lambda Runtime API emulator, driven with raw http.client as a custom runtime would."""

import http.client
import json
import threading
import time

from emulators.rapi import DEFAULT_ARN

PREFIX = "/2018-06-01/runtime"


def conn(emu, timeout=5):
    host, port = emu.rapi_address.split(":")
    return http.client.HTTPConnection(host, int(port), timeout=timeout)


def call(c, method, path, body=None, headers=None):
    c.request(method, PREFIX + path, body=body, headers=headers or {})
    r = c.getresponse()
    return r.status, r.headers, r.read()


def test_next_blocks_until_an_event_is_queued_and_carries_the_headers(emu):
    c = conn(emu)
    got = {}
    t = threading.Thread(target=lambda: got.update(r=call(c, "GET", "/invocation/next")))
    t.start()
    time.sleep(0.3)
    assert t.is_alive(), "next must block while the queue is empty"
    assert emu.first_next_time is not None
    before = time.time()
    rid = emu.queue_event({"DeploymentId": "d-ABCDEFGHI"}, timeout=12.5)
    t.join(5)
    status, headers, body = got["r"]
    assert status == 200
    assert json.loads(body) == {"DeploymentId": "d-ABCDEFGHI"}
    assert headers["Lambda-Runtime-Aws-Request-Id"] == rid
    assert headers["Lambda-Runtime-Invoked-Function-Arn"] == DEFAULT_ARN
    assert headers["Lambda-Runtime-Trace-Id"].startswith("Root=1-")
    deadline = int(headers["Lambda-Runtime-Deadline-Ms"])
    assert before * 1000 + 12_400 <= deadline <= time.time() * 1000 + 12_600


def test_response_is_accepted_once_then_invalid_state_transition(emu):
    rid = emu.queue_event("raw event")
    c = conn(emu)
    assert call(c, "GET", "/invocation/next")[2] == b"raw event"
    status, _, body = call(c, "POST", f"/invocation/{rid}/response", b'{"ok":true}')
    assert (status, json.loads(body)) == (202, {"status": "OK"})
    status, _, body = call(c, "POST", f"/invocation/{rid}/response", b"again")  # same connection
    assert status == 403 and json.loads(body)["errorType"] == "InvalidStateTransition"
    status, _, body = call(c, "POST", f"/invocation/{rid}/error", b"{}")
    assert status == 403 and json.loads(body)["errorType"] == "InvalidStateTransition"
    out = emu.wait_outcome(rid, 1)
    assert out["kind"] == "response" and out["body"] == '{"ok":true}' and out["before_deadline"]
    assert len(emu.outcomes(rid)) == 1


def test_error_records_the_error_type_header(emu):
    rid = emu.queue_event({})
    c = conn(emu)
    call(c, "GET", "/invocation/next")
    err = json.dumps({"errorMessage": "boom", "errorType": "Runtime.Crash", "stackTrace": []})
    status, _, _ = call(c, "POST", f"/invocation/{rid}/error", err,
                        {"Lambda-Runtime-Function-Error-Type": "Runtime.Crash"})
    assert status == 202
    out = emu.wait_outcome(rid, 1)
    assert (out["kind"], out["error_type"], json.loads(out["body"])["errorMessage"]) == \
        ("error", "Runtime.Crash", "boom")


def test_unknown_or_undelivered_request_id_is_invalid_request_id(emu):
    queued = emu.queue_event({})  # queued but not yet delivered by next
    c = conn(emu)
    for rid in ("no-such-id", queued):
        status, _, body = call(c, "POST", f"/invocation/{rid}/response", b"{}")
        assert status == 400
        assert json.loads(body) == {"errorMessage": "Invalid request ID", "errorType": "InvalidRequestID"}


def test_answer_after_the_deadline_is_recorded_as_late(emu):
    rid = emu.queue_event({}, timeout=0.2)
    c = conn(emu)
    call(c, "GET", "/invocation/next")
    time.sleep(0.3)
    assert call(c, "POST", f"/invocation/{rid}/response", b"{}")[0] == 202
    assert emu.wait_outcome(rid, 1)["before_deadline"] is False


def test_same_request_id_twice_is_a_redelivery_with_its_own_deadline(emu):
    emu.queue_event({"n": 1}, request_id="rid-1", timeout=5)
    emu.queue_event({"n": 1}, request_id="rid-1", timeout=7)
    c = conn(emu)
    deadlines = []
    for _ in range(2):
        status, headers, _ = call(c, "GET", "/invocation/next")
        assert headers["Lambda-Runtime-Aws-Request-Id"] == "rid-1"
        deadlines.append(int(headers["Lambda-Runtime-Deadline-Ms"]))
        assert call(c, "POST", "/invocation/rid-1/response", b"{}")[0] == 202
    assert deadlines[1] - deadlines[0] >= 1900
    assert [o["outcome"]["kind"] for o in emu.outcomes("rid-1")] == ["response", "response"]


def test_init_error_is_recorded(emu):
    c = conn(emu)
    status, _, body = call(c, "POST", "/init/error", b'{"errorMessage":"no lua"}',
                           {"Lambda-Runtime-Function-Error-Type": "Runtime.InitError"})
    assert (status, json.loads(body)) == (202, {"status": "OK"})
    (err,) = emu.init_errors()
    assert err["error_type"] == "Runtime.InitError" and "no lua" in err["body"]
    assert emu.first_next_time is None


def test_unknown_route_is_404(emu):
    assert call(conn(emu), "GET", "/nothing")[0] == 404


def test_stop_releases_a_runtime_blocked_in_next(emu):
    c = conn(emu, timeout=10)
    errors = []

    def blocked():
        try:
            call(c, "GET", "/invocation/next")
        except (http.client.HTTPException, OSError) as e:
            errors.append(e)

    t = threading.Thread(target=blocked)
    t.start()
    time.sleep(0.2)
    start = time.monotonic()
    emu.stop()
    t.join(5)
    assert not t.is_alive() and errors
    assert time.monotonic() - start < 3


def test_throttled_runtime_api_answers_429(emu):
    emu.inject_fault("throttle", "rapi", "Next")
    status, _, body = call(conn(emu), "GET", "/invocation/next")
    assert (status, json.loads(body)["errorType"]) == (429, "TooManyRequestsException")
