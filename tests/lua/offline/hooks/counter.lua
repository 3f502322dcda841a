-- A module with state: each run_hook must see it fresh, as each Lambda event does.
local n = 0
return {next = function() n = n + 1 return n end}
