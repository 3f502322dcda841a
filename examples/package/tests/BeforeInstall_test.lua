-- Offline tests of hooks/BeforeInstall.lua: `hookhost test --task-root examples/package`.
local t = require("hookhost.testing")

local HOOK = "hooks/BeforeInstall.lua"
local ENV = {CLUSTER = "shop-cluster", SERVICE = "shop", CONFIG_PARAMETER = "/shop/url"}

-- JSON-protocol answers are given decoded, as the call returns them (`answer`); `params` checks
-- what the hook asked for.
local function services(status, running, desired)
  return {service = "ecs", operation = "DescribeServices",
          params = {cluster = "shop-cluster", services = {"shop"}},
          answer = {services = {{serviceName = "shop", status = status, runningCount = running,
                                 desiredCount = desired}}, failures = {}}}
end

local PARAMETER = {service = "ssm", operation = "GetParameter", params = {Name = "/shop/url"},
                   answer = {Parameter = {Name = "/shop/url", Type = "String", Version = 7,
                                          Value = "https://shop.example.com"}}}

t.test("a healthy service and an existing parameter pass", function()
  local out = t.run_hook(HOOK, {}, {env = ENV, stubs = {services("ACTIVE", 3, 3), PARAMETER}})
  t.expect_status(out, "succeeded")
  t.eq(out.result, {running = 3, parameter_version = 7})
  t.assert_stubs_used()
end)

t.test("a service short of tasks stops the deployment, before SSM is asked", function()
  local out = t.run_hook(HOOK, {}, {env = ENV, stubs = {services("ACTIVE", 1, 3)}})
  t.expect_status(out, "failed")
  t.eq(out.message, "ECS service shop is ACTIVE with 1 of 3 tasks running")
end)

t.test("a service ECS does not know fails with ECS's reason", function()
  local out = t.run_hook(HOOK, {}, {env = ENV, stubs = {
    {service = "ecs", operation = "DescribeServices",
     answer = {services = {}, failures = {{arn = "arn:aws:ecs:...:service/shop", reason = "MISSING"}}}}}})
  t.expect_status(out, "failed", "^ECS service shop%-cluster/shop: MISSING$")
end)

t.test("a missing parameter fails with what to do", function()
  local out = t.run_hook(HOOK, {}, {env = ENV, stubs = {services("ACTIVE", 3, 3),
    {service = "ssm", operation = "GetParameter",
     error = {code = "ParameterNotFound", message = "", status = 400}}}})
  t.expect_status(out, "failed", "^SSM parameter /shop/url does not exist")
end)

t.test("any other AWS error fails the hook with AWS's words", function()
  local out = t.run_hook(HOOK, {}, {env = ENV, stubs = {services("ACTIVE", 3, 3),
    {service = "ssm", operation = "GetParameter",
     error = {code = "AccessDeniedException", message = "not authorized to perform ssm:GetParameter",
              status = 400}}}})
  t.expect_status(out, "failed", "AccessDeniedException: not authorized to perform ssm:GetParameter")
end)
