--- POST_TEST_TRAFFIC_SHIFT (ECS-native blue/green): let the new revision bake under test
-- traffic. Each call checks a health URL once; ECS calls again after BAKE_DELAY seconds while
-- the hook answers IN_PROGRESS, so three healthy checks in a row take two IN_PROGRESS answers,
-- then SUCCEEDED. One unhealthy check fails the stage (ECS rolls back).
--
-- Environment:
--   HEALTH_URL    the URL to GET through the test listener (required)
--   BAKE_CHECKS   healthy checks needed in a row (default 3)
--   BAKE_DELAY    seconds between checks (default 60)

local http = require("hookhost.http")
local util = require("hookhost.util")

return function(event, ctx)
  local url = util.env_required("HEALTH_URL", "the URL to check through the test listener")
  local need = util.env_int("BAKE_CHECKS", 3, 1, 100)
  local delay = util.env_int("BAKE_DELAY", 60, 0, 3600)

  -- ECS hands back the details of the last IN_PROGRESS answer as event.hookDetails
  local done = 0
  if type(event.hookDetails) == "table" then
    done = math.tointeger(event.hookDetails.healthy_checks) or 0
  end
  local r, err = http.get(url, {expect_status = 200, retries = 1})
  if not r then
    return false, string.format("unhealthy after %d good checks: %s", done, err)
  end
  done = done + 1
  ctx.log.info("healthy check", {done = done, need = need})
  if done < need then
    return ctx.in_progress{delay = delay, details = {healthy_checks = done}}
  end
  return {healthy_checks = done}
end
