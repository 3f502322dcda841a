--- hookhost.aws: signed AWS calls from hook scripts.
--
-- Every call is signed with SigV4 (credentials from the usual chain), sent to the service's
-- endpoint (AWS_ENDPOINT_URL_<SERVICE>, AWS_ENDPOINT_URL, else the AWS default), retried in the
-- SDKs' standard mode (AWS_MAX_ATTEMPTS, default 3) and never runs past the hook's own time.
--
--   local aws = require("hookhost.aws")
--   local d, err = aws.json("codedeploy", "CodeDeploy_20141006", "GetDeployment",
--                           {deploymentId = event.DeploymentId})
--   if not d then error(err) end          -- err prints as "Code: message (HTTP 400, ...)"
--
-- Functions (failures of the world return nil, err; bad arguments raise):
--   aws.request{service, method?, path?, query?, headers?, body?, region?, endpoint_prefix?,
--               content_type?, max_attempts?, operation?} -> status, headers, body
--       The raw signed request (see src/lmod_aws.h); a non-2xx answer is nil, err.
--   aws.json(service, target_prefix, operation, params?, opts?) -> decoded table
--       AWS JSON 1.0/1.1 (opts.json_version "1.0" or "1.1", default "1.1").
--   aws.query(service, action, version, params?, opts?) -> decoded XML root (hookhost.xml shape)
--       The query protocol: params flattened as botocore does (below), POSTed form-encoded.
--   aws.rest_xml{service, method?, path?, query?, headers?, body?, content_type?, region?,
--                max_attempts?, operation?} -> status, decoded XML root (nil: empty body), headers
--   aws.xml_escape(s) -> s with & < > " ' escaped, for request documents
--   aws.map(t [, key_name, value_name]) -> t marked as a map for aws.query:
--       Name.entry.N.key / Name.entry.N.value (or the model's names, e.g. SNS's "Name", "Value")
--   aws.uri_encode(s [, keep_slash]) -> s percent-encoded (RFC 3986 unreserved bytes kept)
--   aws.error{code, message, ...} -> an error object like the ones calls return
--   aws.client(service [, opts]) -> a client made from the service's model (aws/client.lua)
-- opts (json, query) and the rest_xml table accept region, endpoint_prefix, max_attempts.
--
-- err = {code, message, status (0: no response), request_id, retryable, attempts}.
-- Dry run (hookhost run --dry-run): nothing is sent; request returns 0, {}, "", d; json and query
-- return d; rest_xml returns 0, d; where d = {dry_run = true, method, url, service, region,
-- operation, body_size, ...}.
--
-- Query flattening (botocore's QuerySerializer without a model): a table with string keys is a
-- structure (Prefix.Key), a sequence is a list (Prefix.member.N; an empty table is an empty list,
-- "Prefix="), aws.map(t) is a map (Prefix.entry.N.key/value, keys sorted), booleans are
-- "true"/"false". Keys are sent sorted, after Action and Version.

local core = require("hookhost.aws.core")
local cjson = require("cjson.safe")
local xml = require("hookhost.xml")

local M = {
  request = core.request,
  uri_encode = core.uri_encode,
  error = core.error,
  connections = core.connections,
}

local MAP = {} -- metatable marking aws.map() tables

--- The one way out for every AWS call (docs: notes/DRYRUN_STUB_DESIGN.md): a core.request
-- table -> status, headers, body [, answer] | nil, err. Minimal until the dry-run/stub branch
-- lands: core.request as is; its dry-run description is the answer (200, {}, "", d).
function M.send(t)
  local status, headers, body, dry = core.request{
    service = t.service, region = t.region, endpoint_prefix = t.endpoint_prefix,
    signing_name = t.signing_name, max_attempts = t.max_attempts, method = t.method,
    path = t.path, query = t.query, headers = t.headers, body = t.body,
    content_type = t.content_type, operation = t.operation,
  }
  if dry then
    return 200, {}, "", dry
  end
  return status, headers, body
end

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
    body, e = cjson.encode(params)
    check(body, "json", "params cannot be encoded as JSON: " .. tostring(e))
  end
  local status, headers, resp, dry = core.request{
    service = service, region = opts.region, endpoint_prefix = opts.endpoint_prefix,
    max_attempts = opts.max_attempts, method = "POST", path = "/",
    headers = {["X-Amz-Target"] = target_prefix .. "." .. operation},
    content_type = "application/x-amz-json-" .. version, body = body, operation = operation,
  }
  if not status then
    return nil, headers
  end
  if dry then
    return dry
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
  local status, headers, resp, dry = core.request{
    service = service, region = opts.region, endpoint_prefix = opts.endpoint_prefix,
    max_attempts = opts.max_attempts, method = "POST", path = "/",
    content_type = "application/x-www-form-urlencoded; charset=utf-8", body = body,
    operation = action,
  }
  if not status then
    return nil, headers
  end
  if dry then
    return dry
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
  local status, headers, resp, dry = core.request{
    service = t.service, region = t.region, endpoint_prefix = t.endpoint_prefix,
    max_attempts = t.max_attempts, method = t.method, path = t.path, query = t.query,
    headers = t.headers, body = t.body, content_type = ctype, operation = t.operation,
  }
  if not status then
    return nil, headers
  end
  if dry then
    return 0, dry
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
