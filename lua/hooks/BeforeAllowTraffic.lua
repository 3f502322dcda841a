--- BeforeAllowTraffic: an alarm gate. Production traffic moves to the new version only when no
-- watched CloudWatch alarm is in ALARM.
--
-- Environment (at least one of the two):
--   ALARM_NAMES   comma-separated alarm names; a name that does not exist fails the gate
--   ALARM_PREFIX  an alarm name prefix: every alarm whose name starts with it

local cloudwatch = require("hookhost.cloudwatch")
local util = require("hookhost.util")

return function(event, ctx)
  local names = util.split_list(os.getenv("ALARM_NAMES"))
  local prefix = os.getenv("ALARM_PREFIX")
  if prefix == "" then
    prefix = nil
  end
  if #names == 0 and not prefix then
    error("neither ALARM_NAMES nor ALARM_PREFIX is set: set ALARM_NAMES to comma-separated "
          .. "CloudWatch alarm names (e.g. api-5xx,api-latency) and/or ALARM_PREFIX to an alarm "
          .. "name prefix", 0)
  end
  -- true, alarms | false, message, alarms | nil, err
  local ok, detail = cloudwatch.check_alarms{names = names, prefix = prefix}
  if ok == nil then
    error("CloudWatch DescribeAlarms failed: " .. tostring(detail), 0)
  end
  if not ok then
    return false, "alarm gate closed: " .. detail
  end
  local checked = {}
  for i, a in ipairs(detail) do
    checked[i] = a.name
  end
  if #checked == 0 and not ctx.dry_run then
    ctx.log.warn("alarm gate: no alarm matches", {prefix = prefix})
  end
  ctx.log.info("alarm gate open: no alarm in ALARM", {alarms = checked})
  return {alarms = checked}
end
