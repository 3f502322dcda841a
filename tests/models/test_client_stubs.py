"""The model-driven clients under the one dry-run and stub design (docs/HOOKS.md, "Dry runs and
canned answers"): stub entries name the client ("ecs", "elbv2", "ssm") and the operation in
either spelling; an `answer` is the client's result as is, a `body` is decoded by the client's
protocol as a real answer, an `error` is nil, err; in a dry run the placeholder names the call."""
import json

from luarun import outcome

SCRIPT = """
local aws = require("hookhost.aws")
return function()
  local ecs, elb, ssm = aws.client("ecs"), aws.client("elbv2"), aws.client("ssm")
  local d = assert(ecs:describe_services{cluster = "web", services = {"api"}})
  local h = assert(elb:describe_target_health{TargetGroupArn = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/tg/abc"})
  local p, err = ssm:get_parameter{Name = "/app/missing"}
  return {status = d.services[1].status, running = d.services[1].runningCount,
          target = h.TargetHealthDescriptions[1].Target.Id,
          health = h.TargetHealthDescriptions[1].TargetHealth.State,
          got = p ~= nil, code = err and err.code, http = err and err.status}
end
"""

ELB_BODY = """<DescribeTargetHealthResponse xmlns="http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/">
  <DescribeTargetHealthResult><TargetHealthDescriptions><member>
    <Target><Id>i-0abc</Id><Port>80</Port></Target>
    <TargetHealth><State>healthy</State></TargetHealth>
  </member></TargetHealthDescriptions></DescribeTargetHealthResult>
  <ResponseMetadata><RequestId>r-1</RequestId></ResponseMetadata>
</DescribeTargetHealthResponse>"""

STUBS = [
    {"service": "ecs", "operation": "DescribeServices",
     "params": {"cluster": "web", "services": ["api"]},
     "answer": {"services": [{"serviceName": "api", "status": "ACTIVE", "runningCount": 2}],
                "failures": []}},
    {"service": "elbv2", "operation": "describe_target_health", "body": ELB_BODY},
    {"service": "ssm", "operation": "GetParameter",
     "error": {"code": "ParameterNotFound", "message": "no such parameter", "status": 400}},
]


def test_stub_entries_answer_the_clients_of_three_protocols(hookhost, write):
    script = write("s.lua", SCRIPT)
    stubs = write("stubs.json", json.dumps(STUBS))
    p = hookhost("run", "--stub", stubs, script)  # no region, no credentials: nothing is sent
    assert p.returncode == 0, p.stderr
    out = outcome(p)
    assert out["result"] == {"status": "ACTIVE", "running": 2, "target": "i-0abc",
                             "health": "healthy", "got": False, "code": "ParameterNotFound",
                             "http": 400}
    assert out.get("stubs_unused", 0) == 0


def test_a_client_call_without_a_stub_entry_raises_naming_the_client(hookhost, write):
    script = write("s.lua", SCRIPT)
    stubs = write("stubs.json", json.dumps(STUBS[:1]))
    p = hookhost("run", "--stub", stubs, script)
    assert p.returncode == 1
    assert "stub: unexpected call elbv2 DescribeTargetHealth" in p.stderr, p.stderr


def test_a_client_params_mismatch_raises(hookhost, write):
    script = write("s.lua", SCRIPT)
    wrong = [dict(STUBS[0], params={"cluster": "other"})] + STUBS[1:]
    p = hookhost("run", "--stub", write("stubs.json", json.dumps(wrong)), script)
    assert p.returncode == 1
    assert 'params.cluster is "web", expected "other"' in p.stderr, p.stderr


def test_in_a_dry_run_a_clients_placeholder_names_the_call(hookhost, write):
    script = write("s.lua", SCRIPT)
    p = hookhost("run", "--dry-run", script)
    assert p.returncode == 1
    assert ('dry run: ecs DescribeServices was not sent, so its result has no field "services"'
            in p.stderr), p.stderr


def test_hookhost_sns_publishes_through_the_client(hookhost, write):
    """hookhost.sns sends with aws.client("sns"): a stub entry gives the model-shaped answer
    and matches the model-shaped params (MessageAttributes as a map, not query fields)."""
    script = write("n.lua", """
local sns = require("hookhost.sns")
return function()
  return {id = sns.publish{topic_arn = "arn:aws:sns:eu-west-1:123456789012:t", message = "m",
                           attributes = {hook = "AfterAllowTraffic"}}}
end
""")
    entry = {"service": "sns", "operation": "Publish",
             "params": {"TopicArn": "arn:aws:sns:eu-west-1:123456789012:t", "Message": "m",
                        "MessageAttributes": {"hook": {"DataType": "String",
                                                       "StringValue": "AfterAllowTraffic"}}},
             "answer": {"MessageId": "m-9"}}
    p = hookhost("run", "--stub", write("stubs.json", json.dumps([entry])), script)
    assert p.returncode == 0, p.stderr
    assert outcome(p)["result"] == {"id": "m-9"}
