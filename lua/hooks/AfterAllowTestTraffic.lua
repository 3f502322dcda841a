--- AfterAllowTestTraffic: a smoke test of the new version through the test listener, before any
-- production traffic reaches it.
--
-- Environment:
--   TEST_URL            the URL to GET through the test listener (required), e.g.
--                       http://my-alb-123.eu-west-1.elb.amazonaws.com:8080/health
--   TEST_EXPECT_STATUS  the expected status (default 200)
--   TEST_EXPECT_BODY    a plain substring the body must contain (optional)
--   TEST_RETRIES        extra attempts while the new tasks warm up (default 2)
--   TEST_TIMEOUT_MS     each attempt's time (default 5000; never past the hook's time)

local http = require("hookhost.http")
local util = require("hookhost.util")

local function config()
  local url = util.env_required("TEST_URL", "the URL to test through the test listener, e.g. "
                                             .. "http://my-alb.example.com:8080/health")
  if not url:match("^https?://[^/%s]+") or url:find("%s") then
    error(string.format("TEST_URL=%q is not an http:// or https:// URL", url), 0)
  end
  return {
    url = url,
    status = util.env_int("TEST_EXPECT_STATUS", 200, 100, 599),
    body = os.getenv("TEST_EXPECT_BODY"),
    retries = util.env_int("TEST_RETRIES", 2, 0, 50),
    timeout_ms = util.env_int("TEST_TIMEOUT_MS", 5000, 1, 900000),
  }
end

return function(event, ctx)
  local c = config()
  local r, err = http.get(c.url, {
    expect_status = c.status, expect_body = c.body ~= "" and c.body or nil,
    retries = c.retries, timeout_ms = c.timeout_ms})
  if not r then
    return false, "smoke test failed: " .. err
  end
  ctx.log.info("smoke test passed", {status = r.status, attempts = r.attempts,
                                     elapsed_ms = r.elapsed_ms})
  return {status = r.status, attempts = r.attempts, elapsed_ms = r.elapsed_ms}
end
