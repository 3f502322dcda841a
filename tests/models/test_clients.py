"""aws.client(): model-driven clients end to end, as a hook script uses them: against the
emulators (CodeDeploy json, CloudFront rest-xml, CloudWatch and SNS query; every signature
verified with botocore), against a local server that records what arrives, and their
parameter validation. The wire formats themselves are proven against botocore in
test_differential.py."""
import http.server
import json
import os
import pathlib
import re
import threading

import pytest

from emulators import DEFAULT_SECRET_KEY, Emulators

BOTOCORE_DATA = pathlib.Path("/usr/lib/python3/dist-packages/botocore/data")


@pytest.fixture
def emu():
    e = Emulators.start(invalidation_seconds=0.3)
    try:
        yield e
        assert e.signature_failures == 0
    finally:
        e.stop()


@pytest.fixture
def run(run_lua):
    """run(body, event=None, env=None, args=()) -> (proc, result): body is a chunk returning
    a hook function; result is the outcome's result (or the outcome when there is none)."""

    def go(body, event=None, env=None, args=()):
        r = run_lua('local aws = require("hookhost.aws")\n' + body, *args, event=event, env=env)
        out = r.outcome
        return r.proc, out.get("result", out)

    return go


FOUR = """
return function(event)
  local out = {}
  local cd = aws.client("codedeploy")
  local d = assert(cd:get_deployment{deploymentId = event.dep})
  out.deployment = d.deploymentInfo
  out.request_id = d.ResponseMetadata.RequestId
  local _, err = cd:get_deployment{deploymentId = "d-NOPE00000"}
  out.err = {code = err.code, status = err.status, attempts = err.attempts, text = tostring(err)}
  local cf = aws.client("cloudfront")
  local inv = assert(cf:create_invalidation{DistributionId = "E2EXAMPLE123",
      InvalidationBatch = {Paths = {Quantity = 2, Items = {"/a", "/b"}}, CallerReference = "r1"}})
  out.inv = inv
  out.got = assert(cf:get_invalidation{DistributionId = "E2EXAMPLE123", Id = inv.Invalidation.Id})
  local cw = aws.client("cloudwatch")
  out.alarms = assert(cw:describe_alarms{AlarmNames = {"a1", "a2"}})
  local sns = aws.client("sns")
  out.published = assert(sns:publish{TopicArn = "arn:aws:sns:us-east-1:123456789012:t",
      Message = "hello", Subject = "s",
      MessageAttributes = {k = {DataType = "String", StringValue = "v"}}})
  return out
end
"""


def test_four_services_four_wire_formats_against_the_emulators(emu, run):
    dep = emu.seed_deployment()
    emu.seed_alarm("a1", "OK")
    emu.seed_alarm("a2", "ALARM", reason="too many 5xx")
    p, r = run(FOUR, event={"dep": dep}, env=emu.env())
    assert p.returncode == 0, p.stderr
    d = r["deployment"]
    assert d["deploymentId"] == dep and d["status"] == "InProgress"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z", d["createTime"])
    assert d["deploymentStyle"] == {"deploymentType": "BLUE_GREEN",
                                    "deploymentOption": "WITH_TRAFFIC_CONTROL"}
    assert r["request_id"]
    assert r["err"]["code"] == "DeploymentDoesNotExistException" and r["err"]["status"] == 400
    assert r["err"]["attempts"] == 1 and "DeploymentDoesNotExistException" in r["err"]["text"]
    inv = r["inv"]
    assert inv["ResponseMetadata"]["HTTPStatusCode"] == 201
    assert inv["Location"].endswith("/invalidation/" + inv["Invalidation"]["Id"])
    assert inv["Invalidation"]["InvalidationBatch"] == {
        "CallerReference": "r1", "Paths": {"Quantity": 2, "Items": ["/a", "/b"]}}
    assert r["got"]["Invalidation"]["Id"] == inv["Invalidation"]["Id"]
    (made,) = emu.invalidations("E2EXAMPLE123")
    assert made["CallerReference"] == "r1" and made["Paths"] == ["/a", "/b"]
    alarms = {a["AlarmName"]: a for a in r["alarms"]["MetricAlarms"]}
    assert alarms["a1"]["StateValue"] == "OK" and alarms["a2"]["StateValue"] == "ALARM"
    assert alarms["a2"]["StateReason"] == "too many 5xx"
    assert r["alarms"]["ResponseMetadata"]["RequestId"]
    (msg,) = emu.published()
    assert msg["Message"] == "hello" and msg["Subject"] == "s"
    assert msg["MessageId"] == r["published"]["MessageId"]
    assert msg["MessageAttributes"]["k"]["StringValue"] == "v"
    ops = [(q["service"], q["operation"]) for q in emu.requests()]
    for want in [("codedeploy", "GetDeployment"), ("cloudfront", "CreateInvalidation"),
                 ("cloudwatch", "DescribeAlarms"), ("sns", "Publish")]:
        assert want in ops, ops


class _Recorder(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        n = int(self.headers.get("Content-Length") or 0)
        self.server.seen.append({"path": self.path, "headers": dict(self.headers),
                                 "body": self.rfile.read(n).decode()})
        body = json.dumps(self.server.answer).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/x-amz-json-1.1")
        self.send_header("x-amzn-RequestId", "rid-1")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST

    def log_message(self, *a):
        pass


@pytest.fixture
def recorder():
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    srv.seen, srv.answer = [], {}
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield srv
    srv.shutdown()
    srv.server_close()


CREDS = {"AWS_ACCESS_KEY_ID": "AKIDEXAMPLE", "AWS_SECRET_ACCESS_KEY": DEFAULT_SECRET_KEY,
         "AWS_REGION": "eu-west-1", "AWS_CONFIG_FILE": "/nonexistent",
         "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent"}


def test_signed_for_the_models_signing_name_and_sent_to_the_service_id_endpoint(run, recorder):
    """ECR's endpoint prefix is api.ecr, its signing name ecr, its service id ECR; Elastic Load
    Balancing v2's endpoint variable is AWS_ENDPOINT_URL_ELASTIC_LOAD_BALANCING_V2."""
    url = f"http://127.0.0.1:{recorder.server_address[1]}"
    recorder.answer = {"repositories": [{"repositoryName": "repo", "createdAt": 1700000000.5}]}
    body = """
return function()
  local ecr = aws.client("ecr")
  local out = assert(ecr:describe_repositories{repositoryNames = {"repo"}, maxResults = 5})
  local elb = aws.client("elbv2")
  local _, err = elb:describe_target_health{TargetGroupArn = "arn:tg"}
  return {repos = out.repositories, rid = out.ResponseMetadata.RequestId, elb = tostring(err)}
end
"""
    env = dict(CREDS, AWS_ENDPOINT_URL_ECR=url, AWS_ENDPOINT_URL_ELASTIC_LOAD_BALANCING_V2=url)
    p, r = run(body, env=env)
    assert p.returncode == 0, p.stderr
    assert r["repos"] == [{"repositoryName": "repo", "createdAt": "2023-11-14T22:13:20.5Z"}]
    assert r["rid"] == "rid-1"
    ecr, elb = recorder.seen
    assert "/eu-west-1/ecr/aws4_request" in ecr["headers"]["Authorization"]
    assert ecr["headers"]["X-Amz-Target"] == "AmazonEC2ContainerRegistry_V20150921.DescribeRepositories"
    assert json.loads(ecr["body"]) == {"repositoryNames": ["repo"], "maxResults": 5}
    assert "/eu-west-1/elasticloadbalancing/aws4_request" in elb["headers"]["Authorization"]
    assert "Action=DescribeTargetHealth" in elb["body"] and "TargetGroupArn=arn%3Atg" in elb["body"]
    # the recorder answers JSON where XML is expected: an error, not a crash
    assert "SerializationError" in r["elb"]


VALIDATION = """
return function()
  local ecs = aws.client("ecs")
  local function msg(f, ...)
    local ok, e = pcall(f, ...)
    return ok and "no error" or tostring(e):gsub("^[^:]*:%d+: ", "")
  end
  local strict = aws.client("ecs", {validate = "strict"})
  local cw = aws.client("cloudwatch")
  local cws = aws.client("cloudwatch", {validate = "strict"})
  local loose = aws.client("ecs", {validate = false})
  return {
    missing = msg(ecs.describe_services, ecs, {}),
    several = msg(ecs.describe_services, ecs, {cluster = 1, services = "s", bogus = true}),
    nested = msg(ecs.run_task, ecs, {taskDefinition = "t", count = 1.5,
                                     overrides = {containerOverrides = {{environment = {{name = 7}}}}}}),
    min = msg(cw._serialize, cw, "describe_alarms", {MaxRecords = 0, AlarmNamePrefix = ""}),
    max = msg(cw._serialize, cw, "describe_alarms", {MaxRecords = 101}),
    max_strict = msg(cws._serialize, cws, "describe_alarms", {MaxRecords = 101,
                                                             AlarmNamePrefix = string.rep("x", 256)}),
    enum_default = msg(ecs._serialize, ecs, "list_tasks", {desiredStatus = "SLEEPING"}),
    enum_strict = msg(strict._serialize, strict, "list_tasks", {desiredStatus = "SLEEPING"}),
    loose = msg(loose._serialize, loose, "describe_services", {cluster = 1}),
    unknown_op = msg(function() return ecs:describe_servics{} end),
    not_table = msg(ecs.describe_services, ecs, "c"),
    dot = msg(function() return ecs.describe_services{services = {"s"}} end),
    bad_name = msg(aws.client, "../ecs"),
    bad_opt = msg(aws.client, "ecs", {region = "eu west"}),
    float_int = msg(ecs._serialize, ecs, "list_tasks", {maxResults = 5.0}),
    ts = msg(ecs._serialize, aws.client("cloudwatch"), "get_metric_statistics",
             {Namespace = "n", MetricName = "m", StartTime = "yesterday", EndTime = 0,
              Period = 60}),
  }
end
"""


def test_parameter_validation_speaks_botocore(run):
    p, r = run(VALIDATION)
    assert p.returncode == 0, p.stderr
    assert r["missing"] == 'Parameter validation failed:\nMissing required parameter in input: "services"'
    assert r["several"] == (
        "Parameter validation failed:\n"
        'Unknown parameter in input: "bogus", must be one of: cluster, include, services\n'
        "Invalid type for parameter cluster, value: 1, type: number, valid types: string\n"
        "Invalid type for parameter services, value: s, type: string, valid types: table (a sequence)")
    assert r["nested"] == (
        "Parameter validation failed:\n"
        "Invalid type for parameter count, value: 1.5, type: number, valid types: integer\n"
        "Invalid type for parameter overrides.containerOverrides[0].environment[0].name, value: 7, "
        "type: number, valid types: string")
    assert r["min"] == ("Parameter validation failed:\n"
                        "Invalid length for parameter AlarmNamePrefix, value: 0, valid min length: 1\n"
                        "Invalid value for parameter MaxRecords, value: 0, valid min value: 1")
    assert r["max"] == "no error"
    assert r["max_strict"] == (
        "Parameter validation failed:\n"
        "Invalid length for parameter AlarmNamePrefix, value: 256, valid max length: 255\n"
        "Invalid value for parameter MaxRecords, value: 101, valid max value: 100")
    assert r["enum_default"] == "no error"
    assert r["enum_strict"] == ("Parameter validation failed:\nInvalid value for parameter "
                                "desiredStatus, value: SLEEPING, valid values: RUNNING, PENDING, STOPPED")
    assert r["loose"] == "no error"
    assert r["unknown_op"].endswith("ecs has no operation describe_servics (did you mean describe_services?)")
    assert r["not_table"].endswith("ecs DescribeServices: parameters must be a table, not a string")
    assert r["dot"].endswith("call describe_services with a colon: client:describe_services{...}")
    assert "not a service name: ../ecs" in r["bad_name"]
    assert "region must be a region name" in r["bad_opt"]
    assert r["float_int"] == "no error"
    assert r["ts"].startswith("Parameter validation failed:\nInvalid timestamp for parameter "
                              "StartTime, value: yesterday, not a timestamp")


def _ops_with_names():
    names = set()
    for d in BOTOCORE_DATA.iterdir():
        if not d.is_dir():
            continue
        versions = sorted(v for v in d.iterdir() if (v / "service-2.json").exists())
        if versions:
            names.update(json.loads((versions[-1] / "service-2.json").read_text())["operations"])
    return sorted(names)


def test_snake_case_names_are_botocores_for_every_operation(run, write):
    from botocore import xform_name
    names = _ops_with_names()
    listing = write("names.json", json.dumps(names))
    body = f"""
local model = require("hookhost.aws.model")
local cjson = require("cjson")
return function()
  local f = assert(io.open({json.dumps(listing)}))
  local names = cjson.decode(f:read("a"))
  f:close()
  local out = {{}}
  for i, n in ipairs(names) do out[i] = model.xform_name(n) end
  return out
end
"""
    p, r = run(body)
    assert p.returncode == 0, p.stderr
    assert len(names) > 9000
    assert r == [xform_name(n) for n in names]


def test_idempotency_tokens_are_filled_when_left_out(run):
    body = """
local cjson = require("cjson")
return function()
  local sm = aws.client("secretsmanager")
  local a = cjson.decode(sm:_serialize("put_secret_value", {SecretId = "s"}).body)
  local b = cjson.decode(sm:_serialize("put_secret_value", {SecretId = "s", ClientRequestToken = string.rep("m", 32)}).body)
  return {a = a.ClientRequestToken, b = b.ClientRequestToken}
end
"""
    p, r = run(body)
    assert p.returncode == 0, p.stderr
    assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", r["a"])
    assert r["b"] == "m" * 32


CODEC = """
local codec = require("hookhost.aws.codec")
return function()
  local b = {}
  for n = 0, 5 do
    local s = string.sub("\\0\\255ab\\1c", 1, n)
    b[#b + 1] = codec.base64(s) .. "|" .. tostring(codec.unbase64(codec.base64(s)) == s)
  end
  return {
    b64 = b,
    bad = {codec.unbase64("a$==")},
    nopad = codec.unbase64("YWI"),
    epochs = {codec.to_epoch("2026-12-04T14:38:58Z"), codec.to_epoch("2026-12-04T16:38:58+02:00"),
              codec.to_epoch("2026-12-04T14:38:58.250Z"), codec.to_epoch("2026-12-04"),
              codec.to_epoch("1700000000"), codec.to_epoch(1.5)},
    bad_ts = {codec.to_epoch("2026-13-01T00:00:00Z")},
    iso = {codec.iso8601(1700000000), codec.iso8601(1700000000.25), codec.iso8601(0)},
    wire = {codec.wire_timestamp(1700000000.5, "iso8601"), codec.wire_timestamp(1700000000.5, "rfc822"),
            codec.wire_timestamp(1700000000.5, "unixtimestamp")},
    from = {codec.from_wire_timestamp("Tue, 14 Nov 2023 22:13:20 GMT"),
            codec.from_wire_timestamp("2023-11-14T22:13:20.000Z"), codec.from_wire_timestamp("1.7e9")},
    numbers = {codec.number(2.0), codec.number(0.1), codec.number(1e300), codec.number(7),
               codec.text(5.0, "integer"), codec.text(true), codec.text(0.5, "double")},
  }
end
"""


def test_codec_scalars(run):
    """base64, timestamps and numbers as the protocols write and read them (the differential
    tests cover them through botocore; these are the edges a random sample may miss)."""
    p, r = run(CODEC)
    assert p.returncode == 0, p.stderr
    import base64 as b64
    for n, got in enumerate(r["b64"]):
        raw = b"\x00\xffab\x01c"[:n]
        assert got == b64.b64encode(raw).decode() + "|true"
    assert r["bad"][0] is None and r["bad"][1] == "not base64" and r["nopad"] == "ab"
    import datetime
    t = datetime.datetime(2026, 12, 4, 14, 38, 58, tzinfo=datetime.timezone.utc).timestamp()
    day = datetime.datetime(2026, 12, 4, tzinfo=datetime.timezone.utc).timestamp()
    assert r["epochs"] == [t, t, t + 0.25, day, 1700000000, 1.5]
    assert r["bad_ts"][0] is None and "not a timestamp" in r["bad_ts"][1]
    assert r["iso"] == ["2023-11-14T22:13:20Z", "2023-11-14T22:13:20.25Z", "1970-01-01T00:00:00Z"]
    assert r["wire"] == ["2023-11-14T22:13:20.500000Z", "Tue, 14 Nov 2023 22:13:20 GMT", 1700000000]
    assert r["from"] == [1700000000, 1700000000, 1.7e9]
    assert r["numbers"] == ["2.0", "0.1", "1e+300", "7", "5", "true", "0.5"]


def _botocore_s3_headers(op, params):
    """The headers botocore's whole client pipeline (handlers included) sends for an S3 call."""
    import botocore.session
    from botocore.awsrequest import AWSResponse
    sess = botocore.session.get_session()
    client = sess.create_client("s3", region_name="us-east-1", aws_access_key_id="AKIDEXAMPLE",
                                aws_secret_access_key="x" * 40)
    seen = {}

    def capture(request, **kw):
        seen.update({k.lower(): v for k, v in request.headers.items()})
        return AWSResponse(request.url, 200, {}, None)

    client.meta.events.register("before-send.s3", capture)
    try:
        getattr(client, op)(**params)
    except Exception:
        pass  # the empty answer may not parse; the request was captured
    return seen


def test_s3_content_md5_where_the_model_requires_a_checksum(run):
    import base64 as b64
    import hashlib
    calls = {"delete_objects": {"Bucket": "bucket", "Delete": {"Objects": [{"Key": "k"}]}},
             "put_bucket_policy": {"Bucket": "bucket", "Policy": "{}"},
             "put_bucket_acl": {"Bucket": "bucket", "ACL": "private"},
             "get_object": {"Bucket": "bucket", "Key": "k"}}
    body = "return function()\n  local s3 = aws.client(\"s3\")\n  return {\n"
    for op, params in calls.items():
        body += f"    {op} = s3:_serialize({json.dumps(op)}, require('cjson').decode({json.dumps(json.dumps(params))})),\n"
    body += "  }\nend\n"
    p, r = run(body)
    assert p.returncode == 0, p.stderr
    for op, params in calls.items():
        want = "content-md5" in _botocore_s3_headers(op, params)
        got = r[op]["headers"].get("Content-MD5")
        assert (got is not None) == want, op
        if got:
            assert got == b64.b64encode(hashlib.md5(r[op]["body"].encode()).digest()).decode()
