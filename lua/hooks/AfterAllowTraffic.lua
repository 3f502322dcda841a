--- AfterAllowTraffic: invalidate the CloudFront cache once production traffic is on the new
-- version.
--
-- Environment:
--   DistributionId      the CloudFront distribution id (required), e.g. E2EXAMPLE123
--   INVALIDATION_PATHS  comma-separated paths (default "/*"), e.g. "/index.html, /assets/*"
--   INVALIDATION_WAIT   "true" to wait until the invalidation has Completed (never past the
--                       hook's time; not done in time fails the hook); default "false"
--
-- The invalidation's CallerReference is derived from the hook execution (CodeDeploy) or the
-- service revision and stage (ECS-native), so a redelivered or retried event gets the same
-- invalidation back instead of a second one.

local cloudfront = require("hookhost.cloudfront")
local util = require("hookhost.util")

local function config()
  local dist = os.getenv("DistributionId")
  if dist == nil or dist == "" then
    error("DistributionId is not set: set it to the CloudFront distribution id, e.g. "
          .. "E2EXAMPLE123", 0)
  end
  if not dist:match("^[A-Z0-9]+$") or #dist > 64 then
    error(string.format("DistributionId=%q is not a CloudFront distribution id (upper-case "
                        .. "letters and digits, e.g. E2EXAMPLE123)", dist), 0)
  end
  local raw = os.getenv("INVALIDATION_PATHS")
  local paths = {"/*"}
  if raw ~= nil and raw:find("%S") then
    paths = util.split_list(raw)
    for _, p in ipairs(paths) do
      if p:sub(1, 1) ~= "/" then
        error(string.format("INVALIDATION_PATHS: path %q must start with / (comma-separated "
                            .. "paths such as \"/index.html, /assets/*\")", p), 0)
      end
    end
  end
  local wait = (os.getenv("INVALIDATION_WAIT") or ""):lower()
  if wait ~= "" and wait ~= "true" and wait ~= "false" then
    error(string.format("INVALIDATION_WAIT=%q: expected true or false", wait), 0)
  end
  return dist, paths, wait == "true"
end

return function(event, ctx)
  local dist, paths, wait = config()
  -- ctx (CodeDeploy) or event (ECS-native) ties the CallerReference to this deployment's hook
  local inv, err = cloudfront.invalidate{distribution = dist, paths = paths, ctx = ctx,
                                         event = event}
  if not inv then
    error("CloudFront invalidation on " .. dist .. " failed: " .. tostring(err), 0)
  end
  if inv.status == "DryRun" then
    ctx.log.info("dry run: invalidation not created", {distribution = dist, paths = paths,
                                                       caller_reference = inv.caller_reference})
    return {distribution = dist, paths = paths, dry_run = true}
  end
  ctx.log.info("invalidation created: " .. inv.id, {
    id = inv.id, distribution = dist, status = inv.status, paths = paths,
    caller_reference = inv.caller_reference, tries = inv.tries})
  if wait then
    local done, werr = cloudfront.wait_invalidation(dist, inv.id, {ctx = ctx})
    if not done then
      error(tostring(werr), 0)
    end
    inv.status = done.status
    ctx.log.info("invalidation completed: " .. inv.id, {id = inv.id, waited_ms = done.waited_ms})
  end
  return {invalidation = inv.id, status = inv.status, distribution = dist}
end
