-- Offline tests of hooks/BeforeAllowTraffic.lua: `hookhost test --task-root examples/package`.
local t = require("hookhost.testing")

local HOOK = "hooks/BeforeAllowTraffic.lua"
local ENV = {ALARM_NAMES = "api-5xx,api-latency"}

-- CloudWatch's DescribeAlarms answer (query protocol: XML), for alarms {name, state, reason}.
local function describe_alarms(alarms)
  local members = {}
  for _, a in ipairs(alarms) do
    members[#members + 1] = string.format(
      "<member><AlarmName>%s</AlarmName><StateValue>%s</StateValue>"
      .. "<StateReason>%s</StateReason></member>", a[1], a[2], a[3] or "")
  end
  return {service = "monitoring", operation = "DescribeAlarms",
          params = {AlarmNames = {"api-5xx", "api-latency"}},
          body = '<DescribeAlarmsResponse xmlns="http://monitoring.amazonaws.com/doc/2010-08-01/">'
                 .. "<DescribeAlarmsResult><MetricAlarms>" .. table.concat(members)
                 .. "</MetricAlarms><CompositeAlarms/></DescribeAlarmsResult>"
                 .. "</DescribeAlarmsResponse>"}
end

local ALL_OK = describe_alarms{{"api-5xx", "OK"}, {"api-latency", "OK"}}

t.test("the gate opens on a Monday morning when every alarm is OK", function()
  local out = t.run_hook(HOOK, {}, {env = ENV, clock = "2026-12-07T10:00:00Z", stubs = {ALL_OK}})
  t.expect_status(out, "succeeded")
  t.eq(out.result, {open = true, at = "2026-12-07 10:00 (UTC+00:00)"})
  t.assert_stubs_used()
end)

t.test("the gate closes when an alarm fires, naming it", function()
  local out = t.run_hook(HOOK, {}, {env = ENV, clock = "2026-12-07T10:00:00Z", stubs = {
    describe_alarms{{"api-5xx", "ALARM", "Threshold Crossed"}, {"api-latency", "OK"}}}})
  t.expect_status(out, "failed")
  t.eq(out.message, "alarm gate closed: api-5xx is in ALARM")
end)

t.test("a missing alarm closes the gate and is told apart from one in ALARM", function()
  local out = t.run_hook(HOOK, {}, {env = ENV, clock = "2026-12-07T10:00:00Z",
                                    stubs = {describe_alarms{{"api-5xx", "OK"}}}})
  t.eq(out.message, "alarm gate closed: api-latency does not exist")
end)

t.test("on Saturday the gate stays closed and CloudWatch is not asked", function()
  -- no stub: a DescribeAlarms call would fail the hook with "stub: unexpected call"
  local out = t.run_hook(HOOK, {}, {env = ENV, clock = "2026-12-05T10:00:00Z"})
  t.expect_status(out, "failed", "^outside business hours")
  t.eq(out.message, "outside business hours (Mon-Fri 09:00-17:00): it is 2026-12-05 10:00 "
                    .. "(UTC+00:00)")
end)

t.test("the end of business hours is excluded", function()
  t.expect_status(t.run_hook(HOOK, {}, {env = ENV, clock = "2026-12-07T16:59:59Z",
                                        stubs = {ALL_OK}}), "succeeded")
  t.expect_status(t.run_hook(HOOK, {}, {env = ENV, clock = "2026-12-07T17:00:00Z"}), "failed",
                  "outside business hours")
end)

t.test("business hours are local time: UTC_OFFSET shifts them", function()
  local env = {ALARM_NAMES = ENV.ALARM_NAMES, UTC_OFFSET = "+02:00"}
  -- 07:30 UTC is 09:30 at UTC+2: open; 16:00 UTC is 18:00 there: closed
  t.expect_status(t.run_hook(HOOK, {}, {env = env, clock = "2026-12-07T07:30:00Z",
                                        stubs = {ALL_OK}}), "succeeded")
  local out = t.run_hook(HOOK, {}, {env = env, clock = "2026-12-07T16:00:00Z"})
  t.expect_status(out, "failed", "it is 2026%-12%-07 18:00 %(UTC%+02:00%)")
end)

t.test("a bad setting fails the hook with a message that names it", function()
  local out = t.run_hook(HOOK, {}, {env = {ALARM_NAMES = "a", BUSINESS_HOURS = "9 to 5"}})
  t.expect_status(out, "failed", "^BUSINESS_HOURS=\"9 to 5\": expected HH:MM%-HH:MM")
  out = t.run_hook(HOOK, {}, {env = {}})
  t.expect_status(out, "failed", "ALARM_NAMES is not set")
end)
