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

return function(event, ctx)
  local url = os.getenv("HEALTH_URL")
  if not url or url == "" then
    error("HEALTH_URL is not set: set it to the URL to check through the test listener", 0)
  end
  local need = math.tointeger(tonumber(os.getenv("BAKE_CHECKS") or "3"))
  local delay = math.tointeger(tonumber(os.getenv("BAKE_DELAY") or "60"))
  if not need or need < 1 or not delay or delay < 0 or delay > 3600 then
    error("BAKE_CHECKS must be a positive integer and BAKE_DELAY whole seconds from 0 to 3600", 0)
  end

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
