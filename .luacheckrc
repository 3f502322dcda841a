-- luacheck configuration for lua/ (the hookhost library and the shipped hooks).
std = "lua54"
max_line_length = 110
-- Hook scripts and library modules get ctx and event as arguments, never as globals. A hook's
-- function keeps the documented signature function(event, ctx) even when it ignores the event.
files["lua/hooks"] = { std = "lua54", ignore = { "212/event" } }
-- The example function package (examples/package): its hooks keep the same signature.
files["examples/package/hooks"] = { std = "lua54", ignore = { "212/event" } }
