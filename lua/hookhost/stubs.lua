--- hookhost.stubs: canned answers for AWS calls (`hookhost run --stub FILE`, hookhost.testing).
--
-- Every AWS call goes through hookhost.aws's aws.send, which asks this module first. Entries are
-- the ones of a stub file (docs/HOOKS.md, "Dry runs and canned answers"):
--   {service, operation, params?, answer | body (+ status?, headers?) | error}
-- and are consumed in order per service, as botocore's Stubber is ordered per client.
--
--   stubs.load(entries, {strict = bool})  replace every queue (validates: "stub entry 3: ...")
--   stubs.add(entry)                      append one entry (same validation)
--   stubs.active() -> bool                any stubs loaded (strict or not)
--   stubs.take(service, operation, params) -> entry | nil
--       strict: the next entry of that service must be this operation with matching params, or
--       it raises ("stub: unexpected call ...", "stub: ssm GetParameter: params.Name is ...");
--       not strict (a dry run): the first unused entry of that service that matches, else nil.
--   stubs.unused() -> {{service, operation, index}, ...} (entries never taken, in file order)
--   stubs.reset()                         no stubs, not strict
--
-- A taken entry is a copy with `index` (its 1-based position) added; its answer is the caller's.
-- service matches case-insensitively ("cloudwatch" also matches "monitoring"); operation is the
-- API's name ("GetParameter") or boto3's ("get_parameter"), compared without case and "_".

local M = {}

local entries = {} -- in load/add order
local used = {}    -- index -> true once taken
local strict = false
local loaded = false

local ALIASES = {cloudwatch = "monitoring"}
local KEYS = {service = true, operation = true, params = true, answer = true, body = true,
              status = true, headers = true, error = true, comment = true}
local ERROR_KEYS = {code = true, message = true, status = true, retryable = true}

local function norm_service(s)
  s = s:lower()
  return ALIASES[s] or s
end

local function norm_operation(s)
  return (s:lower():gsub("_", ""))
end

local function fail(i, msg)
  error(string.format("stub entry %d: %s", i, msg), 0)
end

local function integer(v)
  return type(v) == "number" and math.tointeger(v) or nil
end

local function validate(e, i)
  if type(e) ~= "table" then
    fail(i, "expected an object {service, operation, answer | body | error}, not a " .. type(e))
  end
  for k in pairs(e) do
    if not KEYS[k] then
      fail(i, string.format("unknown key %q (expected service, operation, params, answer, "
                            .. "body, status, headers or error)", tostring(k)))
    end
  end
  if type(e.service) ~= "string" or not e.service:match("^[%w][%w%-_ ]*$") then
    fail(i, "service must be the name the script's call uses, such as \"ssm\"")
  end
  if type(e.operation) ~= "string" or not e.operation:match("^[%a][%w_]*$") then
    fail(i, "operation must be an API operation name, such as \"GetParameter\"")
  end
  if e.params ~= nil and type(e.params) ~= "table" then
    fail(i, "params must be an object")
  end
  local n = (e.answer ~= nil and 1 or 0) + (e.body ~= nil and 1 or 0) + (e.error ~= nil and 1 or 0)
  if n ~= 1 then
    fail(i, "give exactly one of answer, body or error")
  end
  if e.answer ~= nil and type(e.answer) ~= "table" then
    fail(i, "answer must be an object (the decoded result the call returns)")
  end
  if e.body ~= nil and type(e.body) ~= "string" then
    fail(i, "body must be a string (the raw HTTP answer's body)")
  end
  if (e.status ~= nil or e.headers ~= nil) and e.body == nil then
    fail(i, "status and headers go with body")
  end
  if e.status ~= nil then
    local s = integer(e.status)
    if not s or s < 100 or s > 599 then
      fail(i, "status must be an HTTP status code (100 to 599)")
    end
  end
  if e.headers ~= nil then
    if type(e.headers) ~= "table" then
      fail(i, "headers must be an object {\"Name\": \"value\"}")
    end
    for k, v in pairs(e.headers) do
      if type(k) ~= "string" or type(v) ~= "string" or k:find("[%c:]") or v:find("[\r\n]") then
        fail(i, "headers must map header names to one-line string values")
      end
    end
  end
  if e.error ~= nil then
    local er = e.error
    if type(er) ~= "table" then
      fail(i, "error must be an object {code, message, status?, retryable?}")
    end
    for k in pairs(er) do
      if not ERROR_KEYS[k] then
        fail(i, string.format("error: unknown key %q (expected code, message, status or "
                              .. "retryable)", tostring(k)))
      end
    end
    if type(er.code) ~= "string" or er.code == "" then
      fail(i, "error.code must be a non-empty string such as \"AccessDenied\"")
    end
    if er.message ~= nil and type(er.message) ~= "string" then
      fail(i, "error.message must be a string")
    end
    if er.status ~= nil then
      local s = integer(er.status)
      if not s or s < 0 or s > 599 then
        fail(i, "error.status must be an HTTP status code (0 for no answer)")
      end
    end
    if er.retryable ~= nil and type(er.retryable) ~= "boolean" then
      fail(i, "error.retryable must be true or false")
    end
  end
end

local function copy(t)
  local c = {}
  for k, v in pairs(t) do
    c[k] = v
  end
  return c
end

function M.reset()
  entries, used, strict, loaded = {}, {}, false, false
end

function M.load(list, opts)
  if type(list) ~= "table" then
    error("stubs: expected a list of entries", 2)
  end
  if opts ~= nil and type(opts) ~= "table" then
    error("stubs.load: opts must be a table {strict = true|false}", 2)
  end
  local n = #list
  for k in pairs(list) do
    if math.type(k) ~= "integer" or k < 1 or k > n then
      error("stubs: expected a list (a JSON array) of entries", 2)
    end
  end
  for i = 1, n do
    validate(list[i], i)
  end
  M.reset()
  for i = 1, n do
    entries[i] = copy(list[i])
  end
  strict = opts ~= nil and opts.strict == true
  loaded = true
end

function M.add(entry)
  validate(entry, #entries + 1)
  entries[#entries + 1] = copy(entry)
  loaded = true
end

function M.active()
  return loaded
end

-- "Name" / "Filters[1].Key" for error messages.
local function join(path, k)
  if math.type(k) == "integer" then
    return path .. "[" .. k .. "]"
  end
  return path .. "." .. tostring(k)
end

local function show(v)
  if type(v) == "string" then
    return string.format("%q", v)
  elseif v == nil then
    return "missing"
  elseif type(v) == "table" then
    return "a table"
  end
  return tostring(v)
end

-- aws.map() tables carry their entries under .entries (hookhost.aws marks them).
local function plain(v)
  if type(v) == "table" then
    local mt = getmetatable(v)
    if type(mt) == "table" and rawget(mt, "__hookhost_map") then
      return v.entries
    end
  end
  return v
end

-- nil when `got` has every key of `want` with an equal value; else a message.
local function mismatch(want, got, path, depth)
  got = plain(got)
  if depth > 32 then
    return path .. " nests too deeply to compare"
  end
  if type(want) == "table" then
    if type(got) ~= "table" then
      return string.format("%s is %s, expected a table", path, show(got))
    end
    if #want > 0 and #want ~= #got then -- a list: its length must match too
      return string.format("%s has %d items, expected %d", path, #got, #want)
    end
    local keys = {}
    for k in pairs(want) do
      keys[#keys + 1] = k
    end
    table.sort(keys, function(a, b) return tostring(a) < tostring(b) end)
    for _, k in ipairs(keys) do
      local m = mismatch(want[k], got[k], join(path, k), depth + 1)
      if m then
        return m
      end
    end
    return nil
  end
  if want ~= got then
    return string.format("%s is %s, expected %s", path, show(got), show(want))
  end
  return nil
end

local function taken(i)
  used[i] = true
  local e = copy(entries[i])
  e.index = i
  return e
end

function M.take(service, operation, params)
  if not loaded then
    return nil
  end
  local svc, op = norm_service(service), norm_operation(operation or "")
  if strict then
    for i, e in ipairs(entries) do
      if not used[i] and norm_service(e.service) == svc then
        if norm_operation(e.operation) ~= op then
          error(string.format("stub: unexpected call %s %s (the next answer for %s is for %s, "
                              .. "entry %d)", service, operation, service, e.operation, i), 0)
        end
        if e.params ~= nil then
          local m = mismatch(e.params, params or {}, "params", 0)
          if m then
            error(string.format("stub: %s %s: %s", service, operation, m), 0)
          end
        end
        return taken(i)
      end
    end
    error(string.format("stub: unexpected call %s %s (no answer left for %s)", service,
                        operation, service), 0)
  end
  for i, e in ipairs(entries) do
    if not used[i] and norm_service(e.service) == svc and norm_operation(e.operation) == op
       and (e.params == nil or not mismatch(e.params, params or {}, "params", 0)) then
      return taken(i)
    end
  end
  return nil
end

function M.unused()
  local out = {}
  for i, e in ipairs(entries) do
    if not used[i] then
      out[#out + 1] = {service = e.service, operation = e.operation, index = i}
    end
  end
  return out
end

return M
