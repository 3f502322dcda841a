-- Tests of hookhost.testing itself (hookhost test --task-root <repository> tests/lua/offline).
local t = require("hookhost.testing")
local util = require("hookhost.util")

local ECHO = "tests/lua/offline/hooks/echo.lua"
local CALLS = "tests/lua/offline/hooks/calls.lua"

t.test("a hook sees only the environment it is given", function()
  local out = t.run_hook(ECHO, {}, {env = {MODE = "blue"}})
  t.eq(out.result.mode, "blue")
  t.eq(out.result.home, nil) -- the real environment stays out
  t.env{MODE = "green"}
  t.eq(t.run_hook(ECHO).result.mode, "green")
  t.eq(os.getenv("PATH"), nil)
end)

t.test("ctx follows the event as in the runtime, and opts.ctx overrides it", function()
  local out = t.run_hook(ECHO, {DeploymentId = "d-ABCDEFGH1", LifecycleEventHookExecutionId = "e1"})
  t.eq({out.result.hook, out.result.controller, out.result.deployment_id, out.result.execution_id,
        out.result.request_id, out.result.dry_run, out.result.published},
       {"echo", "codedeploy", "d-ABCDEFGH1", "e1", "test", false, true})
  out = t.run_hook(ECHO, {executionDetails = {serviceArn = "s", targetServiceRevisionArn = "r"},
                          lifecycleStage = "POST_TEST_TRAFFIC_SHIFT"},
                   {ctx = {hook = "Custom", dry_run = true}})
  t.eq({out.result.controller, out.result.stage, out.result.hook, out.result.dry_run},
       {"ecs", "POST_TEST_TRAFFIC_SHIFT", "Custom", true})
  t.eq(package.loaded["hookhost.context"], nil) -- published only while the hook runs
end)

t.test("every run starts afresh: event copy, globals, modules", function()
  local event = {n = 1}
  local first = t.run_hook(ECHO, event)
  local second = t.run_hook(ECHO, event)
  t.eq(event, {n = 1}) -- the hook got a copy, as JSON would carry it
  t.eq(first.result.event, {n = 1, changed = true})
  t.eq({first.result.global, second.result.global}, {1, 1})
  t.eq({first.result.count, second.result.count}, {1, 1})
end)

t.test("the fake clock: times, dates and instant sleeps", function()
  t.clock("2026-12-04T10:00:00+01:00")
  t.eq(os.time(), os.time{year = 2026, month = 12, day = 4, hour = 9})
  t.eq(os.date("%Y-%m-%d %H:%M:%S"), "2026-12-04 09:00:00") -- local time is UTC
  t.eq(os.date("*t").wday, 6) -- a Friday
  t.eq(os.time{year = 2026, month = 13, day = 1, hour = 0}, os.time{year = 2027, month = 1, day = 1, hour = 0})
  local start = util.now_ms()
  t.eq(util.sleep_ms(90000), 90000) -- instant (a hook's sleeps are capped by its time left)
  t.eq(util.now_ms() - start, 90000)
  t.eq(os.date("!%H:%M:%S"), "09:01:30")
  t.clock(0)
  t.eq(os.date("%Y-%m-%dT%H:%M:%S"), "1970-01-01T00:00:00")
  t.raises(function() t.clock("tomorrow") end, "expected a time such as")
end)

t.test("a hook that sleeps past its time is stopped, whatever pcall it hides in", function()
  local out = t.run_hook("tests/lua/offline/hooks/sleepy.lua", {}, {remaining_ms = 5000})
  t.eq({out.status, out.reason, out.message, out.elapsed_ms},
       {"failed", "timeout", "hook timed out after 5000 ms", 5000})
  t.eq(t.run_hook(ECHO).status, "succeeded") -- the next run has its own time
end)

t.test("outcomes of scripts that do not run", function()
  local out = t.run_hook("tests/lua/offline/hooks/syntax.lua")
  t.eq({out.status, out.reason}, {"failed", "syntax"})
  t.ok(out.message:find("tests/lua/offline/hooks/syntax.lua:2:", 1, true), out.message)
  out = t.run_hook("tests/lua/offline/hooks/none.lua")
  t.eq(out.reason, "script missing")
  out = t.run_hook("tests/lua/offline/hooks/not_a_function.lua")
  t.ok(out.message:find("tests/lua/offline/hooks/not_a_function.lua must return a "
                        .. "function(event, ctx), but returned number", 1, true), out.message)
end)

t.test("ctx.in_progress must be returned", function()
  local out = t.run_hook("tests/lua/offline/hooks/forgot_return.lua",
                         {serviceArn = "s", targetServiceRevisionArn = "r"})
  t.expect_status(out, "failed", "ctx.in_progress was called, but the function returned table "
                                 .. "instead of its value: write `return ctx.in_progress{...}`")
end)

t.test("AWS stubs: answers, errors, params checks and unexpected calls", function()
  local ok = {service = "ssm", operation = "get_parameter", params = {Name = "/a"},
              answer = {Parameter = {Value = "1"}}}
  t.eq(t.run_hook(CALLS, {call = "ssm", name = "/a"}, {stubs = {ok}}).result,
       {Parameter = {Value = "1"}})
  local out = t.run_hook(CALLS, {call = "ssm", name = "/b"}, {stubs = {ok}})
  t.eq(out.message, 'stub: ssm GetParameter: params.Name is "/b", expected "/a"')
  t.eq(#out.stubs_unused, 1) -- a mismatch consumes nothing
  out = t.run_hook(CALLS, {call = "ssm", name = "/b"}, {stubs = {}}) -- opts.stubs replaces them
  t.eq(out.message, "stub: unexpected call ssm GetParameter (no answer left for ssm)")
  out = t.run_hook(CALLS, {call = "ssm", name = "/a"}, {stubs = {
    {service = "ssm", operation = "GetParameter", error = {code = "ParameterNotFound",
                                                           message = "no such", status = 400}}}})
  t.eq({out.result.code, out.result.status}, {"ParameterNotFound", 400})
  t.ok(out.result.text:find("^ParameterNotFound: no such"), out.result.text)
  out = t.run_hook(CALLS, {call = "ssm", name = "/a"}, {stubs = {
    {service = "ssm", operation = "GetParameter", status = 400,
     body = '{"__type": "com.amazonaws.ssm#ParameterNotFound", "message": "nope"}'}}})
  t.eq(out.result.code, "ParameterNotFound") -- a raw body is decoded as a real answer
  out = t.run_hook(CALLS, {call = "ssm", name = "/a"}, {stubs = {
    {service = "ssm", operation = "GetParameter", body = '{"Parameter": {"Value": "raw"}}'}}})
  t.eq(out.result.Parameter.Value, "raw")
  t.raises(function() t.stub{service = "ssm", operation = "GetParameter"} end,
           "stub entry %d+: give exactly one of answer, body or error")
end)

t.test("assert_stubs_used names what was left", function()
  t.stub{service = "sns", operation = "Publish", answer = {}}
  t.http{method = "POST", url = "https://hooks.example.com/x"}
  local msg = t.raises(function() t.assert_stubs_used() end)
  t.ok(msg:find("2 answers were never used: stub entry 1 (sns Publish); http answer 1 (POST "
                .. "https://hooks.example.com/x)", 1, true), msg)
end)

t.test("fake HTTP answers: statuses, failures, records and unexpected requests", function()
  local url = "https://app.example.com/health"
  local out = t.run_hook(CALLS, {call = "http", url = url}, {http = {
    {url = url, status = 204, body = "", headers = {["X-Version"] = "2"}}}})
  t.eq(out.result, {status = 204, body = ""})
  out = t.run_hook(CALLS, {call = "http", url = url}, {http = {{url = url, error = "timeout"}}})
  t.eq(out.result.err, "GET https://app.example.com/health: timed out after 2500 ms (fake) "
                       .. "(1 attempt over 2.5 s)")
  t.eq(out.elapsed_ms, 2500)
  out = t.run_hook(CALLS, {call = "http", url = url .. "?x=1", method = "POST"})
  t.eq(out.message, "hookhost.testing: unexpected request POST " .. url .. "?x=1 (no fake answer "
                    .. "left for it: add one with t.http{method = \"POST\", url = \"" .. url
                    .. "?x=1\", status = 200})")
  t.eq(#t.requests(), 3)
  t.eq(t.requests()[3].method, "POST")
end)

t.test("t.eq shows every difference; t.ok and t.raises say what they expected", function()
  local msg = t.raises(function()
    t.eq({a = 1, list = {1, 2}, s = "x\ny"}, {a = 1, list = {1, 3, 4}, s = "x\ny", n = 0})
  end)
  t.ok(msg:find("t.eq: not equal\n  .list[2]: got 2, want 3\n  .list[3]: missing, want 4\n"
                .. "  .n: missing, want 0", 1, true), msg)
  t.ok(t.raises(function() t.ok(nil) end):find("t.ok: got nil", 1, true))
  t.ok(t.raises(function() t.raises(function() end) end):find("returned without raising", 1, true))
  t.ok(t.raises(function() t.raises(function() error("boom") end, "bang") end)
       :find("does not match", 1, true))
  t.eq(t.raises(function() error("boom", 0) end, "^boom$"), "boom")
end)
