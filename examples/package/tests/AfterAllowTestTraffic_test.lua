-- Offline tests of hooks/AfterAllowTestTraffic.lua: `hookhost test --task-root examples/package`.
local t = require("hookhost.testing")
local cjson = require("cjson")

local HOOK = "hooks/AfterAllowTestTraffic.lua"
local HEALTH = "http://alb.example.com:8080/health"
local VERSION = "http://alb.example.com:8080/api/version"
local WEBHOOK = "https://hooks.example.com/deployments"
local ENV = {SMOKE_URLS = HEALTH .. ", " .. VERSION, WEBHOOK_URL = WEBHOOK}

local function posted(out)
  local texts = {}
  for _, r in ipairs(out.requests) do
    if r.method == "POST" then
      texts[#texts + 1] = cjson.decode(r.body).text
    end
  end
  return texts
end

t.test("both URLs answer: the hook succeeds and posts once", function()
  local out = t.run_hook(HOOK, {}, {env = ENV, http = {
    {method = "GET", url = HEALTH, status = 200, body = "ok"},
    {method = "GET", url = VERSION, status = 200, body = '{"version": "2"}'},
    {method = "POST", url = WEBHOOK, status = 200}}})
  t.expect_status(out, "succeeded")
  t.eq(posted(out), {"smoke test passed: 2 URLs"})
  t.assert_stubs_used()
end)

t.test("a URL that warms up is retried, without waiting for real", function()
  local out = t.run_hook(HOOK, {}, {env = ENV, http = {
    {url = HEALTH, status = 503}, {url = HEALTH, error = "connection"}, {url = HEALTH, status = 200},
    {url = VERSION, status = 200}, {method = "POST", url = WEBHOOK, status = 200}}})
  t.expect_status(out, "succeeded")
  t.eq(out.result.checked[1].attempts, 3)
  t.eq(out.elapsed_ms, 2000 + 4000) -- the two pauses between attempts, on the fake clock
end)

t.test("a URL that keeps failing fails the hook and the webhook says so", function()
  local answers = {}
  for _ = 1, 4 do
    answers[#answers + 1] = {url = VERSION, status = 500}
  end
  table.insert(answers, 1, {url = HEALTH, status = 200})
  answers[#answers + 1] = {method = "POST", url = WEBHOOK, status = 200}
  local out = t.run_hook(HOOK, {}, {env = ENV, http = answers})
  t.expect_status(out, "failed", "answered 500, expected 200 %(4 attempts over 14%.0 s%)")
  t.eq(#posted(out), 1)
  t.ok(posted(out)[1]:find("^smoke test FAILED: GET http://alb.example.com:8080/api/version"))
end)

t.test("a webhook that answers 500 is posted to once and does not fail the hook", function()
  local out = t.run_hook(HOOK, {}, {env = ENV, http = {
    {url = HEALTH, status = 200}, {url = VERSION, status = 200},
    {method = "POST", url = WEBHOOK, status = 500}}})
  t.expect_status(out, "succeeded")
  t.eq(#posted(out), 1)
  t.eq(out.logs[#out.logs].message, "webhook failed")
end)

t.test("without SMOKE_URLS the hook fails and says what to set", function()
  t.expect_status(t.run_hook(HOOK, {}, {env = {}}), "failed", "^SMOKE_URLS is not set")
end)
