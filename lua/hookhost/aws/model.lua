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
--
-- Models are decoded by lua-cjson (data only: nothing in a model file runs) and cached for the
-- life of the Lua state (one hook execution).

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

local function read_file(path)
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

-- The lazy form scripts/gen-models writes: a first line {"hookhost":{"format":LAZY_FORMAT,
-- "size", "metadata", "snake", "operations": {Name = offset}, "shapes": {Name = offset}}, then
-- botocore's format, one operation or shape a line; offset is where its value starts, counted
-- from the second line, and the value ends with its line (less a separating ","). The file
-- stays open for the life of the Lua state, and an operation or shape is read and decoded the
-- first time it is indexed. A damaged file is an error naming it, raised by that index.
local LAZY_PREFIX = '{"hookhost":'
local LAZY_FORMAT = "hookhost-model-1"

local stats = setmetatable({}, {__mode = "k"}) -- lazy table -> {decoded = n, total = n}

local function lazy_section(f, path, base, size, index, what, fix)
  local t = {}
  local st = {decoded = 0, total = 0}
  for _ in pairs(index) do
    st.total = st.total + 1
  end
  local function decode(key)
    local off = index[key]
    if off == nil then
      return nil
    end
    local function bad(why)
      error(path .. ": damaged model: " .. what .. " \"" .. tostring(key) .. "\" (" .. why
            .. "); generate it again with scripts/gen-models", 0)
    end
    if math.type(off) ~= "integer" and not (type(off) == "number" and off == math.floor(off)) then
      bad("bad offset")
    end
    off = math.tointeger(off)
    if off < 0 or off >= size then
      bad("offset " .. off .. " beyond the " .. size .. " bytes")
    end
    local ok, line = pcall(function()
      assert(f:seek("set", base + off))
      return f:read("l")
    end)
    if not ok or type(line) ~= "string" then
      bad("cannot read it: " .. tostring(line))
    end
    if line:sub(-1) == "," then
      line = line:sub(1, -2)
    end
    local v, err = cjson.decode(line)
    if type(v) ~= "table" then
      bad(tostring(err or "not an object"))
    end
    fix(key, v)
    rawset(t, key, v)
    st.decoded = st.decoded + 1
    return v
  end
  stats[t] = st
  return setmetatable(t, {
    __index = function(_, key)
      return decode(key)
    end,
    -- code that iterates gets every entry: all decoded once, then the table's own pairs
    __pairs = function(self)
      for key in pairs(index) do
        if rawget(self, key) == nil then
          decode(key)
        end
      end
      return next, self, nil
    end,
  })
end

-- f: the open file, positioned after LAZY_PREFIX. Returns svc-like {metadata, operations,
-- shapes, snake} or nil, message. Keeps f open (the sections read from it).
local function load_lazy(f, path)
  local line = f:read("l")
  if type(line) ~= "string" or line:sub(-1) ~= "," then
    return nil, path .. ": not a hookhost model (its first line is incomplete)"
  end
  local h, err = cjson.decode(line:sub(1, -2))
  if type(h) ~= "table" then
    return nil, path .. ": not a hookhost model (" .. tostring(err or "not an object") .. ")"
  end
  if h.format ~= LAZY_FORMAT then
    return nil, path .. ": model format " .. tostring(h.format) .. " is not " .. LAZY_FORMAT
                .. " (generate it again with scripts/gen-models, or use botocore's own file)"
  end
  if type(h.metadata) ~= "table" or type(h.metadata.protocol) ~= "string"
      or type(h.operations) ~= "table" or type(h.shapes) ~= "table" or type(h.snake) ~= "table"
      or type(h.size) ~= "number" then
    return nil, path .. ": not a hookhost model (format, size, metadata.protocol, snake, "
                .. "operations, shapes)"
  end
  local base = #LAZY_PREFIX + #line + 1
  local total = f:seek("end")
  if total ~= base + h.size then
    return nil, path .. ": truncated or damaged model (" .. tostring(total) .. " bytes, not "
                .. string.format("%d", base + h.size) .. "); generate it again with "
                .. "scripts/gen-models"
  end
  local size = math.tointeger(h.size)
  return {
    metadata = h.metadata,
    snake = h.snake,
    operations = lazy_section(f, path, base, size, h.operations, "operation", normalize_op),
    shapes = lazy_section(f, path, base, size, h.shapes, "shape", function(_, v)
      normalize_shape(v)
    end),
  }
end

-- path's service model: the lazy form, or any botocore-format JSON decoded whole.
local function load_service(path)
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
  local head = f:read(#LAZY_PREFIX)
  if head == LAZY_PREFIX then
    local svc, err = load_lazy(f, path)
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
