--- hookhost.aws.validate: parameters checked against the model before anything is sent.
--
--   validate.check(m, view, params, strict) -> nil | "Parameter validation failed:\n<line>..."
--
-- The checks and messages are botocore's ParamValidator's (every problem found, one line
-- each): required members, unknown members, types, tagged unions, minimum lengths and values.
-- strict adds what botocore leaves to the service, because models lag behind the services
-- (a model from early 2023 lacks the instance types and enum values added since): enum
-- values and maximum lengths and values.
--
-- Lua values per shape type: structure and map: a table with string keys; list: a sequence
-- (an empty table is an empty list, map or structure); string: a string; integer, long: an
-- integer (or a float with a whole value); float, double: a number; boolean: a boolean;
-- blob: a string (the bytes); timestamp: epoch seconds (a number) or an ISO 8601 string
-- (codec.to_epoch); document: any JSON-like value.

local shapes = require("hookhost.aws.shapes")
local codec = require("hookhost.aws.codec")
local cjson = require("cjson")

local M = {}

local function show(v)
  if type(v) == "string" then
    return #v > 64 and v:sub(1, 61) .. "..." or v
  end
  return tostring(v)
end

local function path_name(name)
  if name == "" then
    return "input"
  end
  return (name:gsub("^%.", ""))
end

-- "list", "table" (string keys or empty), or "mixed" for a table that is neither
local function table_kind(t)
  if next(t) == nil then
    return "empty"
  end
  local n = #t
  local count, strings = 0, true
  for k in pairs(t) do
    count = count + 1
    if type(k) ~= "string" then
      strings = false
    end
  end
  if strings then
    return "table"
  end
  if n > 0 and count == n then
    return "list"
  end
  return "mixed"
end

local TYPE_NAMES = {
  structure = "table (with the member names as keys)",
  map = "table (with string keys)",
  list = "table (a sequence)",
  string = "string",
  integer = "integer",
  long = "integer",
  float = "number",
  double = "number",
  boolean = "boolean",
  blob = "string (the bytes)",
  timestamp = "number (epoch seconds), string (ISO 8601)",
}

local validate_value

local function report(errors, line)
  if #errors < 100 then
    errors[#errors + 1] = line
  end
end

local function invalid_type(errors, name, v, ty)
  report(errors, string.format("Invalid type for parameter %s, value: %s, type: %s, valid types: %s",
                               path_name(name), show(v), type(v), TYPE_NAMES[ty] or ty))
end

local function range(errors, name, n, view, what, strict, shown)
  if view.min and n < view.min then
    report(errors, string.format("Invalid %s for parameter %s, value: %s, valid min %s: %s",
                                 what, path_name(name), shown or n, what == "length" and "length"
                                 or "value", view.min))
  elseif view.hostLabel and n < 1 then
    report(errors, string.format("Invalid %s for parameter %s, value: %s, valid min %s: 1",
                                 what, path_name(name), shown or n, what == "length" and "length"
                                 or "value"))
  elseif strict and view.max and n > view.max then
    report(errors, string.format("Invalid %s for parameter %s, value: %s, valid max %s: %s",
                                 what, path_name(name), shown or n, what == "length" and "length"
                                 or "value", view.max))
  end
end

local function utf8_len(s)
  return utf8.len(s) or #s
end

local function validate_document(errors, name, v, depth)
  local t = type(v)
  if t == "table" then
    if depth > 64 then
      report(errors, "Invalid document parameter " .. path_name(name) .. ": nested too deeply")
      return
    end
    local kind = table_kind(v)
    if kind == "mixed" then
      report(errors, string.format("Invalid type for document parameter %s, value: %s, type: "
                                   .. "table (mixed keys), valid types: string, number, boolean, "
                                   .. "table (a sequence or string keys)", path_name(name), show(v)))
      return
    end
    for k, x in pairs(v) do
      validate_document(errors, kind == "list" and string.format("%s[%d]", name, k - 1)
                        or name .. "." .. k, x, depth + 1)
    end
  elseif t ~= "string" and t ~= "number" and t ~= "boolean" then
    report(errors, string.format("Invalid type for document parameter %s, value: %s, type: %s, "
                                 .. "valid types: string, number, boolean, table",
                                 path_name(name), show(v), t))
  end
end

local function validate_structure(m, errors, name, v, view, strict, depth)
  if type(v) ~= "table" then
    return invalid_type(errors, name, v, "structure")
  end
  if view.document then
    return validate_document(errors, name, v, depth)
  end
  local kind = table_kind(v)
  if kind == "list" or kind == "mixed" then
    return invalid_type(errors, name, v, "structure")
  end
  local members = view.members or {}
  for _, req in ipairs(view.required or {}) do
    if v[req] == nil then
      report(errors, string.format("Missing required parameter in %s: \"%s\"", path_name(name), req))
    end
  end
  if view.union then
    local set = {}
    for k in pairs(v) do
      set[#set + 1] = k
    end
    if #set ~= 1 then
      local names = table.concat(shapes.member_names(view), ", ")
      if #set == 0 then
        report(errors, string.format("Must set one of the following keys for tagged union "
                                     .. "structure %s: %s.", path_name(name), names))
      else
        report(errors, string.format("Invalid number of parameters set for tagged union "
                                     .. "structure %s. Can only set one of the following keys: "
                                     .. "%s.", path_name(name), names))
      end
    end
  end
  local keys = {}
  for k in pairs(v) do
    keys[#keys + 1] = k
  end
  table.sort(keys)
  for _, k in ipairs(keys) do
    local ref = members[k]
    if not ref then
      report(errors, string.format("Unknown parameter in %s: \"%s\", must be one of: %s",
                                   path_name(name), k, table.concat(shapes.member_names(view), ", ")))
    else
      validate_value(m, errors, name .. "." .. k, v[k], shapes.resolve(m, ref), strict, depth + 1)
    end
  end
end

function validate_value(m, errors, name, v, view, strict, depth)
  if depth > 64 then
    report(errors, "Invalid parameter " .. path_name(name) .. ": nested too deeply")
    return
  end
  local ty = view.type
  if ty == "structure" then
    return validate_structure(m, errors, name, v, view, strict, depth)
  elseif ty == "list" then
    if type(v) ~= "table" then
      return invalid_type(errors, name, v, ty)
    end
    local kind = table_kind(v)
    if kind == "table" or kind == "mixed" then
      return invalid_type(errors, name, v, ty)
    end
    range(errors, name, #v, view, "length", strict)
    local member = shapes.resolve(m, view.member)
    for i = 1, #v do
      validate_value(m, errors, string.format("%s[%d]", name, i - 1), v[i], member, strict, depth + 1)
    end
  elseif ty == "map" then
    if type(v) ~= "table" then
      return invalid_type(errors, name, v, ty)
    end
    local kind = table_kind(v)
    if kind == "list" or kind == "mixed" then
      return invalid_type(errors, name, v, ty)
    end
    local kview, vview = shapes.resolve(m, view.key), shapes.resolve(m, view.value)
    local keys = {}
    for k in pairs(v) do
      keys[#keys + 1] = k
    end
    table.sort(keys)
    for _, k in ipairs(keys) do
      validate_value(m, errors, string.format("%s (key: %s)", name, k), k, kview, strict, depth + 1)
      validate_value(m, errors, name .. "." .. k, v[k], vview, strict, depth + 1)
    end
  elseif ty == "string" and view.jsonvalue then
    local ok = pcall(cjson.encode, v) -- botocore: anything json.dumps can write
    if not ok then
      report(errors, string.format("Invalid parameter %s must be json serializable: %s",
                                   path_name(name), show(v)))
    end
  elseif ty == "string" then
    if type(v) ~= "string" then
      return invalid_type(errors, name, v, ty)
    end
    range(errors, name, utf8_len(v), view, "length", strict)
    if strict and view.enum then
      local ok = false
      for _, e in ipairs(view.enum) do
        if e == v then
          ok = true
          break
        end
      end
      if not ok then
        report(errors, string.format("Invalid value for parameter %s, value: %s, valid values: %s",
                                     path_name(name), show(v), table.concat(view.enum, ", ")))
      end
    end
  elseif ty == "integer" or ty == "long" then
    if math.type(v) ~= "integer" and not (math.type(v) == "float" and math.tointeger(v)) then
      return invalid_type(errors, name, v, ty)
    end
    range(errors, name, v, view, "value", strict)
  elseif ty == "float" or ty == "double" then
    if type(v) ~= "number" then
      return invalid_type(errors, name, v, ty)
    end
    range(errors, name, v, view, "value", strict)
  elseif ty == "boolean" then
    if type(v) ~= "boolean" then
      return invalid_type(errors, name, v, ty)
    end
  elseif ty == "blob" then
    if type(v) ~= "string" then
      return invalid_type(errors, name, v, ty)
    end
  elseif ty == "timestamp" then
    if type(v) ~= "number" and type(v) ~= "string" then
      return invalid_type(errors, name, v, ty)
    end
    local _, err = codec.to_epoch(v)
    if err then
      report(errors, string.format("Invalid timestamp for parameter %s, value: %s, %s",
                                   path_name(name), show(v), err))
    end
  end
end

function M.check(m, view, params, strict)
  local errors = {}
  validate_value(m, errors, "", params, view, strict, 0)
  if #errors == 0 then
    return nil
  end
  return "Parameter validation failed:\n" .. table.concat(errors, "\n")
end

return M
