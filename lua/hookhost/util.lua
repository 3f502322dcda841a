--- hookhost.util: small helpers shared by the hookhost library modules and hook scripts
-- (documented in docs/HOOKS.md; the names below are stable):
--   util.context(ctx)            -> ctx, else the runtime's current ctx (package.loaded
--                                   ["hookhost.context"], when the host provides it), else nil
--   util.event(event)            -> event, else package.loaded["hookhost.event"], else nil
--   util.remaining_ms(ctx)       -> the hook's time left in ms (works without ctx too)
--   util.now_ms(), util.sleep_ms(ms) -> monotonic clock; a sleep capped by the time left
--   util.backoff_ms(n, base, cap)    -> full-jitter delay before attempt n + 1
--   util.split_list(s)           -> "a, b,,c" -> {"a", "b", "c"} (trimmed, empty items dropped)
--   util.sha256_hex(s)           -> lower-case hex SHA-256 of s (OpenSSL)
--   util.random_hex(n)           -> n random hex digits (/dev/urandom, else math.random)
--   util.seconds(ms)             -> "2.1 s"
--   util.argerror(fname, msg)    -> raises "hookhost.<fname>: msg" at the caller's caller
-- Reading a hook's settings (raise, naming the variable, when a value is unusable):
--   util.env_required(name [, example]) -> the value; unset or empty raises "NAME is not set"
--   util.env_list(name)          -> util.split_list(os.getenv(name)): {} when unset
--   util.env_int(name, default, min, max) -> an integer in [min, max], default when unset/empty
--   util.env_bool(name, default) -> true for true/yes/1/on, false for false/no/0/off (any case)

local core = require("hookhost.http.core")

local M = {now_ms = core.now_ms}

function M.argerror(fname, msg)
  error("hookhost." .. fname .. ": " .. msg, 3)
end

--- The ctx to use: the one given, else the one the runtime publishes for library modules.
function M.context(ctx)
  if ctx ~= nil then
    if type(ctx) ~= "table" then
      error("ctx must be the table the hook function receives", 3)
    end
    return ctx
  end
  local published = package.loaded["hookhost.context"]
  if type(published) == "table" then
    return published
  end
  return nil
end

--- The event to use: the one given, else the one the runtime publishes (package.loaded
-- ["hookhost.event"], when the host provides it), else nil.
function M.event(event)
  if event ~= nil then
    return event
  end
  local published = package.loaded["hookhost.event"]
  return type(published) == "table" and published or nil
end

--- The hook's time left. ctx.remaining_ms() and the C core read the same deadline; the core
-- needs no ctx, so library calls stay bounded even when a script does not pass one.
function M.remaining_ms(ctx)
  if type(ctx) == "table" and type(ctx.remaining_ms) == "function" then
    return ctx.remaining_ms()
  end
  return core.remaining_ms()
end

function M.sleep_ms(ms)
  if ms <= 0 then
    return 0
  end
  return core.sleep_ms(math.floor(ms))
end

--- Standard-mode style backoff: rand(0,1) * min(base * 2^(n-1), cap), at least 1/4 of it so a
-- retry loop never spins.
function M.backoff_ms(n, base, cap)
  local d = math.min(base * 2 ^ (n - 1), cap)
  return math.floor(d * (0.25 + 0.75 * math.random()))
end

function M.split_list(s)
  local out = {}
  if s == nil then
    return out
  end
  for item in string.gmatch(s, "[^,]+") do
    item = item:match("^%s*(.-)%s*$")
    if item ~= "" then
      out[#out + 1] = item
    end
  end
  return out
end

function M.seconds(ms)
  return string.format("%.1f s", ms / 1000)
end

function M.random_hex(n)
  local f = io.open("/dev/urandom", "rb")
  if f then
    local bytes = f:read((n + 1) // 2)
    f:close()
    if bytes and #bytes == (n + 1) // 2 then
      return (bytes:gsub(".", function(c) return string.format("%02x", c:byte()) end)):sub(1, n)
    end
  end
  local parts = {}
  for i = 1, n do
    parts[i] = string.format("%x", math.random(0, 15))
  end
  return table.concat(parts)
end

function M.env_required(name, example)
  local v = os.getenv(name)
  if v == nil or v == "" then
    error(name .. " is not set" .. (example and (": set it to " .. example) or ""), 0)
  end
  return v
end

function M.env_list(name)
  return M.split_list(os.getenv(name))
end

function M.env_int(name, default, min, max)
  local raw = os.getenv(name)
  if raw == nil or raw:match("^%s*$") then
    return default
  end
  local n = math.tointeger(tonumber(raw))
  if not n or n < min or n > max then
    error(string.format("%s=%q: expected an integer from %d to %d", name, raw, min, max), 0)
  end
  return n
end

local BOOLS = {["true"] = true, yes = true, ["1"] = true, on = true,
               ["false"] = false, no = false, ["0"] = false, off = false}

function M.env_bool(name, default)
  local raw = os.getenv(name)
  if raw == nil or raw:match("^%s*$") then
    return default
  end
  local b = BOOLS[raw:lower():match("^%s*(.-)%s*$")]
  if b == nil then
    error(string.format("%s=%q: expected true or false", name, raw), 0)
  end
  return b
end

-- SHA-256 comes from OpenSSL, through the C core: never re-implemented here.
M.sha256_hex = require("hookhost.aws.core").sha256_hex

return M
