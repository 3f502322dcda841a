--- hookhost.util: small helpers shared by the hookhost library modules.
--
-- Not meant for hook scripts (they have ctx), but stable enough to use:
--   util.context(ctx)            -> ctx, else the runtime's current ctx (package.loaded
--                                   ["hookhost.context"], when the host provides it), else nil
--   util.event(event)            -> event, else package.loaded["hookhost.event"], else nil
--   util.remaining_ms(ctx)       -> the hook's time left in ms (works without ctx too)
--   util.now_ms(), util.sleep_ms(ms) -> monotonic clock; a sleep capped by the time left
--   util.backoff_ms(n, base, cap)    -> full-jitter delay before attempt n + 1
--   util.split_list(s)           -> "a, b,,c" -> {"a", "b", "c"} (trimmed, empty items dropped)
--   util.sha256_hex(s)           -> lower-case hex SHA-256 of s (pure Lua)
--   util.random_hex(n)           -> n random hex digits (/dev/urandom, else math.random)
--   util.seconds(ms)             -> "2.1 s"
--   util.argerror(fname, msg)    -> raises "hookhost.<fname>: msg" at the caller's caller

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

-- ---- SHA-256 (FIPS 180-4), for references derived from a hook execution ------------------------

local K = {
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
  0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
  0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
  0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
  0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
  0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
  0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
  0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
}

local function rotr(x, n)
  return ((x >> n) | (x << (32 - n))) & 0xffffffff
end

function M.sha256_hex(msg)
  local h = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab,
             0x5be0cd19}
  local len = #msg
  msg = msg .. "\128" .. string.rep("\0", (55 - len) % 64) .. string.pack(">I8", len * 8)
  local w = {}
  for chunk = 1, #msg, 64 do
    for i = 0, 15 do
      w[i] = string.unpack(">I4", msg, chunk + i * 4)
    end
    for i = 16, 63 do
      local s0 = rotr(w[i - 15], 7) ~ rotr(w[i - 15], 18) ~ (w[i - 15] >> 3)
      local s1 = rotr(w[i - 2], 17) ~ rotr(w[i - 2], 19) ~ (w[i - 2] >> 10)
      w[i] = (w[i - 16] + s0 + w[i - 7] + s1) & 0xffffffff
    end
    local a, b, c, d, e, f, g, hh = h[1], h[2], h[3], h[4], h[5], h[6], h[7], h[8]
    for i = 0, 63 do
      local s1 = rotr(e, 6) ~ rotr(e, 11) ~ rotr(e, 25)
      local ch = (e & f) ~ (~e & g)
      local t1 = (hh + s1 + ch + K[i + 1] + w[i]) & 0xffffffff
      local s0 = rotr(a, 2) ~ rotr(a, 13) ~ rotr(a, 22)
      local maj = (a & b) ~ (a & c) ~ (b & c)
      local t2 = (s0 + maj) & 0xffffffff
      hh, g, f, e, d, c, b, a = g, f, e, (d + t1) & 0xffffffff, c, b, a, (t1 + t2) & 0xffffffff
    end
    h[1], h[2], h[3], h[4] = (h[1] + a) & 0xffffffff, (h[2] + b) & 0xffffffff,
                             (h[3] + c) & 0xffffffff, (h[4] + d) & 0xffffffff
    h[5], h[6], h[7], h[8] = (h[5] + e) & 0xffffffff, (h[6] + f) & 0xffffffff,
                             (h[7] + g) & 0xffffffff, (h[8] + hh) & 0xffffffff
  end
  return string.format(string.rep("%08x", 8), table.unpack(h))
end

return M
