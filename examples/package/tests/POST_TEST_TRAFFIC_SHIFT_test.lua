-- Offline tests of hooks/POST_TEST_TRAFFIC_SHIFT.lua: `hookhost test --task-root examples/package`.
local t = require("hookhost.testing")

local HOOK = "hooks/POST_TEST_TRAFFIC_SHIFT.lua"
local URL = "http://alb.example.com:8080/health"
local ENV = {HEALTH_URL = URL, BAKE_DELAY = "30"}

-- What ECS sends: the deployment, the stage, and (from the second call on) the hookDetails the
-- hook returned with IN_PROGRESS.
local function ecs_event(details)
  return {executionDetails = {
            serviceArn = "arn:aws:ecs:us-east-1:123456789012:service/shop-cluster/shop",
            targetServiceRevisionArn = "arn:aws:ecs:us-east-1:123456789012:service-revision/"
                                       .. "shop-cluster/shop/4980306466373577095"},
          lifecycleStage = "POST_TEST_TRAFFIC_SHIFT", hookDetails = details}
end

t.test("three healthy checks: IN_PROGRESS twice, then SUCCEEDED", function()
  local details
  local statuses = {}
  for _ = 1, 3 do
    t.http{url = URL, status = 200}
    local out = t.run_hook(HOOK, ecs_event(details), {env = ENV})
    statuses[#statuses + 1] = out.status
    if out.in_progress then
      t.eq(out.in_progress.delay, 30)
      details = out.in_progress.details -- what ECS would send back on its next call
    end
  end
  t.eq(statuses, {"in_progress", "in_progress", "succeeded"})
  t.eq(details, {healthy_checks = 2})
end)

t.test("an unhealthy check fails the stage", function()
  local out = t.run_hook(HOOK, ecs_event({healthy_checks = 1}), {env = ENV, http = {
    {url = URL, status = 500}, {url = URL, status = 500}}})
  t.expect_status(out, "failed", "^unhealthy after 1 good checks: GET " .. URL:gsub("%p", "%%%0")
                                 .. " answered 500")
end)

t.test("ctx.in_progress outside an ECS deployment is a clear error", function()
  local out = t.run_hook(HOOK, {DeploymentId = "d-ABCDEFGH1", LifecycleEventHookExecutionId = "x"},
                         {env = ENV, http = {{url = URL, status = 200}}})
  t.expect_status(out, "failed", "only for ECS%-native deployments")
end)

t.test("settings are checked before anything is called", function()
  t.expect_status(t.run_hook(HOOK, ecs_event(), {env = {}}), "failed",
                  "^HEALTH_URL is not set: set it to the URL to check")
  t.expect_status(t.run_hook(HOOK, ecs_event(), {env = {HEALTH_URL = URL, BAKE_DELAY = "soon"}}),
                  "failed", '^BAKE_DELAY="soon": expected an integer from 0 to 3600$')
end)
