-- The hookhost side of tests/models/test_differential.py, run by `hookhost run`: reads cases
-- from the JSON file named by HOOKHOST_DIFF_IN, serializes (client:_serialize) or parses
-- (client:_parse) each one, and writes one answer per case, in order, to HOOKHOST_DIFF_OUT:
--   {"request": {method, path, query = [[k, v]...], headers, content_type, body, host_prefix}}
--   {"parsed": <the decoded table>}
--   {"error": "<message>"}
-- A case is {"service", "operation", "params"} (serialize), {"service", "operation",
-- "status", "headers", "body"} (parse), or {"expression", "data"} (hookhost.aws.jmespath:
-- answers {"value": <result>}).
local aws = require("hookhost.aws")
local cjson = require("cjson")
local jmespath = require("hookhost.aws.jmespath")

local function read(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read("a")
  f:close()
  return s
end

return function()
  local cases = cjson.decode(read(assert(os.getenv("HOOKHOST_DIFF_IN"))))
  local clients, out = {}, {}
  for i, c in ipairs(cases) do
    local ok, res = pcall(function()
      if c.expression then
        local v = jmespath.search(c.expression, c.data)
        if v == nil then
          v = cjson.null
        end
        return {value = v}
      end
      local client = clients[c.service]
      if not client then
        -- S3 by path: the serializer's path is compared here, the URL in test_s3.py
        client = aws.client(c.service, c.service == "s3" and {addressing_style = "path"} or nil)
        clients[c.service] = client
      end
      if c.params then
        local req = client:_serialize(c.operation, c.params)
        return {request = {method = req.method, path = req.path, query = req.query,
                           headers = req.headers, content_type = req.content_type or cjson.null,
                           body = req.body, host_prefix = req.host_prefix or cjson.null}}
      end
      local parsed, err = client:_parse(c.operation, c.status, c.headers, c.body)
      if not parsed then
        return {error = err}
      end
      return {parsed = parsed}
    end)
    out[i] = ok and res or {error = tostring(res)}
  end
  local f = assert(io.open(assert(os.getenv("HOOKHOST_DIFF_OUT")), "wb"))
  f:write(cjson.encode(out))
  f:close()
  return #out
end
