-- Returns what it saw, for tests of hookhost.testing itself.
local helper = require("tests.lua.offline.hooks.counter")
return function(event, ctx)
  event.changed = true
  leaked_global = (leaked_global or 0) + 1 -- luacheck: ignore 111 113
  return {event = event, hook = ctx.hook, controller = ctx.controller, stage = ctx.stage,
          deployment_id = ctx.deployment_id, execution_id = ctx.execution_id,
          dry_run = ctx.dry_run, request_id = ctx.request_id, home = os.getenv("HOME"),
          mode = os.getenv("MODE"), global = leaked_global, count = helper.next(),
          published = package.loaded["hookhost.context"] == ctx}
end
