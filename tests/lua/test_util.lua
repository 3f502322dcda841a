-- Lua-level tests of hookhost.util and the pure parts of hookhost.cloudfront, run by
-- tests/e2e/test_hooks_lib.py through `hookhost run` (a failed check fails the hook).
local util = require("hookhost.util")
local cloudfront = require("hookhost.cloudfront")

local function eq(got, want, what)
  if got ~= want then
    error(string.format("%s: got %q, want %q", what, tostring(got), tostring(want)), 2)
  end
end

return function()
  local n = 0
  -- FIPS 180-4 / NIST example vectors
  for _, case in ipairs({
    {"", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
    {"abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
    {"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
     "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"},
    {string.rep("a", 55), "9f4390f8d30c2dd92ec9f095b65e2b9ae9b0a925a5258e241c9f1e910f734318"},
    {string.rep("a", 56), "b35439a4ac6f0948b6d6f9e3c6af0f5f590ce20f1bde7090ef7970686ec6738a"},
    {string.rep("a", 64), "ffe054fe7ae0cb6dc65c3af9b61d5209f439851db43d0ba5997337df154668eb"},
  }) do
    eq(util.sha256_hex(case[1]), case[2], "sha256 of " .. #case[1] .. " bytes")
    n = n + 1
  end

  local l = util.split_list(" /a , /b,, ,/c ")
  eq(#l, 3, "split_list count")
  eq(table.concat(l, "|"), "/a|/b|/c", "split_list items")
  eq(#util.split_list(nil), 0, "split_list(nil)")
  eq(#util.split_list(" , "), 0, "split_list of separators")
  n = n + 4

  for attempt = 1, 8 do
    for _ = 1, 50 do
      local d = util.backoff_ms(attempt, 1000, 20000)
      local cap = math.min(1000 * 2 ^ (attempt - 1), 20000)
      assert(d >= cap // 4 and d <= cap, "backoff out of range")
    end
  end
  n = n + 1

  eq(#util.random_hex(16), 16, "random_hex length")
  assert(util.random_hex(16):match("^[0-9a-f]+$"), "random_hex digits")
  assert(util.random_hex(16) ~= util.random_hex(16), "random_hex repeats")
  eq(util.seconds(2149), "2.1 s", "seconds")
  n = n + 4

  -- the default CallerReference: stable per execution and path set, whatever the path order
  local ctx = {deployment_id = "d-ABCDEFGH1", execution_id = string.rep("x", 2048)}
  local a = cloudfront.caller_reference("E1", {"/a", "/b/*"}, ctx)
  eq(a, cloudfront.caller_reference("E1", {"/b/*", "/a"}, ctx), "order-independent")
  assert(a:match("^hookhost%-d%-ABCDEFGH1%-%x+$") and #a == 9 + 11 + 1 + 32, "shape " .. a)
  assert(a ~= cloudfront.caller_reference("E1", {"/a"}, ctx), "paths change it")
  assert(a ~= cloudfront.caller_reference("E2", {"/a", "/b/*"}, ctx), "distribution changes it")
  local other = {deployment_id = ctx.deployment_id, execution_id = "y"}
  assert(a ~= cloudfront.caller_reference("E1", {"/a", "/b/*"}, other), "execution changes it")
  local free = cloudfront.caller_reference("E1", {"/a"}, {})
  assert(free:match("^hookhost%-%d+%-%x+$"), "unique shape " .. free)
  assert(free ~= cloudfront.caller_reference("E1", {"/a"}, {}), "unique per call")
  local ecs = {executionDetails = {targetServiceRevisionArn = "arn:r"}}
  local e1 = cloudfront.caller_reference("E1", {"/*"}, {stage = "S"}, ecs)
  eq(e1, cloudfront.caller_reference("E1", {"/*"}, {stage = "S"}, ecs), "ecs stable")
  assert(e1 ~= cloudfront.caller_reference("E1", {"/*"}, {stage = "T"}, ecs), "ecs stage")
  n = n + 9
  return {checks = n}
end
