"""One cjson everywhere: every build links Debian 12's lua-cjson 2.1.0 (lua-cjson-dev's static
liblua5.4-cjson.a), the Makefile's and deploy/Dockerfile's alike, so scripts see the same
encoder (no cjson.empty_array: hookhost.json provides the empty list)."""
import pathlib
import re

from runtime import outcome

ROOT = pathlib.Path(__file__).resolve().parents[2]


def test_the_binary_has_debians_cjson(hookhost, write):
    script = write("v.lua", """
local cjson = require("cjson")
return function()
  return {version = cjson._VERSION, empty_array = cjson.empty_array ~= nil,
          empty = cjson.encode({}), json_empty = require("hookhost.json").encode({})}
end
""")
    r = outcome(hookhost("run", script))["result"]
    assert r == {"version": "2.1.0", "empty_array": False, "empty": "{}", "json_empty": "{}"}


def test_every_build_links_the_same_cjson_archive():
    make = (ROOT / "Makefile").read_text()
    docker = (ROOT / "deploy" / "Dockerfile").read_text()
    # every link line of the Makefile (lean and LINK=dynamic) takes Debian's static archive
    links = re.findall(r"^\s*LDLIBS\s*\+=.*$", make, re.M)
    assert links and all("/liblua5.4-cjson.a" in l for l in links)
    # the Dockerfile builds with that Makefile, on Debian 12, and links nothing of its own
    assert re.search(r"^ARG BASE=debian:(bookworm|12)$", docker, re.M)
    assert re.search(r"^RUN make dist\b", docker, re.M)
    assert "LDLIBS" not in docker
    # nothing else builds or fetches a cjson (openresty's fork behaves differently)
    code = "\n".join(l for l in docker.splitlines() if not l.lstrip().startswith("#"))
    assert not re.search(r"openresty|lua_cjson\.c|github\.com", code, re.I)
