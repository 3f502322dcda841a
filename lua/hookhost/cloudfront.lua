--- hookhost.cloudfront: CloudFront invalidations that are safe to repeat.
--
--   local cloudfront = require("hookhost.cloudfront")
--   return function(event, ctx)
--     local inv, err = cloudfront.invalidate{distribution = "E2EXAMPLE123", paths = {"/*"},
--                                            ctx = ctx}
--     if not inv then error(err) end
--     ctx.log.info("invalidation created", {id = inv.id})
--   end
--
-- Functions (bad arguments raise; failures of the world return nil, err; err is a hookhost.aws
-- error object {code, message, status, request_id, retryable, attempts} that prints as
-- "Code: message (HTTP 409, ...)"):
--
--   invalidate{distribution, paths, caller_reference?, wait?, ctx?, event?, max_wait_ms?}
--       -> {id, status, create_time, location, caller_reference, paths, tries, waited_ms?}
--     tries: CreateInvalidation calls made here (each retried inside hookhost.aws as usual)
--     paths: 1 to 3,000 strings, each starting with "/", at most 4,000 characters, a "*" only as
--       the last character; at most 15 of them wildcards (CloudFront's limit of wildcard paths
--       in progress per distribution). Special characters must already be URL-encoded as
--       CloudFront expects; XML escaping is the client's.
--     caller_reference: by default derived from the hook execution,
--       "hookhost-<DeploymentId>-<32 hex digits of SHA-256(execution id, sorted paths)>", so a
--       retried or redelivered event gets the existing invalidation back instead of a second
--       one. Under an ECS-native deployment (ctx.controller "ecs", which has no execution id)
--       pass event = event too: the reference is then "hookhost-ecs-<40 hex digits of
--       SHA-256(targetServiceRevisionArn, stage, distribution, sorted paths)>", the same for every
--       invocation of that stage of that deployment. Without either (hookhost run with a plain
--       event) it is "hookhost-<epoch seconds>-<random>", unique per call.
--     TooManyInvalidationsInProgress, throttling and 5xx answers are retried with backoff for as
--       long as the hook has time (or max_wait_ms); InvalidationBatchAlreadyExists is returned
--       with a message that says what it means (the reference was used with other paths).
--     wait: true, or {timeout_ms, interval_ms}: then wait_invalidation() before returning.
--     In a dry run (hookhost run --dry-run) without a canned answer nothing is sent:
--       {id = "dry-run", status = "DryRun", caller_reference, paths, tries, dry_run = true}.
--   get_invalidation(distribution, id [, opts]) -> {id, status, create_time, caller_reference,
--       paths} (dry run: {id, status = "DryRun", paths = {}, dry_run = true})
--   wait_invalidation(distribution, id [, {timeout_ms, interval_ms, ctx}]) -> the invalidation
--       once Completed; nil, err (code "WaitTimeout") when it is not before timeout_ms or the
--       hook's time runs out (whichever is first; it never waits past the hook's time).
--       Polls after 1 s, then 1.5 times longer each time, up to interval_ms (default 20 s, the
--       SDK waiter's interval).
--   caller_reference(distribution, paths [, ctx [, event]]) -> the default reference above
--
-- The calls are the model-driven client's (aws.client("cloudfront"), made on the first call:
-- loading the model takes a few ms): create_invalidation and get_invalidation. A stub entry
-- ({service = "cloudfront", operation = "CreateInvalidation" | "GetInvalidation"}) gives the raw
-- XML `body` or the decoded `answer` in the model's shape, {Location = "...", Invalidation = {Id,
-- Status, CreateTime, InvalidationBatch = {Paths = {Quantity, Items}, CallerReference}}}.
--
-- ctx: pass the hook's ctx (ctx = ctx) so the reference is tied to the hook execution and waits
-- use ctx.remaining_ms(). Without them the module uses the ctx and event the runtime publishes
-- when it does (package.loaded["hookhost.context"], ["hookhost.event"]); the time left is always
-- known to the C core.

local aws = require("hookhost.aws")
local util = require("hookhost.util")

local M = {
  API_VERSION = "2020-05-31",
  MAX_PATHS = 3000,           -- paths in one request (and files in progress per distribution)
  MAX_PATH_LENGTH = 4000,     -- characters in one path
  MAX_WILDCARDS = 15,         -- wildcard paths in progress per distribution
  MAX_CALLER_REFERENCE = 128, -- our own bound; CloudFront documents none
}

local MARGIN_MS = 300 -- time kept for the script to return after a wait gives up

local function check_distribution(fname, id)
  if id == nil or id == "" then
    util.argerror("cloudfront." .. fname, "distribution is required (a CloudFront distribution id"
                  .. " such as E2EXAMPLE123)")
  end
  if type(id) ~= "string" or #id > 64 or not id:match("^[A-Z0-9]+$") then
    util.argerror("cloudfront." .. fname, string.format(
      "distribution %q is not a CloudFront distribution id (upper-case letters and digits, such"
      .. " as E2EXAMPLE123)", tostring(id)))
  end
end

local function check_paths(paths)
  if type(paths) ~= "table" or #paths == 0 then
    util.argerror("cloudfront.invalidate", "paths must be a non-empty list such as {\"/*\"}")
  end
  if #paths > M.MAX_PATHS then
    util.argerror("cloudfront.invalidate", string.format(
      "%d paths: CloudFront takes at most %d in one request", #paths, M.MAX_PATHS))
  end
  local wildcards = 0
  for i, p in ipairs(paths) do
    if type(p) ~= "string" then
      util.argerror("cloudfront.invalidate", string.format("paths[%d] is a %s, not a string", i,
                                                           type(p)))
    end
    if p:sub(1, 1) ~= "/" then
      util.argerror("cloudfront.invalidate", string.format("path %q must start with /", p))
    end
    if #p > M.MAX_PATH_LENGTH then
      util.argerror("cloudfront.invalidate", string.format(
        "paths[%d] is %d characters long; CloudFront takes at most %d", i, #p,
        M.MAX_PATH_LENGTH))
    end
    if p:find("[%z\1-\31\127]") then
      util.argerror("cloudfront.invalidate", string.format("paths[%d] holds a control character",
                                                           i))
    end
    local star = p:find("*", 1, true)
    if star and star ~= #p then
      util.argerror("cloudfront.invalidate", string.format(
        "path %q: a * wildcard can only be the last character", p))
    end
    if star then
      wildcards = wildcards + 1
    end
  end
  if wildcards > M.MAX_WILDCARDS then
    util.argerror("cloudfront.invalidate", string.format(
      "%d wildcard paths: CloudFront allows at most %d in progress per distribution", wildcards,
      M.MAX_WILDCARDS))
  end
end

local function sorted_copy(list)
  local t = {}
  for i, v in ipairs(list) do
    t[i] = v
  end
  table.sort(t)
  return t
end

-- The ECS-native event's service revision: new for every deployment, the same for every
-- invocation (and re-invocation) of its stages.
local function ecs_revision(event)
  if type(event) ~= "table" then
    return nil
  end
  local details = type(event.executionDetails) == "table" and event.executionDetails or event
  local rev = details.targetServiceRevisionArn
  return type(rev) == "string" and rev ~= "" and rev or nil
end

--- The default CallerReference: stable for one hook execution and one set of paths.
function M.caller_reference(distribution, paths, ctx, event)
  ctx = util.context(ctx)
  local dep = ctx and ctx.deployment_id
  local exec = ctx and ctx.execution_id
  local all_paths = table.concat(sorted_copy(paths), "\n")
  if type(dep) == "string" and dep ~= "" and type(exec) == "string" and exec ~= "" then
    local material = table.concat({exec, distribution or "", all_paths}, "\0")
    local safe_dep = dep:gsub("[^%w%-]", ""):sub(1, 64)
    return "hookhost-" .. safe_dep .. "-" .. util.sha256_hex(material):sub(1, 32)
  end
  local rev = ecs_revision(event)
  if rev then
    local stage = ctx and ctx.stage or ""
    local material = table.concat({rev, stage, distribution or "", all_paths}, "\0")
    return "hookhost-ecs-" .. util.sha256_hex(material):sub(1, 40)
  end
  return string.format("hookhost-%d-%s", os.time(), util.random_hex(16))
end

-- The client, made on first use: loading the model costs a few milliseconds, which a script
-- that only computes a caller_reference should not pay. A client with its own max_attempts is
-- cheap once the model is loaded (hookhost.aws.model caches it).
local client
local function cf(max_attempts)
  if max_attempts ~= nil then
    return aws.client("cloudfront", {max_attempts = max_attempts})
  end
  client = client or aws.client("cloudfront")
  return client
end

-- The module's view of the model's Invalidation {Id, Status, CreateTime, InvalidationBatch}.
local function invalidation_of(inv)
  if type(inv) ~= "table" or type(inv.Id) ~= "string" or inv.Id == "" then
    return nil
  end
  local batch = type(inv.InvalidationBatch) == "table" and inv.InvalidationBatch or {}
  local items = type(batch.Paths) == "table" and batch.Paths.Items
  local paths = {}
  for i, p in ipairs(type(items) == "table" and items or {}) do
    paths[i] = p
  end
  return {
    id = inv.Id,
    status = inv.Status,
    create_time = inv.CreateTime,
    caller_reference = batch.CallerReference,
    paths = paths,
  }
end

local function bad_answer(what, out)
  local meta = type(out) == "table" and type(out.ResponseMetadata) == "table"
               and out.ResponseMetadata or {}
  return aws.error{code = "SerializationError", message = what,
                   status = meta.HTTPStatusCode or 200, request_id = meta.RequestId,
                   retryable = false}
end

-- Errors worth waiting out: CloudFront's own limit, throttling, and server-side failures that the
-- core's retries did not get past.
local RETRY_LATER = {TooManyInvalidationsInProgress = true, Throttling = true,
                     ThrottlingException = true, RequestLimitExceeded = true,
                     ServiceUnavailable = true, InternalError = true, InternalFailure = true}

local function retry_later(err)
  return RETRY_LATER[err.code] or (err.status or 0) >= 500
end

function M.get_invalidation(distribution, id, opts)
  check_distribution("get_invalidation", distribution)
  if type(id) ~= "string" or not id:match("^[A-Za-z0-9]+$") or #id > 64 then
    util.argerror("cloudfront.get_invalidation", "id must be an invalidation id such as "
                  .. "I2J0I21PCUYOIK")
  end
  opts = opts or {}
  local out, err = cf(opts.max_attempts):get_invalidation{DistributionId = distribution, Id = id}
  if not out then
    return nil, err
  end
  if aws.is_placeholder(out) then
    return {id = id, status = "DryRun", paths = {}, dry_run = true}
  end
  local inv = invalidation_of(out.Invalidation)
  if not inv then
    return nil, bad_answer("GetInvalidation answered without an Invalidation", out)
  end
  return inv
end

function M.wait_invalidation(distribution, id, opts)
  check_distribution("wait_invalidation", distribution)
  opts = opts or {}
  if type(opts) ~= "table" then
    util.argerror("cloudfront.wait_invalidation", "opts must be a table {timeout_ms, interval_ms}")
  end
  local ctx = util.context(opts.ctx)
  local max_interval = math.tointeger(opts.interval_ms or 20000)
  if not max_interval or max_interval < 1 then
    util.argerror("cloudfront.wait_invalidation", "interval_ms must be a positive integer")
  end
  local start = util.now_ms()
  local limit = start + util.remaining_ms(ctx) - MARGIN_MS
  local timeout = opts.timeout_ms ~= nil and math.tointeger(opts.timeout_ms)
  if opts.timeout_ms ~= nil then
    if not timeout or timeout < 0 then
      util.argerror("cloudfront.wait_invalidation", "timeout_ms must be a non-negative integer")
    end
    limit = math.min(limit, start + timeout)
  end
  local interval = math.min(1000, max_interval)
  local polls, last = 0, nil
  while true do
    local inv, err = M.get_invalidation(distribution, id)
    polls = polls + 1
    if inv then
      last = inv
      if inv.status == "Completed" or inv.status == "DryRun" then
        inv.waited_ms = util.now_ms() - start
        inv.polls = polls
        return inv
      end
    elseif not retry_later(err) then
      return nil, err
    end
    local now = util.now_ms()
    local sleep = math.min(interval, limit - now)
    if sleep <= 0 or now + sleep >= limit then
      local why = timeout and limit == start + timeout
                  and string.format("the %d ms wait limit", timeout) or "the hook's time"
      return nil, aws.error{
        code = "WaitTimeout", retryable = false, status = 0, attempts = polls,
        message = string.format("invalidation %s on %s is still %s after %s (%d polls): stopped "
                                .. "waiting before %s ran out", id, distribution,
                                last and last.status or "unknown", util.seconds(now - start),
                                polls, why),
      }
    end
    util.sleep_ms(sleep)
    interval = math.min(math.floor(interval * 1.5), max_interval)
  end
end

function M.invalidate(t)
  if type(t) ~= "table" then
    util.argerror("cloudfront.invalidate", "expected a table {distribution, paths, ...}")
  end
  check_distribution("invalidate", t.distribution)
  check_paths(t.paths)
  local ctx = util.context(t.ctx)
  local ref = t.caller_reference
  if ref == nil then
    ref = M.caller_reference(t.distribution, t.paths, ctx, util.event(t.event))
  elseif type(ref) ~= "string" or ref == "" or #ref > M.MAX_CALLER_REFERENCE
         or ref:find("[%z\1-\31\127]") then
    util.argerror("cloudfront.invalidate", string.format(
      "caller_reference must be a string of 1 to %d characters without control characters",
      M.MAX_CALLER_REFERENCE))
  end
  local wait = t.wait
  if wait ~= nil and type(wait) ~= "boolean" and type(wait) ~= "table" then
    util.argerror("cloudfront.invalidate", "wait must be true or {timeout_ms, interval_ms}")
  end

  local items = {}
  for i, p in ipairs(t.paths) do
    items[i] = p
  end
  local params = {DistributionId = t.distribution, InvalidationBatch = {
    Paths = {Quantity = #items, Items = items}, CallerReference = ref}}
  local start = util.now_ms()
  local limit = start + util.remaining_ms(ctx) - MARGIN_MS
  local limit_name = "the hook's time ran out"
  if t.max_wait_ms ~= nil then
    local m = math.tointeger(t.max_wait_ms)
    if not m or m < 0 then
      util.argerror("cloudfront.invalidate", "max_wait_ms must be a non-negative integer")
    end
    if start + m < limit then
      limit, limit_name = start + m, string.format("max_wait_ms %d reached", m)
    end
  end
  local tries, attempts = 0, 0 -- calls made here; HTTP requests in failed calls
  local out
  while true do
    tries = tries + 1
    local err
    out, err = cf():create_invalidation(params)
    if out then
      break
    end
    attempts = attempts + (err.attempts or 1)
    err.attempts = attempts
    if err.code == "InvalidationBatchAlreadyExists" then
      err.message = string.format(
        "CallerReference %q was already used on distribution %s for an invalidation of other "
        .. "paths than %s; CloudFront keeps one batch per reference, so either send the same "
        .. "paths again or pass another caller_reference (%s)", ref, t.distribution,
        table.concat(t.paths, ", "):sub(1, 200), err.message or "")
      return nil, err
    end
    local delay = util.backoff_ms(tries, 1000, 20000)
    if not retry_later(err) or util.now_ms() + delay >= limit then
      if retry_later(err) and tries > 1 then
        err.message = string.format("%s (gave up after %d tries over %s: %s)",
                                    err.message or "", tries,
                                    util.seconds(util.now_ms() - start), limit_name)
      end
      return nil, err
    end
    util.sleep_ms(delay)
  end

  if aws.is_placeholder(out) then
    return {id = "dry-run", status = "DryRun", caller_reference = ref, paths = t.paths,
            tries = tries, dry_run = true}
  end
  local inv = invalidation_of(out.Invalidation)
  if not inv then
    return nil, bad_answer("CreateInvalidation answered without an Invalidation", out)
  end
  inv.location = type(out.Location) == "string" and out.Location or nil
  inv.caller_reference = inv.caller_reference or ref
  inv.tries = tries
  if wait then
    local w = type(wait) == "table" and wait or {}
    local done, err = M.wait_invalidation(t.distribution, inv.id, {
      timeout_ms = w.timeout_ms, interval_ms = w.interval_ms, ctx = ctx})
    if not done then
      err.invalidation = inv
      return nil, err
    end
    inv.status, inv.waited_ms = done.status, done.waited_ms
  end
  return inv
end

return M
