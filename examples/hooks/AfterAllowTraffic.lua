-- The README's first hook: succeeds, unless MAINTENANCE=on makes it fail with a reason.
--   build/hookhost run --dry-run --event examples/codedeploy-event.json examples/hooks/AfterAllowTraffic.lua
return function(event, ctx)
  ctx.log.info("traffic shifted", { deployment = ctx.deployment_id })
  if os.getenv("MAINTENANCE") == "on" then
    return false, "maintenance mode is on"
  end
end
