-- bench/hooks/Noop.lua: a hook that does nothing. Measured against the emulators' floor client
-- (bench/floor/rapi_floor.c, which reports with no script), it shows what the fork-per-execution
-- worker, the fresh Lua state and the script's loading cost per event.
return function(event, ctx) end
