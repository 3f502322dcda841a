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


CF_INVALIDATE = """
local cloudfront = require("hookhost.cloudfront")
return function()
  local inv = assert(cloudfront.invalidate{distribution = "E2EXAMPLE123", paths = {"/*"},
                                           caller_reference = "r1", wait = {interval_ms = 10}})
  return {id = inv.id, status = inv.status, location = inv.location, paths = inv.paths,
          ref = inv.caller_reference, created = inv.create_time}
end
"""


def _cf_invalidation(status):
    return {"Id": "I2J0I21PCUYOIK", "Status": status, "CreateTime": "2026-12-04T14:38:58.123Z",
            "InvalidationBatch": {"Paths": {"Quantity": 1, "Items": ["/*"]},
                                  "CallerReference": "r1"}}


def test_hookhost_cloudfront_invalidates_through_the_client(hookhost, write):
    """hookhost.cloudfront calls aws.client("cloudfront"): stub entries name the operations as
    the API does (CreateInvalidation, not the model's CreateInvalidation2020_05_31), match the
    model-shaped params, and answer with the model's shape ({Location, Invalidation})."""
    stubs = [
        {"service": "cloudfront", "operation": "CreateInvalidation",
         "params": {"DistributionId": "E2EXAMPLE123",
                    "InvalidationBatch": {"CallerReference": "r1",
                                          "Paths": {"Quantity": 1, "Items": ["/*"]}}},
         "answer": {"Location": "https://cloudfront.amazonaws.com/2020-05-31/distribution/"
                                "E2EXAMPLE123/invalidation/I2J0I21PCUYOIK",
                    "Invalidation": _cf_invalidation("InProgress")}},
        {"service": "cloudfront", "operation": "get_invalidation",
         "params": {"DistributionId": "E2EXAMPLE123", "Id": "I2J0I21PCUYOIK"},
         "answer": {"Invalidation": _cf_invalidation("Completed")}},
    ]
    p = hookhost("run", "--stub", write("stubs.json", json.dumps(stubs)),
                 write("cf.lua", CF_INVALIDATE))
    assert p.returncode == 0, p.stderr
    assert outcome(p)["result"] == {
        "id": "I2J0I21PCUYOIK", "status": "Completed", "paths": ["/*"], "ref": "r1",
        "created": "2026-12-04T14:38:58.123Z",
        "location": "https://cloudfront.amazonaws.com/2020-05-31/distribution/E2EXAMPLE123/"
                    "invalidation/I2J0I21PCUYOIK"}


def test_hookhost_cloudfront_body_stub_and_dry_run_name_the_api_operation(hookhost, write):
    """A raw XML `body` answer is decoded by the client (Location from the answer's header), and
    a dry run names the call CreateInvalidation, as the API reference does."""
    ns = "http://cloudfront.amazonaws.com/doc/2020-05-31/"

    def body(status):
        return (f'<Invalidation xmlns="{ns}"><Id>I2J0I21PCUYOIK</Id><Status>{status}</Status>'
                "<CreateTime>2026-12-04T14:38:58.123Z</CreateTime><InvalidationBatch><Paths>"
                "<Quantity>1</Quantity><Items><Path>/*</Path></Items></Paths>"
                "<CallerReference>r1</CallerReference></InvalidationBatch></Invalidation>")
    stubs = [
        {"service": "cloudfront", "operation": "CreateInvalidation", "status": 201,
         "headers": {"Location": "https://example.com/I2J0I21PCUYOIK"}, "body": body("InProgress")},
        {"service": "cloudfront", "operation": "GetInvalidation", "body": body("Completed")},
    ]
    script = write("cf.lua", CF_INVALIDATE)
    p = hookhost("run", "--stub", write("stubs.json", json.dumps(stubs)), script)
    assert p.returncode == 0, p.stderr
    r = outcome(p)["result"]
    assert r["status"] == "Completed" and r["location"] == "https://example.com/I2J0I21PCUYOIK"
    assert r["paths"] == ["/*"] and r["ref"] == "r1"
    p = hookhost("run", "--dry-run", script, env={"HOME": "/nonexistent"})
    assert p.returncode == 0, p.stderr
    assert "dry run: not sent: CloudFront CreateInvalidation POST https://cloudfront." in p.stderr
    assert outcome(p)["result"]["id"] == "dry-run"


def test_a_cloudfront_client_follows_its_paginators(hookhost, write):
    """CloudFront's operations are found under their API names (ListInvalidations), so its
    paginators apply (the model's versioned names, ListInvalidations2020_05_31, hid them)."""
    page = {"InvalidationList": {"Marker": "", "MaxItems": 1, "Quantity": 1, "IsTruncated": True,
                                 "NextMarker": "m2", "Items": [{"Id": "I1"}]}}
    last = {"InvalidationList": {"Marker": "m2", "MaxItems": 1, "Quantity": 1,
                                 "IsTruncated": False, "Items": [{"Id": "I2"}]}}
    stubs = [
        {"service": "cloudfront", "operation": "ListInvalidations",
         "params": {"DistributionId": "E1"}, "answer": page},
        {"service": "cloudfront", "operation": "ListInvalidations",
         "params": {"DistributionId": "E1", "Marker": "m2"}, "answer": last},
    ]
    script = write("pages.lua", """
local aws = require("hookhost.aws")
return function()
  local ids = {}
  for page in aws.client("cloudfront"):paginate("list_invalidations", {DistributionId = "E1"}) do
    for _, i in ipairs(page.InvalidationList.Items) do ids[#ids + 1] = i.Id end
  end
  return {ids = ids}
end
""")
    p = hookhost("run", "--stub", write("stubs.json", json.dumps(stubs)), script)
    assert p.returncode == 0, p.stderr
    assert outcome(p)["result"] == {"ids": ["I1", "I2"]}


CD_SCRIPT = """
local codedeploy = require("hookhost.codedeploy")
return function()
  local d = assert(codedeploy.get_deployment("d-ABCDEFGH1"))
  local ids, err = codedeploy.list_deployment_targets("d-ABCDEFGH1")
  local put = codedeploy.put_status("d-ABCDEFGH1", "e-1", "Succeeded")
  local again, perr = codedeploy.put_status("d-ABCDEFGH1", "e-1", "Failed")
  return {app = d.applicationName, created = d.createTime, ids = ids,
          code = err and err.code, message = err and err.message, put = put,
          again = again, perr = perr and {code = perr.code, status = perr.status}}
end
"""


def test_hookhost_codedeploy_calls_through_the_client(hookhost, write):
    """hookhost.codedeploy calls aws.client("codedeploy"): a raw JSON `body` is decoded by the
    model (timestamps as ISO 8601 text, not epoch numbers), params match the model's shape, and
    ListDeploymentTargets is followed by the model's paginator, which stops on a repeated
    nextToken with a PaginationError instead of asking 100 times."""
    page = {"targetIds": ["c:s"], "nextToken": "same"}
    stubs = [
        {"service": "codedeploy", "operation": "GetDeployment",
         "params": {"deploymentId": "d-ABCDEFGH1"},
         "body": json.dumps({"deploymentInfo": {"applicationName": "app",
                                                "createTime": 1796400000.25}})},
        {"service": "codedeploy", "operation": "ListDeploymentTargets",
         "params": {"deploymentId": "d-ABCDEFGH1"}, "answer": page},
        {"service": "codedeploy", "operation": "ListDeploymentTargets",
         "params": {"deploymentId": "d-ABCDEFGH1", "nextToken": "same"}, "answer": page},
        {"service": "codedeploy", "operation": "PutLifecycleEventHookExecutionStatus",
         "params": {"deploymentId": "d-ABCDEFGH1", "lifecycleEventHookExecutionId": "e-1",
                    "status": "Succeeded"},
         "answer": {"lifecycleEventHookExecutionId": "e-1"}},
        {"service": "codedeploy", "operation": "put_lifecycle_event_hook_execution_status",
         "error": {"code": "LifecycleEventAlreadyCompletedException", "message": "done",
                   "status": 400}},
    ]
    p = hookhost("run", "--stub", write("stubs.json", json.dumps(stubs)), write("cd.lua", CD_SCRIPT))
    assert p.returncode == 0, p.stderr
    r = outcome(p)["result"]
    assert r["app"] == "app" and r["created"] == "2026-12-04T16:00:00.25Z", r
    assert r.get("ids") is None and r["code"] == "PaginationError", r
    assert "the same next token was received twice" in r["message"]
    assert r["put"] is True and r.get("again") is None
    assert r["perr"] == {"code": "LifecycleEventAlreadyCompletedException", "status": 400}


CW_GATE = """
local cloudwatch = require("hookhost.cloudwatch")
return function()
  local ok, why, alarms = cloudwatch.check_alarms{names = {"api-5xx", "api-latency"}, prefix = "web-"}
  local seen = {}
  for i, a in ipairs(alarms) do seen[i] = {a.name, a.state, a.composite, a.updated} end
  return {ok = ok, why = why, seen = seen}
end
"""


def test_hookhost_cloudwatch_gate_decides_from_model_shaped_answers(hookhost, write):
    """hookhost.cloudwatch calls aws.client("cloudwatch"): a DescribeAlarms `answer` is the
    model's shape ({MetricAlarms, CompositeAlarms, NextToken}), stub entries may name the service
    "monitoring" or "cloudwatch", and the paginator follows NextToken (params matched)."""
    stubs = [
        {"service": "monitoring", "operation": "DescribeAlarms",
         "params": {"AlarmNames": ["api-5xx", "api-latency"],
                    "AlarmTypes": ["CompositeAlarm", "MetricAlarm"], "MaxRecords": 100},
         "answer": {"MetricAlarms": [
             {"AlarmName": "api-5xx", "StateValue": "ALARM", "StateReason": "Threshold Crossed",
              "StateUpdatedTimestamp": "2026-12-04T10:00:00Z"},
             {"AlarmName": "api-latency", "StateValue": "OK"}]}},
        {"service": "cloudwatch", "operation": "describe_alarms",
         "params": {"AlarmNamePrefix": "web-"},
         "answer": {"MetricAlarms": [{"AlarmName": "web-1", "StateValue": "OK"}],
                    "CompositeAlarms": [], "NextToken": "t2"}},
        {"service": "cloudwatch", "operation": "DescribeAlarms",
         "params": {"AlarmNamePrefix": "web-", "NextToken": "t2"},
         "answer": {"CompositeAlarms": [{"AlarmName": "web-health", "StateValue": "OK"}]}},
    ]
    p = hookhost("run", "--stub", write("stubs.json", json.dumps(stubs)), write("gate.lua", CW_GATE))
    assert p.returncode == 0, p.stderr
    r = outcome(p)["result"]
    assert r["ok"] is False and r["why"] == "1 alarm in ALARM: api-5xx (ALARM: Threshold Crossed)"
    assert r["seen"] == [["api-5xx", "ALARM", False, "2026-12-04T10:00:00Z"],
                         ["api-latency", "OK", False], ["web-1", "OK", False],
                         ["web-health", "OK", True]]
