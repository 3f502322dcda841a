-- The hookhost side of tests/models/test_s3.py, run by `hookhost run --dry-run -v`: reads cases
-- from the JSON file named by HOOKHOST_S3_IN and makes each call with aws.client(service,
-- {region, addressing_style}); the dry run logs each request ("dry run: not sent: ...", with
-- its headers, query and body). Writes one answer per case, in order, to HOOKHOST_S3_OUT:
-- {"sent": true} (its description is the next logged line) or {"error": "<message>"}.
local aws = require("hookhost.aws")
local cjson = require("cjson")

local function read(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read("a")
  f:close()
  return s
end

return function()
  local cases = cjson.decode(read(assert(os.getenv("HOOKHOST_S3_IN"))))
  local out = {}
  for i, c in ipairs(cases) do
    local ok, err = pcall(function()
      local opts = {region = c.region}
      if c.style ~= cjson.null and c.style ~= nil then
        opts.addressing_style = c.style
      end
      local client = aws.client(c.service or "s3", opts)
      local params = c.params
      if c.body_b64 ~= nil then
        params.Body = require("hookhost.aws.codec").unbase64(c.body_b64)
      end
      local r = client:call(c.operation, params)
      assert(aws.is_placeholder(r), "the call was not described")
    end)
    out[i] = ok and {sent = true} or {error = tostring(err)}
  end
  local f = assert(io.open(assert(os.getenv("HOOKHOST_S3_OUT")), "wb"))
  f:write(cjson.encode(out))
  f:close()
  return #out
end
