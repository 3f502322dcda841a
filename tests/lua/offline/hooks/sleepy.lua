-- Sleeps in a loop that a pcall cannot save from the deadline.
local util = require("hookhost.util")
return function(event, ctx)
  local naps = 0
  while true do
    pcall(util.sleep_ms, 1000)
    naps = naps + 1
    if naps > 10000 then return "the deadline never came" end
  end
end
