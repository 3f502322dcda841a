--- hookhost.aws.protocols.query: the `query` and `ec2` protocols: parameters flattened into a
-- form (Action, Version, then Name.member.1.Field=...), POSTed to /; XML answers.
--
--   query.serialize(m, op, params, ec2) -> request {method, path, query, headers, body,
--                                                   content_type, form = {{name, value}...}}
--   query.parse(m, op, status, headers, raw, ec2) -> result | nil, message
--
-- query (botocore's QuerySerializer): lists are Name.member.N (the member's locationName in
-- place of "member"; flattened: Name.N, or the member's name in place of the last part), an
-- empty list is "Name=", maps Name.entry.N.key/value (flattened: Name.N.key), booleans
-- true/false, timestamps ISO 8601, blobs base64.
-- ec2 (EC2Serializer): names from queryName, else the locationName capitalized; lists are
-- always Name.N, and an empty list sends nothing.
-- Answers: the output shape is read from the result wrapper element (query) or the root
-- (ec2); RequestId becomes ResponseMetadata.RequestId.

local codec = require("hookhost.aws.codec")
local core = require("hookhost.aws.core")
local shapes = require("hookhost.aws.shapes")
local xmlp = require("hookhost.aws.protocols.xml")
local xmllib = require("hookhost.xml")

local M = {}

local resolve = shapes.resolve

local function serialized_name(view, default, ec2)
  if ec2 then
    if view.queryName then
      return view.queryName
    elseif view.locationName then
      return view.locationName:sub(1, 1):upper() .. view.locationName:sub(2)
    end
    return default
  end
  return view.locationName or default
end

local flatten

local function add(out, name, value)
  out[#out + 1] = {name, value}
end

function flatten(m, view, v, prefix, out, ec2)
  local ty = view.type
  if ty == "structure" then
    local members = view.members or {}
    for _, k in ipairs(shapes.member_names(view)) do
      local x = v[k]
      if x ~= nil then
        local mview = resolve(m, members[k])
        local name = serialized_name(mview, k, ec2)
        flatten(m, mview, x, prefix == "" and name or prefix .. "." .. name, out, ec2)
      end
    end
  elseif ty == "list" then
    local member = resolve(m, view.member)
    if ec2 then
      for i = 1, #v do
        flatten(m, member, v[i], prefix .. "." .. i, out, ec2)
      end
      return
    end
    if #v == 0 then
      add(out, prefix, "")
      return
    end
    local list_prefix
    if view.flattened then
      list_prefix = prefix
      if member.locationName then
        local parent = prefix:match("^(.*)%.[^.]*$")
        list_prefix = parent and parent .. "." .. member.locationName or member.locationName
      end
    else
      list_prefix = prefix .. "." .. (member.locationName or "member")
    end
    for i = 1, #v do
      flatten(m, member, v[i], list_prefix .. "." .. i, out, ec2)
    end
  elseif ty == "map" then
    local kview, vview = resolve(m, view.key), resolve(m, view.value)
    local full = view.flattened and prefix or prefix .. ".entry"
    local kname = serialized_name(kview, "key", ec2)
    local vname = serialized_name(vview, "value", ec2)
    local keys = {}
    for k in pairs(v) do
      keys[#keys + 1] = k
    end
    table.sort(keys)
    for i, k in ipairs(keys) do
      flatten(m, kview, k, full .. "." .. i .. "." .. kname, out, ec2)
      flatten(m, vview, v[k], full .. "." .. i .. "." .. vname, out, ec2)
    end
  elseif ty == "boolean" then
    add(out, prefix, v and "true" or "false")
  elseif ty == "blob" then
    add(out, prefix, codec.base64(v))
  elseif ty == "timestamp" then
    local s = codec.wire_timestamp(assert(codec.to_epoch(v)),
                                   (view.timestampFormat or "iso8601"):lower())
    add(out, prefix, type(s) == "string" and s or string.format("%d", s))
  else
    add(out, prefix, codec.text(v, ty))
  end
end

function M.serialize(m, op, params, ec2)
  local form = {{"Action", op.name}, {"Version", m.metadata.apiVersion or ""}}
  local input = shapes.input(m, op)
  if input then
    flatten(m, input, params, "", form, ec2)
  end
  local parts = {}
  for i, kv in ipairs(form) do
    parts[i] = core.uri_encode(kv[1]) .. "=" .. core.uri_encode(kv[2])
  end
  return {
    method = op.http and op.http.method or "POST",
    path = "/",
    query = {},
    headers = {},
    content_type = "application/x-www-form-urlencoded; charset=utf-8",
    body = table.concat(parts, "&"),
    form = form,
  }
end

function M.parse(m, op, _, _, raw, ec2)
  local output = shapes.output(m, op)
  if raw == nil or raw == "" then
    return {}
  end
  local root, err = xmllib.decode(raw)
  if not root then
    return nil, "the response is not XML: " .. tostring(err)
  end
  local ok, result = pcall(function()
    if not output then
      return {}
    end
    local start = root
    if output.resultWrapper then
      start = xmlp.children(root)[output.resultWrapper]
      if start == nil then
        return {}
      end
    end
    return xmlp.decode_value(m, output, start)
  end)
  if not ok then
    return nil, "the response does not match the model: " .. tostring(result)
  end
  local top = xmlp.children(root)
  if ec2 then
    local rid = top.requestId
    if rid then
      result.ResponseMetadata = {RequestId = rid.text}
    end
  elseif top.ResponseMetadata then
    local meta = {}
    for name, node in pairs(xmlp.children(top.ResponseMetadata)) do
      meta[name] = node.text or (node[1] and node[1].text)
    end
    result.ResponseMetadata = meta
  end
  return result
end

return M
