--- BeforeInstall: refuse to start a deployment while the ECS service is unhealthy, and check
-- that the release's configuration exists in SSM Parameter Store. Both calls go through the
-- generic aws.json (docs/HOOKS.md, "Calling any AWS API").
--
-- Environment:
--   CLUSTER, SERVICE    the ECS cluster and service (required)
--   CONFIG_PARAMETER    an SSM parameter name the new version needs (required), e.g. /shop/url

local aws = require("hookhost.aws")
local util = require("hookhost.util")

-- From botocore's service-2.json "metadata" (or the API reference): protocol json, jsonVersion
-- 1.1, targetPrefix, and the signing name (signingName, else endpointPrefix).
local ECS = "AmazonEC2ContainerServiceV20141113"
local SSM = "AmazonSSM"

return function(event, ctx)
  local cluster = util.env_required("CLUSTER", "the ECS cluster's name")
  local service = util.env_required("SERVICE", "the ECS service's name")
  local name = util.env_required("CONFIG_PARAMETER", "an SSM parameter name, e.g. /shop/url")

  local d = assert(aws.json("ecs", ECS, "DescribeServices",
                            {cluster = cluster, services = {service}}))
  if d.failures and #d.failures > 0 then
    return false, string.format("ECS service %s/%s: %s", cluster, service,
                                tostring(d.failures[1].reason))
  end
  local svc = d.services[1]
  if svc.status ~= "ACTIVE" or svc.runningCount < svc.desiredCount then
    return false, string.format("ECS service %s is %s with %d of %d tasks running",
                                svc.serviceName, svc.status, svc.runningCount, svc.desiredCount)
  end

  local p, err = aws.json("ssm", SSM, "GetParameter", {Name = name})
  if not p then
    if err.code == "ParameterNotFound" then
      return false, "SSM parameter " .. name .. " does not exist: create it before deploying"
    end
    error(err) -- anything else (AccessDenied, throttling after retries): fail with AWS's words
  end
  ctx.log.info("pre-flight checks passed", {service = svc.serviceName, parameter = name,
                                            version = p.Parameter.Version})
  return {running = svc.runningCount, parameter_version = p.Parameter.Version}
end
