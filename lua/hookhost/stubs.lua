--- hookhost.stubs: canned answers for AWS calls (hookhost run --stub FILE, hookhost.testing).
--
-- A minimal stand-in with exactly the API of /work/notes/DRYRUN_STUB_DESIGN.md; the dryrun
-- branch owns this module and its version replaces this one.
--
--   stubs.load(entries, {strict = true|false})  replace the queues; raises "stub entry 3: ..."
--   stubs.add(entry)                            append one entry (same validation)
--   stubs.active() -> bool                      stubs were loaded (strict or not), even none
--   stubs.take(service, operation, params) -> entry | nil
--       the next entry of that service's queue; strict mode raises on an unexpected call or
--       a params mismatch, otherwise nil (the entry stays queued)
--   stubs.unused() -> {{service, operation, index}, ...}
--   stubs.reset()
--
-- entry = {service, operation, params?, answer | body (+ status?, headers?) | error}
--   operation: the API name (GetParameter) or the clients' snake_case (get_parameter);
--   params: every key given must equal the call's (deep compare); error = {code, message,
--   status?, retryable?}.

local M = {}

local queues, order, strict, loaded = {}, {}, false, false

local function op_key(op)
  return (op:gsub("_", "")):lower()
end

local function validate(e, i)
  local function bad(msg)
    error(string.format("stub entry %d: %s", i, msg), 0)
  end
  if type(e) ~= "table" then
    bad("expected a table {service, operation, answer | body | error}")
  end
  if type(e.service) ~= "string" or e.service == "" then
    bad("service must be the name the call uses, e.g. \"ssm\"")
  end
  if type(e.operation) ~= "string" or not e.operation:match("^[%a][%w_]*$") then
    bad("operation must be an API operation name, e.g. \"GetParameter\"")
  end
  if e.params ~= nil and type(e.params) ~= "table" then
    bad("params must be a table")
  end
  local n = (e.answer ~= nil and 1 or 0) + (e.body ~= nil and 1 or 0) + (e.error ~= nil and 1 or 0)
  if n ~= 1 then
    bad("give exactly one of answer, body or error")
  end
  if e.body ~= nil and type(e.body) ~= "string" then
    bad("body must be a string (the raw HTTP answer)")
  end
  if e.status ~= nil and (math.tointeger(e.status) == nil or e.status < 100 or e.status > 599) then
    bad("status must be an HTTP status code")
  end
  if e.headers ~= nil and type(e.headers) ~= "table" then
    bad("headers must be a table")
  end
  if e.error ~= nil then
    if type(e.error) ~= "table" or type(e.error.code) ~= "string" then
      bad("error must be a table {code, message, status?, retryable?}")
    end
  end
end

function M.reset()
  queues, order, strict, loaded = {}, {}, false, false
end

function M.add(entry)
  validate(entry, #order + 1)
  local rec = {entry = entry, index = #order + 1, used = false}
  order[#order + 1] = rec
  local q = queues[entry.service]
  if not q then
    q = {}
    queues[entry.service] = q
  end
  q[#q + 1] = rec
  loaded = true
end

function M.load(entries, opts)
  if type(entries) ~= "table" then
    error("stubs.load: entries must be a list", 2)
  end
  M.reset()
  for i, e in ipairs(entries) do
    validate(e, i)
  end
  for _, e in ipairs(entries) do
    M.add(e)
  end
  strict = opts ~= nil and opts.strict == true
  loaded = true
end

function M.active()
  return loaded
end

local function show(v)
  if type(v) == "string" then
    return string.format("%q", v)
  end
  return tostring(v)
end

-- The first difference between want (the entry's params) and got (the call's), or nil.
local function mismatch(want, got, path)
  if type(want) ~= "table" then
    if want ~= got then
      return string.format("%s is %s, expected %s", path, show(got), show(want))
    end
    return nil
  end
  if type(got) ~= "table" then
    return string.format("%s is %s, expected a table", path, show(got))
  end
  for k, v in pairs(want) do
    local d = mismatch(v, got[k], path .. (type(k) == "number" and ("[" .. k .. "]") or ("." .. k)))
    if d then
      return d
    end
  end
  return nil
end

function M.take(service, operation, params)
  local q = queues[service] or {}
  local rec
  for _, r in ipairs(q) do
    if not r.used then
      rec = r
      break
    end
  end
  local call = service .. " " .. tostring(operation)
  if not rec then
    if strict then
      error(string.format("stub: unexpected call %s (no answer left for %s)", call, service), 0)
    end
    return nil
  end
  local e = rec.entry
  if op_key(e.operation) ~= op_key(tostring(operation)) then
    if strict then
      error(string.format("stub: unexpected call %s (the next answer for %s is for %s)", call,
                          service, e.operation), 0)
    end
    return nil
  end
  if e.params ~= nil then
    local d = mismatch(e.params, params or {}, "params")
    if d then
      if strict then
        error(string.format("stub: %s: %s", call, d), 0)
      end
      return nil
    end
  end
  rec.used = true
  return e
end

function M.unused()
  local out = {}
  for _, r in ipairs(order) do
    if not r.used then
      out[#out + 1] = {service = r.entry.service, operation = r.entry.operation, index = r.index}
    end
  end
  return out
end

return M
