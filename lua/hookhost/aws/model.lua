--- hookhost.aws.model: AWS service models (botocore's format), found and loaded on demand.
--
-- A model is a folder holding botocore's service-2.json, and optionally paginators-1.json and
-- waiters-2.json: the compact copies scripts/gen-models writes (make builds them into
-- build/models; the packages carry them as hookhost/models), or botocore's own files. For a
-- service name (botocore's: "ecs", "elbv2", "s3", ...) the first of these folders that holds a
-- service-2.json wins, so a function package can bring a newer model of one service:
--   1. $LAMBDA_TASK_ROOT/models/<name>/        the function package's own
--   2. <library>/hookhost/models/<name>/        the packaged models (function.zip, layer.zip)
--   3. <library>/../build/models/<name>/        the repository's (make)
-- where <library> is the folder holding hookhost/ (the one this file was loaded from).
--
--   model.load(name) -> m | nil, message       m = {name, metadata, operations, shapes,
--                                                   dir, snake = {snake_name = OperationName}}
--   model.paginators(m) -> table (possibly empty) | nil, message
--   model.waiters(m) -> table (possibly empty) | nil, message
--   model.xform_name(s) -> botocore's xform_name(s): "DescribeServices" -> "describe_services"
--   model.dirs() -> the folders searched, in order (without the service name)
--   model.stats(m) -> {lazy, operations, operations_total, shapes, shapes_total}: how many of
--                     m's operations and shapes were decoded so far (tests, measurements)
--
-- Models are decoded by lua-cjson (data only: nothing in a model file runs) and cached for the
-- life of the Lua state (one hook execution). A model scripts/gen-models wrote is read lazily:
-- load reads its first line (metadata and an index), and m.operations, m.shapes and m.snake
-- decode an entry when it is first indexed (pairs decodes them all), so a client costs what
-- the script uses of it. Any other botocore-format file is decoded whole when loaded.

local cjson = require("cjson.safe")

local M = {}

local MAX_MODEL_BYTES = 16 << 20

-- The library folder: this file is <library>/hookhost/aws/model.lua.
local function library_dir()
  local src = debug.getinfo(1, "S").source
  if type(src) == "string" and src:sub(1, 1) == "@" then
    local dir = src:sub(2):match("^(.*)/hookhost/aws/model%.lua$")
    if dir then
      return dir
    end
  end
  return nil
end

function M.dirs()
  local out = {}
  local root = os.getenv("LAMBDA_TASK_ROOT")
  if root and root ~= "" then
    out[#out + 1] = root .. "/models"
  end
  local lib = library_dir()
  if lib then
    out[#out + 1] = lib .. "/hookhost/models"
    out[#out + 1] = lib .. "/../build/models"
  end
  return out
end

-- path opened for reading, positioned at its start, with its size; nil when it cannot be opened
-- (a folder without that model); nil, message when it is too large to be a model.
local function open_model_file(path)
  local f = io.open(path, "rb")
  if not f then
    return nil
  end
  local size = f:seek("end")
  if not size or size > MAX_MODEL_BYTES then
    f:close()
    return nil, path .. ": larger than " .. (MAX_MODEL_BYTES >> 20) .. " MiB"
  end
  f:seek("set")
  return f, size
end

local function read_file(path)
  local f, size = open_model_file(path)
  if not f then
    return nil, size
  end
  local text = f:read("a")
  f:close()
  return text or ""
end

local function decode_file(path, what)
  local text, err = read_file(path)
  if not text then
    return nil, err
  end
  local v, derr = cjson.decode(text)
  if type(v) ~= "table" then
    return nil, path .. ": not a " .. what .. " (" .. tostring(derr or "not an object") .. ")"
  end
  return v
end

-- botocore's xform_name with sep "_": special cases, acronym plurals, then the two regexes.
local XFORM_SPECIAL = {
  CreateCachediSCSIVolume = "create_cached_iscsi_volume",
  DescribeCachediSCSIVolumes = "describe_cached_iscsi_volumes",
  DescribeStorediSCSIVolumes = "describe_stored_iscsi_volumes",
  CreateStorediSCSIVolume = "create_stored_iscsi_volume",
  ListHITsForQualificationType = "list_hits_for_qualification_type",
  ExecutePartiQLStatement = "execute_partiql_statement",
  ExecutePartiQLTransaction = "execute_partiql_transaction",
  ExecutePartiQLBatch = "execute_partiql_batch",
}

function M.xform_name(name)
  if name:find("_", 1, true) then
    return name
  end
  local special = XFORM_SPECIAL[name]
  if special then
    return special
  end
  local at = name:match("()%u%u+s$") -- "[A-Z]{2,}s$": GatewayARNs -> Gateway_arns
  if at then
    name = name:sub(1, at - 1) .. "_" .. name:sub(at):lower()
  end
  name = name:gsub("(.)(%u%l+)", "%1_%2")
  return (name:gsub("([%l%d])(%u)", "%1_%2"):lower())
end

-- cjson decodes every number as a float; the model's counts are integers.
local function int(v)
  return type(v) == "number" and math.tointeger(v) or v
end

local function normalize_shape(shape)
  shape.min, shape.max = int(shape.min), int(shape.max)
end

local function normalize_op(key, op)
  -- botocore's OperationModel.name is the key ("CreateInvalidation"): CloudFront's models give
  -- a versioned "name" (CreateInvalidation2020_05_31) that no protocol sends
  op.name = key
  if type(op.http) == "table" then
    op.http.responseCode = int(op.http.responseCode)
  end
end

local function normalize(svc)
  for _, shape in pairs(svc.shapes) do
    normalize_shape(shape)
  end
  for key, op in pairs(svc.operations) do
    normalize_op(key, op)
  end
end

-- The lazy form scripts/gen-models writes (its json_file says it in full): a first line
-- {"hookhost":{"format":LAZY_FORMAT,"header":H,"size":N,"metadata":{...},"operations":
-- [[first name, offset, length, count], ...],"shapes":[...],"snake":[...]}}, then botocore's
-- format with one item a line, sorted by name, and cut into buckets of about 2 KiB; offsets
-- count from the second line. The file stays open for the life of the Lua state; the first index of a name
-- reads its bucket and decodes that one line. A damaged file is an error naming it, raised by
-- model.load or by that index.
local LAZY_PREFIX = '{"hookhost":{"format":"'
local LAZY_FORMAT = "hookhost-model-1"

local stats = setmetatable({}, {__mode = "k"}) -- lazy table -> {decoded = n, total = n}

-- Names sort by bytes (Python's sort of the generator). Lua compares strings with strcoll,
-- which is byte order in the C locale, hookhost's; a byte-wise comparison otherwise.
local BYTE_ORDER = "-" < "0" and "Z" < "_" and "_" < "a"

local function le(a, b)
  if BYTE_ORDER then
    return a <= b
  end
  for i = 1, math.min(#a, #b) do
    local x, y = a:byte(i), b:byte(i)
    if x ~= y then
      return x < y
    end
  end
  return #a <= #b
end

local function lazy_section(f, path, size, buckets, what, fix)
  local t, texts = {}, {}
  local st = {decoded = 0, total = 0}
  for _, b in ipairs(buckets) do
    st.total = st.total + b[4]
  end
  stats[t] = st

  local function bad(key, why)
    error(path .. ": damaged model: " .. what .. " \"" .. tostring(key) .. "\" (" .. why
          .. "); generate it again with scripts/gen-models", 0)
  end

  -- bucket i's bytes, read once
  local function bucket_text(i, key)
    local text = texts[i]
    if text then
      return text
    end
    local b = buckets[i]
    local off, len = math.tointeger(b[2]), math.tointeger(b[3])
    if not off or not len or off < 0 or len < 1 or off + len > size then
      bad(key, "bucket " .. i .. " is out of the file's bounds")
    end
    local ok, got = pcall(function()
      assert(f:seek("set", off))
      return f:read(len)
    end)
    if not ok or type(got) ~= "string" or #got ~= len then
      bad(key, "cannot read it: " .. tostring(got))
    end
    texts[i] = got
    return got
  end

  local function store(key, json)
    if json:sub(-1) == "," then
      json = json:sub(1, -2)
    end
    local v, err = cjson.decode(json)
    if v == nil then
      bad(key, tostring(err))
    end
    v = fix(key, v)
    if v == nil then
      bad(key, "not " .. (what == "method name" and "a string" or "an object"))
    end
    rawset(t, key, v)
    st.decoded = st.decoded + 1
    return v
  end

  local function decode(key)
    if type(key) ~= "string" or not key:match("^[%w_.%-]+$") then
      return nil -- no such name in a model (and nothing to search for)
    end
    -- the last bucket whose first name is <= key
    local lo, hi = 1, #buckets
    if hi == 0 or not le(buckets[1][1], key) then
      return nil
    end
    while lo < hi do
      local mid = (lo + hi + 1) // 2
      if le(buckets[mid][1], key) then
        lo = mid
      else
        hi = mid - 1
      end
    end
    local text = bucket_text(lo, key)
    local needle = '"' .. key .. '":'
    local at
    if text:sub(1, #needle) == needle then
      at = 1
    else
      at = text:find("\n" .. needle, 1, true)
      if not at then
        return nil
      end
      at = at + 1
    end
    local eol = text:find("\n", at, true)
    if not eol then
      bad(key, "its line is cut short")
    end
    return store(key, text:sub(at + #needle, eol - 1))
  end

  return setmetatable(t, {
    __index = function(_, key)
      return decode(key)
    end,
    -- code that iterates gets every entry: all decoded once, then the table's own pairs
    __pairs = function(self)
      for i = 1, #buckets do
        for line in bucket_text(i, buckets[i][1]):gmatch("([^\n]*)\n") do
          local key, json = line:match('^"([%w_.%-]+)":(.*)$')
          if not key then
            bad(buckets[i][1], "bucket " .. i .. " holds a line that names nothing")
          end
          if rawget(self, key) == nil then
            store(key, json)
          end
        end
        texts[i] = nil
      end
      return next, self, nil
    end,
  })
end

local function is_buckets(v)
  if type(v) ~= "table" then
    return false
  end
  for i, b in ipairs(v) do
    if type(b) ~= "table" or type(b[1]) ~= "string" or type(b[2]) ~= "number"
        or type(b[3]) ~= "number" or math.tointeger(b[4]) == nil
        or (i > 1 and le(b[1], v[i - 1][1])) then
      return false
    end
  end
  return true
end

-- f: the open file, positioned after LAZY_PREFIX. Returns svc-like {metadata, operations,
-- shapes, snake} or nil, message. Keeps f open (the sections read from it).
local function load_lazy(f, path, total)
  local start = f:read(48) or ""
  local format, header = start:match('^([^"]*)","header":(%d+),')
  if format ~= LAZY_FORMAT then
    return nil, path .. ": model format " .. tostring(format or start:match('^[^"]*'))
                .. " is not " .. LAZY_FORMAT .. " (generate it again with scripts/gen-models, "
                .. "or use botocore's own file)"
  end
  header = math.tointeger(tonumber(header))
  local rest = header and header > #LAZY_PREFIX + #start and f:read(header - #LAZY_PREFIX - #start)
  local line = rest and LAZY_PREFIX .. start .. rest
  if not line or #line ~= header or line:sub(-2) ~= ",\n" then
    return nil, path .. ": not a hookhost model (its first line is incomplete)"
  end
  local h, err = cjson.decode(line:sub(#'{"hookhost":' + 1, -3))
  if type(h) ~= "table" then
    return nil, path .. ": not a hookhost model (" .. tostring(err or "not an object") .. ")"
  end
  local size = math.tointeger(h.size)
  if type(h.metadata) ~= "table" or type(h.metadata.protocol) ~= "string" or not size
      or not is_buckets(h.operations) or not is_buckets(h.shapes) or not is_buckets(h.snake) then
    return nil, path .. ": not a hookhost model (header, size, metadata.protocol, operations, "
                .. "shapes, snake)"
  end
  if total ~= header + size then
    return nil, path .. ": truncated or damaged model (" .. tostring(total) .. " bytes, not "
                .. (header + size) .. "); generate it again with scripts/gen-models"
  end
  -- offsets count from the second line: read through a file view that adds it
  local view = {
    seek = function(_, whence, off)
      return f:seek(whence, header + off)
    end,
    read = function(_, n)
      return f:read(n)
    end,
  }
  return {
    metadata = h.metadata,
    snake = lazy_section(view, path, size, h.snake, "method name", function(_, v)
      return type(v) == "string" and v or nil
    end),
    operations = lazy_section(view, path, size, h.operations, "operation", function(key, v)
      if type(v) == "table" then
        normalize_op(key, v)
        return v
      end
    end),
    shapes = lazy_section(view, path, size, h.shapes, "shape", function(_, v)
      if type(v) == "table" then
        normalize_shape(v)
        return v
      end
    end),
  }
end

-- path's service model: the lazy form, or any botocore-format JSON decoded whole.
local function load_service(path)
  local f, size = open_model_file(path)
  if not f then
    return nil, size
  end
  local head = f:read(#LAZY_PREFIX)
  if head == LAZY_PREFIX then
    local svc, err = load_lazy(f, path, size)
    if not svc then
      f:close()
    end
    return svc, err
  end
  f:seek("set")
  local text = f:read("a") or ""
  f:close()
  local svc, derr = cjson.decode(text)
  if type(svc) ~= "table" then
    return nil, path .. ": not a service model (" .. tostring(derr or "not an object") .. ")"
  end
  if type(svc.metadata) ~= "table" or type(svc.operations) ~= "table"
      or type(svc.shapes) ~= "table" or type(svc.metadata.protocol) ~= "string" then
    return nil, path .. ": not a service model (metadata.protocol, operations, shapes)"
  end
  normalize(svc)
  svc.snake = {}
  for op in pairs(svc.operations) do
    svc.snake[M.xform_name(op)] = op
  end
  return svc
end

-- For tests and measurements: how much of m's model was decoded.
function M.stats(m)
  local function count(t)
    local st = stats[t]
    if st then
      return st.decoded, st.total
    end
    local n = 0
    for _ in next, t do
      n = n + 1
    end
    return n, n
  end
  local od, ot = count(m.operations)
  local sd, st = count(m.shapes)
  return {lazy = stats[m.shapes] ~= nil, operations = od, operations_total = ot, shapes = sd,
          shapes_total = st}
end

local cache = {}

function M.load(name)
  if type(name) ~= "string" or not name:match("^[a-z0-9][a-z0-9%-]*$") or #name > 64 then
    return nil, "not a service name: " .. tostring(name)
              .. " (botocore's names, such as \"ecs\", \"elbv2\", \"s3\")"
  end
  if cache[name] then
    return cache[name]
  end
  local searched = {}
  for _, base in ipairs(M.dirs()) do
    local dir = base .. "/" .. name
    local path = dir .. "/service-2.json"
    local svc, err = load_service(path)
    if svc then
      local m = {name = name, metadata = svc.metadata, operations = svc.operations,
                 shapes = svc.shapes, dir = dir, snake = svc.snake}
      cache[name] = m
      return m
    elseif err then
      return nil, err
    end
    searched[#searched + 1] = dir
  end
  return nil, "no model for service \"" .. name .. "\" (looked in " .. table.concat(searched, ", ")
              .. ")"
end

local function side_file(m, file, key, what)
  local cached = m["_" .. key]
  if cached then
    return cached
  end
  local path = m.dir .. "/" .. file
  local v, err = decode_file(path, what)
  if not v then
    if err then
      return nil, err
    end
    v = {}
  else
    v = v[key]
    if type(v) ~= "table" then
      return nil, path .. ": no \"" .. key .. "\" object"
    end
  end
  m["_" .. key] = v
  return v
end

function M.paginators(m)
  return side_file(m, "paginators-1.json", "pagination", "paginators file")
end

function M.waiters(m)
  local w, err = side_file(m, "waiters-2.json", "waiters", "waiters file")
  if w then
    for _, waiter in pairs(w) do
      waiter.delay, waiter.maxAttempts = int(waiter.delay), int(waiter.maxAttempts)
    end
  end
  return w, err
end

return M
