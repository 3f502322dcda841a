--- hookhost.aws.client: AWS clients made from the service models, called the way boto3's are.
--
--   local aws = require("hookhost.aws")
--   local ecs = aws.client("ecs" [, {region = "eu-west-1", max_attempts = 5, validate = ...}])
--   local out, err = ecs:describe_services{cluster = "c", services = {"s"}}
--   if not out then error(err) end   -- err: code, message, status, request_id, retryable, attempts
--
-- Operations are the model's, in boto3's snake_case (botocore's xform_name): DescribeServices
-- is ecs:describe_services(params). Parameters and results use the model's member names.
-- Results are the decoded output tables plus ResponseMetadata {RequestId, HTTPStatusCode,
-- HTTPHeaders}; timestamps decode to ISO 8601 UTC text ("2026-12-04T14:38:58.123Z"), blobs to
-- their bytes, integers to Lua integers.
--
-- Bad parameters raise before anything is sent, with botocore's messages:
--   Parameter validation failed:
--   Missing required parameter in input: "cluster"
-- validate = false skips the checks; validate = "strict" adds enum values and maximum lengths
-- and values (botocore does not check those: a model can lag behind the service).
-- Failures of the world (network, AWS errors, an answer that does not match the model)
-- return nil, err, as hookhost.aws's calls do. Idempotency tokens the caller leaves out are
-- filled with a random UUID, as botocore does.
--
-- Every call goes through aws.send, so dry runs and stubs apply (docs/HOOKS.md): the request
-- is described, not sent, and the call answers with the stub's (or the dry run's) answer.
--
-- The protocols: json, rest-json, query, ec2 and rest-xml (lua/hookhost/aws/protocols/).
-- For tests only, client:_serialize(operation, params) returns the request that would be sent
-- and client:_parse(operation, status, headers, body) decodes an answer.

local model = require("hookhost.aws.model")
local shapes = require("hookhost.aws.shapes")
local validate = require("hookhost.aws.validate")
local util = require("hookhost.util")

local M = {}

local PROTOCOLS = {}

local function protocol(name)
  local p = PROTOCOLS[name]
  if p then
    return p
  end
  if name == "json" then
    local json = require("hookhost.aws.protocols.json")
    p = {serialize = json.serialize, parse = json.parse}
  elseif name == "rest-json" then
    local json = require("hookhost.aws.protocols.json")
    local rest = require("hookhost.aws.protocols.rest")
    local body = {
      write = function(m, view, v) return json.write(m, view, v, "unixtimestamp") end,
      empty = "{}",
      requires_empty = function(view)
        for _, ref in pairs(view.members or {}) do
          if not ref.location then
            return true
          end
        end
        return false
      end,
      content_type = "application/json",
      decode = json.decode_body,
    }
    p = {
      serialize = function(m, op, params) return rest.serialize(m, op, params, body) end,
      parse = function(m, op, status, headers, raw) return rest.parse(m, op, status, headers, raw, body) end,
    }
  elseif name == "rest-xml" then
    local xml = require("hookhost.aws.protocols.xml")
    local rest = require("hookhost.aws.protocols.rest")
    local body = {
      write = function(m, view, v) return xml.write(m, view, v) end,
      empty = "",
      requires_empty = function() return false end,
      content_type = nil,
      decode = xml.decode_body,
    }
    p = {
      serialize = function(m, op, params) return rest.serialize(m, op, params, body) end,
      parse = function(m, op, status, headers, raw) return rest.parse(m, op, status, headers, raw, body) end,
    }
  elseif name == "query" or name == "ec2" then
    local query = require("hookhost.aws.protocols.query")
    local ec2 = name == "ec2"
    p = {
      serialize = function(m, op, params) return query.serialize(m, op, params, ec2) end,
      parse = function(m, op, status, headers, raw) return query.parse(m, op, status, headers, raw, ec2) end,
    }
  else
    return nil
  end
  PROTOCOLS[name] = p
  return p
end

-- A random (version 4) UUID, as botocore fills idempotency tokens.
local function uuid4()
  local h = util.random_hex(32)
  local variant = string.format("%x", 8 + tonumber(h:sub(17, 17), 16) % 4)
  return h:sub(1, 8) .. "-" .. h:sub(9, 12) .. "-4" .. h:sub(14, 16) .. "-" .. variant
         .. h:sub(18, 20) .. "-" .. h:sub(21, 32)
end

local Client = {}

local function fail(fmt, ...)
  error("hookhost.aws.client: " .. string.format(fmt, ...), 3)
end

-- An operation by its snake_case or model name.
local function operation(self, name)
  local m = rawget(self, "_model")
  local op = m.operations[name] or m.operations[m.snake[name] or ""]
  return op
end

local function suggest(m, name)
  local best, best_d
  for snake in pairs(m.snake) do
    -- a cheap closeness: common prefix length, then length difference
    local n = 0
    while n < #name and n < #snake and name:byte(n + 1) == snake:byte(n + 1) do
      n = n + 1
    end
    local d = -n * 4 + math.abs(#snake - #name)
    if not best_d or d < best_d or (d == best_d and snake < best) then
      best, best_d = snake, d
    end
  end
  return best
end

-- The parameters as they will be sent: a shallow copy with idempotency tokens filled in.
local function prepare(self, op, params)
  local m = self._model
  if params == nil then
    params = {}
  elseif type(params) ~= "table" then
    error("hookhost.aws.client: " .. self._name .. " " .. op.name
          .. ": parameters must be a table, not a " .. type(params), 4)
  end
  local input = shapes.input(m, op)
  local out = {}
  for k, v in pairs(params) do
    out[k] = v
  end
  if input then
    for name, ref in pairs(input.members or {}) do
      if out[name] == nil and ref.idempotencyToken then
        out[name] = uuid4()
      end
    end
  end
  if self._validate and input then
    local msg = validate.check(m, input, out, self._validate == "strict")
    if msg then
      error(msg, 4)
    end
  elseif not input and next(out) ~= nil then
    error("Parameter validation failed:\n" .. op.name .. " takes no parameters", 4)
  end
  return out
end

-- The host prefix of operations with an "endpoint" trait ("{AccountId}." for S3 Control).
local function host_prefix(op, params)
  local hp = op.endpoint and op.endpoint.hostPrefix
  if not hp then
    return nil
  end
  return (hp:gsub("{([^}]+)}", function(label)
    local v = params[label]
    if type(v) ~= "string" or not v:match("^[%w%-]+$") or #v > 63 then
      error("hookhost.aws.client: " .. op.name .. ": " .. label
            .. " must be a host label (letters, digits, '-', at most 63)", 0)
    end
    return v
  end))
end

local function serialize(self, op, params)
  local p = self._protocol
  local req = p.serialize(self._model, op, params)
  req.host_prefix = host_prefix(op, params)
  return req
end

local function encode_query(pairs_list)
  local core = require("hookhost.aws.core")
  local parts = {}
  for i, kv in ipairs(pairs_list) do
    parts[i] = core.uri_encode(kv[1]) .. "=" .. core.uri_encode(kv[2])
  end
  table.sort(parts)
  return table.concat(parts, "&")
end

local function request_id(headers)
  return headers and (headers["x-amzn-requestid"] or headers["x-amz-request-id"])
end

local function decode_error(status, headers, body)
  local aws = require("hookhost.aws")
  local code, message = "HTTP" .. tostring(status), ""
  local cjson = require("cjson.safe")
  local j = body and body ~= "" and cjson.decode(body)
  if type(j) == "table" then
    code = tostring(j.__type or j.code or j.Code or code):gsub("^.*#", ""):gsub(":.*$", "")
    message = tostring(j.message or j.Message or "")
  elseif body and body ~= "" then
    local xml = require("hookhost.xml")
    local doc = xml.decode(body)
    if doc then
      code = xml.text(doc, "Error/Code") or xml.text(doc, "Errors/Error/Code") or xml.text(doc, "Code")
             or code
      message = xml.text(doc, "Error/Message") or xml.text(doc, "Errors/Error/Message")
                or xml.text(doc, "Message") or ""
    end
  end
  return aws.error{code = code, message = message, status = status,
                   request_id = request_id(headers), retryable = false}
end

local function call(self, op, params)
  params = prepare(self, op, params)
  local req = serialize(self, op, params)
  local aws = require("hookhost.aws")
  local m = self._model
  local meta = m.metadata
  local status, headers, body, answer = aws.send{
    service = meta.serviceId or self._name,
    service_name = self._name,
    endpoint_prefix = (req.host_prefix or "") .. (meta.endpointPrefix or self._name),
    signing_name = meta.signingName,
    region = self._region,
    max_attempts = self._max_attempts,
    method = req.method,
    path = req.path,
    query = #req.query > 0 and encode_query(req.query) or nil,
    headers = next(req.headers) and req.headers or nil,
    content_type = req.content_type,
    body = req.body,
    operation = op.name,
    params = params,
  }
  if not status then
    return nil, headers
  end
  if answer ~= nil then
    return answer
  end
  if status >= 300 then
    return nil, decode_error(status, headers, body)
  end
  local result, err = self._protocol.parse(m, op, status, headers or {}, body or "")
  if not result then
    return nil, aws.error{code = "SerializationError", message = self._name .. " " .. op.name
                          .. ": " .. tostring(err), status = status,
                          request_id = request_id(headers), retryable = false}
  end
  local rm = result.ResponseMetadata or {}
  rm.RequestId = rm.RequestId or request_id(headers)
  rm.HTTPStatusCode = status
  rm.HTTPHeaders = headers or {}
  result.ResponseMetadata = rm
  return result
end

Client.__index = function(self, key)
  local v = Client[key]
  if v ~= nil then
    return v
  end
  if type(key) ~= "string" or key:sub(1, 1) == "_" then
    return nil -- the client's own fields (_region, ...) when unset
  end
  local m = rawget(self, "_model")
  local opname = m.snake[key]
  if not opname then
    error(string.format("hookhost.aws.client: %s has no operation %s (did you mean %s?)",
                        rawget(self, "_name"), key, suggest(m, key)), 2)
  end
  local op = m.operations[opname]
  local f = function(client, params)
    if client ~= self then
      error("hookhost.aws.client: call " .. key .. " with a colon: client:" .. key .. "{...}", 2)
    end
    return call(client, op, params)
  end
  rawset(self, key, f)
  return f
end

Client.__tostring = function(self)
  return "hookhost.aws.client(" .. self._name .. ")"
end

--- client:call(operation, params): any operation by its model or snake_case name.
function Client:call(name, params)
  local op = operation(self, name)
  if not op then
    fail("%s has no operation %s", self._name, tostring(name))
  end
  return call(self, op, params)
end

--- client:operations() -> sorted snake_case names of every operation.
function Client:operations()
  local out = {}
  for snake in pairs(self._model.snake) do
    out[#out + 1] = snake
  end
  table.sort(out)
  return out
end

--- Test seam: the request an operation would send (validation and idempotency tokens
-- included), without sending it.
function Client:_serialize(name, params)
  local op = operation(self, name)
  if not op then
    fail("%s has no operation %s", self._name, tostring(name))
  end
  params = prepare(self, op, params)
  return serialize(self, op, params)
end

--- Test seam: an answer decoded as call() decodes it.
function Client:_parse(name, status, headers, body)
  local op = operation(self, name)
  if not op then
    fail("%s has no operation %s", self._name, tostring(name))
  end
  return self._protocol.parse(self._model, op, status, headers or {}, body or "")
end

function M.new(name, opts)
  if opts ~= nil and type(opts) ~= "table" then
    fail("options must be a table")
  end
  opts = opts or {}
  if opts.region ~= nil and (type(opts.region) ~= "string" or not opts.region:match("^[a-z0-9%-]+$")) then
    fail("region must be a region name such as \"eu-west-1\"")
  end
  if opts.max_attempts ~= nil and (math.type(opts.max_attempts) ~= "integer"
                                   or opts.max_attempts < 1 or opts.max_attempts > 20) then
    fail("max_attempts must be an integer from 1 to 20")
  end
  local v = opts.validate
  if v ~= nil and v ~= true and v ~= false and v ~= "strict" then
    fail("validate must be true, false or \"strict\"")
  end
  local m, err = model.load(name)
  if not m then
    fail("%s", err)
  end
  local p = protocol(m.metadata.protocol)
  if not p then
    fail("%s: the %s protocol is not supported", name, tostring(m.metadata.protocol))
  end
  return setmetatable({
    _name = name,
    _model = m,
    _protocol = p,
    _region = opts.region,
    _max_attempts = opts.max_attempts,
    _validate = v == nil and true or v,
  }, Client)
end

return M
