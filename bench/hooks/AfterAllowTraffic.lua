-- bench/hooks/AfterAllowTraffic.lua: the benchmark's own hook, used only when the shipped
-- lua/hooks/AfterAllowTraffic.lua (with hookhost.cloudfront) is not there yet. It does what the
-- shipped hook does and what bench/baseline/handler.py does: one CreateInvalidation of "/*" on
-- $DistributionId, CallerReference from the deployment id (idempotent on redelivery). The
-- runtime reports the status to CodeDeploy itself.
local aws = require("hookhost.aws")

return function(event, ctx)
  local dist = assert(os.getenv("DistributionId"), "DistributionId is not set")
  local body = '<?xml version="1.0" encoding="UTF-8"?>'
    .. '<InvalidationBatch xmlns="http://cloudfront.amazonaws.com/doc/2020-05-31/">'
    .. "<Paths><Quantity>1</Quantity><Items><Path>/*</Path></Items></Paths>"
    .. "<CallerReference>" .. aws.xml_escape("hookhost-" .. ctx.deployment_id) .. "</CallerReference>"
    .. "</InvalidationBatch>"
  local status, doc = aws.rest_xml{
    service = "cloudfront", method = "POST",
    path = "/2020-05-31/distribution/" .. aws.uri_encode(dist) .. "/invalidation",
    body = body, operation = "CreateInvalidation",
  }
  if not status then
    error(doc)
  end
  if status ~= 201 then
    return false, "CreateInvalidation answered " .. tostring(status)
  end
end
