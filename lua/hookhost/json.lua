--- hookhost.json: JSON for hook scripts and the library, through cjson (Debian's lua-cjson 2.1.0,
-- the one linked into every build), plus the one thing cjson 2.1.0 cannot say: an empty list.
--
--   local json = require("hookhost.json")
--   json.encode({ids = json.empty_array})     --> '{"ids":[]}'
--   json.encode({ids = json.array(found)})    --> '{"ids":[]}' when found is empty, else the list
--   json.encode({ids = {}})                   --> '{"ids":{}}' (cjson: an empty table is an object)
--   local v, err = json.decode(text)          -- nil, message for text that is not JSON
--   if json.is_null(v.nextToken) then ... end -- JSON null decodes to json.null (= cjson.null)
--
--   json.encode(value) -> text | nil, message   (cjson.safe.encode with the list markers honoured)
--   json.decode(text)  -> value | nil, message  (cjson.safe.decode)
--   json.empty_array   an empty list; read-only (use json.array({}) for a list you fill)
--   json.array(t)      -> t, marked as a list: encoded as [] when empty (t must be a table
--                      without a metatable)
--   json.null          JSON null (cjson.null, a light userdata: truthy in Lua, so test it with
--                      json.is_null(v) or v == json.null, never with `if v then`)
--   json.is_null(v)    -> true when v is JSON null
--
-- aws.json and http.post_json encode with json.encode. ctx.log fields, the result and
-- ctx.in_progress details are encoded by the host in C (host_json_encode in src/lhost.c), which
-- knows the markers by their metatables' __name and writes them as [] too. cjson.encode knows
-- nothing of them: it encodes any empty table, marked or not, as {}.
--
-- How: a copy of the value in which every marked empty table is a marker string (NUL bytes and
-- a random nonce: no string of the value equals it, which is checked), encoded by cjson, then
-- every whole JSON string token equal to the encoded marker is replaced by []. A token is whole
-- when its opening quote is not preceded by a backslash (inside a string cjson writes every quote
-- as \"), so a string that merely contains the marker's text is left alone.

local cjson = require("cjson.safe")

local M = {null = cjson.null}
local random = math.random -- as loaded: a script's own math.random cannot weaken the marker

local MAX_DEPTH = 128 -- cjson's encode_max_depth in hookhost: deeper values fail in cjson itself

local ARRAY_MT = {__name = "hookhost.json.array"}
local EMPTY_MT = {
  __name = "hookhost.json.empty_array",
  __newindex = function()
    error("hookhost.json.empty_array is read-only: use json.array({}) for a list you fill", 2)
  end,
}
M.empty_array = setmetatable({}, EMPTY_MT)

function M.array(t)
  if type(t) ~= "table" then
    error("hookhost.json.array: expected a table", 2)
  end
  local mt = getmetatable(t)
  if mt ~= nil and mt ~= ARRAY_MT then
    error("hookhost.json.array: the table already has a metatable", 2)
  end
  return setmetatable(t, ARRAY_MT)
end

function M.is_null(v)
  return v == cjson.null
end

M.decode = cjson.decode

local function marked_empty(t)
  local mt = getmetatable(t)
  return (mt == ARRAY_MT or mt == EMPTY_MT) and next(t) == nil
end

local function new_marker()
  local hex = {}
  for i = 1, 16 do
    hex[i] = string.format("%x", random(0, 15))
  end
  return "\0hookhost-empty-array-" .. table.concat(hex) .. "\0"
end

-- The value with every marked empty table replaced by `marker` (tables copied only where
-- something below them changed; each table visited once, so shared subtables cost nothing
-- extra). Sets st.clash when a string key or value equals the marker.
local function convert(v, st, depth)
  local t = type(v)
  if t == "string" then
    if v == st.marker then
      st.clash = true
    end
    return v
  end
  if t ~= "table" then
    return v
  end
  if marked_empty(v) then
    st.found = true
    return st.marker
  end
  local done = st.seen[v]
  if done ~= nil then
    return done
  end
  st.seen[v] = v -- a cycle back to v keeps v: cjson then refuses the nesting itself
  if depth > MAX_DEPTH then
    return v
  end
  local copy
  for k, x in next, v do
    if k == st.marker then
      st.clash = true
    end
    local y = convert(x, st, depth + 1)
    if y ~= x then
      if not copy then
        copy = {}
        for k2, x2 in next, v do
          copy[k2] = x2
        end
      end
      copy[k] = y
    end
  end
  st.seen[v] = copy or v
  return copy or v
end

-- Replace every whole string token `tok` in text by [].
local function splice(text, tok)
  local parts, pos = {}, 1
  while true do
    local s, e = text:find(tok, pos, true)
    if not s then
      break
    end
    if s > 1 and text:byte(s - 1) == 92 then -- '\': an escaped quote inside another string
      parts[#parts + 1] = text:sub(pos, s)
      pos = s + 1
    else
      parts[#parts + 1] = text:sub(pos, s - 1)
      parts[#parts + 1] = "[]"
      pos = e + 1
    end
  end
  parts[#parts + 1] = text:sub(pos)
  return table.concat(parts)
end

function M.encode(value)
  if type(value) ~= "table" then
    return cjson.encode(value)
  end
  for _ = 1, 4 do
    local st = {marker = new_marker(), seen = {}}
    local conv = convert(value, st, 1)
    if not st.found then
      return cjson.encode(value)
    end
    if not st.clash then
      local text, err = cjson.encode(conv)
      if not text then
        return nil, err
      end
      return splice(text, (cjson.encode(st.marker)))
    end
  end
  return nil, "hookhost.json: no usable empty-list marker" -- four random clashes: not by chance
end

return M
