--- hookhost.aws.codec: the scalar encodings AWS protocols share (base64, timestamps, numbers).
--
--   codec.base64(s) -> standard base64 of the bytes of s (padded)
--   codec.unbase64(s) -> the bytes | nil, message (whitespace ignored; padding optional)
--   codec.to_epoch(v) -> seconds since 1970 (number; may have a fraction) | nil, message
--       v: a number (epoch seconds), a string of digits (epoch seconds, as botocore accepts),
--       or ISO 8601: "2026-12-04", "2026-12-04T14:38:58Z", "...58.123Z", "...58+02:00";
--       no zone means UTC (as botocore assumes)
--   codec.iso8601(t) -> "2026-12-04T14:38:58Z", or "...58.123Z" when t has a fraction
--       (the form decoded timestamps take: UTC, the fraction's trailing zeros dropped)
--   codec.wire_timestamp(t, format) -> the request form of epoch seconds t in a protocol's
--       format: "iso8601" (botocore: "%Y-%m-%dT%H:%M:%SZ", ".%fZ" with microseconds when
--       non-zero), "rfc822" ("Fri, 04 Dec 2026 14:38:58 GMT"), "unixtimestamp" (whole seconds)
--   codec.from_wire_timestamp(s) -> epoch seconds from a response's ISO 8601, RFC 822 or epoch
--       text | nil, message
--   codec.number(v) -> v as text: integers "%d", floats as Python's repr writes them
--       (shortest text that reads back the same; "2.0" for a whole float)
--   codec.text(v, shape_type) -> a scalar as text the way botocore's str() writes it, by the
--       shape's type: integer and long shapes "%d" (also for a whole float: values decoded by
--       lua-cjson are floats), booleans "true"/"false"

local M = {}

local B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
local B64_INDEX = {}
for i = 1, 64 do
  B64_INDEX[B64:byte(i)] = i - 1
end

function M.base64(s)
  local out = {}
  local n = #s
  for i = 1, n - 2, 3 do
    local a, b, c = s:byte(i, i + 2)
    local v = a << 16 | b << 8 | c
    out[#out + 1] = string.char(B64:byte((v >> 18) + 1), B64:byte((v >> 12 & 63) + 1),
                                B64:byte((v >> 6 & 63) + 1), B64:byte((v & 63) + 1))
  end
  local rest = n % 3
  if rest == 1 then
    local v = s:byte(n) << 16
    out[#out + 1] = string.char(B64:byte((v >> 18) + 1), B64:byte((v >> 12 & 63) + 1)) .. "=="
  elseif rest == 2 then
    local a, b = s:byte(n - 1, n)
    local v = a << 16 | b << 8
    out[#out + 1] = string.char(B64:byte((v >> 18) + 1), B64:byte((v >> 12 & 63) + 1),
                                B64:byte((v >> 6 & 63) + 1)) .. "="
  end
  return table.concat(out)
end

function M.unbase64(s)
  s = s:gsub("%s", "")
  local body, pad = s:match("^([^=]*)(=*)$")
  if not body or #pad > 2 or (#body + #pad) % 4 == 1 then
    return nil, "not base64"
  end
  local out = {}
  local v, bits = 0, 0
  for i = 1, #body do
    local d = B64_INDEX[body:byte(i)]
    if not d then
      return nil, "not base64"
    end
    v = v << 6 | d
    bits = bits + 6
    if bits >= 8 then
      bits = bits - 8
      out[#out + 1] = string.char(v >> bits & 255)
    end
  end
  return table.concat(out)
end

-- Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's days_from_civil).
local function days_from_civil(y, m, d)
  if m <= 2 then
    y = y - 1
  end
  local era = (y >= 0 and y or y - 399) // 400
  local yoe = y - era * 400
  local mp = (m + 9) % 12
  local doy = (153 * mp + 2) // 5 + d - 1
  local doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
  return era * 146097 + doe - 719468
end

local MONTHS = {Jan = 1, Feb = 2, Mar = 3, Apr = 4, May = 5, Jun = 6, Jul = 7, Aug = 8, Sep = 9,
                Oct = 10, Nov = 11, Dec = 12}

local function valid(y, mo, d, h, mi, s)
  return mo >= 1 and mo <= 12 and d >= 1 and d <= 31 and h <= 23 and mi <= 59 and s <= 60
     and y >= 1 and y <= 9999
end

local function iso_to_epoch(s)
  local y, mo, d, rest = s:match("^(%d%d%d%d)%-(%d%d)%-(%d%d)(.*)$")
  if not y then
    return nil
  end
  y, mo, d = tonumber(y), tonumber(mo), tonumber(d)
  local h, mi, sec, frac, zone = 0, 0, 0, "", ""
  if rest ~= "" then
    local hh, mm, ss, f, z = rest:match("^[Tt ](%d%d):(%d%d):(%d%d)(%.?%d*)(.*)$")
    if not hh then
      hh, mm, z = rest:match("^[Tt ](%d%d):(%d%d)(.*)$")
      ss, f = "0", ""
      if not hh then
        return nil
      end
    end
    h, mi, sec, frac, zone = tonumber(hh), tonumber(mm), tonumber(ss), f, z
    if frac == "." then
      return nil
    end
  end
  if not valid(y, mo, d, h, mi, sec) then
    return nil
  end
  local offset = 0
  if zone ~= "" and zone ~= "Z" and zone ~= "z" then
    local sign, zh, zm = zone:match("^([+-])(%d%d):?(%d%d)$")
    if not sign then
      return nil
    end
    offset = (tonumber(zh) * 3600 + tonumber(zm) * 60) * (sign == "-" and -1 or 1)
  end
  local t = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec - offset
  if frac ~= "" then
    return t + tonumber("0" .. frac)
  end
  return t
end

function M.to_epoch(v)
  if type(v) == "number" then
    if v ~= v or v == math.huge or v == -math.huge then
      return nil, "not a finite number"
    end
    return v
  end
  if type(v) ~= "string" then
    return nil, "not a number or a string"
  end
  if v:match("^%d+%.?%d*$") then
    return tonumber(v)
  end
  local t = iso_to_epoch(v)
  if not t then
    return nil, "not a timestamp (epoch seconds, or ISO 8601 like 2026-12-04T14:38:58Z)"
  end
  return t
end

local function split(t)
  local whole = math.floor(t)
  local micros = math.floor((t - whole) * 1e6 + 0.5)
  if micros >= 1000000 then
    whole, micros = whole + 1, micros - 1000000
  end
  return math.tointeger(whole) or whole, micros
end

function M.iso8601(t)
  local whole, micros = split(t)
  local s = os.date("!%Y-%m-%dT%H:%M:%S", whole)
  if micros > 0 then
    return s .. (string.format(".%06d", micros):gsub("0+$", "")) .. "Z"
  end
  return s .. "Z"
end

function M.wire_timestamp(t, format)
  local whole, micros = split(t)
  if format == "unixtimestamp" then
    return whole
  elseif format == "rfc822" then
    return os.date("!%a, %d %b %Y %H:%M:%S GMT", whole)
  end
  local s = os.date("!%Y-%m-%dT%H:%M:%S", whole)
  if micros > 0 then
    return s .. string.format(".%06dZ", micros)
  end
  return s .. "Z"
end

function M.from_wire_timestamp(s)
  if type(s) == "number" then
    return s
  end
  if type(s) ~= "string" then
    return nil, "not a timestamp"
  end
  s = s:match("^%s*(.-)%s*$")
  if s:match("^%-?%d+%.?%d*$") or s:match("^%-?%d+%.?%d*[eE][+-]?%d+$") then
    return tonumber(s)
  end
  local t = iso_to_epoch(s)
  if t then
    return t
  end
  -- RFC 822 / 7231: "Fri, 04 Dec 2026 14:38:58 GMT" (the weekday is optional)
  local d, mon, y, h, mi, sec = s:match("^%a*,?%s*(%d%d?) (%a%a%a) (%d%d%d%d) (%d%d):(%d%d):(%d%d)")
  if d and MONTHS[mon] then
    y, d, h, mi, sec = tonumber(y), tonumber(d), tonumber(h), tonumber(mi), tonumber(sec)
    if valid(y, MONTHS[mon], d, h, mi, sec) then
      return days_from_civil(y, MONTHS[mon], d) * 86400 + h * 3600 + mi * 60 + sec
    end
  end
  return nil, "not a timestamp: " .. s:sub(1, 64)
end

function M.number(v)
  if math.type(v) == "integer" then
    return string.format("%d", v)
  end
  if v ~= v then
    return "nan"
  elseif v == math.huge then
    return "inf"
  elseif v == -math.huge then
    return "-inf"
  end
  if v == math.floor(v) and math.abs(v) < 1e16 then
    return string.format("%.1f", v)
  end
  for digits = 15, 17 do
    local s = string.format("%." .. digits .. "g", v)
    if tonumber(s) == v then
      return s
    end
  end
  return string.format("%.17g", v)
end

function M.text(v, ty)
  local t = type(v)
  if t == "number" then
    if (ty == "integer" or ty == "long") and math.tointeger(v) then
      return string.format("%d", math.tointeger(v))
    end
    return M.number(v)
  elseif t == "boolean" then
    return v and "true" or "false"
  end
  return tostring(v)
end

return M
