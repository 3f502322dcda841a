-- hookhost.codedeploy.current_lifecycle_event over target shapes the emulator does not have
-- (Lambda targets, several targets, CloudFormation), with hookhost.aws.send (every call's way
-- out, the client's included) answering.
local aws = require("hookhost.aws")
local codedeploy = require("hookhost.codedeploy")

local targets -- what BatchGetDeploymentTargets answers
local function answer(op, params)
  if op == "ListDeploymentTargets" then
    local ids = {}
    for i = 1, #targets do
      ids[i] = "t" .. i
    end
    return {targetIds = ids}
  elseif op == "BatchGetDeploymentTargets" then
    assert(#params.targetIds <= 25, "at most 25 ids per call")
    local out = {}
    for _, id in ipairs(params.targetIds) do
      out[#out + 1] = targets[tonumber(id:sub(2))]
    end
    return {deploymentTargets = out}
  end
  error("unexpected operation " .. op)
end
aws.send = function(t)
  assert(t.service_name == "codedeploy", "the codedeploy client's call")
  return 200, {}, "", answer(t.operation, t.params)
end

local function target(kind, events)
  local key = ({LambdaTarget = "lambdaTarget", ECSTarget = "ecsTarget",
                CloudFormationTarget = "cloudFormationTarget"})[kind]
  local evs = {}
  for name, status in pairs(events) do
    evs[#evs + 1] = {lifecycleEventName = name, status = status}
  end
  table.sort(evs, function(a, b) return a.lifecycleEventName < b.lifecycleEventName end)
  return {deploymentTargetType = kind, [key] = {targetId = kind, lifecycleEvents = evs}}
end

return function()
  local n = 0
  local function expect(want, code)
    local got, err = codedeploy.current_lifecycle_event("d-ABCDEFGH1")
    if want then
      assert(got == want, string.format("want %s, got %s (%s)", want, tostring(got), tostring(err)))
    else
      assert(got == nil and err.code == code, string.format("want %s, got %s %s", code,
                                                              tostring(got), tostring(err)))
    end
    n = n + 1
    return err
  end
  targets = {target("LambdaTarget", {BeforeAllowTraffic = "Succeeded", AllowTraffic = "Succeeded",
                                     AfterAllowTraffic = "InProgress"})}
  expect("AfterAllowTraffic")
  -- a Lambda deployment has no AfterAllowTestTraffic hook: not hook-able there
  targets = {target("LambdaTarget", {AfterAllowTestTraffic = "InProgress"})}
  expect(nil, "NoLifecycleEvent")
  -- the same event on 30 targets (two batch calls) is one answer
  targets = {}
  for i = 1, 30 do
    targets[i] = target("ECSTarget", {AfterInstall = "InProgress", Install = "Succeeded"})
  end
  expect("AfterInstall")
  targets[30] = target("ECSTarget", {BeforeAllowTraffic = "InProgress"})
  local err = expect(nil, "AmbiguousLifecycleEvent")
  assert(err.message:find("AfterInstall, BeforeAllowTraffic", 1, true), err.message)
  targets = {target("CloudFormationTarget", {BeforeAllowTraffic = "InProgress"})}
  expect("BeforeAllowTraffic")
  targets = {}
  expect(nil, "NoLifecycleEvent")
  return {checks = n}
end
