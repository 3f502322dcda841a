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

local function normalize(svc)
  for _, shape in pairs(svc.shapes) do
    shape.min, shape.max = int(shape.min), int(shape.max)
  end
  for key, op in pairs(svc.operations) do
    -- botocore's OperationModel.name is the key ("CreateInvalidation"): CloudFront's models give
    -- a versioned "name" (CreateInvalidation2020_05_31) that no protocol sends
    op.name = key
    if op.http then
      op.http.responseCode = int(op.http.responseCode)
    end
  end
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
    local svc, err = decode_file(path, "service model")
    if svc then
      if type(svc.metadata) ~= "table" or type(svc.operations) ~= "table"
          or type(svc.shapes) ~= "table" or type(svc.metadata.protocol) ~= "string" then
        return nil, path .. ": not a service model (metadata.protocol, operations, shapes)"
      end
      normalize(svc)
      local m = {name = name, metadata = svc.metadata, operations = svc.operations,
                 shapes = svc.shapes, dir = dir, snake = {}}
      for op in pairs(svc.operations) do
        m.snake[M.xform_name(op)] = op
      end
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
