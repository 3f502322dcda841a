--- AfterAllowTraffic: invalidate two paths on CloudFront, wait until the invalidation has
-- completed, then tell an SNS topic.
--
-- Environment:
--   DistributionId  the CloudFront distribution id (required), e.g. E2EXAMPLE123
--   TOPIC_ARN       the SNS topic to notify (required), arn:aws:sns:<region>:<account>:<name>
--
-- The cache is already serving the new version's traffic, so a failed notification is logged
-- and does not fail the hook (a Failed report would roll a live release back).

local cloudfront = require("hookhost.cloudfront")
local sns = require("hookhost.sns")
local util = require("hookhost.util")

local PATHS = {"/index.html", "/assets/*"}

return function(event, ctx)
  local dist = util.env_required("DistributionId", "the CloudFront distribution id")
  local topic = util.env_required("TOPIC_ARN", "the SNS topic's ARN")
  -- the same CallerReference on a retried event: never a second invalidation
  local inv, err = cloudfront.invalidate{distribution = dist, paths = PATHS, ctx = ctx,
                                         event = event, wait = {interval_ms = 10000}}
  if not inv then
    error("invalidation on " .. dist .. " failed: " .. tostring(err), 0)
  end
  ctx.log.info("invalidation completed", {id = inv.id, waited_ms = inv.waited_ms})

  local id, perr = sns.publish{topic_arn = topic, subject = "cache invalidated on " .. dist,
                               message = string.format("%s invalidated after %s (%s)",
                                                       table.concat(PATHS, ", "),
                                                       ctx.deployment_id or "a deployment",
                                                       inv.id)}
  if not id then
    ctx.log.error("SNS notification failed", {error = tostring(perr)})
  end
  return {invalidation = inv.id, notified = id ~= nil}
end
