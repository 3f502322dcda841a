--- hookhost.aws: signed AWS calls from hook scripts.
--
-- Every call is signed with SigV4 (credentials from the usual chain), sent to the service's
-- endpoint (AWS_ENDPOINT_URL_<SERVICE_ID> as the SDKs name it, e.g. AWS_ENDPOINT_URL_SFN for
-- "states" (docs/HOOKS.md); AWS_ENDPOINT_URL; else the AWS default), retried in the
-- SDKs' standard mode (AWS_MAX_ATTEMPTS, default 3) and never runs past the hook's own time.
--
--   local aws = require("hookhost.aws")
--   local d, err = aws.json("codedeploy", "CodeDeploy_20141006", "GetDeployment",
--                           {deploymentId = event.DeploymentId})
--   if not d then error(err) end          -- err prints as "Code: message (HTTP 400, ...)"
--
-- Functions (failures of the world return nil, err; bad arguments raise):
--   aws.send{service, method?, path?, query?, headers?, body?, region?, endpoint_prefix?,
--            content_type?, max_attempts?, operation?, params?, host_prefix?, auth?}
--            -> status, headers, body [, answer]
--       The one way out: every call below goes through it. Without dry run or stubs it is the
--       raw signed request (src/lmod_aws.h: host_prefix "bucket." goes in front of any
--       endpoint's host; auth "none" sends it unsigned, "v4-unsigned-body" signs
--       UNSIGNED-PAYLOAD); a non-2xx answer is nil, err. params (the caller's
--       parameters, never sent) is what a canned answer's params are compared with. A canned
--       `answer` comes back as the 4th value (status 200, body ""): the caller returns it as its
--       result without decoding; a canned `body` is decoded as a real one; a canned `error` is
--       nil, err. In a dry run a call without a canned answer is not sent, is logged ("dry run:
--       not sent: ...") and answers 200, {}, "", placeholder.
--   aws.request{...} -> status, headers, body [, answer]: aws.send without params.
--   aws.is_placeholder(v) -> true when v is a dry run's placeholder: an empty result that
--       raises "dry run: ssm GetParameter was not sent, so its result has no field ..." when a
--       field is read (pairs() yields nothing).
--   aws.json(service, target_prefix, operation, params?, opts?) -> decoded table
--       AWS JSON 1.0/1.1 (opts.json_version "1.0" or "1.1", default "1.1"). params are encoded
--       by hookhost.json: json.empty_array (or json.array(t)) is sent as [], other empty tables
--       as {}.
--   aws.query(service, action, version, params?, opts?) -> decoded XML root (hookhost.xml shape)
--       The query protocol: params flattened as botocore does (below), POSTed form-encoded.
--   aws.rest_xml{service, method?, path?, query?, headers?, body?, content_type?, region?,
--                max_attempts?, operation?, params?} -> status, decoded XML root (nil: empty
--                body), headers
--   aws.xml_escape(s) -> s with & < > " ' escaped, for request documents
--   aws.map(t [, key_name, value_name]) -> t marked as a map for aws.query:
--       Name.entry.N.key / Name.entry.N.value (or the model's names, e.g. SNS's "Name", "Value")
--   aws.uri_encode(s [, keep_slash]) -> s percent-encoded (RFC 3986 unreserved bytes kept)
--   aws.error{code, message, ...} -> an error object like the ones calls return
--   aws.client(service [, opts]) -> a client made from the service's model (aws/client.lua)
-- opts (json, query) and the rest_xml table accept region, endpoint_prefix, max_attempts.
--
-- err = {code, message, status (0: no response), request_id, retryable, attempts}.
-- Dry runs and canned answers (hookhost run --dry-run / --stub, hookhost.stubs): json, query and
-- rest_xml return a canned answer as is, decode a canned body, and return the placeholder (as
-- their decoded result) for a call not sent; docs/HOOKS.md, "Dry runs and canned answers".
--
-- Query flattening (botocore's QuerySerializer without a model): a table with string keys is a
-- structure (Prefix.Key), a sequence is a list (Prefix.member.N; an empty table is an empty list,
-- "Prefix="), aws.map(t) is a map (Prefix.entry.N.key/value, keys sorted), booleans are
-- "true"/"false". Keys are sent sorted, after Action and Version.

local core = require("hookhost.aws.core")
local cjson = require("cjson.safe")
local json = require("hookhost.json")
local xml = require("hookhost.xml")

local stubs = require("hookhost.stubs")

local M = {
  uri_encode = core.uri_encode,
  error = core.error,
  connections = core.connections,
}

local MAP = {__hookhost_map = true} -- metatable marking aws.map() tables (hookhost.stubs knows it)

--- A client made from the service's model: aws.client("ecs"):describe_services{...}
-- (lua/hookhost/aws/client.lua).
function M.client(name, opts)
  return require("hookhost.aws.client").new(name, opts)
end

local function check(cond, fname, msg)
  if not cond then
    error("hookhost.aws." .. fname .. ": " .. msg, 3)
  end
end

local function check_opts(opts, fname)
  check(opts == nil or type(opts) == "table", fname, "opts must be a table")
  return opts or {}
end

local function request_id(headers)
  return headers and (headers["x-amzn-requestid"] or headers["x-amz-request-id"])
end

local function bad_response(status, headers, what)
  return core.error{code = "SerializationError", message = what, status = status,
                    request_id = request_id(headers), retryable = false}
end

-- ---- the one way out: aws.send ------------------------------------------------------------

local PLACEHOLDER = {__name = "hookhost.aws.placeholder"}
local placeholder_of = setmetatable({}, {__mode = "k"}) -- placeholder -> "ssm GetParameter"

function PLACEHOLDER.__index(t, k)
  local field = type(k) == "string" and string.format("%q", k) or "[" .. tostring(k) .. "]"
  error(string.format("dry run: %s was not sent, so its result has no field %s; give it a canned "
                      .. "answer (hookhost run --stub FILE) or test ctx.dry_run",
                      placeholder_of[t] or "the call", field), 2)
end

function PLACEHOLDER.__tostring(t)
  return "dry run placeholder (" .. (placeholder_of[t] or "a call") .. " was not sent)"
end

local function placeholder(service, operation)
  local p = setmetatable({}, PLACEHOLDER)
  placeholder_of[p] = operation and (service .. " " .. operation) or service
  return p
end

function M.is_placeholder(v)
  return type(v) == "table" and getmetatable(v) == PLACEHOLDER
end

-- The context's log, when the runtime (or hookhost.testing) publishes one.
local function log_info(msg)
  local ctx = package.loaded["hookhost.context"]
  if type(ctx) == "table" and type(ctx.log) == "table" and type(ctx.log.info) == "function" then
    ctx.log.info(msg)
  end
end

-- A canned answer as a call's result.
local function canned(t, e, name)
  log_info(string.format("stub: %s %s answered by stub entry %d (not sent)", name,
                         t.operation or "", e.index))
  if e.error then
    local er = e.error
    return nil, core.error{code = er.code, message = er.message or er.code,
                           status = math.tointeger(er.status) or 400,
                           retryable = er.retryable == true, attempts = 1}
  end
  if e.body then
    local status = math.tointeger(e.status) or 200
    local headers = {}
    for k, v in pairs(e.headers or {}) do
      headers[k:lower()] = v
    end
    if status < 200 or status > 299 then
      return nil, core.decode_error(status, headers, e.body)
    end
    return status, headers, e.body
  end
  return 200, {}, "", e.answer
end

function M.send(t)
  check(type(t) == "table", "send", "expected a table {service, method, path, ...}")
  check(type(t.service) == "string" and t.service ~= "", "send",
        "'service' is required (e.g. \"codedeploy\")")
  check(t.params == nil or type(t.params) == "table", "send", "params must be a table")
  -- service_name: the name the script used (aws.client's), which stub entries give; service
  -- is the model's service id there, for the endpoint variable
  local name = t.service_name or t.service
  if stubs.active() then
    local e = stubs.take(name, t.operation or "(no operation)", t.params)
    if e then
      return canned(t, e, name)
    end
  end
  local status, headers, body, dry = core.request(t)
  if status == 0 and type(dry) == "table" and dry.dry_run then
    return 200, {}, "", placeholder(name, t.operation)
  end
  return status, headers, body
end

function M.request(t)
  check(type(t) == "table", "request", "expected a table {service, method, path, ...}")
  local r = {}
  for k, v in pairs(t) do
    r[k] = v
  end
  r.params = nil
  return M.send(r)
end

--- AWS JSON 1.0 / 1.1: POST / with X-Amz-Target: <target_prefix>.<operation>.
function M.json(service, target_prefix, operation, params, opts)
  check(type(service) == "string", "json", "service must be a string")
  check(type(target_prefix) == "string", "json", "target_prefix must be a string")
  check(type(operation) == "string", "json", "operation must be a string")
  check(params == nil or type(params) == "table", "json", "params must be a table")
  opts = check_opts(opts, "json")
  local version = opts.json_version or "1.1"
  check(version == "1.0" or version == "1.1", "json", "json_version must be \"1.0\" or \"1.1\"")
  local body = "{}"
  if params ~= nil and next(params) ~= nil then
    local e
    body, e = json.encode(params) -- json.empty_array is sent as []
    check(body, "json", "params cannot be encoded as JSON: " .. tostring(e))
  end
  local status, headers, resp, answer = M.send{
    service = service, region = opts.region, endpoint_prefix = opts.endpoint_prefix,
    max_attempts = opts.max_attempts, method = "POST", path = "/",
    headers = {["X-Amz-Target"] = target_prefix .. "." .. operation},
    content_type = "application/x-amz-json-" .. version, body = body, operation = operation,
    params = params,
  }
  if not status then
    return nil, headers
  end
  if answer then
    return answer
  end
  if resp == "" then
    return {}
  end
  local v, e = cjson.decode(resp)
  if type(v) ~= "table" then
    return nil, bad_response(status, headers, "the response is not a JSON object: " .. tostring(e))
  end
  return v
end

--- Flatten a query-protocol value into out (a list of {name, value}).
local function flatten(value, prefix, out, depth)
  check(depth < 32, "query", "params nest too deeply")
  local t = type(value)
  if t == "string" then
    out[#out + 1] = {prefix, value}
  elseif t == "number" then
    out[#out + 1] = {prefix, math.type(value) == "integer" and string.format("%d", value)
                               or string.format("%.17g", value)}
  elseif t == "boolean" then
    out[#out + 1] = {prefix, value and "true" or "false"}
  elseif t == "table" and getmetatable(value) == MAP then
    local keys = {}
    for k in pairs(value.entries) do
      check(type(k) == "string", "query", "map keys must be strings (at " .. prefix .. ")")
      keys[#keys + 1] = k
    end
    table.sort(keys)
    for i, k in ipairs(keys) do
      local p = prefix .. ".entry." .. i
      out[#out + 1] = {p .. "." .. value.key_name, k}
      flatten(value.entries[k], p .. "." .. value.value_name, out, depth + 1)
    end
  elseif t == "table" then
    if next(value) == nil then
      out[#out + 1] = {prefix, ""} -- botocore sends an empty list as "Prefix="
      return
    end
    local n = #value
    local keys = {}
    for k in pairs(value) do
      if math.type(k) == "integer" and k >= 1 and k <= n then
        keys[#keys + 1] = false
      else
        check(type(k) == "string", "query", "keys must be strings or list indexes (at "
                                             .. (prefix == "" and "params" or prefix) .. ")")
        keys[#keys + 1] = k
      end
    end
    if n > 0 then
      check(#keys == n, "query", "a table is either a list or has string keys (at "
                                 .. (prefix == "" and "params" or prefix) .. ")")
      for i = 1, n do
        flatten(value[i], prefix .. ".member." .. i, out, depth + 1)
      end
      return
    end
    table.sort(keys)
    for _, k in ipairs(keys) do
      flatten(value[k], prefix == "" and k or prefix .. "." .. k, out, depth + 1)
    end
  else
    check(false, "query", "cannot send a " .. t .. " (at " .. prefix .. ")")
  end
end

--- The form body of a query-protocol call (exposed for tests).
function M.query_body(action, version, params)
  local out = {{"Action", action}, {"Version", version}}
  if params ~= nil then
    check(type(params) == "table" and getmetatable(params) ~= MAP and #params == 0, "query",
          "params must be a table with string keys")
    flatten(params, "", out, 0)
  end
  local parts = {}
  for i, kv in ipairs(out) do
    parts[i] = core.uri_encode(kv[1]) .. "=" .. core.uri_encode(kv[2])
  end
  return table.concat(parts, "&")
end

--- The query protocol: Action, Version and params, form-encoded and POSTed to /.
function M.query(service, action, version, params, opts)
  check(type(service) == "string", "query", "service must be a string")
  check(type(action) == "string", "query", "action must be a string")
  check(type(version) == "string", "query", "version must be a string")
  opts = check_opts(opts, "query")
  local body = M.query_body(action, version, params)
  local status, headers, resp, answer = M.send{
    service = service, region = opts.region, endpoint_prefix = opts.endpoint_prefix,
    max_attempts = opts.max_attempts, method = "POST", path = "/",
    content_type = "application/x-www-form-urlencoded; charset=utf-8", body = body,
    operation = action, params = params,
  }
  if not status then
    return nil, headers
  end
  if answer then
    return answer
  end
  local doc, e = xml.decode(resp)
  if not doc then
    return nil, bad_response(status, headers, "the response is not XML: " .. tostring(e))
  end
  return doc
end

--- REST-XML (CloudFront, Route 53, S3): status, decoded root (nil when the body is empty), headers.
function M.rest_xml(t)
  check(type(t) == "table", "rest_xml", "expected a table {service, method, path, ...}")
  check(t.body == nil or type(t.body) == "string", "rest_xml", "body must be a string")
  local ctype = t.content_type
  if ctype == nil and t.body and t.body ~= "" then
    ctype = "application/xml"
  end
  local status, headers, resp, answer = M.send{
    service = t.service, region = t.region, endpoint_prefix = t.endpoint_prefix,
    max_attempts = t.max_attempts, method = t.method, path = t.path, query = t.query,
    headers = t.headers, body = t.body, content_type = ctype, operation = t.operation,
    params = t.params,
  }
  if not status then
    return nil, headers
  end
  if answer then
    return status, answer, headers
  end
  if resp == "" then
    return status, nil, headers
  end
  local doc, e = xml.decode(resp)
  if not doc then
    return nil, bad_response(status, headers, "the response is not XML: " .. tostring(e))
  end
  return status, doc, headers
end

local XML_ENTITIES = {["&"] = "&amp;", ["<"] = "&lt;", [">"] = "&gt;", ['"'] = "&quot;",
                      ["'"] = "&apos;"}

--- Escape text for an XML element or attribute value.
function M.xml_escape(s)
  if type(s) == "number" then
    s = tostring(s)
  end
  check(type(s) == "string", "xml_escape", "expected a string")
  check(not s:find("[%z\1-\8\11\12\14-\31]"), "xml_escape",
        "control characters cannot appear in XML 1.0")
  return (s:gsub("[&<>\"']", XML_ENTITIES))
end

--- Mark a table as a map for aws.query.
function M.map(t, key_name, value_name)
  check(type(t) == "table", "map", "expected a table")
  check(key_name == nil or type(key_name) == "string", "map", "key_name must be a string")
  check(value_name == nil or type(value_name) == "string", "map", "value_name must be a string")
  return setmetatable({entries = t, key_name = key_name or "key", value_name = value_name or "value"},
                      MAP)
end

return M
