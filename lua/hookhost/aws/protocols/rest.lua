--- hookhost.aws.protocols.rest: what `rest-json` and `rest-xml` share: the input members'
-- locations (URI labels, greedy labels, query string, headers, header prefixes, the payload
-- member) and the output members read from the status and headers. The body itself is the
-- protocol's (a `body` table of functions, below).
--
--   rest.serialize(m, op, params, body) -> request {method, path, query, headers, body,
--                                                   content_type}
--   rest.parse(m, op, status, headers, raw, body) -> result | nil, message
--
-- body = {
--   write(m, view, value) -> text            a structure, list or map as the body document
--   empty -> text                            the body of an input with a payload member unset
--   requires_empty(view) -> bool             rest-json: "{}" when any member has no location
--   content_type -> string | nil             for a document body (rest-json: application/json)
--   decode(m, view, raw) -> value | nil, message   a body document into the shape's Lua form
--   scalar(m, view, text) -> value           a header's text into the shape's Lua form
-- }
--
-- Botocore's BaseRestSerializer and BaseRestParser are the reference; tests/models compares
-- every protocol against them.

local codec = require("hookhost.aws.codec")
local cjson = require("cjson.safe")
local core = require("hookhost.aws.core")
local shapes = require("hookhost.aws.shapes")

local M = {}

local resolve = shapes.resolve

-- A scalar as URI label, query or header text (botocore: str(value); booleans lower-case).
local text = codec.text

local function header_value(m, view, v)
  local ty = view.type
  if ty == "timestamp" then
    local t = math.floor(assert(codec.to_epoch(v))) -- whole seconds in headers, as botocore
    return text(codec.wire_timestamp(t, (view.timestampFormat or "rfc822"):lower()))
  elseif ty == "list" then
    local member = resolve(m, view.member)
    local parts = {}
    for i = 1, #v do
      parts[#parts + 1] = header_value(m, member, v[i])
    end
    return table.concat(parts, ",")
  elseif view.jsonvalue then
    return codec.base64((assert(cjson.encode(v))))
  elseif ty == "blob" then
    return codec.base64(v)
  end
  return text(v, ty)
end

-- Split "/{Bucket}/{Key+}?uploads&x-id=Put" into the path template and its literal query.
local function split_uri(uri)
  local path, q = uri:match("^([^?]*)%??(.*)$")
  local literal = {}
  for part in q:gmatch("[^&]+") do
    local k, v = part:match("^([^=]*)=?(.*)$")
    literal[#literal + 1] = {k, v}
  end
  return path, literal
end

local function render(template, labels, opname)
  return (template:gsub("{([^}]+)}", function(label)
    local greedy = label:sub(-1) == "+"
    local name = greedy and label:sub(1, -2) or label
    local v = labels[name]
    if v == nil then
      error("hookhost.aws: " .. opname .. ": the URI label " .. name .. " has no value", 0)
    end
    v = text(v[1], v[2].type)
    return core.uri_encode(v, greedy)
  end))
end

function M.serialize(m, op, params, body)
  local http = op.http or {}
  local path_t, literal = split_uri(http.requestUri or "/")
  local req = {method = http.method or "POST", query = {}, headers = {}, body = ""}
  for _, kv in ipairs(literal) do
    req.query[#req.query + 1] = kv
  end
  local input = shapes.input(m, op)
  if not input then
    req.path = render(path_t, {}, op.name)
    return req
  end
  local labels, body_params, has_body = {}, {}, false
  local members = input.members or {}
  local names = {}
  for k in pairs(params) do
    names[#names + 1] = k
  end
  table.sort(names)
  for _, k in ipairs(names) do
    local v = params[k]
    local view = resolve(m, members[k])
    local loc = view.location
    local name = view.locationName or k
    if loc == "uri" then
      labels[name] = {v, view}
    elseif loc == "querystring" then
      if view.type == "map" then
        local keys = {}
        for kk in pairs(v) do
          keys[#keys + 1] = kk
        end
        table.sort(keys)
        local vview = resolve(m, view.value)
        for _, kk in ipairs(keys) do
          local x = v[kk]
          if vview.type == "list" then
            local ity = resolve(m, vview.member).type
            for _, item in ipairs(x) do
              req.query[#req.query + 1] = {kk, text(item, ity)}
            end
          else
            req.query[#req.query + 1] = {kk, text(x, vview.type)}
          end
        end
      elseif view.type == "list" then
        local member = resolve(m, view.member)
        for _, item in ipairs(v) do
          if member.type == "timestamp" then
            item = codec.wire_timestamp(assert(codec.to_epoch(item)),
                                        (member.timestampFormat or "iso8601"):lower())
          end
          req.query[#req.query + 1] = {name, text(item, member.type)}
        end
      elseif view.type == "timestamp" then
        local t = assert(codec.to_epoch(v))
        req.query[#req.query + 1] = {name, text(codec.wire_timestamp(t,
                                     (view.timestampFormat or "iso8601"):lower()))}
      else
        req.query[#req.query + 1] = {name, text(v, view.type)}
      end
    elseif loc == "header" then
      if not (view.type == "list" and #v == 0) then
        req.headers[name] = header_value(m, view, v)
      end
    elseif loc == "headers" then
      local vty = resolve(m, view.value).type
      for kk, x in pairs(v) do
        req.headers[name .. kk] = text(x, vty)
      end
    else
      body_params[k] = v
      has_body = true
    end
  end
  req.path = render(path_t, labels, op.name)

  local payload = input.payload
  local pview = payload and resolve(m, members[payload])
  if pview and (pview.type == "blob" or pview.type == "string") then
    local v = params[payload]
    req.body = v ~= nil and v or ""
    return req -- a raw payload: no Content-Type from the protocol
  elseif pview then
    local v = params[payload]
    if v ~= nil then
      req.body = body.write(m, pview, v)
    else
      req.body = body.empty
    end
  elseif has_body then
    req.body = body.write(m, input, body_params)
  elseif body.requires_empty(input) then
    req.body = body.empty
  end
  if req.body ~= "" and body.content_type then
    local set = false
    for k in pairs(req.headers) do
      if k:lower() == "content-type" then
        set = true
      end
    end
    if not set then
      req.content_type = body.content_type
    end
  end
  return req
end

---- responses -----------------------------------------------------------------------------------

local function header_scalar(m, view, s, body)
  local ty = view.type
  if ty == "list" then
    local member = resolve(m, view.member)
    local out = {}
    for item in (s .. ","):gmatch("([^,]*),") do -- botocore: [e.strip() for e in s.split(',')]
      out[#out + 1] = header_scalar(m, member, item:match("^%s*(.-)%s*$"), body)
    end
    return out
  elseif ty == "timestamp" then
    local t = codec.from_wire_timestamp(s)
    return t and codec.iso8601(t) or s
  elseif ty == "integer" or ty == "long" then
    local n = tonumber(s)
    return n and (math.tointeger(n) or n) or s
  elseif ty == "float" or ty == "double" then
    return tonumber(s) or s
  elseif ty == "boolean" then
    return s == "true"
  elseif ty == "blob" then
    return codec.unbase64(s) or s
  elseif view.jsonvalue then
    local decoded = codec.unbase64(s)
    local v = decoded and cjson.decode(decoded)
    if v ~= nil then
      return v
    end
  end
  return s
end

function M.parse(m, op, status, headers, raw, body)
  local output = shapes.output(m, op)
  local result = {}
  if not output then
    return result
  end
  headers = headers or {}
  local members = output.members or {}
  for name, ref in pairs(members) do
    local view = resolve(m, ref)
    local loc = view.location
    if loc == "statusCode" then
      result[name] = status
    elseif loc == "header" then
      local h = headers[(view.locationName or name):lower()]
      if h ~= nil then
        result[name] = header_scalar(m, view, h, body)
      end
    elseif loc == "headers" then
      local prefix = (view.locationName or ""):lower()
      local map = {}
      for k, v in pairs(headers) do
        if k:sub(1, #prefix) == prefix then
          map[k:sub(#prefix + 1)] = v
        end
      end
      result[name] = map
    end
  end
  local payload = output.payload
  if payload then
    local pview = resolve(m, members[payload])
    if pview.type == "blob" or pview.type == "string" then
      result[payload] = raw or ""
    else
      local v, err = body.decode(m, pview, raw)
      if v == nil and err then
        return nil, err
      end
      result[payload] = v
    end
  else
    local v, err = body.decode(m, output, raw)
    if v == nil and err then
      return nil, err
    end
    for k, x in pairs(v or {}) do
      result[k] = x
    end
  end
  return result
end

return M
