-- Lua-level tests of hookhost.stubs (the API hookhost.testing builds on) and of aws.send with
-- canned answers, run by tests/e2e/test_hooks_lib.py through `hookhost run` (no --stub: the
-- script loads its own; nothing is sent, since every call has an answer or raises).
local stubs = require("hookhost.stubs")
local aws = require("hookhost.aws")

local function eq(got, want, what)
  if got ~= want then
    error(string.format("%s: got %q, want %q", what, tostring(got), tostring(want)), 2)
  end
end

local function raises(f, want, what)
  local ok, e = pcall(f)
  if ok or not tostring(e):find(want, 1, true) then
    error(string.format("%s: expected an error with %q, got %s", what, want, tostring(e)), 2)
  end
end

return function()
  local n = 0
  local function check(got, want, what)
    eq(got, want, what)
    n = n + 1
  end

  stubs.reset()
  check(stubs.active(), false, "nothing loaded")
  check(stubs.take("ssm", "GetParameter", {}), nil, "take with nothing loaded")

  -- validation names the entry
  raises(function() stubs.load({{service = "ssm", operation = "X", answer = {}}, {service = "ssm"}})
  end, "stub entry 2: operation must be", "load validates each entry")
  check(stubs.active(), false, "a rejected load loads nothing")
  raises(function() stubs.add({service = "ssm", operation = "X", answer = {}, error = {code = "E"}})
  end, "stub entry 1: give exactly one of answer, body or error", "add validates")
  raises(function() stubs.load({x = 1}) end, "expected a list", "not a list")

  -- strict: ordered per service, snake_case operations, params compared deeply
  stubs.load({
    {service = "ssm", operation = "get_parameter", params = {Name = "/a"}, answer = {v = 1}},
    {service = "sns", operation = "Publish", params = {MessageAttributes = {k = {StringValue = "x"}}},
     body = "<r/>"},
    {service = "ssm", operation = "GetParameter", answer = {v = 2}},
    {service = "cloudwatch", operation = "DescribeAlarms", params = {AlarmNames = {"a", "b"}},
     answer = {}},
  }, {strict = true})
  check(stubs.active(), true, "active")
  local e = stubs.take("SSM", "GetParameter", {Name = "/a", Other = 1})
  check(e.answer.v, 1, "first ssm entry, extra params not compared")
  check(e.index, 1, "index")
  -- an aws.map() value compares by its entries
  e = stubs.take("sns", "Publish", {MessageAttributes = aws.map({k = {StringValue = "x"}})})
  check(e.body, "<r/>", "sns entry through aws.map")
  raises(function() stubs.take("monitoring", "DescribeAlarms", {AlarmNames = {"a"}}) end,
         "stub: monitoring DescribeAlarms: params.AlarmNames has 1 items, expected 2",
         "list length")
  raises(function() stubs.take("monitoring", "DescribeAlarms", {AlarmNames = {"a", "c"}}) end,
         'params.AlarmNames[2] is "c", expected "b"', "list item")
  check(stubs.take("monitoring", "DescribeAlarms", {AlarmNames = {"a", "b"}}).index, 4,
        "cloudwatch is an alias of monitoring")
  raises(function() stubs.take("ssm", "PutParameter", {}) end,
         "stub: unexpected call ssm PutParameter (the next answer for ssm is for GetParameter, "
         .. "entry 3)", "wrong operation")
  local u = stubs.unused()
  check(#u, 1, "one unused")
  check(u[1].service .. " " .. u[1].operation .. " " .. u[1].index, "ssm GetParameter 3",
        "unused entry")
  check(stubs.take("ssm", "GetParameter", {}).answer.v, 2, "second ssm entry")
  raises(function() stubs.take("ssm", "GetParameter", {}) end,
         "stub: unexpected call ssm GetParameter (no answer left for ssm)", "queue empty")
  check(#stubs.unused(), 0, "all used")

  -- aws.send honours the entries: answer (4th value), body (decoded by the caller), error
  stubs.load({
    {service = "ssm", operation = "GetParameter", answer = {Parameter = {Value = "v"}}},
    {service = "sns", operation = "Publish",
     body = "<PublishResponse><PublishResult><MessageId>m-1</MessageId></PublishResult>"
            .. "</PublishResponse>"},
    {service = "sns", operation = "Publish", status = 400, headers = {["X-Amzn-RequestId"] = "r-9"},
     body = "<ErrorResponse><Error><Code>InvalidParameter</Code><Message>bad</Message></Error>"
            .. "</ErrorResponse>"},
    {service = "ssm", operation = "GetParameter",
     error = {code = "ThrottlingException", message = "slow down", retryable = true}},
  }, {strict = true})
  local r = assert(aws.json("ssm", "AmazonSSM", "GetParameter", {Name = "/x"}))
  check(r.Parameter.Value, "v", "json answer")
  local doc = assert(aws.query("sns", "Publish", "2010-03-31", {Message = "m"}))
  check(require("hookhost.xml").text(doc, "PublishResult/MessageId"), "m-1", "query body")
  local none, err = aws.query("sns", "Publish", "2010-03-31", {Message = "m"})
  check(none, nil, "error body")
  check(tostring(err), "InvalidParameter: bad (HTTP 400, request id r-9)", "error decoded")
  none, err = aws.json("ssm", "AmazonSSM", "GetParameter", {})
  check(err.code .. " " .. err.status .. " " .. tostring(err.retryable), "ThrottlingException 400 true",
        "error entry")

  -- not strict: the first matching entry anywhere in the service's queue, else nil
  stubs.load({
    {service = "ssm", operation = "GetParameter", params = {Name = "/b"}, answer = {v = "b"}},
    {service = "ssm", operation = "GetParameter", params = {Name = "/a"}, answer = {v = "a"}},
  })
  check(stubs.take("ssm", "GetParameter", {Name = "/a"}).answer.v, "a", "non-strict match")
  check(stubs.take("ssm", "GetParameter", {Name = "/c"}), nil, "non-strict miss")
  check(stubs.take("ssm", "DeleteParameter", {}), nil, "non-strict other operation")
  check(#stubs.unused(), 1, "non-strict unused")
  stubs.reset()
  check(stubs.active(), false, "reset")
  return {checks = n}
end
