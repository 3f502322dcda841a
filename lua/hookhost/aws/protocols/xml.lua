--- hookhost.aws.protocols.xml: XML documents of a shape: the `rest-xml` request bodies, and the
-- responses of `rest-xml`, `query` and `ec2` (parsed by hookhost.xml, expat-based).
--
--   xml.write(m, view, value, name) -> "<name ...>...</name>" (no XML declaration: byte for
--       byte botocore's body, so a Content-MD5 or checksum of it is botocore's too)
--       structures (xmlNamespace as xmlns[:prefix], xmlAttribute members as attributes),
--       lists (wrapped in <name><member>..., or flattened: repeated <name>), maps
--       (<name><entry><key/><value/></entry>...), scalars as text (booleans true/false,
--       blobs base64, timestamps ISO 8601 unless the shape says otherwise)
--   xml.decode_value(m, view, node) -> the Lua form of a parsed element (or of the list of
--       same-named elements a flattened list or map is)
--   xml.children(node) -> {name = element | {element, ...}} (botocore's name-to-node map)
--   xml.decode_body(m, view, raw) -> value | nil, message    rest-xml bodies (empty: {})
--   xml.scalar(m, view, text) -> a scalar's Lua form from its text
--
-- Names are local names (hookhost.xml drops any "prefix:"); attributes keep their written
-- names ("xsi:type"). Botocore's BaseXMLResponseParser and RestXMLSerializer are the reference.

local codec = require("hookhost.aws.codec")
local shapes = require("hookhost.aws.shapes")
local xmllib = require("hookhost.xml")

local M = {}

local resolve = shapes.resolve

local ENTITIES = {["&"] = "&amp;", ["<"] = "&lt;", [">"] = "&gt;", ['"'] = "&quot;",
                  ["\r"] = "&#13;"}

local function escape(s)
  if s:find("[%z\1-\8\11\12\14-\31]") then
    error("hookhost.aws: control characters cannot be sent in XML", 0)
  end
  return (s:gsub("[&<>\"\r]", ENTITIES))
end

local function scalar_text(view, v)
  local ty = view.type
  if ty == "boolean" then
    return v and "true" or "false"
  elseif ty == "blob" then
    return codec.base64(v)
  elseif ty == "timestamp" then
    local t = assert(codec.to_epoch(v))
    local s = codec.wire_timestamp(t, (view.timestampFormat or "iso8601"):lower())
    return type(s) == "string" and s or string.format("%d", s)
  end
  return codec.text(v, ty)
end

local write

local function write_structure(m, view, v, name, out)
  local attrs = {}
  local ns = view.xmlNamespace
  if type(ns) == "table" and ns.uri then
    attrs[#attrs + 1] = {ns.prefix and "xmlns:" .. ns.prefix or "xmlns", ns.uri}
  end
  local members = view.members or {}
  local children = {}
  for _, k in ipairs(shapes.member_names(view)) do
    local x = v[k]
    if x ~= nil then
      local mview = resolve(m, members[k])
      if mview.xmlAttribute then
        attrs[#attrs + 1] = {mview.locationName or k, scalar_text(mview, x)}
      else
        children[#children + 1] = {mview, x, mview.locationName or k}
      end
    end
  end
  out[#out + 1] = "<" .. name
  for _, a in ipairs(attrs) do
    out[#out + 1] = " " .. a[1] .. "=\"" .. escape(a[2]) .. "\""
  end
  out[#out + 1] = ">"
  for _, c in ipairs(children) do
    write(m, c[1], c[2], c[3], out)
  end
  out[#out + 1] = "</" .. name .. ">"
end

function write(m, view, v, name, out)
  local ty = view.type
  if ty == "structure" then
    write_structure(m, view, v, name, out)
  elseif ty == "list" then
    local member = resolve(m, view.member)
    if view.flattened then
      for i = 1, #v do
        write(m, member, v[i], name, out)
      end
    else
      local item = member.locationName or "member"
      out[#out + 1] = "<" .. name .. ">"
      for i = 1, #v do
        write(m, member, v[i], item, out)
      end
      out[#out + 1] = "</" .. name .. ">"
    end
  elseif ty == "map" then
    local kview, vview = resolve(m, view.key), resolve(m, view.value)
    local keys = {}
    for k in pairs(v) do
      keys[#keys + 1] = k
    end
    table.sort(keys)
    out[#out + 1] = "<" .. name .. ">"
    for _, k in ipairs(keys) do
      out[#out + 1] = "<entry>"
      write(m, kview, k, kview.locationName or "key", out)
      write(m, vview, v[k], vview.locationName or "value", out)
      out[#out + 1] = "</entry>"
    end
    out[#out + 1] = "</" .. name .. ">"
  else
    out[#out + 1] = "<" .. name .. ">" .. escape(scalar_text(view, v)) .. "</" .. name .. ">"
  end
end

function M.write(m, view, value, name)
  local out = {}
  write(m, view, value, name or view.locationName or view.shape_name, out)
  return table.concat(out)
end

---- decoding ------------------------------------------------------------------------------------

local ELEMENT_LIST = {} -- marks a list of same-named elements in children()

function M.children(node)
  if getmetatable(node) == ELEMENT_LIST then
    node = node[1]
  end
  local map = {}
  for _, child in ipairs(node) do
    local key = child.name
    local cur = map[key]
    if cur == nil then
      map[key] = child
    elseif getmetatable(cur) == ELEMENT_LIST then
      cur[#cur + 1] = child
    else
      map[key] = setmetatable({cur, child}, ELEMENT_LIST)
    end
  end
  return map
end

local function node_text(node)
  if getmetatable(node) == ELEMENT_LIST then
    node = node[1]
  end
  return node.text or ""
end

function M.scalar(_, view, s)
  local ty = view.type
  if ty == "boolean" then
    return s == "true"
  elseif ty == "integer" or ty == "long" then
    local n = tonumber(s)
    if not n then
      error("not an integer: " .. s:sub(1, 40), 0)
    end
    return math.tointeger(n) or n
  elseif ty == "float" or ty == "double" then
    local n = tonumber(s)
    if not n then
      local special = {NaN = 0 / 0, Infinity = math.huge, ["-Infinity"] = -math.huge}
      n = special[s]
    end
    if not n then
      error("not a number: " .. s:sub(1, 40), 0)
    end
    return n
  elseif ty == "timestamp" then
    local t, err = codec.from_wire_timestamp(s)
    if not t then
      error(err, 0)
    end
    return codec.iso8601(t)
  elseif ty == "blob" then
    local b = codec.unbase64(s)
    if not b then
      error("a blob that is not base64", 0)
    end
    return b
  end
  return s
end

-- The element name of a member in its structure: a flattened list's items carry the list
-- member's name when it has one (botocore's _member_key_name).
local function member_key_name(m, view, name)
  if view.type == "list" and view.flattened then
    local member = resolve(m, view.member)
    if member.locationName then
      return member.locationName
    end
  end
  return view.locationName or name
end

local decode

local function items_of(node, flattened)
  if getmetatable(node) == ELEMENT_LIST then
    return node
  end
  if flattened then
    return {node}
  end
  return node -- the element itself: its children are the items
end

function decode(m, view, node, depth)
  if depth > 100 then
    error("nested too deeply", 0)
  end
  local ty = view.type
  if ty == "structure" then
    local out = {}
    local map = M.children(node)
    local elem = getmetatable(node) == ELEMENT_LIST and node[1] or node
    for name, ref in pairs(view.members or {}) do
      local mview = resolve(m, ref)
      if not mview.location then
        local child = map[member_key_name(m, mview, name)]
        if child ~= nil then
          out[name] = decode(m, mview, child, depth + 1)
        elseif mview.xmlAttribute and elem.attrs then
          out[name] = elem.attrs[mview.locationName or name]
        end
      end
    end
    return out
  elseif ty == "list" then
    local member = resolve(m, view.member)
    local out = {}
    for _, item in ipairs(items_of(node, view.flattened)) do
      out[#out + 1] = decode(m, member, item, depth + 1)
    end
    return out
  elseif ty == "map" then
    local kview, vview = resolve(m, view.key), resolve(m, view.value)
    local kname, vname = kview.locationName or "key", vview.locationName or "value"
    local out = {}
    for _, entry in ipairs(items_of(node, view.flattened)) do
      local k, v
      for _, pair in ipairs(entry) do
        if pair.name == kname then
          k = decode(m, kview, pair, depth + 1)
        elseif pair.name == vname then
          v = decode(m, vview, pair, depth + 1)
        end
      end
      if k ~= nil then
        out[k] = v
      end
    end
    return out
  end
  return M.scalar(m, view, node_text(node))
end

function M.decode_value(m, view, node)
  return decode(m, view, node, 0)
end

function M.decode_body(m, view, raw)
  if raw == nil or raw == "" then
    return {}
  end
  local root, err = xmllib.decode(raw)
  if not root then
    return nil, "the response is not XML: " .. tostring(err)
  end
  if not view then
    return {}
  end
  local ok, res = pcall(decode, m, view, root, 0)
  if not ok then
    return nil, "the response does not match the model: " .. tostring(res)
  end
  return res
end

return M
