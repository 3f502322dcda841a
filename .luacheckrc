-- luacheck configuration for lua/ (the hookhost library and the shipped hooks).
std = "lua54"
max_line_length = 110
-- Hook scripts and library modules get ctx and event as arguments, never as globals.
files["lua/hooks"] = { std = "lua54" }
