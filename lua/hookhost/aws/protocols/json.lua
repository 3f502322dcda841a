--- hookhost.aws.protocols.json: the `json` protocol (AWS JSON 1.0/1.1), and the JSON bodies
-- of `rest-json` (protocols/rest.lua does the rest).
--
--   json.serialize(m, op, params) -> request {method, path, query = {}, headers, body,
--                                             content_type}
--   json.parse(m, op, status, headers, body) -> result | nil, message
--   json.write(m, view, value, timestamp_format) -> JSON text of a value of that shape
--   json.decode_body(m, view, body) -> the decoded value of that shape | nil, message
--   json.decode_value(m, view, v) -> a cjson-decoded value walked into the shape's Lua form
--
-- Writing follows the model, not the Lua value's look: a list is always [...] and a structure
-- or map always {...}, even when empty (lua-cjson cannot tell those apart); scalars go through
-- lua-cjson (strings) and codec (numbers, blobs, timestamps). Member order is by name.
-- Decoding is lua-cjson's, then a walk of the shape that turns numbers of integer shapes into
-- integers, blobs into their bytes and timestamps into ISO 8601 text (codec.iso8601).

local cjson = require("cjson.safe")
local codec = require("hookhost.aws.codec")
local shapes = require("hookhost.aws.shapes")

local M = {}

local resolve = shapes.resolve
local encode_string = cjson.encode

-- A value of no particular shape (documents): lua-cjson's view of it.
local function write_document(v, out)
  local s, err = cjson.encode(v)
  if not s then
    error("hookhost.aws: a document parameter cannot be encoded as JSON: " .. tostring(err), 0)
  end
  out[#out + 1] = s
end

local write

local function write_float(v, out)
  if v ~= v then
    out[#out + 1] = "NaN"
  elseif v == math.huge then
    out[#out + 1] = "Infinity"
  elseif v == -math.huge then
    out[#out + 1] = "-Infinity"
  else
    out[#out + 1] = codec.number(v)
  end
end

function write(m, view, v, out, tsformat)
  local ty = view.type
  if ty == "structure" then
    if view.document then
      return write_document(v, out)
    end
    out[#out + 1] = "{"
    local first = true
    local members = view.members or {}
    for _, name in ipairs(shapes.member_names(view)) do
      local x = v[name]
      if x ~= nil then
        local ref = members[name]
        if not first then
          out[#out + 1] = ","
        end
        first = false
        out[#out + 1] = encode_string(ref.locationName or name)
        out[#out + 1] = ":"
        write(m, resolve(m, ref), x, out, tsformat)
      end
    end
    out[#out + 1] = "}"
  elseif ty == "list" then
    local member = resolve(m, view.member)
    out[#out + 1] = "["
    for i = 1, #v do
      if i > 1 then
        out[#out + 1] = ","
      end
      write(m, member, v[i], out, tsformat)
    end
    out[#out + 1] = "]"
  elseif ty == "map" then
    local value = resolve(m, view.value)
    local keys = {}
    for k in pairs(v) do
      keys[#keys + 1] = k
    end
    table.sort(keys)
    out[#out + 1] = "{"
    for i, k in ipairs(keys) do
      if i > 1 then
        out[#out + 1] = ","
      end
      out[#out + 1] = encode_string(k)
      out[#out + 1] = ":"
      write(m, value, v[k], out, tsformat)
    end
    out[#out + 1] = "}"
  elseif ty == "string" then
    out[#out + 1] = encode_string(v)
  elseif ty == "integer" or ty == "long" then
    out[#out + 1] = string.format("%d", math.tointeger(v))
  elseif ty == "float" or ty == "double" then
    write_float(v, out)
  elseif ty == "boolean" then
    out[#out + 1] = v and "true" or "false"
  elseif ty == "blob" then
    out[#out + 1] = encode_string(codec.base64(v))
  elseif ty == "timestamp" then
    local t = assert(codec.to_epoch(v))
    local s = codec.wire_timestamp(t, (view.timestampFormat or tsformat):lower())
    out[#out + 1] = type(s) == "string" and encode_string(s) or string.format("%d", s)
  else
    write_document(v, out)
  end
end

function M.write(m, view, value, tsformat)
  local out = {}
  write(m, view, value, out, tsformat or "unixtimestamp")
  return table.concat(out)
end

function M.serialize(m, op, params)
  local meta = m.metadata
  local req = {
    method = op.http and op.http.method or "POST",
    path = "/",
    query = {},
    headers = {["X-Amz-Target"] = (meta.targetPrefix or "") .. "." .. op.name},
    content_type = "application/x-amz-json-" .. (meta.jsonVersion or "1.0"),
    body = "{}",
  }
  local input = shapes.input(m, op)
  if input then
    req.body = M.write(m, input, params, "unixtimestamp")
  end
  return req
end

---- decoding ------------------------------------------------------------------------------------

local null = cjson.null

local function decode(m, view, v, depth)
  if v == nil or v == null then
    return nil
  end
  if depth > 100 then
    error("nested too deeply", 0)
  end
  local ty = view.type
  if ty == "structure" then
    if view.document then
      return v
    end
    if type(v) ~= "table" then
      error("expected an object for " .. view.shape_name, 0)
    end
    local out = {}
    for name, ref in pairs(view.members or {}) do
      local x = v[ref.locationName or name]
      if x ~= nil and x ~= null then
        out[name] = decode(m, resolve(m, ref), x, depth + 1)
      end
    end
    return out
  elseif ty == "list" then
    if type(v) ~= "table" then
      error("expected an array for " .. view.shape_name, 0)
    end
    local member = resolve(m, view.member)
    local out = {}
    for i = 1, #v do
      out[#out + 1] = decode(m, member, v[i], depth + 1)
    end
    return out
  elseif ty == "map" then
    if type(v) ~= "table" then
      error("expected an object for " .. view.shape_name, 0)
    end
    local value = resolve(m, view.value)
    local out = {}
    for k, x in pairs(v) do
      out[k] = decode(m, value, x, depth + 1)
    end
    return out
  elseif ty == "integer" or ty == "long" then
    if type(v) == "string" then
      v = tonumber(v)
    end
    return type(v) == "number" and (math.tointeger(v) or v) or v
  elseif ty == "float" or ty == "double" then
    if type(v) == "string" then
      local special = {NaN = 0 / 0, Infinity = math.huge, ["-Infinity"] = -math.huge}
      return special[v] or tonumber(v)
    end
    return v
  elseif ty == "blob" then
    local bytes = codec.unbase64(v)
    if not bytes then
      error("a blob that is not base64 in " .. view.shape_name, 0)
    end
    return bytes
  elseif ty == "timestamp" then
    local t, err = codec.from_wire_timestamp(v)
    if not t then
      error(err, 0)
    end
    return codec.iso8601(t)
  end
  return v
end

function M.decode_value(m, view, v)
  return decode(m, view, v, 0)
end

function M.decode_body(m, view, body)
  if body == nil or body == "" then
    return {}
  end
  local v, err = cjson.decode(body)
  if v == nil then
    return nil, "the response is not JSON: " .. tostring(err)
  end
  if not view then
    return {}
  end
  local ok, res = pcall(decode, m, view, v, 0)
  if not ok then
    return nil, "the response does not match the model: " .. tostring(res)
  end
  return res or {}
end

function M.parse(m, op, _, _, body)
  return M.decode_body(m, shapes.output(m, op), body)
end

return M
