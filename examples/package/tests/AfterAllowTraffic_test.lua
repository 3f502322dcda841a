-- Offline tests of hooks/AfterAllowTraffic.lua: `hookhost test --task-root examples/package`.
local t = require("hookhost.testing")

local HOOK = "hooks/AfterAllowTraffic.lua"
local TOPIC = "arn:aws:sns:eu-west-1:123456789012:deployments"
local ENV = {DistributionId = "E2EXAMPLE123", TOPIC_ARN = TOPIC}
local EVENT = {DeploymentId = "d-ABCDEFGH1", LifecycleEventHookExecutionId = "exec-1"}
local NS = "http://cloudfront.amazonaws.com/doc/2020-05-31/"

-- CloudFront answers (REST-XML): give the raw body, decoded by the library as a real answer.
local function invalidation(operation, status, http_status)
  return {service = "cloudfront", operation = operation, status = http_status or 200,
          body = string.format('<Invalidation xmlns="%s"><Id>I2J0I21PCUYOIK</Id>'
                               .. "<Status>%s</Status><CreateTime>2026-12-07T10:00:00Z</CreateTime>"
                               .. "</Invalidation>", NS, status)}
end

local PUBLISHED = {service = "sns", operation = "Publish",
                   params = {TopicArn = TOPIC, Subject = "cache invalidated on E2EXAMPLE123"},
                   body = "<PublishResponse><PublishResult><MessageId>m-1</MessageId>"
                          .. "</PublishResult></PublishResponse>"}

t.test("invalidates, waits for Completed, then notifies", function()
  local out = t.run_hook(HOOK, EVENT, {env = ENV, stubs = {
    invalidation("CreateInvalidation", "InProgress", 201),
    invalidation("GetInvalidation", "InProgress"),
    invalidation("GetInvalidation", "Completed"),
    PUBLISHED}})
  t.expect_status(out, "succeeded")
  t.eq(out.result, {invalidation = "I2J0I21PCUYOIK", notified = true})
  t.eq(out.elapsed_ms, 1000) -- polled at once, then 1 s later: no real waiting
  t.assert_stubs_used()
end)

t.test("an invalidation that does not complete in time fails the hook before its deadline", function()
  local answers = {invalidation("CreateInvalidation", "InProgress", 201)}
  for _ = 1, 20 do
    answers[#answers + 1] = invalidation("GetInvalidation", "InProgress")
  end
  local out = t.run_hook(HOOK, EVENT, {env = ENV, stubs = answers, remaining_ms = 30000})
  t.expect_status(out, "failed", "WaitTimeout: invalidation I2J0I21PCUYOIK on E2EXAMPLE123 is "
                                 .. "still InProgress")
  t.ok(out.elapsed_ms < 30000, "stopped before the hook's time ran out")
end)

t.test("a refused notification is logged and the hook still succeeds", function()
  local out = t.run_hook(HOOK, EVENT, {env = ENV, stubs = {
    invalidation("CreateInvalidation", "Completed", 201),
    invalidation("GetInvalidation", "Completed"),
    {service = "sns", operation = "Publish",
     error = {code = "AuthorizationError", message = "not allowed", status = 403}}}})
  t.expect_status(out, "succeeded")
  t.eq(out.result.notified, false)
  t.eq(out.logs[#out.logs].level, "error")
  t.ok(out.logs[#out.logs].fields.error:find("AuthorizationError: not allowed", 1, true))
end)

t.test("CloudFront refusing the invalidation fails the hook", function()
  local out = t.run_hook(HOOK, EVENT, {env = ENV, stubs = {
    {service = "cloudfront", operation = "CreateInvalidation",
     error = {code = "AccessDenied", message = "User is not authorized", status = 403}}}})
  t.expect_status(out, "failed", "^invalidation on E2EXAMPLE123 failed: AccessDenied")
end)
