"""CloudWatch DescribeAlarms through botocore: filters, pagination, signatures, faults."""

import botocore.session
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from emulators import DEFAULT_ACCESS_KEY, DEFAULT_SECRET_KEY


def query_client(emu, service, url, secret_key=DEFAULT_SECRET_KEY, region="us-east-1"):
    """A botocore client for a query-protocol emulator (cloudwatch or sns), retries off."""
    return botocore.session.get_session().create_client(
        service, endpoint_url=url, region_name=region, aws_access_key_id=DEFAULT_ACCESS_KEY,
        aws_secret_access_key=secret_key,
        config=Config(retries={"total_max_attempts": 1, "mode": "standard"}))


@pytest.fixture
def cw(emu):
    return query_client(emu, "cloudwatch", emu.cloudwatch_url)


def names(resp):
    return [a["AlarmName"] for a in resp["MetricAlarms"]]


def test_env_points_sdks_at_the_emulator(emu):
    env = emu.env()
    assert env["AWS_ENDPOINT_URL_CLOUDWATCH"] == emu.cloudwatch_url
    assert env["AWS_ENDPOINT_URL_SNS"] == emu.sns_url
    assert emu.info()["ports"]["cloudwatch"] and emu.info()["ports"]["sns"]


def test_describe_by_names_prefix_and_state(emu, cw):
    emu.seed_alarm("api-5xx", "ALARM", reason="Threshold Crossed: 12 > 5")
    emu.seed_alarm("api-latency", "OK")
    emu.seed_alarm("db-cpu", "INSUFFICIENT_DATA")
    assert names(cw.describe_alarms()) == ["api-5xx", "api-latency", "db-cpu"]
    assert names(cw.describe_alarms(AlarmNames=["db-cpu", "api-5xx", "nope"])) == ["api-5xx", "db-cpu"]
    assert names(cw.describe_alarms(AlarmNamePrefix="api-")) == ["api-5xx", "api-latency"]
    r = cw.describe_alarms(StateValue="ALARM")
    assert names(r) == ["api-5xx"]
    assert r["MetricAlarms"][0]["StateReason"] == "Threshold Crossed: 12 > 5"
    assert r["MetricAlarms"][0]["AlarmArn"].endswith(":alarm:api-5xx")


def test_composite_alarms_only_when_asked(emu, cw):
    emu.seed_alarm("metric", "OK")
    emu.seed_alarm("service-health", "ALARM", composite=True)
    r = cw.describe_alarms()
    assert names(r) == ["metric"] and r.get("CompositeAlarms", []) == []
    r = cw.describe_alarms(AlarmTypes=["CompositeAlarm", "MetricAlarm"])
    assert names(r) == ["metric"]
    assert [a["AlarmName"] for a in r["CompositeAlarms"]] == ["service-health"]


def test_pagination_with_next_token(emu, cw):
    for i in range(7):
        emu.seed_alarm(f"a{i}", "OK")
    seen, token, pages = [], None, 0
    while True:
        kw = {"MaxRecords": 3} | ({"NextToken": token} if token else {})
        r = cw.describe_alarms(**kw)
        seen += names(r)
        pages += 1
        token = r.get("NextToken")
        if not token:
            break
    assert seen == [f"a{i}" for i in range(7)] and pages == 3
    assert emu.signature_failures == 0


def test_validation_errors(emu, cw):
    with pytest.raises(ClientError) as e:
        cw.describe_alarms(AlarmNames=["x"], AlarmNamePrefix="y")
    assert e.value.response["Error"]["Code"] == "InvalidParameterCombination"
    with pytest.raises(ClientError) as e:
        cw.describe_alarms(NextToken="garbage")
    assert e.value.response["Error"]["Code"] == "InvalidNextToken"
    with pytest.raises(ValueError):
        emu.seed_alarm("x", "RED")


def test_bad_signature_is_refused_and_counted(emu):
    bad = query_client(emu, "cloudwatch", emu.cloudwatch_url, secret_key="wrong")
    with pytest.raises(ClientError) as e:
        bad.describe_alarms()
    assert e.value.response["Error"]["Code"] == "SignatureDoesNotMatch"
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert emu.signature_failures == 1
    assert emu.requests("cloudwatch")[-1]["signature"] == "mismatch"


def test_region_must_match(emu):
    other = query_client(emu, "cloudwatch", emu.cloudwatch_url, region="eu-west-1")
    with pytest.raises(ClientError) as e:
        other.describe_alarms()
    assert e.value.response["Error"]["Code"] == "SignatureDoesNotMatch"


@pytest.mark.parametrize("kind, status, code", [
    ("http500", 500, "InternalFailure"), ("http503", 503, "ServiceUnavailable"),
    ("throttle", 400, "Throttling"),
])
def test_faults(emu, cw, kind, status, code):
    emu.inject_fault(kind, "cloudwatch", "DescribeAlarms")
    with pytest.raises(ClientError) as e:
        cw.describe_alarms()
    assert (e.value.response["ResponseMetadata"]["HTTPStatusCode"],
            e.value.response["Error"]["Code"]) == (status, code)
    cw.describe_alarms()  # one use only
    assert [r["fault"] for r in emu.requests("cloudwatch")] == [kind, None]
    assert [r["operation"] for r in emu.requests("cloudwatch")] == ["DescribeAlarms"] * 2
