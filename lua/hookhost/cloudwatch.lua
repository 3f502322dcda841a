--- hookhost.cloudwatch: an alarm gate (DescribeAlarms, through aws.client("cloudwatch")).
--
--   local cloudwatch = require("hookhost.cloudwatch")
--   return function(event, ctx)
--     local ok, why = cloudwatch.check_alarms{names = {"api-5xx", "api-latency"}, prefix = "web-"}
--     if not ok then return false, why end
--   end
--
-- check_alarms{names?, prefix?, missing?, insufficient_data?}
--   -> true, alarms                      no alarm is in ALARM
--   -> false, message, alarms            some are: the message names each one with its reason,
--                                        e.g. "1 alarm in ALARM: api-5xx (Threshold Crossed...)"
--   -> nil, err                          CloudWatch could not be asked (a hookhost.aws error)
--   alarms: the alarms found, {name, state, reason, updated, composite, verdict}, where verdict
--     is "ok", "in_alarm" or "insufficient_data"; alarms.missing: the named alarms CloudWatch
--     did not return, {name, verdict = "missing"} (listed whatever the missing option says).
--   names: alarm names (metric or composite); prefix: an alarm name prefix; at least one of them.
--   missing: "fail" (default: a named alarm missing from CloudWatch's answer fails the gate, so a
--     typo, or a composite alarm hidden by a DescribeAlarms permission narrower than "*", cannot
--     open it) or "ignore". insufficient_data: "pass" (default) or "fail".
--   A composite alarm matched only by the prefix cannot be missed that way: grant
--   cloudwatch:DescribeAlarms on "*" (CloudWatch returns composite alarms only then).
--   A prefix that matches no alarm passes (nothing is alarming); alarms has them all.
--   In a dry run without a canned DescribeAlarms answer nothing is asked: true, {} and the log
--   line "dry run: alarms not checked"; with canned answers (hookhost run --stub) the gate
--   decides from them.
-- describe_alarms{names?, prefix?, state?} -> {{name, state, reason, updated, composite}, ...}
--   ({} in a dry run without canned answers)
--   Every page (the model's paginator follows NextToken), names in groups of 100 (the API's
--   limit), metric and composite alarms. updated is the client's ISO 8601 UTC text.
-- A stub entry {service = "monitoring" (or "cloudwatch"), operation = "DescribeAlarms"} gives the
-- raw XML `body` or the decoded `answer` in the model's shape, {MetricAlarms = {{AlarmName,
-- StateValue, StateReason, StateUpdatedTimestamp}, ...}, CompositeAlarms = {...}, NextToken?}.

local aws = require("hookhost.aws")
local util = require("hookhost.util")

local M = {VERSION = "2010-08-01", MAX_NAMES_PER_CALL = 100, MAX_PAGES = 1000}

local STATES = {OK = true, ALARM = true, INSUFFICIENT_DATA = true}
local NOT_ASKED = setmetatable({}, {__mode = "k"}) -- alarm lists a dry run did not ask for
-- What the gate found for each alarm (alarms[i].verdict): the state, in the words of the gate.
local VERDICTS = {OK = "ok", ALARM = "in_alarm", INSUFFICIENT_DATA = "insufficient_data"}

-- The client, made on the first call (loading the model takes a few milliseconds).
local client
local function cw()
  client = client or aws.client("cloudwatch")
  return client
end

local function page_alarms(page, out)
  for _, kind in ipairs({"MetricAlarms", "CompositeAlarms"}) do
    for _, m in ipairs(type(page[kind]) == "table" and page[kind] or {}) do
      out[#out + 1] = {name = m.AlarmName, state = m.StateValue, reason = m.StateReason,
                       updated = m.StateUpdatedTimestamp, composite = kind == "CompositeAlarms"}
    end
  end
end

local function describe(params, out)
  local pages = 0
  -- the model's paginator follows NextToken; a failed page raises its error object
  local ok, err = pcall(function()
    for page in cw():paginate("describe_alarms", params) do
      if aws.is_placeholder(page) then
        NOT_ASKED[out] = true
        return
      end
      page_alarms(page, out)
      pages = pages + 1
      local token = page.NextToken
      if pages >= M.MAX_PAGES and token ~= nil and token ~= "" then
        error(aws.error{code = "TooManyPages", status = 0, message = "DescribeAlarms returned "
                        .. "more than " .. M.MAX_PAGES .. " pages"}, 0)
      end
    end
  end)
  if not ok then
    if type(err) ~= "table" then
      error(err, 0)
    end
    return nil, err
  end
  return out
end

local function check_names(fname, names)
  if names == nil then
    return {}
  end
  if type(names) ~= "table" then
    util.argerror("cloudwatch." .. fname, "names must be a list of alarm names")
  end
  for i, n in ipairs(names) do
    if type(n) ~= "string" or n == "" or #n > 255 then
      util.argerror("cloudwatch." .. fname, string.format(
        "names[%d] must be an alarm name (1 to 255 characters)", i))
    end
  end
  return names
end

function M.describe_alarms(t)
  t = t or {}
  local names = check_names("describe_alarms", t.names)
  if t.prefix ~= nil and (type(t.prefix) ~= "string" or t.prefix == "" or #t.prefix > 255) then
    util.argerror("cloudwatch.describe_alarms", "prefix must be a string of 1 to 255 characters")
  end
  if t.state ~= nil and not STATES[t.state] then
    util.argerror("cloudwatch.describe_alarms", "state must be OK, ALARM or INSUFFICIENT_DATA")
  end
  local types = {"CompositeAlarm", "MetricAlarm"}
  local out = {}
  if #names > 0 then
    for first = 1, #names, M.MAX_NAMES_PER_CALL do
      local chunk = table.move(names, first, math.min(first + M.MAX_NAMES_PER_CALL - 1, #names),
                               1, {})
      local ok, err = describe({AlarmNames = chunk, StateValue = t.state, AlarmTypes = types,
                                MaxRecords = 100}, out)
      if not ok then
        return nil, err
      end
    end
  end
  if t.prefix then
    local ok, err = describe({AlarmNamePrefix = t.prefix, StateValue = t.state,
                              AlarmTypes = types, MaxRecords = 100}, out)
    if not ok then
      return nil, err
    end
  end
  if #names == 0 and not t.prefix then
    local ok, err = describe({StateValue = t.state, AlarmTypes = types, MaxRecords = 100}, out)
    if not ok then
      return nil, err
    end
  end
  -- names and prefix may both match an alarm: keep one of each
  local seen, unique = {}, {}
  NOT_ASKED[unique] = NOT_ASKED[out]
  for _, a in ipairs(out) do
    if not seen[a.name] then
      seen[a.name] = true
      unique[#unique + 1] = a
    end
  end
  return unique
end

function M.check_alarms(t)
  if type(t) ~= "table" then
    util.argerror("cloudwatch.check_alarms", "expected a table {names = {...}, prefix = \"...\"}")
  end
  local names = check_names("check_alarms", t.names)
  if #names == 0 and (t.prefix == nil or t.prefix == "") then
    util.argerror("cloudwatch.check_alarms", "give names (a list of alarm names) or a prefix")
  end
  local missing = t.missing or "fail"
  local insufficient = t.insufficient_data or "pass"
  if (missing ~= "fail" and missing ~= "ignore")
     or (insufficient ~= "pass" and insufficient ~= "fail") then
    util.argerror("cloudwatch.check_alarms",
                  "missing must be \"fail\" or \"ignore\"; insufficient_data \"pass\" or \"fail\"")
  end
  local alarms, err = M.describe_alarms{names = names, prefix = t.prefix ~= "" and t.prefix or nil}
  if not alarms then
    return nil, err
  end
  if NOT_ASKED[alarms] then -- a dry run asked nothing: the gate cannot say no
    local ctx = util.context()
    if ctx and type(ctx.log) == "table" then
      ctx.log.info("dry run: alarms not checked", {names = names, prefix = t.prefix})
    end
    return true, alarms
  end
  local found, bad, lost = {}, {}, {}
  alarms.missing = {}
  for _, a in ipairs(alarms) do
    found[a.name] = true
    a.verdict = VERDICTS[a.state] or string.lower(tostring(a.state))
    if a.state == "ALARM" or (insufficient == "fail" and a.state == "INSUFFICIENT_DATA") then
      bad[#bad + 1] = a
    end
  end
  for _, n in ipairs(names) do
    if not found[n] then
      found[n] = true -- a name given twice is missing once
      alarms.missing[#alarms.missing + 1] = {name = n, verdict = "missing"}
      if missing == "fail" then
        lost[#lost + 1] = n
      end
    end
  end
  if #bad == 0 and #lost == 0 then
    return true, alarms
  end
  local parts = {}
  if #bad > 0 then
    local items = {}
    for i, a in ipairs(bad) do
      local reason = a.reason and a.reason ~= "" and (": " .. a.reason:sub(1, 160)) or ""
      items[i] = string.format("%s (%s%s)", a.name, a.state, reason)
    end
    parts[#parts + 1] = string.format("%d alarm%s in %s: %s", #bad, #bad == 1 and "" or "s",
                                      insufficient == "fail" and "ALARM or INSUFFICIENT_DATA"
                                      or "ALARM", table.concat(items, "; "))
  end
  if #lost > 0 then
    -- CloudWatch answers without composite alarms when the caller's DescribeAlarms permission
    -- is narrower than "*": say so, since the alarm may well exist.
    parts[#parts + 1] = string.format("%d alarm%s not found: %s (a composite alarm is returned "
                                      .. "only when cloudwatch:DescribeAlarms is allowed on "
                                      .. "Resource \"*\")", #lost, #lost == 1 and "" or "s",
                                      table.concat(lost, ", "))
  end
  return false, table.concat(parts, "; "), alarms
end

return M
