"""Settings that make every CodeDeploy report impossible are a Runtime.ConfigError at init (the
only init error: Lambda then fails the invocations at once instead of CodeDeploy waiting an
hour), the endpoint settings included."""
import json

import pytest

from runtime import OK, Runtime, assert_still_serving


@pytest.mark.parametrize("env,named", [
    ({"AWS_ENDPOINT_URL_CODEDEPLOY": "http://bad host:1"}, "AWS_ENDPOINT_URL_CODEDEPLOY"),
    ({"AWS_ENDPOINT_URL_CODEDEPLOY": "ftp://127.0.0.1:1"}, "AWS_ENDPOINT_URL_CODEDEPLOY"),
    ({"AWS_ENDPOINT_URL_CODEDEPLOY": "", "AWS_ENDPOINT_URL": "http://127.0.0.1:99999"},
     "AWS_ENDPOINT_URL"),
    ({"AWS_REGION": "", "HOME": "/nonexistent"}, "AWS_REGION"),
    # A CA bundle named but unreadable is never replaced by another trust store.
    ({"AWS_CA_BUNDLE": "/nonexistent/ca.pem"}, "AWS_CA_BUNDLE"),
])
def test_a_codedeploy_endpoint_that_cannot_resolve_is_an_init_error(hookhost_bin, tmp_path, env,
                                                                     named):
    rt = Runtime(hookhost_bin, tmp_path / "task", env=env, start=False)
    rt.hook("AfterAllowTraffic", OK)
    rt.start()
    try:
        assert rt.wait_exit(10) == 1, rt.log()
        errs = rt.emu.init_errors()
        assert len(errs) == 1 and errs[0]["error_type"] == "Runtime.ConfigError", errs
        assert named in json.loads(errs[0]["body"])["errorMessage"]
    finally:
        rt.stop()


def test_an_unreadable_ssl_cert_file_does_not_stop_the_runtime(hookhost_bin, tmp_path):
    """SSL_CERT_FILE is read by every client, the Runtime API's included: an unreadable one must
    not keep the runtime from serving (https calls fail closed on it instead; plain-HTTP calls,
    as to these emulators, are unaffected)."""
    rt = Runtime(hookhost_bin, tmp_path / "task", env={"SSL_CERT_FILE": "/nonexistent/ca.pem"}, start=False)
    rt.start()
    try:
        assert_still_serving(rt)
        assert rt.emu.init_errors() == []
    finally:
        rt.stop()


def test_error_bodies_have_lambdas_shape(hookhost_bin, tmp_path):
    """errorType is the whole type, as in the Lambda-Runtime-Function-Error-Type header, and
    stackTrace is a list (Lambda's shape), even when empty."""
    rt = Runtime(hookhost_bin, tmp_path / "task", start=False)
    rt.hook("AfterAllowTraffic", OK)
    rt.emu.inject_fault("error", "codedeploy", "PutLifecycleEventHookExecutionStatus", count=100,
                        status=400, code="AccessDeniedException", message="not allowed")
    rt.start()
    try:
        _, out = rt.invoke(rt.hook_event(), timeout=3)
        assert out["kind"] == "error" and out["error_type"] == "Runtime.ReportNotDelivered"
        b = json.loads(out["body"])
        assert b["errorType"] == "Runtime.ReportNotDelivered" and b["stackTrace"] == [], b
    finally:
        rt.stop()
    rt = Runtime(hookhost_bin, tmp_path / "task2", env={"AWS_MAX_ATTEMPTS": "many"}, start=False)
    rt.start()
    try:
        assert rt.wait_exit(10) == 1
        (err,) = rt.emu.init_errors()
        b = json.loads(err["body"])
        assert b["errorType"] == "Runtime.ConfigError" and b["stackTrace"] == [], b
    finally:
        rt.stop()
