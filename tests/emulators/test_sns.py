"""SNS Publish through botocore: recorded messages, attributes, errors, signatures, faults."""

import pytest
from botocore.exceptions import ClientError

from emulators.test_cloudwatch import query_client

TOPIC = "arn:aws:sns:us-east-1:123456789012:deployments"


@pytest.fixture
def sns(emu):
    return query_client(emu, "sns", emu.sns_url)


def test_publish_is_recorded(emu, sns):
    r = sns.publish(TopicArn=TOPIC, Message="deployed d-ABC", Subject="hookhost",
                    MessageAttributes={"hook": {"DataType": "String",
                                                "StringValue": "AfterAllowTraffic"}})
    (m,) = emu.published()
    assert m["MessageId"] == r["MessageId"] and m["TopicArn"] == TOPIC
    assert (m["Message"], m["Subject"]) == ("deployed d-ABC", "hookhost")
    assert m["MessageAttributes"] == {"hook": {"DataType": "String",
                                               "StringValue": "AfterAllowTraffic"}}
    assert emu.published(TOPIC) == [m] and emu.published("arn:other") == []
    assert emu.signature_failures == 0


@pytest.mark.parametrize("kw, code", [
    ({"TopicArn": "arn:aws:sns:eu-west-1:123456789012:x", "Message": "m"}, "InvalidParameter"),
    ({"TopicArn": "not-an-arn", "Message": "m"}, "InvalidParameter"),
    ({"TopicArn": TOPIC, "Message": "m", "Subject": "x" * 101}, "InvalidParameter"),
    ({"TopicArn": TOPIC, "Message": "x" * (256 * 1024 + 1)}, "InvalidParameter"),
])
def test_invalid_parameters(emu, sns, kw, code):
    with pytest.raises(ClientError) as e:
        sns.publish(**kw)
    assert e.value.response["Error"]["Code"] == code
    assert emu.published() == []


def test_missing_topic(emu, sns):
    emu.seed_topic(TOPIC, exists=False)
    with pytest.raises(ClientError) as e:
        sns.publish(TopicArn=TOPIC, Message="m")
    assert e.value.response["Error"]["Code"] == "NotFound"
    emu.seed_topic(TOPIC)
    sns.publish(TopicArn=TOPIC, Message="m")
    assert len(emu.published()) == 1


def test_bad_signature(emu):
    bad = query_client(emu, "sns", emu.sns_url, secret_key="wrong")
    with pytest.raises(ClientError) as e:
        bad.publish(TopicArn=TOPIC, Message="m")
    assert e.value.response["Error"]["Code"] == "SignatureDoesNotMatch"
    assert emu.signature_failures == 1 and emu.published() == []


def test_apply_then_fail_publishes_once_and_answers_500(emu, sns):
    emu.inject_fault("apply_then_fail", "sns", "Publish")
    with pytest.raises(ClientError) as e:
        sns.publish(TopicArn=TOPIC, Message="m")
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 500
    assert len(emu.published()) == 1
    emu.inject_fault("throttle", "sns")
    with pytest.raises(ClientError) as e:
        sns.publish(TopicArn=TOPIC, Message="m")
    assert e.value.response["Error"]["Code"] == "Throttling"


def test_unknown_action_and_version(emu):
    from emulators.clients import send, sign
    body = b"Action=Frobnicate&Version=2010-03-31"
    h = sign("POST", emu.sns_url + "/", "sns", body,
             {"Content-Type": "application/x-www-form-urlencoded"})
    status, _, resp = send(emu.sns_url + "/", "POST", body, h)
    assert status == 400 and b"InvalidAction" in resp
    body = b"Action=Publish&Version=2009-01-01"
    h = sign("POST", emu.sns_url + "/", "sns", body,
             {"Content-Type": "application/x-www-form-urlencoded"})
    status, _, resp = send(emu.sns_url + "/", "POST", body, h)
    assert status == 400 and b"InvalidParameterValue" in resp
