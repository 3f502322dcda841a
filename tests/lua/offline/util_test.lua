-- hookhost.util's settings helpers, offline (hookhost test tests/lua/offline).
local t = require("hookhost.testing")
local util = require("hookhost.util")

t.test("env_required, env_list, env_int and env_bool", function()
  t.env{NAME = "x", EMPTY = "", LIST = " a, b,,c ", N = " 42 ", BAD = "4x", YES = "On", NO = "0"}
  t.eq(util.env_required("NAME"), "x")
  t.eq(t.raises(function() util.env_required("EMPTY", "a name") end), "EMPTY is not set: set it to a name")
  t.eq(t.raises(function() util.env_required("UNSET") end), "UNSET is not set")
  t.eq(util.env_list("LIST"), {"a", "b", "c"})
  t.eq(util.env_list("UNSET"), {})
  t.eq(util.env_int("N", 1, 0, 100), 42)
  t.eq(util.env_int("UNSET", 7, 0, 100), 7)
  t.eq(util.env_int("EMPTY", 7, 0, 100), 7)
  t.eq(t.raises(function() util.env_int("BAD", 1, 0, 9) end), 'BAD="4x": expected an integer from 0 to 9')
  t.eq(t.raises(function() util.env_int("N", 1, 0, 9) end), 'N=" 42 ": expected an integer from 0 to 9')
  t.eq({util.env_bool("YES", false), util.env_bool("NO", true), util.env_bool("UNSET", true)},
       {true, false, true})
  t.eq(t.raises(function() util.env_bool("NAME") end), 'NAME="x": expected true or false')
end)
