--- hookhost.http: plain HTTP(S) requests for smoke tests and webhooks (not signed; use
-- hookhost.aws for AWS).
--
--   local http = require("hookhost.http")
--   return function(event, ctx)
--     local r, err = http.get("https://test.example.com/health",
--                             {expect_status = 200, expect_body = "\"ok\"", retries = 3})
--     if not r then return false, err end
--     ctx.log.info("smoke test passed", {status = r.status, ms = r.elapsed_ms})
--     assert(http.post_json("https://hooks.example.com/deployed", {id = ctx.deployment_id}))
--   end
--
-- http.get(url [, opts]) / http.head(url [, opts]) / http.request(method, url [, opts])
--   -> {status, body, headers, attempts, elapsed_ms}      the answer met the expectations
--   -> nil, message                                      it did not, after every attempt
-- http.post_json(url, value [, opts]): POST value encoded by hookhost.json (json.empty_array is
--   sent as []), Content-Type: application/json; the result also has `json`, the answer's body
--   decoded when it is JSON (else nil).
-- http.get_json(url [, opts]): GET with Accept: application/json; the answer's body must be JSON
--   (else it is a failure like a wrong status): the result's `json` is it, decoded.
-- opts:
--   expect_status  a status or a list of them; default any 2xx
--   expect_body    a plain substring the body must contain (no pattern characters)
--   expect_pattern a Lua pattern the body must match (string.find), e.g. "version%s*=%s*2"
--   retries        extra attempts after a failure of any kind (no answer, another status, another
--                  body). Default 2 for GET, HEAD, PUT, DELETE and OPTIONS (repeating them is
--                  harmless); 0 for POST, PATCH and any other method, which are retried only when
--                  retries is given (a webhook that answered 500 may still have acted on the first
--                  one). Between attempts: retry_delay_ms (default 1000), doubling up to 10 s.
--   total_ms       the whole call's time, attempts and pauses included (default: the hook's time
--                  left). Each attempt's timeout is cut to fit; no attempt starts with less than
--                  300 ms (or timeout_ms, when smaller) left before total_ms or the hook's end.
--   timeout_ms     each attempt's time (default 10000), always capped by total_ms and the hook's
--                  time left
--   headers        {Name = "value"}; body (a string, for request()); max_body (bytes, default
--                  1 MiB, at most 16 MiB; a larger answer is a failure)
-- Messages name the method, the URL without its query string, what was wrong and how long it
-- was tried: 'GET https://x/health answered 503, expected 200 (3 attempts over 2.1 s)'.
-- Redirects are not followed (expect 301 to test one). TLS certificates are always verified
-- (AWS_CA_BUNDLE names extra trusted CAs). Headers of the answer have lower-case names.
-- Dry runs (hookhost run --dry-run): GET and HEAD are sent (they change nothing); any other
-- method is not: the C core logs "dry run: not sent: POST https://host/path (N bytes)" and the
-- call returns {status = 200, body = "", headers = {}, attempts = 0, elapsed_ms = 0,
-- dry_run = true} without checking expectations.

local core = require("hookhost.http.core")
local json = require("hookhost.json")
local util = require("hookhost.util")

local M = {}

-- Raise a bad-argument error that points at the script's line: `up` is how many functions of
-- this module lie between the one raising and the script (M.get and friends tail-call `call`,
-- so `call` counts as called by the script).
local function argerror(fname, msg, up)
  error("hookhost." .. fname .. ": " .. msg, 2 + up)
end

local function display_url(url)
  return (url:gsub("^(%a+://)[^/@]*@", "%1"):gsub("[?#].*$", ""))
end

local function expect_list(v)
  if v == nil then
    return nil
  end
  if math.tointeger(v) then
    v = {v}
  end
  if type(v) == "table" and #v > 0 then
    local out = {}
    for i, s in ipairs(v) do
      out[i] = math.tointeger(s)
      if not out[i] or out[i] < 100 or out[i] > 599 then
        argerror("http", "expect_status must be a status code or a list of them", 2)
      end
    end
    return out
  end
  argerror("http", "expect_status must be a status code or a list of them", 2)
end

local function preview(body)
  local s = body:sub(1, 120):gsub("[%c]", " ")
  return #body > 120 and s .. "..." or s
end

local function check_answer(status, body, opts, want)
  if want then
    local ok = false
    for _, s in ipairs(want) do
      ok = ok or s == status
    end
    if not ok then
      local names = {}
      for i, s in ipairs(want) do
        names[i] = tostring(s)
      end
      return string.format("answered %d, expected %s", status, table.concat(names, " or "))
    end
  elseif status < 200 or status > 299 then
    return string.format("answered %d, expected a 2xx status", status)
  end
  if opts.expect_body and not body:find(opts.expect_body, 1, true) then
    return string.format("answered %d but the body does not contain %q (body: %q)", status,
                         opts.expect_body, preview(body))
  end
  if opts.expect_pattern and not body:find(opts.expect_pattern) then
    return string.format("answered %d but the body does not match the pattern %q (body: %q)",
                         status, opts.expect_pattern, preview(body))
  end
  return nil
end

local IDEMPOTENT = {GET = true, HEAD = true, PUT = true, DELETE = true, OPTIONS = true}
local MIN_ATTEMPT_MS = 300

local function check_int(v, name, dflt, min, max)
  if v == nil then
    return dflt
  end
  local n = math.tointeger(v)
  if not n or n < min or (max and n > max) then
    argerror("http.request", string.format("%s must be an integer from %d%s", name, min,
                                           max and " to " .. max or " up"), 2)
  end
  return n
end

-- One call, with its retries. `decode_json`: the answer's body must be JSON (get_json); "try":
-- decoded when it is (post_json). The result then has `json`.
local function call(method, url, opts, decode_json)
  if type(method) ~= "string" then
    argerror("http.request", "method must be a string such as \"GET\"", 1)
  end
  if type(url) ~= "string" or not (url:match("^https?://[^/]") ) then
    argerror("http.request", string.format("url %s must be an http:// or https:// URL",
                                           type(url) == "string" and string.format("%q", url)
                                           or "(" .. type(url) .. ")"), 1)
  end
  opts = opts or {}
  if type(opts) ~= "table" then
    argerror("http.request", "opts must be a table", 1)
  end
  local want = expect_list(opts.expect_status)
  local idempotent = IDEMPOTENT[method] == true
  local retries = check_int(opts.retries, "retries", idempotent and 2 or 0, 0, 100)
  local timeout = check_int(opts.timeout_ms, "timeout_ms", 10000, 1)
  local delay = check_int(opts.retry_delay_ms, "retry_delay_ms", 1000, 0)
  local total = check_int(opts.total_ms, "total_ms", nil, 1)
  if opts.expect_body ~= nil and type(opts.expect_body) ~= "string" then
    argerror("http.request", "expect_body must be a string", 1)
  end
  if opts.expect_pattern ~= nil and type(opts.expect_pattern) ~= "string" then
    argerror("http.request", "expect_pattern must be a string (a Lua pattern)", 1)
  end

  local shown = method .. " " .. display_url(url)
  local start = util.now_ms()
  local min_attempt = math.min(timeout, MIN_ATTEMPT_MS)
  -- The time this call may still take: total_ms's and the hook's, less 100 ms to return.
  local function left()
    local l = util.remaining_ms() - 100
    if total then
      l = math.min(l, start + total - util.now_ms())
    end
    return l
  end
  local attempts = 0
  local last
  while true do
    attempts = attempts + 1
    local status, headers, body, dry = core.request{
      method = method, url = url, headers = opts.headers, body = opts.body,
      timeout_ms = math.max(1, math.min(timeout, left())), max_body = opts.max_body,
    }
    if dry then
      return {status = 200, body = "", headers = {}, attempts = 0, elapsed_ms = 0, dry_run = true}
    end
    if status then
      local bad = check_answer(status, body, opts, want)
      local decoded
      if not bad and decode_json then
        local e
        decoded, e = json.decode(body)
        if decoded == nil and decode_json == "must" then
          bad = string.format("answered %d but the body is not JSON: %s (body: %q)", status,
                              tostring(e), preview(body))
        end
      end
      if not bad then
        return {status = status, body = body, headers = headers, attempts = attempts,
                elapsed_ms = util.now_ms() - start, json = decoded}
      end
      last = shown .. " " .. bad
    else
      -- headers holds the message: "GET http://host/path: connection failed: ..."
      last = headers
    end
    if attempts > retries then
      if not idempotent and opts.retries == nil then
        last = last .. "; " .. method .. " is not retried unless opts.retries is given"
      end
      break
    end
    local pause = math.min(delay * 2 ^ (attempts - 1), 10000)
    if left() - pause < min_attempt then
      if total and start + total - util.now_ms() < util.remaining_ms() - 100 then
        last = last .. string.format("; no time left within total_ms (%d ms) for another attempt",
                                     total)
      else
        last = last .. "; no time left for another attempt"
      end
      break
    end
    util.sleep_ms(math.floor(pause))
  end
  return nil, string.format("%s (%d attempt%s over %s)", last, attempts,
                            attempts == 1 and "" or "s", util.seconds(util.now_ms() - start))
end

function M.request(method, url, opts)
  return call(method, url, opts)
end

function M.get(url, opts)
  return call("GET", url, opts)
end

function M.head(url, opts)
  return call("HEAD", url, opts)
end

-- opts with headers[name] set unless the caller gave that header (any case).
local function with_header(opts, name, value)
  if opts ~= nil and type(opts) ~= "table" then
    argerror("http.request", "opts must be a table", 2)
  end
  local out, headers = {}, {}
  for k, v in pairs(opts or {}) do
    out[k] = v
  end
  if out.headers ~= nil and type(out.headers) ~= "table" then
    argerror("http.request", "headers must be a table", 2)
  end
  for k, v in pairs(out.headers or {}) do
    if type(k) == "string" and k:lower() == name:lower() then
      name = nil
    end
    headers[k] = v
  end
  if name then
    headers[name] = value
  end
  out.headers = headers
  return out
end

function M.post_json(url, value, opts)
  local body, e = json.encode(value)
  if not body then
    argerror("http.post_json", "value cannot be encoded as JSON: " .. tostring(e), 1)
  end
  opts = with_header(opts, "Content-Type", "application/json")
  if opts.body ~= nil then
    argerror("http.post_json", "give the value, not opts.body", 1)
  end
  opts.body = body
  return call("POST", url, opts, "try")
end

function M.get_json(url, opts)
  return call("GET", url, with_header(opts, "Accept", "application/json"), "must")
end

return M
