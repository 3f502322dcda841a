--- AfterAllowTestTraffic: a smoke test of two URLs through the test listener, each retried
-- while the new tasks warm up, then the outcome posted to a webhook (chat, incident tool).
--
-- Environment:
--   SMOKE_URLS    comma-separated URLs to GET (required), e.g.
--                 "http://alb.example.com:8080/health, http://alb.example.com:8080/api/version"
--   WEBHOOK_URL   where to POST {"text": ...} (optional); a webhook that fails is logged, and
--                 does not fail the smoke test

local http = require("hookhost.http")
local cjson = require("cjson")
local util = require("hookhost.util")

local function notify(url, text, ctx)
  if not url or url == "" then
    return
  end
  -- A POST is not idempotent: sent once (retries = 0), so a webhook that answers 500 after
  -- posting does not get the message twice.
  local r, err = http.request("POST", url, {
    body = cjson.encode({text = text}), headers = {["Content-Type"] = "application/json"},
    retries = 0, timeout_ms = 5000})
  if not r then
    ctx.log.warn("webhook failed", {error = err})
  end
end

return function(event, ctx)
  local urls = util.env_list("SMOKE_URLS")
  if #urls == 0 then
    error("SMOKE_URLS is not set: set it to comma-separated URLs to test", 0)
  end
  local webhook = os.getenv("WEBHOOK_URL")
  local checked = {}
  for _, url in ipairs(urls) do
    local r, err = http.get(url, {expect_status = 200, retries = 3, retry_delay_ms = 2000,
                                  timeout_ms = 5000})
    if not r then
      notify(webhook, "smoke test FAILED: " .. err, ctx)
      return false, "smoke test failed: " .. err
    end
    checked[#checked + 1] = {url = url, attempts = r.attempts, elapsed_ms = r.elapsed_ms}
  end
  notify(webhook, string.format("smoke test passed: %d URLs", #checked), ctx)
  return {checked = checked}
end
