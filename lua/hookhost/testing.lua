--- hookhost.testing: offline tests of hook scripts, run by `hookhost test` (docs/HOOKS.md,
-- "Testing hooks offline").
--
--   local t = require("hookhost.testing")
--   t.test("the gate closes when an alarm fires", function()
--     local out = t.run_hook("hooks/BeforeAllowTraffic.lua", {}, {
--       env = {ALARM_NAMES = "api-5xx"}, clock = "2026-12-07T10:00:00Z",
--       stubs = {{service = "monitoring", operation = "DescribeAlarms", body = "<...>"}}})
--     t.expect_status(out, "failed", "api%-5xx")
--   end)
--
-- Each test runs in a fresh Lua state (the same Lua 5.4, library and sandbox as a hook), with:
--   a fake environment  os.getenv sees only the variables given (t.env, opts.env);
--   a fake clock        os.time and os.date (local time is UTC, as in Lambda) start at the real
--                       time or at t.clock / opts.clock; util.now_ms, util.sleep_ms and
--                       remaining_ms only move when something sleeps, and sleeping is instant,
--                       so waits, retries and time windows are tested without waiting;
--   canned AWS answers  hookhost.stubs entries (t.stub, opts.stubs), strict: an AWS call with
--                       no answer left raises "stub: unexpected call ...";
--   fake HTTP answers   t.http{method?, url, status?, body?, headers?, error?} for hookhost.http;
--                       a request with no answer raises "hookhost.testing: unexpected request".
-- Nothing leaves the machine: no AWS or HTTP request is sent from a test.
--
-- Functions:
--   t.test(name, fn)                      register a test (at the file's top level)
--   t.run_hook(path, event?, opts?) -> outcome
--       path relative to the task root (hookhost test --task-root); the script runs as under
--       hookhost run: its function gets (event, ctx) with the event as JSON would carry it.
--       opts: env, clock, remaining_ms (default 60000), stubs, http, ctx (fields of t.ctx)
--       outcome = {status = "succeeded" | "failed" | "in_progress", ok, reason, message,
--                  result, in_progress = {delay, details} | nil, logs = {{level, message,
--                  fields}, ...}, requests = {{method, url, headers, body}, ...},
--                  elapsed_ms, stubs_unused}
--   t.ctx(fields?) -> a ctx like the runtime's (hook, deployment_id, execution_id, request_id,
--       controller, stage, dry_run, remaining_ms(), log.*, in_progress{}) whose log lines are
--       kept in ctx.logs
--   t.env(vars), t.clock(time), t.now_ms(), t.sleep_ms(ms)  the fakes, for the test itself
--   t.stub(entry), t.http(entry), t.requests(), t.assert_stubs_used()
--   t.eq(got, want [, what]), t.ok(v [, what]), t.raises(fn, pattern) -> message,
--   t.expect_status(outcome, status [, pattern])

local cjson = require("cjson.safe")
local stubs = require("hookhost.stubs")
local util = require("hookhost.util")
local aws_core = require("hookhost.aws.core")
local http_core = require("hookhost.http.core")

local M = {DEFAULT_REMAINING_MS = 60000, MAX_TESTS = 10000} -- testrun.h: TESTRUN_MAX_TESTS

local real = {getenv = os.getenv, time = os.time, date = os.date}

-- ---- state of the running test (a fresh Lua state per test) ----------------------------------

local tests = {}
local env = {}
local http_fakes = {}
local requests = {}
local mono = 1000000         -- the fake monotonic clock, ms
local wall_base = real.time() -- epoch seconds at mono_base
local mono_base = mono
local deadline = nil         -- the running hook's, in fake ms; nil outside t.run_hook
local timed_out = false
local run_start = mono

M.task_root = "."

-- ---- helpers ---------------------------------------------------------------------------------

local function show(v)
  if type(v) == "string" then
    local s = string.format("%q", v):gsub("\\\n", "\\n")
    return s
  end
  if type(v) == "table" then
    local ok, s = pcall(cjson.encode, v)
    if ok and s then
      return #s > 200 and s:sub(1, 200) .. "..." or s
    end
  end
  return tostring(v)
end

local function copy(t)
  local out = {}
  for k, v in pairs(t) do
    out[k] = v
  end
  return out
end

local function argcheck(cond, fname, msg)
  if not cond then
    error("hookhost.testing." .. fname .. ": " .. msg, 3)
  end
end

-- ---- the fake clock ------------------------------------------------------------------------

-- "2026-12-04T10:00:00Z" (or with an offset, +01:00) or epoch seconds -> epoch seconds.
local function days_from_civil(y, m, d)
  y = m <= 2 and y - 1 or y
  local era = (y >= 0 and y or y - 399) // 400
  local yoe = y - era * 400
  local doy = (153 * (m + (m > 2 and -3 or 9)) + 2) // 5 + d - 1
  local doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
  return era * 146097 + doe - 719468
end

local function utc_seconds(y, mo, d, h, mi, s)
  y = y + (mo - 1) // 12
  mo = (mo - 1) % 12 + 1
  return days_from_civil(y, mo, 1) * 86400 + (d - 1) * 86400 + h * 3600 + mi * 60 + s
end

local function parse_time(v, fname)
  if math.type(v) == "integer" then
    return v
  end
  argcheck(type(v) == "string", fname,
           "clock must be a time such as \"2026-12-04T10:00:00Z\" or epoch seconds")
  local y, mo, d, h, mi, s, zone = v:match(
    "^(%d%d%d%d)%-(%d%d)%-(%d%d)[T ](%d%d):(%d%d):(%d%d)(.*)$")
  if not y then
    y, mo, d = v:match("^(%d%d%d%d)%-(%d%d)%-(%d%d)$")
    h, mi, s, zone = "00", "00", "00", "Z"
  end
  local offset = 0
  if zone and zone ~= "Z" then
    local sign, oh, om = zone:match("^([+-])(%d%d):?(%d%d)$")
    argcheck(sign, fname, string.format("clock %q: expected a time such as "
                                        .. "\"2026-12-04T10:00:00Z\" or \"...+01:00\"", v))
    offset = (tonumber(oh) * 3600 + tonumber(om) * 60) * (sign == "+" and 1 or -1)
  end
  argcheck(y, fname, string.format("clock %q: expected a time such as \"2026-12-04T10:00:00Z\"", v))
  y, mo, d, h, mi, s = tonumber(y), tonumber(mo), tonumber(d), tonumber(h), tonumber(mi),
                       tonumber(s)
  argcheck(mo >= 1 and mo <= 12 and d >= 1 and d <= 31 and h <= 23 and mi <= 59 and s <= 60,
           fname, string.format("clock %q is not a valid time", v))
  return utc_seconds(y, mo, d, h, mi, s) - offset
end

local hook_thread -- the coroutine running the hook under t.run_hook
local TIMED_OUT = {}

-- The hook's time is up: as the runtime's deadline hook, which a pcall cannot swallow, stop the
-- hook by yielding out of it to run_hook (pcall is yieldable in Lua 5.4); where that cannot be
-- done (outside run_hook, or inside a C callback), raise.
local function timeout_error()
  timed_out = true
  local co, main = coroutine.running()
  if not main and co == hook_thread and coroutine.isyieldable() then
    coroutine.yield(TIMED_OUT)
  end
  error(string.format("hook timed out after %d ms", mono - run_start), 0)
end

local function check_deadline()
  if timed_out then
    timeout_error()
  end
end

local function now_ms()
  check_deadline()
  return mono
end

local function remaining_ms()
  check_deadline()
  return deadline and math.max(0, deadline - mono) or M.DEFAULT_REMAINING_MS
end

-- Sleeping is instant: the clock moves on. As in the runtime, a sleep is capped by the time
-- left, and a hook still running at its deadline is stopped.
local function sleep_ms(ms)
  check_deadline()
  ms = math.tointeger(ms) or math.floor(ms)
  if not deadline then -- in the test itself, outside any hook: no deadline
    mono = mono + math.max(ms, 0)
    return math.max(ms, 0)
  end
  local left = deadline - mono
  if ms > left then
    ms = left
  end
  if ms <= 0 then
    if left <= 0 then
      timeout_error()
    end
    return 0
  end
  mono = mono + ms
  if mono >= deadline then
    timeout_error()
  end
  return ms
end

local function wall_now()
  return wall_base + (mono - mono_base) // 1000
end

local function fake_time(t)
  if t == nil then
    check_deadline()
    return wall_now()
  end
  if type(t) ~= "table" then
    error("bad argument #1 to 'time' (table expected, got " .. type(t) .. ")", 2)
  end
  local function field(k, default)
    local v = t[k]
    if v == nil then
      if default == nil then
        error("field '" .. k .. "' missing in date table", 3)
      end
      return default
    end
    local n = math.tointeger(v)
    if n == nil then
      error("field '" .. k .. "' is not an integer", 3)
    end
    return n
  end
  -- local time is UTC, as in Lambda
  return utc_seconds(field("year"), field("month"), field("day"), field("hour", 12),
                     field("min", 0), field("sec", 0))
end

local function fake_date(fmt, t)
  fmt = fmt or "%c"
  if t == nil then
    check_deadline()
    t = wall_now()
  end
  if type(fmt) == "string" and fmt:sub(1, 1) ~= "!" then
    fmt = "!" .. fmt -- local time is UTC, as in Lambda
  end
  return real.date(fmt, t)
end

local function fake_getenv(name)
  if type(name) ~= "string" then
    error("bad argument #1 to 'getenv' (string expected, got " .. type(name) .. ")", 2)
  end
  return env[name]
end

function M.clock(time)
  wall_base = parse_time(time, "clock")
  mono_base = mono
end

function M.now_ms()
  return mono
end

function M.sleep_ms(ms)
  argcheck(math.tointeger(ms) and ms >= 0, "sleep_ms", "ms must be a non-negative integer")
  mono = mono + ms
end

local function check_env(vars, fname)
  argcheck(type(vars) == "table", fname, "env must be a table {NAME = \"value\"}")
  local out = {}
  for k, v in pairs(vars) do
    argcheck(type(k) == "string", fname, "env names must be strings")
    argcheck(type(v) == "string" or type(v) == "number", fname,
             string.format("env.%s must be a string", k))
    out[k] = tostring(v)
  end
  return out
end

function M.env(vars)
  env = check_env(vars, "env")
end

-- ---- fake HTTP answers (hookhost.http) -----------------------------------------------------

local HTTP_ERRORS = {
  timeout = function(ms) return string.format("timed out after %d ms (fake)", ms) end,
  connection = function() return "connection failed: connection refused (fake)" end,
  dns = function() return "DNS lookup failed: could not resolve host (fake)" end,
  tls = function() return "TLS verification failed: certificate problem (fake)" end,
}

function M.http(entry)
  argcheck(type(entry) == "table", "http", "expected a table {method?, url, status?, body?, ...}")
  argcheck(type(entry.url) == "string" and entry.url:match("^https?://"), "http",
           "url must be the http:// or https:// URL the hook requests")
  argcheck(entry.method == nil or type(entry.method) == "string", "http",
           "method must be a string such as \"POST\"")
  argcheck(entry.error == nil or HTTP_ERRORS[entry.error], "http",
           "error must be \"timeout\", \"connection\", \"dns\" or \"tls\"")
  argcheck(entry.status == nil or math.tointeger(entry.status), "http",
           "status must be an integer")
  argcheck(entry.body == nil or type(entry.body) == "string", "http", "body must be a string")
  argcheck(entry.delay_ms == nil or math.tointeger(entry.delay_ms), "http",
           "delay_ms must be an integer")
  http_fakes[#http_fakes + 1] = {entry = entry, used = false, index = #http_fakes + 1}
end

local function shown_url(url)
  return (url:gsub("[?#].*$", ""))
end

local function fake_http_request(req)
  check_deadline()
  local method = req.method or "GET"
  local url = req.url
  requests[#requests + 1] = {method = method, url = url, headers = req.headers and copy(req.headers),
                             body = req.body}
  for _, f in ipairs(http_fakes) do
    local e = f.entry
    if not f.used and e.url == url and (e.method == nil or e.method == method) then
      f.used = true
      local timeout = math.tointeger(req.timeout_ms) or remaining_ms()
      if e.error == "timeout" then
        sleep_ms(timeout)
        return nil, method .. " " .. shown_url(url) .. ": " .. HTTP_ERRORS.timeout(timeout), "timeout"
      end
      if e.delay_ms then
        sleep_ms(math.min(e.delay_ms, timeout))
      end
      if e.error then
        return nil, method .. " " .. shown_url(url) .. ": " .. HTTP_ERRORS[e.error](), e.error
      end
      local headers = {}
      for k, v in pairs(e.headers or {}) do
        headers[k:lower()] = v
      end
      return e.status or 200, headers, e.body or ""
    end
  end
  error(string.format("hookhost.testing: unexpected request %s %s (no fake answer left for it: "
                      .. "add one with t.http{method = %q, url = %q, status = 200})", method, url,
                      method, url), 0)
end

function M.requests()
  return requests
end

-- ---- canned AWS answers (hookhost.stubs) ---------------------------------------------------

function M.stub(entry)
  stubs.add(entry)
end

function M.assert_stubs_used()
  local left = {}
  for _, u in ipairs(stubs.unused()) do
    left[#left + 1] = string.format("stub entry %d (%s %s)", u.index, u.service, u.operation)
  end
  for _, f in ipairs(http_fakes) do
    if not f.used then
      left[#left + 1] = string.format("http answer %d (%s %s)", f.index, f.entry.method or "any",
                                      f.entry.url)
    end
  end
  if #left > 0 then
    error(string.format("t.assert_stubs_used: %d answer%s never used: %s", #left,
                        #left == 1 and " was" or "s were", table.concat(left, "; ")), 2)
  end
end

-- A signed call that reaches the network layer in a test had no canned answer.
local function refuse_aws(t)
  error(string.format("hookhost.testing: a test tried to send a real AWS request (%s %s): give "
                      .. "it an answer with t.stub{service = %q, operation = %q, ...}",
                      tostring(t.service), tostring(t.operation), tostring(t.service),
                      tostring(t.operation)), 0)
end

-- ---- ctx ---------------------------------------------------------------------------------------

local IN_PROGRESS = setmetatable({}, {__mode = "k"}) -- value ctx.in_progress returned -> answer

function M.ctx(fields)
  fields = fields or {}
  argcheck(type(fields) == "table", "ctx", "expected a table of ctx fields")
  local logs = {}
  local budget = fields.remaining_ms or M.DEFAULT_REMAINING_MS
  argcheck(math.tointeger(budget) and budget >= 0, "ctx", "remaining_ms must be an integer")
  local ctx = {
    hook = fields.hook or "Test",
    deployment_id = fields.deployment_id,
    execution_id = fields.execution_id,
    request_id = fields.request_id or "test",
    controller = fields.controller or "local",
    stage = fields.stage,
    dry_run = fields.dry_run == true,
    logs = logs,
    _deadline = mono + budget,
  }
  ctx.remaining_ms = function()
    check_deadline()
    return math.max(0, ctx._deadline - mono)
  end
  ctx.log = {}
  for _, level in ipairs({"trace", "debug", "info", "warn", "error"}) do
    ctx.log[level] = function(message, f)
      if f ~= nil and type(f) ~= "table" then
        error("bad argument #2 to '" .. level .. "' (table expected, got " .. type(f) .. ")", 2)
      end
      logs[#logs + 1] = {level = level, message = tostring(message), fields = f}
    end
  end
  ctx.in_progress = function(t)
    if ctx.controller ~= "ecs" then
      error(string.format("ctx.in_progress is only for ECS-native deployments (ctx.controller is "
                          .. "'%s'): under CodeDeploy a hook finishes within one invocation",
                          ctx.controller), 2)
    end
    t = t or {}
    if type(t) ~= "table" then
      error("bad argument #1 to 'in_progress' (table expected, got " .. type(t) .. ")", 2)
    end
    local d = t.delay
    if d ~= nil and not (math.tointeger(d) and d >= 0 and d <= 3600) then
      error("bad argument #1 to 'in_progress' (delay must be whole seconds from 0 to 3600)", 2)
    end
    if t.details ~= nil and type(t.details) ~= "table" then
      error("bad argument #1 to 'in_progress' (details must be a table)", 2)
    end
    ctx._in_progress_called = true
    -- as the runtime's: a read-only value whose fields read as the answer ECS gets
    local answer = {hookStatus = "IN_PROGRESS", callBackDelay = d, hookDetails = t.details}
    local v = setmetatable({}, {__index = answer, __metatable = "ctx.in_progress",
                                __newindex = function()
                                  error("the value ctx.in_progress returns is read-only: return "
                                        .. "it as it is", 2)
                                end})
    IN_PROGRESS[v] = {delay = d, details = t.details}
    return v
  end
  return ctx
end

-- ---- running a hook ----------------------------------------------------------------------------

local function resolve(path)
  if path:sub(1, 1) == "/" or M.task_root == "." or M.task_root == "" then
    return path
  end
  return M.task_root .. "/" .. path
end

local function base_name(path)
  return (path:match("([^/]+)$") or path):gsub("%.lua$", "")
end

-- ctx defaults from the event, as the runtime derives them.
local function ctx_fields(path, event, given)
  local f = {hook = base_name(path), controller = "local"}
  if type(event.DeploymentId) == "string" then
    f.controller = "codedeploy"
    f.deployment_id = event.DeploymentId
    f.execution_id = event.LifecycleEventHookExecutionId
  elseif type(event.executionDetails) == "table" or type(event.serviceArn) == "string" then
    f.controller = "ecs"
    local d = type(event.executionDetails) == "table" and event.executionDetails or {}
    f.stage = d.lifecycleStage or event.lifecycleStage
  end
  for k, v in pairs(given or {}) do
    f[k] = v
  end
  return f
end

local function message_of(e)
  if type(e) == "string" then
    return e
  end
  local mt = getmetatable(e)
  if mt and mt.__tostring then
    return tostring(e)
  end
  return "(error object is a " .. type(e) .. " value)"
end

local function handler(e)
  return {message = message_of(e), traceback = debug.traceback(nil, 2)}
end

-- What xpcall(f, handler) returned as its error: Lua does not call the handler for memory errors.
local function caught(e)
  if type(e) == "table" and e.message then
    return e
  end
  return {message = message_of(e)}
end

-- Lua shortens long chunk names to "...<tail>" in messages: put the whole path back.
local function full_path(msg, path)
  if msg:sub(1, 3) ~= "..." then
    return msg
  end
  for colon in msg:gmatch("():") do
    local tail = msg:sub(4, colon - 1)
    if #tail <= #path and path:sub(-#tail) == tail then
      return path .. msg:sub(colon)
    end
  end
  return msg
end

local PRELOADED = {}

function M.run_hook(path, event, opts)
  argcheck(type(path) == "string" and path ~= "", "run_hook", "path must be a hook script path")
  event = event or {}
  opts = opts or {}
  argcheck(type(event) == "table", "run_hook", "event must be a table")
  argcheck(type(opts) == "table", "run_hook", "opts must be a table {env, clock, stubs, ...}")
  local json, jerr = cjson.encode(event)
  argcheck(json, "run_hook", "event cannot be encoded as JSON: " .. tostring(jerr))
  event = cjson.decode(json) -- the hook gets the event as JSON carries it, never the test's table

  if opts.env ~= nil then
    env = check_env(opts.env, "run_hook")
  end
  if opts.clock ~= nil then
    M.clock(opts.clock)
  end
  if opts.stubs ~= nil then -- this run's answers, in place of any left
    argcheck(type(opts.stubs) == "table", "run_hook", "stubs must be a list of stub entries")
    stubs.load(opts.stubs, {strict = true})
  end
  if opts.http ~= nil then
    argcheck(type(opts.http) == "table", "run_hook", "http must be a list of answers")
    http_fakes = {}
    for _, e in ipairs(opts.http) do
      M.http(e)
    end
  end
  local fields = ctx_fields(path, event, opts.ctx)
  fields.remaining_ms = opts.remaining_ms or fields.remaining_ms
  local ctx = M.ctx(fields)
  deadline = ctx._deadline
  timed_out = false
  run_start = mono
  local first_request = #requests + 1

  local loaded_before = {}
  for k in pairs(package.loaded) do
    loaded_before[k] = true
  end
  local published = {package.loaded["hookhost.context"], package.loaded["hookhost.event"]}

  local out = {logs = ctx.logs}
  local file = resolve(path)
  local henv = setmetatable({}, {__index = _G})
  local chunk, lerr = loadfile(file, "t", henv)
  if not chunk then
    local missing = lerr:find("cannot open", 1, true) ~= nil
    out.reason, out.message = missing and "script missing" or "syntax", full_path(lerr, file)
  else
    local ok, fn = xpcall(chunk, handler)
    if not ok then
      fn = caught(fn)
      out.reason, out.message, out.traceback = "error", full_path(fn.message, file), fn.traceback
    elseif type(fn) ~= "function" then
      out.reason = "not a function"
      out.message = string.format("%s must return a function(event, ctx), but returned %s", file,
                                  type(fn))
    else
      package.loaded["hookhost.context"] = ctx
      package.loaded["hookhost.event"] = event
      hook_thread = coroutine.create(function()
        return xpcall(fn, handler, event, ctx)
      end)
      local res = table.pack(coroutine.resume(hook_thread))
      local r -- what xpcall returned
      if not res[1] then
        r = {false, caught(res[2])}
      elseif coroutine.status(hook_thread) == "suspended" then
        -- stopped at its deadline; or it yielded, which in the runtime (no coroutine) raises
        r = {false, {message = res[2] == TIMED_OUT and "timed out"
                               or "attempt to yield from outside a coroutine"}}
        coroutine.close(hook_thread)
      else
        r = table.move(res, 2, res.n, 1, {})
      end
      hook_thread = nil
      if timed_out then
        out.reason, out.message = "timeout", string.format("hook timed out after %d ms",
                                                            mono - run_start)
      elseif not r[1] then
        local e = caught(r[2])
        out.reason, out.message, out.traceback = "error", full_path(e.message, file), e.traceback
      elseif r[2] == false then
        out.reason = "returned false"
        out.message = r[3] ~= nil and tostring(r[3]) or "the hook returned false"
      elseif type(r[2]) == "table" and IN_PROGRESS[r[2]] then
        out.reason = "ok"
        out.in_progress = IN_PROGRESS[r[2]]
      elseif ctx._in_progress_called then
        out.reason = "error"
        out.message = string.format("ctx.in_progress was called, but the function returned %s "
                                    .. "instead of its value: write `return ctx.in_progress{...}` "
                                    .. "to answer IN_PROGRESS",
                                    r[2] == nil and "nothing" or type(r[2]))
      else
        out.reason, out.result = "ok", r[2]
      end
    end
  end
  package.loaded["hookhost.context"], package.loaded["hookhost.event"] = published[1], published[2]
  for k in pairs(package.loaded) do -- modules the hook loaded start afresh next time
    if not loaded_before[k] and not PRELOADED[k] then
      package.loaded[k] = nil
    end
  end
  timed_out = false
  deadline = nil

  out.ok = out.reason == "ok"
  out.status = out.in_progress and "in_progress" or out.ok and "succeeded" or "failed"
  out.elapsed_ms = mono - run_start
  out.requests = table.move(requests, first_request, #requests, 1, {})
  out.stubs_unused = stubs.unused()
  return out
end

-- ---- assertions --------------------------------------------------------------------------------

local function key_path(path, k)
  if type(k) == "string" and k:match("^[%a_][%w_]*$") then
    return path .. "." .. k
  end
  return path .. "[" .. show(k) .. "]"
end

-- Every difference between got and want, as "path: got X, want Y" lines (at most 20).
local function diff(got, want, path, out, seen)
  if #out >= 20 then
    return
  end
  if type(got) ~= "table" or type(want) ~= "table" then
    if got ~= want then
      out[#out + 1] = string.format("%s: got %s, want %s", path == "" and "value" or path,
                                    show(got), show(want))
    end
    return
  end
  if got == want or (seen[got] and seen[got] == want) then
    return
  end
  seen[got] = want
  local keys = {}
  for k in pairs(want) do
    keys[#keys + 1] = k
  end
  for k in pairs(got) do
    if want[k] == nil then
      keys[#keys + 1] = k
    end
  end
  table.sort(keys, function(a, b)
    if type(a) == type(b) and (type(a) == "number" or type(a) == "string") then
      return a < b
    end
    return type(a) < type(b)
  end)
  for _, k in ipairs(keys) do
    local p = key_path(path, k)
    if want[k] == nil then
      out[#out + 1] = string.format("%s: got %s, want nothing", p, show(got[k]))
    elseif got[k] == nil then
      out[#out + 1] = string.format("%s: missing, want %s", p, show(want[k]))
    else
      diff(got[k], want[k], p, out, seen)
    end
    if #out >= 20 then
      out[#out + 1] = "..."
      return
    end
  end
end

function M.eq(got, want, what)
  local d = {}
  diff(got, want, "", d, {})
  if #d > 0 then
    error(string.format("t.eq%s: not equal\n  %s", what and (" (" .. tostring(what) .. ")") or "",
                        table.concat(d, "\n  ")), 2)
  end
end

function M.ok(v, what)
  if not v then
    error(string.format("t.ok: %s", what and tostring(what) or ("got " .. show(v))), 2)
  end
  return v
end

function M.raises(fn, pattern)
  argcheck(type(fn) == "function", "raises", "expected a function")
  local ok, e = pcall(fn)
  if ok then
    error("t.raises: the function returned without raising"
          .. (pattern and (", expected an error matching " .. show(pattern)) or ""), 2)
  end
  local msg = message_of(e)
  if pattern and not msg:find(pattern) then
    error(string.format("t.raises: the error %s does not match %s", show(msg), show(pattern)), 2)
  end
  return msg
end

local STATUSES = {succeeded = true, failed = true, in_progress = true}

function M.expect_status(out, status, pattern)
  argcheck(type(out) == "table" and out.status, "expect_status", "expected an outcome of t.run_hook")
  argcheck(STATUSES[status], "expect_status", "status must be \"succeeded\", \"failed\" or "
                                                .. "\"in_progress\"")
  local problem
  if out.status ~= status then
    problem = string.format("the hook %s, expected %s", out.status:gsub("_", " "), status)
  elseif pattern and not (out.message or ""):find(pattern) then
    problem = string.format("the message %s does not match %s", show(out.message), show(pattern))
  end
  if problem then
    local lines = {"t.expect_status: " .. problem}
    if out.message then
      lines[#lines + 1] = "  message: " .. out.message
    end
    for i = math.max(1, #out.logs - 4), #out.logs do
      local l = out.logs[i]
      lines[#lines + 1] = string.format("  log %s: %s%s", l.level, l.message,
                                        l.fields and (" " .. show(l.fields)) or "")
    end
    error(table.concat(lines, "\n"), 2)
  end
  return out
end

-- ---- tests and the runner ------------------------------------------------------------------------

function M.test(name, fn)
  argcheck(type(name) == "string" and name ~= "", "test", "name must be a non-empty string")
  argcheck(type(fn) == "function", "test", "fn must be a function")
  tests[#tests + 1] = {name = name, fn = fn}
end

-- Patch the clocks, the environment and the network layers of this (test-only) Lua state.
local function install()
  os.getenv, os.time, os.date = fake_getenv, fake_time, fake_date -- luacheck: ignore 122
  http_core.now_ms, http_core.sleep_ms, http_core.remaining_ms = now_ms, sleep_ms, remaining_ms
  http_core.request = fake_http_request
  util.now_ms = now_ms
  -- the test itself is no hook: library calls in it get no ctx or event from the runner
  package.loaded["hookhost.context"], package.loaded["hookhost.event"] = nil, nil
  stubs.load({}, {strict = true})
  aws_core.request = refuse_aws -- aws.send answers from the stubs before it gets here
  for k in pairs(package.loaded) do
    PRELOADED[k] = true
  end
end

--- The entry point of `hookhost test` (lua/hookhost/testing_runner.lua): job = {file, index,
-- task_root}. Index 0 lists the file's tests; index N runs the Nth. A failure raises (the test
-- failed); a passing test returns its name.
function M._run(job)
  M.task_root = job.task_root or "."
  install()
  local chunk, err = loadfile(job.file, "t")
  if not chunk then
    error(full_path(err, job.file), 0)
  end
  local ok, e = xpcall(chunk, handler)
  if not ok then
    error(full_path(caught(e).message, job.file), 0)
  end
  if job.index == 0 then
    if #tests > M.MAX_TESTS then
      error(string.format("%s registers %d tests, more than %d in one file: split it", job.file,
                          #tests, M.MAX_TESTS), 0)
    end
    local names = {}
    for i, tc in ipairs(tests) do
      names[tostring(i)] = tc.name
    end
    return {count = #tests, names = names}
  end
  local tc = tests[job.index]
  if not tc then
    error(string.format("%s has no test %d (its top level registered %d)", job.file, job.index,
                        #tests), 0)
  end
  ok, e = xpcall(tc.fn, handler)
  if not ok then
    -- errors raised in C (an index of nil in ipairs, a bad argument) carry no position: name
    -- the test file's line from the traceback
    e = caught(e)
    local msg = full_path(e.message, job.file)
    local tb = (e.traceback or ""):gsub("\n%s*(%.%.%.[^:\n]*)", function(name)
      return "\n" .. full_path(name .. ":", job.file):sub(1, -2)
    end)
    local at = not msg:find(job.file, 1, true)
               and tb:match("\n%s*(" .. job.file:gsub("%p", "%%%0") .. ":%d+):")
    error(at and (msg .. " (at " .. at .. ")") or msg, 0)
  end
  return {name = tc.name}
end

return M
