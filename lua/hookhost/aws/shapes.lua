--- hookhost.aws.shapes: a model's shape references resolved as botocore resolves them.
--
-- In a botocore model a member is a reference {shape = "Name", locationName = ..., ...} to a
-- shape {type = ..., members = ..., ...}; what the protocols read ("serialization" and
-- "metadata" in botocore's model.py) is the shape's keys overlaid with the reference's. So:
--
--   shapes.resolve(m, ref) -> the merged view (cached per reference): every key of the shape,
--       then every key of the reference (but "shape"), and shape_name = the shape's name.
--       Raises when the reference names no shape (a broken model).
--   shapes.input(m, op), shapes.output(m, op) -> the operation's input/output view, or nil
--
-- Views are shared: callers never modify them.

local M = {}

function M.resolve(m, ref)
  local cache = m._views
  if not cache then
    cache = {}
    m._views = cache
  end
  local v = cache[ref]
  if v then
    return v
  end
  local shape = m.shapes[ref.shape]
  if type(shape) ~= "table" then
    error("hookhost.aws: the " .. m.name .. " model has no shape \"" .. tostring(ref.shape) .. "\"", 0)
  end
  v = {shape_name = ref.shape}
  for k, x in pairs(shape) do
    v[k] = x
  end
  for k, x in pairs(ref) do
    if k ~= "shape" then
      v[k] = x
    end
  end
  cache[ref] = v
  return v
end

function M.input(m, op)
  return op.input and M.resolve(m, op.input) or nil
end

function M.output(m, op)
  return op.output and M.resolve(m, op.output) or nil
end

--- Sorted member names of a structure view (a deterministic order for serializers).
function M.member_names(view)
  local names = view._sorted
  if not names then
    names = {}
    for k in pairs(view.members or {}) do
      names[#names + 1] = k
    end
    table.sort(names)
    view._sorted = names
  end
  return names
end

return M
