--- hookhost.codedeploy: the CodeDeploy calls a hook may want, through aws.client("codedeploy").
--
--   local codedeploy = require("hookhost.codedeploy")
--   return function(event, ctx)
--     local d = assert(codedeploy.get_deployment(ctx.deployment_id))
--     ctx.log.info("deploying", {application = d.applicationName, group = d.deploymentGroupName})
--   end
--
-- Functions (bad arguments raise; failures of the world return nil, err, a hookhost.aws error):
--   get_deployment(id)                   -> deploymentInfo (the API's field names)
--   list_deployment_targets(id)          -> {target id, ...} (every page)
--   get_deployment_target(id, target_id) -> deploymentTarget {deploymentTargetType, ecsTarget |
--                                           lambdaTarget | instanceTarget | cloudFormationTarget}
--   batch_get_deployment_targets(id, {target_id, ...}) -> {deploymentTarget, ...} (25 per call)
--   lifecycle_events(target)             -> {{lifecycleEventName, status}, ...} of one target
--   current_lifecycle_event(id)          -> name, target_ids: the hook-able lifecycle event that is
--       InProgress on the deployment's targets; nil, err when none is or several are.
--       Hook-able: ECS BeforeInstall, AfterInstall, AfterAllowTestTraffic, BeforeAllowTraffic,
--       AfterAllowTraffic; Lambda BeforeAllowTraffic, AfterAllowTraffic.
--   put_status(id, execution_id, status) -> true ("Succeeded" or "Failed")
-- Results are the model-driven client's (lua/hookhost/aws/client.lua): the API's field names,
-- timestamps as ISO 8601 UTC text ("2026-12-04T14:38:58.123Z"). A stub entry
-- {service = "codedeploy", operation = "GetDeployment", ...} gives the JSON `body` or the decoded
-- `answer` ({deploymentInfo = {...}}), as for aws.json before.
-- In a dry run without canned answers (docs/HOOKS.md): get_deployment and get_deployment_target
-- return the placeholder (reading a field raises "dry run: ... was not sent"),
-- list_deployment_targets and batch_get_deployment_targets {}, put_status true, and
-- current_lifecycle_event nil, err (code "DryRun").
--       For completeness only: the runtime reports every hook execution by itself, exactly
--       once. A script that reports too makes the runtime's report fail with
--       LifecycleEventAlreadyCompletedException, and may report a status other than the one the
--       runtime would have (e.g. Succeeded before the script goes on to fail). Hook scripts
--       must not call it for their own execution.

local aws = require("hookhost.aws")
local util = require("hookhost.util")

local M = {
  MAX_TARGET_PAGES = 100, -- ListDeploymentTargets pages followed at most
  HOOKS = {
    ECS = {"BeforeInstall", "AfterInstall", "AfterAllowTestTraffic", "BeforeAllowTraffic",
           "AfterAllowTraffic"},
    Lambda = {"BeforeAllowTraffic", "AfterAllowTraffic"},
  },
}

local TARGET_KEYS = {ECSTarget = "ecsTarget", LambdaTarget = "lambdaTarget",
                     InstanceTarget = "instanceTarget",
                     CloudFormationTarget = "cloudFormationTarget"}
local PLATFORM_OF = {ECSTarget = "ECS", LambdaTarget = "Lambda", CloudFormationTarget = "ECS"}

local function check_id(fname, id)
  if type(id) ~= "string" or not id:match("^d%-[A-Z0-9]+$") or #id > 64 then
    util.argerror("codedeploy." .. fname, string.format(
      "deployment id %q is not a CodeDeploy deployment id (d- and upper-case letters or digits)",
      tostring(id)))
  end
end

local function dry_run()
  local ctx = util.context()
  return ctx ~= nil and ctx.dry_run == true
end

-- The client, made on the first call (loading the model takes a few milliseconds).
local client
local function cd()
  client = client or aws.client("codedeploy")
  return client
end

function M.get_deployment(id)
  check_id("get_deployment", id)
  local r, err = cd():get_deployment{deploymentId = id}
  if not r then
    return nil, err
  end
  if aws.is_placeholder(r) then
    return r
  end
  return r.deploymentInfo or r
end

function M.list_deployment_targets(id)
  check_id("list_deployment_targets", id)
  local ids = {}
  -- the model's paginator follows nextToken; a failed page raises its error object
  local ok, err = pcall(function()
    for page in cd():paginate("list_deployment_targets", {deploymentId = id},
                              {max_pages = M.MAX_TARGET_PAGES}) do
      if aws.is_placeholder(page) then
        return
      end
      for _, t in ipairs(page.targetIds or {}) do
        ids[#ids + 1] = t
      end
    end
  end)
  if not ok then
    if type(err) ~= "table" then
      error(err, 0)
    end
    return nil, err
  end
  return ids
end

function M.get_deployment_target(id, target_id)
  check_id("get_deployment_target", id)
  if type(target_id) ~= "string" or target_id == "" then
    util.argerror("codedeploy.get_deployment_target", "target_id must be a non-empty string")
  end
  local r, err = cd():get_deployment_target{deploymentId = id, targetId = target_id}
  if not r then
    return nil, err
  end
  if aws.is_placeholder(r) then
    return r
  end
  return r.deploymentTarget
end

function M.batch_get_deployment_targets(id, target_ids)
  check_id("batch_get_deployment_targets", id)
  if type(target_ids) ~= "table" then
    util.argerror("codedeploy.batch_get_deployment_targets", "target_ids must be a list")
  end
  local out = {}
  for first = 1, #target_ids, 25 do
    local chunk = table.move(target_ids, first, math.min(first + 24, #target_ids), 1, {})
    local r, err = cd():batch_get_deployment_targets{deploymentId = id, targetIds = chunk}
    if not r then
      return nil, err
    end
    if aws.is_placeholder(r) then
      return out
    end
    for _, t in ipairs(r.deploymentTargets or {}) do
      out[#out + 1] = t
    end
  end
  return out
end

--- The lifecycle events of one deployment target, whatever its type.
function M.lifecycle_events(target)
  local key = TARGET_KEYS[target and target.deploymentTargetType or ""]
  local inner = key and target[key]
  if type(inner) ~= "table" then
    for _, k in pairs(TARGET_KEYS) do
      if type(target[k]) == "table" then
        inner = target[k]
        break
      end
    end
  end
  return inner and inner.lifecycleEvents or {}
end

local function hookable(platform)
  local set = {}
  local lists = platform and {M.HOOKS[platform]} or {M.HOOKS.ECS, M.HOOKS.Lambda}
  for _, list in ipairs(lists) do
    for _, name in ipairs(list) do
      set[name] = true
    end
  end
  return set
end

function M.current_lifecycle_event(id)
  check_id("current_lifecycle_event", id)
  local ids, err = M.list_deployment_targets(id)
  if not ids then
    return nil, err
  end
  if #ids == 0 and dry_run() then
    return nil, aws.error{code = "DryRun", status = 0, message = string.format(
      "dry run: deployment %s's targets were not asked for, so the lifecycle event in progress "
      .. "is unknown", id)}
  end
  if #ids == 0 then
    return nil, aws.error{code = "NoLifecycleEvent", status = 0, message = string.format(
      "deployment %s has no targets, so no lifecycle event is in progress", id)}
  end
  local targets
  targets, err = M.batch_get_deployment_targets(id, ids)
  if not targets then
    return nil, err
  end
  local found, order, on = {}, {}, {}
  for _, t in ipairs(targets) do
    local allowed = hookable(PLATFORM_OF[t.deploymentTargetType or ""])
    local key = TARGET_KEYS[t.deploymentTargetType or ""]
    local tid = key and t[key] and t[key].targetId or "?"
    for _, ev in ipairs(M.lifecycle_events(t)) do
      local name = ev.lifecycleEventName
      if ev.status == "InProgress" and allowed[name] then
        if not found[name] then
          found[name] = true
          order[#order + 1] = name
          on[name] = {}
        end
        on[name][#on[name] + 1] = tid
      end
    end
  end
  if #order == 1 then
    return order[1], on[order[1]]
  end
  if #order == 0 then
    return nil, aws.error{code = "NoLifecycleEvent", status = 0, message = string.format(
      "no hook-able lifecycle event is InProgress on the %d target(s) of deployment %s: set "
      .. "_HANDLER to the lifecycle event instead of auto", #targets, id)}
  end
  return nil, aws.error{code = "AmbiguousLifecycleEvent", status = 0, message = string.format(
    "several hook-able lifecycle events are InProgress on deployment %s (%s): set _HANDLER to "
    .. "the lifecycle event instead of auto", id, table.concat(order, ", "))}
end

function M.put_status(id, execution_id, status)
  check_id("put_status", id)
  if type(execution_id) ~= "string" or execution_id == "" then
    util.argerror("codedeploy.put_status", "execution_id must be the LifecycleEventHookExecutionId")
  end
  if status ~= "Succeeded" and status ~= "Failed" then
    util.argerror("codedeploy.put_status", "status must be \"Succeeded\" or \"Failed\"")
  end
  local r, err = cd():put_lifecycle_event_hook_execution_status{
    deploymentId = id, lifecycleEventHookExecutionId = execution_id, status = status}
  if not r then
    return nil, err
  end
  return true
end

return M
