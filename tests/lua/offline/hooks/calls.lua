-- Calls whatever event.call names, for tests of stubs and fake HTTP answers.
local aws = require("hookhost.aws")
local http = require("hookhost.http")
return function(event)
  if event.call == "ssm" then
    local p, err = aws.json("ssm", "AmazonSSM", "GetParameter", {Name = event.name})
    if not p then
      return {code = err.code, status = err.status, text = tostring(err)}
    end
    return p
  elseif event.call == "http" then
    local r, err = http.request(event.method or "GET", event.url, {retries = 0, timeout_ms = 2500})
    return r and {status = r.status, body = r.body} or {err = err}
  end
end
