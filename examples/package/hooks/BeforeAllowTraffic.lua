--- BeforeAllowTraffic: production traffic moves only during business hours, and only while no
-- watched CloudWatch alarm is in ALARM (a missing alarm closes the gate too).
--
-- Environment:
--   ALARM_NAMES      comma-separated alarm names (required), e.g. "api-5xx,api-latency"
--   BUSINESS_HOURS   "HH:MM-HH:MM", local time, the end excluded (default "09:00-17:00")
--   BUSINESS_DAYS    "Mon-Fri" (default), or a list such as "Mon,Tue,Thu"
--   UTC_OFFSET       the local time's offset from UTC, "+01:00" (default "+00:00"; Lambda's
--                    clock is UTC and knows no time zones: change it with daylight saving)

local cloudwatch = require("hookhost.cloudwatch")
local util = require("hookhost.util")

local DAYS = {Sun = 1, Mon = 2, Tue = 3, Wed = 4, Thu = 5, Fri = 6, Sat = 7} -- os.date's wday

local function minutes(s, name)
  local h, m = s:match("^(%d%d?):(%d%d)$")
  h, m = tonumber(h), tonumber(m)
  if not h or h > 24 or m > 59 then
    error(string.format("%s: %q is not a time such as 09:00", name, s), 0)
  end
  return h * 60 + m
end

local function config()
  local names = util.env_list("ALARM_NAMES")
  if #names == 0 then
    error("ALARM_NAMES is not set: set it to comma-separated CloudWatch alarm names", 0)
  end
  local hours = os.getenv("BUSINESS_HOURS") or "09:00-17:00"
  local from, to = hours:match("^%s*([%d:]+)%s*%-%s*([%d:]+)%s*$")
  if not from then
    error(string.format("BUSINESS_HOURS=%q: expected HH:MM-HH:MM, e.g. 09:00-17:00", hours), 0)
  end
  local days = {}
  local raw = os.getenv("BUSINESS_DAYS") or "Mon-Fri"
  for _, item in ipairs(util.split_list(raw)) do
    local a, b = item:match("^(%a%a%a)%-(%a%a%a)$")
    a, b = DAYS[a or item], DAYS[b or item]
    if not a or not b then
      error(string.format("BUSINESS_DAYS=%q: expected days such as Mon-Fri or Mon,Wed", raw), 0)
    end
    for d = a, a <= b and b or b + 7 do
      days[(d - 1) % 7 + 1] = true
    end
  end
  local offset = os.getenv("UTC_OFFSET") or "+00:00"
  local sign, oh, om = offset:match("^([+-])(%d%d):(%d%d)$")
  if not sign then
    error(string.format("UTC_OFFSET=%q: expected +HH:MM or -HH:MM", offset), 0)
  end
  local off = (tonumber(oh) * 60 + tonumber(om)) * (sign == "+" and 1 or -1)
  return {names = names, from = minutes(from, "BUSINESS_HOURS"), to = minutes(to, "BUSINESS_HOURS"),
          days = days, offset = off, hours = hours, days_text = raw, offset_text = offset}
end

return function(event, ctx)
  local c = config()
  local now = os.date("!*t", os.time() + c.offset * 60) -- the local time, from the UTC clock
  local minute = now.hour * 60 + now.min
  local stamp = string.format("%04d-%02d-%02d %02d:%02d (UTC%s)", now.year, now.month, now.day,
                              now.hour, now.min, c.offset_text)
  if not c.days[now.wday] or minute < c.from or minute >= c.to then
    return false, string.format("outside business hours (%s %s): it is %s", c.days_text, c.hours,
                                stamp)
  end

  local ok, detail, alarms = cloudwatch.check_alarms{names = c.names}
  if ok == nil then
    error("CloudWatch DescribeAlarms failed: " .. tostring(detail), 0)
  end
  if not ok then
    -- one reason per alarm: in_alarm, insufficient_data, missing (or ok)
    local why = {}
    for _, a in ipairs(alarms) do
      if a.verdict == "in_alarm" then
        why[#why + 1] = a.name .. " is in ALARM"
      end
    end
    for _, a in ipairs(alarms.missing) do
      why[#why + 1] = a.name .. " does not exist"
    end
    ctx.log.warn("alarm gate closed", {detail = detail})
    return false, "alarm gate closed: " .. table.concat(why, "; ")
  end
  ctx.log.info("gate open", {at = stamp, alarms = c.names})
  return {open = true, at = stamp}
end
