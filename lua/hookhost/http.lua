--- hookhost.http: plain HTTP(S) requests for smoke tests (not signed; use hookhost.aws for AWS).
--
--   local http = require("hookhost.http")
--   return function(event, ctx)
--     local r, err = http.get("https://test.example.com/health",
--                             {expect_status = 200, expect_body = "\"ok\"", retries = 3})
--     if not r then return false, err end
--     ctx.log.info("smoke test passed", {status = r.status, ms = r.elapsed_ms})
--   end
--
-- http.get(url [, opts]) / http.head(url [, opts]) / http.request(method, url [, opts])
--   -> {status, body, headers, attempts, elapsed_ms}      the answer met the expectations
--   -> nil, message                                      it did not, after every attempt
-- opts:
--   expect_status  a status or a list of them; default any 2xx
--   expect_body    a plain substring the body must contain (no pattern characters)
--   expect_pattern a Lua pattern the body must match (string.find), e.g. "version%s*=%s*2"
--   retries        extra attempts after a failure of any kind (no answer, another status, another
--                  body); default 2. Between attempts: retry_delay_ms (default 1000), doubling
--                  up to 10 s. No attempt starts without time for it before the hook's end.
--   timeout_ms     each attempt's time (default 10000), always capped by the hook's time left
--   headers        {Name = "value"}; body (a string, for request()); max_body (bytes, default
--                  1 MiB, at most 16 MiB; a larger answer is a failure)
-- Messages name the method, the URL without its query string, what was wrong and how long it
-- was tried: 'GET https://x/health answered 503, expected 200 (3 attempts over 2.1 s)'.
-- Redirects are not followed (expect 301 to test one). TLS certificates are always verified
-- (AWS_CA_BUNDLE names extra trusted CAs). Headers of the answer have lower-case names. These
-- requests are made in dry runs too: they change nothing.

local core = require("hookhost.http.core")
local util = require("hookhost.util")

local M = {}

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
        util.argerror("http", "expect_status must be a status code or a list of them")
      end
    end
    return out
  end
  util.argerror("http", "expect_status must be a status code or a list of them")
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

function M.request(method, url, opts)
  if type(method) ~= "string" then
    util.argerror("http.request", "method must be a string such as \"GET\"")
  end
  if type(url) ~= "string" or not (url:match("^https?://[^/]") ) then
    util.argerror("http.request", string.format("url %s must be an http:// or https:// URL",
                                                type(url) == "string" and string.format("%q", url)
                                                or "(" .. type(url) .. ")"))
  end
  opts = opts or {}
  if type(opts) ~= "table" then
    util.argerror("http.request", "opts must be a table")
  end
  local want = expect_list(opts.expect_status)
  local retries = math.tointeger(opts.retries or 2)
  if not retries or retries < 0 or retries > 100 then
    util.argerror("http.request", "retries must be an integer from 0 to 100")
  end
  local timeout = math.tointeger(opts.timeout_ms or 10000)
  local delay = math.tointeger(opts.retry_delay_ms or 1000)
  if not timeout or timeout < 1 or not delay or delay < 0 then
    util.argerror("http.request", "timeout_ms and retry_delay_ms must be positive integers")
  end
  if opts.expect_body ~= nil and type(opts.expect_body) ~= "string" then
    util.argerror("http.request", "expect_body must be a string")
  end
  if opts.expect_pattern ~= nil and type(opts.expect_pattern) ~= "string" then
    util.argerror("http.request", "expect_pattern must be a string (a Lua pattern)")
  end

  local shown = method .. " " .. display_url(url)
  local start = util.now_ms()
  local attempts = 0
  local last
  while true do
    attempts = attempts + 1
    local status, headers, body = core.request{
      method = method, url = url, headers = opts.headers, body = opts.body,
      timeout_ms = math.min(timeout, math.max(1, util.remaining_ms() - 100)),
      max_body = opts.max_body,
    }
    if status then
      local bad = check_answer(status, body, opts, want)
      if not bad then
        return {status = status, body = body, headers = headers, attempts = attempts,
                elapsed_ms = util.now_ms() - start}
      end
      last = shown .. " " .. bad
    else
      -- headers holds the message: "GET http://host/path: connection failed: ..."
      last = headers
    end
    if attempts > retries then
      break
    end
    local pause = math.min(delay * 2 ^ (attempts - 1), 10000)
    if util.remaining_ms() - pause < 300 then
      last = last .. "; no time left for another attempt"
      break
    end
    util.sleep_ms(math.floor(pause))
  end
  return nil, string.format("%s (%d attempt%s over %s)", last, attempts,
                            attempts == 1 and "" or "s", util.seconds(util.now_ms() - start))
end

function M.get(url, opts)
  return M.request("GET", url, opts)
end

function M.head(url, opts)
  return M.request("HEAD", url, opts)
end

return M
