--- The script `hookhost test` runs for each test, as a hook in a fresh Lua state: the event is
-- {file, index, task_root}; index 0 lists the file's tests, N runs the Nth (hookhost.testing).
return function(event)
  return require("hookhost.testing")._run(event)
end
