-- hookhost.cloudwatch's gate, offline: one verdict per alarm (hookhost test tests/lua/offline).
local t = require("hookhost.testing")
local cloudwatch = require("hookhost.cloudwatch")

local function answer(alarms)
  local m = {}
  for _, a in ipairs(alarms) do
    m[#m + 1] = string.format("<member><AlarmName>%s</AlarmName><StateValue>%s</StateValue>"
                              .. "<StateReason>why</StateReason></member>", a[1], a[2])
  end
  return {service = "monitoring", operation = "DescribeAlarms",
          body = "<DescribeAlarmsResponse><DescribeAlarmsResult><MetricAlarms>" .. table.concat(m)
                 .. "</MetricAlarms></DescribeAlarmsResult></DescribeAlarmsResponse>"}
end

local function verdicts(alarms)
  local v = {}
  for _, a in ipairs(alarms) do
    v[a.name] = a.verdict
  end
  for _, a in ipairs(alarms.missing) do
    v[a.name] = a.verdict
  end
  return v
end

t.test("each alarm gets a verdict: in_alarm, insufficient_data, ok, missing", function()
  t.stub(answer{{"api-5xx", "ALARM"}, {"db-cpu", "INSUFFICIENT_DATA"}, {"api-latency", "OK"}})
  local ok, msg, alarms = cloudwatch.check_alarms{
    names = {"api-5xx", "db-cpu", "api-latency", "api-typo"}}
  t.eq(ok, false)
  t.eq(verdicts(alarms), {["api-5xx"] = "in_alarm", ["db-cpu"] = "insufficient_data",
                          ["api-latency"] = "ok", ["api-typo"] = "missing"})
  t.eq(#alarms, 3) -- the list holds what CloudWatch returned, as before
  t.eq(msg, "1 alarm in ALARM: api-5xx (ALARM: why); 1 alarm not found: api-typo (a composite "
            .. "alarm is returned only when cloudwatch:DescribeAlarms is allowed on Resource \"*\")")
end)

t.test("a missing alarm and one in ALARM are told apart without reading the message", function()
  t.stub(answer{{"a", "OK"}})
  local _, _, alarms = cloudwatch.check_alarms{names = {"a", "b"}}
  t.eq(alarms.missing, {{name = "b", verdict = "missing"}})
  t.stub(answer{{"a", "OK"}, {"b", "ALARM"}})
  _, _, alarms = cloudwatch.check_alarms{names = {"a", "b"}}
  t.eq(alarms.missing, {})
  t.eq(alarms[2].verdict, "in_alarm")
end)

t.test("an open gate reports its verdicts too, ignored missing alarms included", function()
  t.stub(answer{{"a", "OK"}, {"c", "INSUFFICIENT_DATA"}})
  local ok, alarms = cloudwatch.check_alarms{names = {"a", "b", "c"}, missing = "ignore"}
  t.eq(ok, true)
  t.eq(verdicts(alarms), {a = "ok", b = "missing", c = "insufficient_data"})
end)
