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
-- S3 (docs/HOOKS.md, "S3"): buckets are addressed virtually (https://bucket.s3.<region>.
-- amazonaws.com/key) when botocore would, else by path; opts.addressing_style = "auto" |
-- "virtual" | "path" as botocore's Config(s3 = {addressing_style}) (lua/hookhost/aws/s3.lua).
-- PutObject and UploadPart carry a Content-MD5 as botocore's; ChecksumAlgorithm = "SHA256" or
-- "SHA1" adds the x-amz-checksum-* header. Operations whose model (or botocore) says
-- authtype "none" are sent unsigned; "v4-unsigned-body" ones sign UNSIGNED-PAYLOAD.
--
-- Every call goes through aws.send, so dry runs and stubs apply (docs/HOOKS.md): the request
-- is described, not sent, and the call answers with the stub's (or the dry run's) answer.
--
-- The protocols: json, rest-json, query, ec2 and rest-xml (lua/hookhost/aws/protocols/).
-- For tests only, client:_serialize(operation, params) returns the request that would be sent
-- (with bucket_prefix, S3's virtual host label, and auth, the authtype, when they apply)
-- and client:_parse(operation, status, headers, body) decodes an answer.

local model = require("hookhost.aws.model")
local shapes = require("hookhost.aws.shapes")
local validate = require("hookhost.aws.validate")
-- JMESPath only for paginators and waiters: loaded on their first use, not by every client
local function jmespath_search(expr, v)
  return require("hookhost.aws.jmespath").search(expr, v)
end
local util = require("hookhost.util")

local function codec_seconds(s)
  return math.tointeger(s) and string.format("%d", s) or string.format("%.1f", s)
end

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
  local auto_encoding = false
  if self._s3 then
    auto_encoding = require("hookhost.aws.s3").before(op, out)
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
  if self._s3 and out.Bucket ~= nil then
    -- always, as botocore's validate_bucket_name: the bucket may become part of a host name
    local msg = require("hookhost.aws.s3").check_bucket(out.Bucket)
    if msg then
      error("Parameter validation failed:\n" .. msg, 4)
    end
  end
  return out, auto_encoding
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

-- botocore's conditionally_calculate_md5: operations whose model requires a checksum get a
-- Content-MD5 of the body unless the caller gave a checksum header.
local function add_md5(op, req, always)
  local hc = op.httpChecksum
  if not (always or op.httpChecksumRequired
          or (type(hc) == "table" and hc.requestChecksumRequired)) then
    return
  end
  for k in pairs(req.headers) do
    local l = k:lower()
    if l == "content-md5" or l:sub(1, 15) == "x-amz-checksum-" then
      return
    end
  end
  local codec = require("hookhost.aws.codec")
  req.headers["Content-MD5"] = codec.base64(require("hookhost.aws.core").md5(req.body or ""))
end

-- Flexible checksums (botocore's httpchecksum.py): an operation whose httpChecksum trait names
-- a requestAlgorithmMember, called with that member set, sends x-amz-checksum-<algorithm> (the
-- base64 digest of the body) unless the caller gave it; the serializer already wrote the
-- member's own header (x-amz-sdk-checksum-algorithm). SHA256 and SHA1 come from OpenSSL;
-- CRC32 and CRC32C would need a library hookhost does not link, so they are refused.
local CHECKSUMS = {sha256 = "sha256", sha1 = "sha1"}

local function flexible_checksum(self, op, params, req)
  local hc = op.httpChecksum
  local member = type(hc) == "table" and hc.requestAlgorithmMember
  local alg = member and params[member]
  if type(alg) ~= "string" then
    return false
  end
  local f = CHECKSUMS[alg:lower()]
  if not f then
    error(string.format("hookhost.aws.client: %s %s: %s \"%s\" is not supported: use \"SHA256\" "
                        .. "or \"SHA1\" (CRC32 and CRC32C need a library hookhost does not link)",
                        self._name, op.name, member, alg), 0)
  end
  local name = "x-amz-checksum-" .. alg:lower()
  for k in pairs(req.headers) do
    if k:lower() == name then
      return true -- the caller's own checksum
    end
  end
  local codec = require("hookhost.aws.codec")
  req.headers[name] = codec.base64(require("hookhost.aws.core")[f](req.body or ""))
  return true
end

-- Operations botocore sends unsigned although their models do not say so (handlers.py's
-- disable_signing); the models' own authtype "none" and "v4-unsigned-body" are read from them.
local UNSIGNED = {
  STS = {AssumeRoleWithSAML = true, AssumeRoleWithWebIdentity = true},
  ["Cognito Identity"] = {GetId = true, GetOpenIdToken = true, UnlinkIdentity = true,
                          GetCredentialsForIdentity = true},
}

local function auth_type(m, op)
  local u = UNSIGNED[m.metadata.serviceId or ""]
  if u and u[op.name] then
    return "none"
  end
  local a = op.authtype
  if a == "none" or a == "v4-unsigned-body" then
    return a
  end
  return nil
end

-- botocore's before-call handlers give these S3 uploads a Content-MD5 even though their models
-- do not require one.
local S3_MD5 = {PutObject = true, UploadPart = true}

local function serialize(self, op, params)
  local p = self._protocol
  local req = p.serialize(self._model, op, params)
  req.host_prefix = host_prefix(op, params)
  req.auth = auth_type(self._model, op)
  if not flexible_checksum(self, op, params, req) then
    add_md5(op, req, self._s3 and S3_MD5[op.name])
  end
  if self._s3 then
    local s3 = require("hookhost.aws.s3")
    req.bucket_prefix, req.path = s3.addressing(op, params, req.path, self._addressing,
                                                s3.endpoint_url())
  end
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
  local auto_encoding
  params, auto_encoding = prepare(self, op, params)
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
    host_prefix = req.bucket_prefix,
    auth = req.auth,
  }
  if not status then
    return nil, headers
  end
  if answer ~= nil then
    return answer, nil, true
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
  if self._s3 then
    require("hookhost.aws.s3").after(op, result, auto_encoding)
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

---- paginators and waiters ----------------------------------------------------------------------

-- An answer that stands for a call not sent (a dry run's): nothing to follow or wait for.
-- aws.is_placeholder where aws.send makes placeholders, else the dry-run description.
local function not_sent(x)
  local aws = require("hookhost.aws")
  if aws.is_placeholder then
    return aws.is_placeholder(x)
  end
  return type(x) == "table" and rawget(x, "dry_run") == true
end

local function as_list(v)
  if v == nil then
    return {}
  end
  return type(v) == "table" and v or {v}
end

local function same(a, b)
  if #a ~= #b then
    return false
  end
  for i = 1, #a do
    if a[i] ~= b[i] then
      return false
    end
  end
  return true
end

--- client:paginate(operation, params [, {max_pages = n, page_size = n}]) -> an iterator over
-- the pages (each a call's result), following the model's paginator (paginators-1.json):
--   for page in ecs:paginate("list_tasks", {cluster = "c"}) do ... end
-- A failed page raises the call's error (pcall the loop to handle it); every call is bounded
-- by the hook's time like any other. page_size sets the paginator's limit key.
function Client:paginate(name, params, opts)
  local op = operation(self, name)
  if not op then
    fail("%s has no operation %s", self._name, tostring(name))
  end
  local pags, err = model.paginators(self._model)
  if not pags then
    fail("%s", err)
  end
  local pag = pags[op.name]
  if not pag then
    fail("%s %s cannot be paginated (the model has no paginator for it)", self._name, op.name)
  end
  if params ~= nil and type(params) ~= "table" then
    fail("%s %s: parameters must be a table", self._name, op.name)
  end
  opts = opts or {}
  local max_pages = opts.max_pages
  if max_pages ~= nil and (math.type(max_pages) ~= "integer" or max_pages < 1) then
    fail("max_pages must be a positive integer")
  end
  local p = {}
  for k, v in pairs(params or {}) do
    p[k] = v
  end
  if opts.page_size ~= nil then
    if not pag.limit_key then
      fail("%s %s has no page size", self._name, op.name)
    end
    p[pag.limit_key] = opts.page_size
  end
  local inputs, outputs = as_list(pag.input_token), as_list(pag.output_token)
  local done, pages, previous = false, 0, nil
  return function()
    if done or (max_pages and pages >= max_pages) then
      return nil
    end
    local page, cerr, canned = call(self, op, p)
    if not page then
      done = true
      error(cerr, 0)
    end
    pages = pages + 1
    if canned and not_sent(page) then
      done = true -- a dry run's description: nothing to follow
      return page
    end
    local tokens, any = {}, false
    for i, expr in ipairs(outputs) do
      local v = jmespath_search(expr, page)
      if v ~= nil and v ~= "" then
        any = true
        tokens[i] = v
      end
    end
    if pag.more_results and not jmespath_search(pag.more_results, page) then
      any = false
    end
    if not any then
      done = true
      return page
    end
    if previous and same(previous, tokens) then
      done = true
      error(require("hookhost.aws").error{code = "PaginationError", message = self._name .. " "
            .. op.name .. ": the same next token was received twice", retryable = false}, 0)
    end
    previous = tokens
    for i, key in ipairs(inputs) do
      p[key] = tokens[i]
    end
    return page
  end
end

local function waiter_error(wname, message, last)
  local aws = require("hookhost.aws")
  return aws.error{code = "WaiterError", message = "Waiter " .. wname .. " failed: " .. message
                   .. (last and (" (last: " .. tostring(last) .. ")") or ""), retryable = false}
end

local function acceptor_matches(a, result, err)
  local m = a.matcher
  if m == "error" then
    if a.expected == true then
      return err ~= nil
    elseif a.expected == false then
      return err == nil
    end
    return err ~= nil and err.code == a.expected
  elseif m == "status" then
    local status = err and err.status
      or (result and result.ResponseMetadata and result.ResponseMetadata.HTTPStatusCode)
    return status ~= nil and math.tointeger(a.expected) == status
  end
  if err or result == nil then
    return false
  end
  local ok, v = pcall(jmespath_search, a.argument, result)
  if not ok then
    return false -- length() of a member the answer lacks: not this acceptor
  end
  if m == "path" then
    return v == a.expected
  end
  if type(v) ~= "table" or next(v) == nil then
    return false
  end
  for _, x in ipairs(v) do
    local eq = x == a.expected
    if m == "pathAll" and not eq then
      return false
    elseif m == "pathAny" and eq then
      return true
    end
  end
  return m == "pathAll"
end

--- client:wait(waiter, params [, {delay = seconds, max_attempts = n}]) -> the last result |
-- nil, err: polls the model's waiter (waiters-2.json; boto3's names: "services_stable",
-- "invalidation_completed") until it succeeds, fails, runs out of attempts, or the next
-- attempt would not end within the hook's time (err.code "WaiterError" then, so the hook can
-- still report). delay and max_attempts default to the model's.
function Client:wait(name, params, opts)
  local waiters, err = model.waiters(self._model)
  if not waiters then
    fail("%s", err)
  end
  local w, wname = waiters[name], name
  if not w then
    for k, v in pairs(waiters) do
      if model.xform_name(k) == name then
        w, wname = v, k
      end
    end
  end
  if not w then
    local names = {}
    for k in pairs(waiters) do
      names[#names + 1] = model.xform_name(k)
    end
    table.sort(names)
    fail("%s has no waiter %s (it has: %s)", self._name, tostring(name),
         #names > 0 and table.concat(names, ", ") or "none")
  end
  opts = opts or {}
  local delay = opts.delay or w.delay or 5
  local attempts = opts.max_attempts or w.maxAttempts or 20
  if type(delay) ~= "number" or delay < 0 then
    fail("delay must be a number of seconds")
  end
  if math.type(attempts) ~= "integer" or attempts < 1 then
    fail("max_attempts must be a positive integer")
  end
  local op = self._model.operations[w.operation]
  if not op then
    fail("%s: waiter %s names an unknown operation %s", self._name, wname, tostring(w.operation))
  end
  local last
  for attempt = 1, attempts do
    local result, cerr, canned = call(self, op, params)
    if canned and not_sent(result) then
      return result -- a dry run: nothing was asked, so there is nothing to wait for
    end
    local state
    for _, a in ipairs(w.acceptors or {}) do
      if acceptor_matches(a, result, cerr) then
        state = a.state
        break
      end
    end
    if state == "success" then
      return result or {}
    elseif state == "failure" then
      return nil, waiter_error(wname, "Waiter encountered a terminal failure state", cerr)
    elseif state == nil and cerr then
      return nil, waiter_error(wname, "Unexpected error encountered", cerr)
    end
    last = cerr
    if attempt == attempts then
      break
    end
    if util.remaining_ms() < delay * 1000 + 1000 then
      return nil, waiter_error(wname, string.format(
        "the hook's time would run out before attempt %d (%d ms left, %s s delay)",
        attempt + 1, util.remaining_ms(), codec_seconds(delay)), last)
    end
    util.sleep_ms(delay * 1000)
  end
  return nil, waiter_error(wname, "Max attempts exceeded", last)
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
  local style = opts.addressing_style
  if style ~= nil and not require("hookhost.aws.s3").STYLES[style] then
    fail("addressing_style must be \"auto\", \"virtual\" or \"path\"")
  end
  local m, err = model.load(name)
  if not m then
    fail("%s", err)
  end
  if style ~= nil and m.metadata.serviceId ~= "S3" then
    fail("addressing_style is an S3 option (%s is not S3)", name)
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
    _s3 = m.metadata.serviceId == "S3",
    _addressing = style or "auto",
  }, Client)
end

return M
