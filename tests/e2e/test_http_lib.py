"""hookhost.http's retry policy, overall time limit, JSON helpers and dry-run rule, and
hookhost.json, end to end: Lua scripts run by `hookhost run` against a local HTTP server that
counts every request it gets (method, path, headers, body)."""
import http.server
import json
import re
import threading
import time

import pytest


HEAD = """
local http = require("hookhost.http")
local json = require("hookhost.json")
"""


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def _any(self):
        srv = self.server
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else b""
        with srv.lock:
            srv.hits.append({"method": self.command, "path": self.path,
                             "headers": {k.lower(): v for k, v in self.headers.items()},
                             "body": body.decode()})
            status, data, delay, ctype = srv.plan.pop(0) if srv.plan else srv.default
        if delay:
            time.sleep(delay)
        data = data.encode()
        try:
            self.send_response(status)
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Content-Type", ctype)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)
        except OSError:
            pass

    do_GET = do_HEAD = do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = _any


@pytest.fixture
def web():
    """srv.plan: a list of (status, body, delay, content type) answers, then srv.default."""
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    srv.daemon_threads = True
    srv.lock = threading.Lock()
    srv.hits, srv.plan = [], []
    srv.default = (200, '{"ok": true}', 0, "application/json")
    srv.url = f"http://127.0.0.1:{srv.server_address[1]}"
    t = threading.Thread(target=srv.serve_forever, args=(0.05,), daemon=True)
    t.start()
    yield srv
    srv.shutdown()
    srv.server_close()


@pytest.fixture
def lua(run_lua):
    """lua(body, *args, event=None) -> (proc, outcome, seconds)"""

    def run(body, *args, event=None, env=None):
        r = run_lua(HEAD + body, *args, event=event, env=env)
        return r.proc, r.outcome, r.seconds

    return run


CALL = """
return function(event)
  local f = http[event.fn]
  local r, err
  if event.fn == "request" then r, err = f(event.method, event.url, event.opts)
  elseif event.fn == "post_json" then r, err = f(event.url, event.value, event.opts)
  else r, err = f(event.url, event.opts) end
  if not r then return {err = err} end
  return {status = r.status, body = r.body, attempts = r.attempts, ms = r.elapsed_ms,
          dry_run = r.dry_run, json = r.json}
end
"""


def methods(web):
    return [h["method"] for h in web.hits]


# ---- retries ------------------------------------------------------------------------------------

def test_post_and_patch_are_not_retried_by_default(web, lua):
    web.default = (500, "boom", 0, "text/plain")
    for m in ("POST", "PATCH"):
        web.hits.clear()
        p, o, _ = lua(CALL, event={"fn": "request", "method": m, "url": web.url + "/hook?k=s3cret",
                                   "opts": {"retry_delay_ms": 10, "body": "{}"}})
        assert methods(web) == [m], web.hits
        err = o["result"]["err"]
        assert re.fullmatch(rf"{m} http://127\.0\.0\.1:\d+/hook answered 500, expected a 2xx "
                            rf"status; {m} is not retried unless opts.retries is given "
                            r"\(1 attempt over \d+\.\d s\)", err), err


def test_post_is_retried_when_retries_is_given(web, lua):
    web.default = (500, "boom", 0, "text/plain")
    p, o, _ = lua(CALL, event={"fn": "request", "method": "POST", "url": web.url + "/hook",
                               "opts": {"retries": 2, "retry_delay_ms": 10}})
    assert methods(web) == ["POST"] * 3
    assert "(3 attempts over" in o["result"]["err"] and "not retried" not in o["result"]["err"]


@pytest.mark.parametrize("method", ["GET", "HEAD", "PUT", "DELETE", "OPTIONS"])
def test_idempotent_methods_are_retried_by_default(web, lua, method):
    web.default = (503, "later", 0, "text/plain")
    p, o, _ = lua(CALL, event={"fn": "request", "method": method, "url": web.url + "/x",
                               "opts": {"retry_delay_ms": 10}})
    assert methods(web) == [method] * 3
    assert re.search(rf"^{method} http://127\.0\.0\.1:\d+/x answered 503, expected a 2xx status "
                     r"\(3 attempts over \d+\.\d s\)$", o["result"]["err"]), o["result"]["err"]


# ---- total_ms -----------------------------------------------------------------------------------

def test_total_ms_bounds_the_attempts_and_the_pauses(web, lua):
    web.default = (500, "boom", 0, "text/plain")
    p, o, secs = lua(CALL, event={"fn": "get", "url": web.url + "/ready",
                                  "opts": {"retries": 100, "retry_delay_ms": 200,
                                           "total_ms": 1500, "expect_status": 204}})
    err = o["result"]["err"]
    assert re.fullmatch(r"GET http://127\.0\.0\.1:\d+/ready answered 500, expected 204; no time "
                        r"left within total_ms \(1500 ms\) for another attempt \((\d+) attempts "
                        r"over (\d+\.\d) s\)", err), err
    m = re.search(r"\((\d+) attempts over (\d+\.\d) s\)$", err)
    assert int(m.group(1)) == len(web.hits) >= 2 and float(m.group(2)) <= 1.5 and secs < 10


def test_total_ms_caps_each_attempt(web, lua):
    web.default = (200, "slow", 6, "text/plain")
    p, o, secs = lua(CALL, event={"fn": "get", "url": web.url + "/slow",
                                  "opts": {"timeout_ms": 20000, "total_ms": 700}})
    err = o["result"]["err"]
    assert "timed out" in err and "(1 attempt over" in err, err
    assert secs < 5, secs  # the server answers after 6 s


def test_bad_retry_options_raise(lua):
    p, o, _ = lua("""
return function()
  local out = {}
  for _, opts in ipairs{{total_ms = 0}, {retries = -1}, {timeout_ms = "x"}} do
    local ok, e = pcall(http.get, "http://127.0.0.1:1/", opts)
    out[#out + 1] = ok and "no error" or tostring(e)
  end
  -- the error points at the script's line, not at the library
  local calls = {
    function() http.get("http://127.0.0.1:1/", {total_ms = 0}) end,
    function() http.request("POST", "ftp://x") end,
    function() http.post_json("http://127.0.0.1:1/", {f = print}) end,
    function() http.post_json("http://127.0.0.1:1/", {}, {headers = 1}) end,
    function() http.get("http://127.0.0.1:1/", {expect_status = "x"}) end,
  }
  for _, f in ipairs(calls) do
    local _, e = pcall(f)
    out[#out + 1] = tostring(e)
  end
  return out
end
""")
    r = o["result"]
    assert "total_ms must be an integer" in r[0] and "retries must be an integer" in r[1]
    assert "timeout_ms must be an integer" in r[2]
    for e in r[3:]:
        assert re.match(r"^\S*hook\d+\.lua:\d+: hookhost\.http", e), e


# ---- post_json, get_json ------------------------------------------------------------------------

def test_post_json_encodes_with_hookhost_json(web, lua):
    web.default = (201, '{"id": "m-1", "list": []}', 0, "application/json")
    p, o, _ = lua(CALL, event={"fn": "post_json", "url": web.url + "/hook",
                               "value": {"text": "deployed https://x/y"}})
    r = o["result"]
    assert r["status"] == 201 and r["attempts"] == 1 and r["json"] == {"id": "m-1", "list": {}}
    hit = web.hits[0]
    assert hit["method"] == "POST" and hit["headers"]["content-type"] == "application/json"
    assert json.loads(hit["body"]) == {"text": "deployed https://x/y"}
    # json.empty_array goes out as [], the caller's own Content-Type wins, a non-2xx fails once
    web.hits.clear()
    web.default = (500, "no", 0, "text/plain")
    p, o, _ = lua("""
return function(event)
  local r, err = http.post_json(event.url, {ids = json.empty_array, n = {json.array({})}},
                                {headers = {["content-type"] = "application/vnd.x+json"}})
  return {err = err}
end
""", event={"url": web.url + "/hook"})
    assert web.hits[0]["body"] == '{"ids":[],"n":[[]]}' or json.loads(web.hits[0]["body"]) == \
        {"ids": [], "n": [[]]}
    assert web.hits[0]["headers"]["content-type"] == "application/vnd.x+json"
    assert len(web.hits) == 1 and "answered 500, expected a 2xx status" in o["result"]["err"]


def test_get_json_decodes_or_fails(web, lua):
    web.default = (200, '{"version": 2, "next": null}', 0, "application/json")
    p, o, _ = lua("""
return function(event)
  local r = assert(http.get_json(event.url))
  return {version = r.json.version, null = json.is_null(r.json.next), truthy = r.json.next and true}
end
""", event={"url": web.url + "/v"})
    assert o["result"] == {"version": 2, "null": True, "truthy": True}
    assert web.hits[0]["headers"]["accept"] == "application/json"
    web.default = (200, "<html>", 0, "text/html")
    p, o, _ = lua(CALL, event={"fn": "get_json", "url": web.url + "/v", "opts": {"retries": 0}})
    assert "answered 200 but the body is not JSON" in o["result"]["err"]


# ---- dry runs -----------------------------------------------------------------------------------

DRY = """
return function(event)
  local out = {}
  local function run(name, r, err) out[name] = r or {err = err} end
  run("get", http.get(event.url .. "/get"))
  run("head", http.head(event.url .. "/head"))
  run("post", http.request("POST", event.secret_url, {body = "12345", retries = 3}))
  run("put", http.request("PUT", event.url .. "/put", {body = "abc"}))
  run("delete", http.request("DELETE", event.url .. "/delete", {expect_status = {200, 204}}))
  run("post_json", http.post_json(event.url .. "/json", {a = 1}))
  run("core", {select(4, require("hookhost.http.core").request{method = "PATCH",
                                                                url = event.url .. "/core"})})
  return out
end
"""


def test_dry_run_sends_get_and_head_only(web, lua):
    secret_url = web.url.replace("http://", "http://user:pa55@") + "/hook?token=s3cret#frag"
    p, o, _ = lua(DRY, "--dry-run", event={"url": web.url, "secret_url": secret_url})
    assert p.returncode == 0, p.stderr
    assert sorted((h["method"], h["path"]) for h in web.hits) == [("GET", "/get"),
                                                                  ("HEAD", "/head")]
    r = o["result"]
    placeholder = {"status": 200, "body": "", "headers": {}, "attempts": 0, "elapsed_ms": 0,
                   "dry_run": True}
    for name in ("post", "put", "delete", "post_json"):
        assert r[name] == placeholder, (name, r[name])
    assert r["core"] == [True]
    assert r["get"]["status"] == 200 and r["get"]["attempts"] == 1 and "dry_run" not in r["get"]
    port = web.server_address[1]
    for line in (f"dry run: not sent: POST http://127.0.0.1:{port}/hook (5 bytes)",
                 f"dry run: not sent: PUT http://127.0.0.1:{port}/put (3 bytes)",
                 f"dry run: not sent: DELETE http://127.0.0.1:{port}/delete (0 bytes)",
                 f"dry run: not sent: POST http://127.0.0.1:{port}/json (7 bytes)",
                 f"dry run: not sent: PATCH http://127.0.0.1:{port}/core (0 bytes)"):
        assert line in p.stderr, p.stderr
    assert "s3cret" not in p.stderr and "pa55" not in p.stderr and "frag" not in p.stderr


def test_without_dry_run_everything_is_sent(web, lua):
    p, o, _ = lua(DRY, event={"url": web.url, "secret_url": web.url + "/hook"})
    assert sorted(methods(web)) == ["DELETE", "GET", "HEAD", "PATCH", "POST", "POST", "PUT"]
    assert "dry run" not in p.stderr


# ---- hookhost.json ------------------------------------------------------------------------------

def test_json_empty_array_and_null(lua):
    p, o, _ = lua(r"""
return function()
  local marker_text = "\0hookhost-empty-array-"
  local v = {
    empty = json.empty_array,
    filled = json.array({1, 2}),
    emptied = json.array({}),
    plain = {},
    nested = {{deeper = {json.empty_array, "x"}}},
    ["\0hookhost-empty-array-0000000000000000\0"] = "a key that looks like the marker",
    tricky = {'"' .. marker_text .. "0000000000000000\0", marker_text, "\\", "a\\/b", "\\\"" ..
              marker_text},
  }
  math.randomseed(7) -- the next marker is known: put it in the value itself
  local hex = {}
  for i = 1, 16 do hex[i] = string.format("%x", math.random(0, 15)) end
  local next_marker = marker_text .. table.concat(hex) .. "\0"
  math.randomseed(7)
  local clash = json.decode(assert(json.encode({list = {next_marker, json.empty_array},
                                                [next_marker] = "k"})))
  clash = {clash.list[1] == next_marker, #clash.list[2] == 0, clash[next_marker] == "k"}
  local shared = json.array({})
  v.shared = {shared, shared, {shared}}
  local text = assert(json.encode(v))
  local back = json.decode(text)
  local ok_ro = pcall(function() json.empty_array[1] = 1 end)
  local nul = json.decode('{"a": null}')
  return {clash = clash, text = text, top = json.encode(json.empty_array), read_only = not ok_ro,
          null = json.is_null(nul.a), same = nul.a == json.null, truthy = nul.a and true,
          bad = select(2, json.encode({f = print})),
          raw = json.encode({a = "x/y"}), unmarked = json.encode({a = setmetatable({}, {})})}
end
""")
    r = o["result"]
    v = json.loads(r["text"])
    assert v["empty"] == [] and v["filled"] == [1, 2] and v["emptied"] == [] and v["plain"] == {}
    assert v["nested"] == [{"deeper": [[], "x"]}] and v["shared"] == [[], [], [[]]]
    marker = "\0hookhost-empty-array-"
    assert v["\0hookhost-empty-array-0000000000000000\0"] == "a key that looks like the marker"
    assert v["tricky"] == ['"' + marker + "0000000000000000\0", marker, "\\", "a\\/b",
                           '\\"' + marker]
    assert r["clash"] == [True, True, True]
    assert r["top"] == "[]" and r["read_only"] and r["null"] and r["same"] and r["truthy"]
    assert "Cannot serialise" in r["bad"] and r["unmarked"] == '{"a":{}}'


@pytest.mark.parametrize("fmt", ["JSON", "Text"])
def test_log_fields_show_slashes_unescaped(lua, fmt):
    p, o, _ = lua(r"""
return function(event, ctx)
  ctx.log.info("posted", {url = "https://hooks.example.com/a/b", raw = "a\\/b"})
end
""", env={"AWS_LAMBDA_LOG_FORMAT": fmt})
    line = next(l for l in p.stderr.splitlines() if "posted" in l)
    assert '"url":"https://hooks.example.com/a/b"' in line and "\\/" not in line.replace("\\\\/", "")
    fields = json.loads(line if fmt == "JSON" else line[line.index("{"):])
    assert fields["url"] == "https://hooks.example.com/a/b" and fields["raw"] == "a\\/b"


def test_log_fields_and_the_result_write_marked_empty_lists(lua):
    """ctx.log fields and the result, which the host encodes (in C, with cjson), write
    json.empty_array and an emptied json.array(t) as [], at any depth and shared; a
    plain {} stays {}; strings that look like the host's marker stay strings (and a value holding
    the marker itself falls back to {})."""
    p, o, _ = lua(r"""
return function(event, ctx)
  local shared = json.array({})
  ctx.log.info("listed", {ids = json.empty_array, found = json.array({}), obj = {},
                          nested = {a = {b = json.empty_array}, l = {json.empty_array, {}, json.array({1})}},
                          s1 = shared, s2 = shared, url = "a/b"})
  ctx.log.info("clash", {ids = json.empty_array, s = "\1hookhost.json.empty_array\1"})
  return {ids = json.empty_array, n = 1, obj = {}, deep = {{json.empty_array}},
          q = '"\1hookhost.json.empty_array\1"', tricky = '"[]"'}
end
""", env={"AWS_LAMBDA_LOG_FORMAT": "JSON"})
    assert p.returncode == 0, p.stderr
    lines = {l["message"]: l for l in map(json.loads, p.stderr.splitlines()) if "message" in l}
    f = lines["listed"]
    assert f["ids"] == [] and f["found"] == [] and f["obj"] == {} and f["url"] == "a/b"
    assert f["nested"] == {"a": {"b": []}, "l": [[], {}, [1]]} and f["s1"] == f["s2"] == []
    assert lines["clash"]["ids"] == {} and lines["clash"]["s"] == "\1hookhost.json.empty_array\1"
    assert o["result"] == {"ids": [], "n": 1, "obj": {}, "deep": [[[]]],
                           "q": '"\1hookhost.json.empty_array\1"', "tricky": '"[]"'}
