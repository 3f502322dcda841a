"""Paginators and waiters of the model-driven clients: hookhost.aws.jmespath against Python's
jmespath (botocore's) on every expression the models' waiters and paginators use, over random
answers generated from the models; client:paginate against a local server; client:wait
against the CloudFront emulator (signatures verified), and never past the hook's time."""
import http.server
import json
import random
import threading
import time

import jmespath
import pytest

from emulators import Emulators
from luarun import outcome
from test_differential import Gen, run_driver, service_model, services_by_protocol, _loader, SEED


def expressions():
    """(service, operation, expression) for every waiter acceptor argument and paginator
    token/more_results expression of every model."""
    out = set()
    for proto, names in services_by_protocol().items():
        for name in names:
            try:
                w = _loader.load_service_model(name, "waiters-2")["waiters"]
            except Exception:
                w = {}
            for x in w.values():
                for a in x["acceptors"]:
                    if "argument" in a:
                        out.add((name, x["operation"], a["argument"]))
            try:
                p = _loader.load_service_model(name, "paginators-1")["pagination"]
            except Exception:
                p = {}
            for opname, x in p.items():
                for k in ("output_token", "more_results", "result_key"):
                    v = x.get(k)
                    for e in (v if isinstance(v, list) else [v] if v else []):
                        out.add((name, opname, e))
    return sorted(out)


def norm(v):
    if isinstance(v, dict):
        return {k: norm(x) for k, x in v.items()} if v else "EMPTY"
    if isinstance(v, list):
        return [norm(x) for x in v] if v else "EMPTY"
    return v


def test_jmespath_subset_agrees_with_jmespath_on_every_model_expression(hookhost_bin, tmp_path):
    rnd = random.Random(f"{SEED}-jmespath")
    gen = Gen(rnd)
    cases, want = [], []
    exprs = expressions()
    for name, opname, expr in exprs:
        op = service_model(name).operation_model(opname)
        if op.output_shape is None:
            continue
        for _ in range(3):
            data = gen.structure(op.output_shape, 0)
            cases.append({"expression": expr, "data": data})
            try:
                want.append(norm(jmespath.search(expr, data)))
            except jmespath.exceptions.JMESPathError:
                want.append("ERROR")  # length(null): both raise
    # and the shapes of data the random answers rarely produce
    ecs = ("length(services[?!(length(deployments) == `1` && runningCount == desiredCount)]) == `0`")
    for services in ([], [{"deployments": [{}], "runningCount": 2, "desiredCount": 2}],
                     [{"deployments": [{}, {}], "runningCount": 2, "desiredCount": 2}],
                     [{"deployments": [{}], "runningCount": 1, "desiredCount": 2}]):
        cases.append({"expression": ecs, "data": {"services": services}})
        want.append(norm(jmespath.search(ecs, {"services": services})))
    got = run_driver(hookhost_bin, tmp_path, cases, "jmespath")
    bad = [(c, w, g) for c, w, g in zip(cases, want, got)
           if (norm(g["value"]) if "value" in g else "ERROR") != w]
    print(f"\njmespath: {len({e for _, _, e in exprs})} expressions, {len(cases)} cases, {len(bad)} differ")
    for c, w, g in bad[:5]:
        print(json.dumps(c)[:1500], "\n  jmespath:", json.dumps(w)[:500], "\n  hookhost:", json.dumps(g)[:500])
    assert len(exprs) > 500 and not bad


class _Pages(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        n = int(self.headers.get("Content-Length") or 0)
        req = json.loads(self.rfile.read(n) or b"{}")
        self.server.seen.append(req)
        i = int(req.get("nextToken", "0"))
        page = {"taskArns": [f"arn:task/{i}"]}
        if i + 1 < self.server.pages:
            page["nextToken"] = str(i + 1)
        body = json.dumps(page).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/x-amz-json-1.1")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *a):
        pass


@pytest.fixture
def pages_server():
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Pages)
    srv.seen, srv.pages = [], 4
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield srv
    srv.shutdown()
    srv.server_close()


ENV = {"AWS_ACCESS_KEY_ID": "AKIDEXAMPLE", "AWS_SECRET_ACCESS_KEY": "secret-for-tests-only-0000",
       "AWS_REGION": "us-east-1", "AWS_CONFIG_FILE": "/nonexistent",
       "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent"}


def run_lua(hookhost, write, body, env, *args):
    script = write("p.lua", 'local aws = require("hookhost.aws")\n' + body)
    p = hookhost("run", *args, script, env=env)
    return p, outcome(p)


def test_paginate_follows_the_models_tokens(hookhost, write, pages_server):
    env = dict(ENV, AWS_ENDPOINT_URL_ECS=f"http://127.0.0.1:{pages_server.server_address[1]}")
    body = """
return function()
  local ecs = aws.client("ecs")
  local all, n = {}, 0
  for page in ecs:paginate("list_tasks", {cluster = "c"}, {page_size = 1}) do
    n = n + 1
    for _, a in ipairs(page.taskArns) do all[#all + 1] = a end
  end
  local two = 0
  for _ in ecs:paginate("ListTasks", {cluster = "c"}, {max_pages = 2}) do two = two + 1 end
  local ok, e = pcall(function() for _ in ecs:paginate("describe_services", {}) do end end)
  return {arns = all, pages = n, two = two, nopag = tostring(e)}
end
"""
    p, out = run_lua(hookhost, write, body, env)
    assert p.returncode == 0, p.stderr
    r = out["result"]
    assert r["arns"] == [f"arn:task/{i}" for i in range(4)] and r["pages"] == 4 and r["two"] == 2
    assert "ecs DescribeServices cannot be paginated" in r["nopag"]
    seen = pages_server.seen
    assert [s.get("nextToken") for s in seen[:4]] == [None, "1", "2", "3"]
    assert all(s["maxResults"] == 1 and s["cluster"] == "c" for s in seen[:4])
    assert len(seen) == 6


def test_a_failed_page_raises_the_calls_error(hookhost, write):
    env = dict(ENV, AWS_ENDPOINT_URL_ECS="http://127.0.0.1:9", AWS_MAX_ATTEMPTS="1")
    body = """
return function()
  local ecs = aws.client("ecs")
  local ok, e = pcall(function() for _ in ecs:paginate("list_tasks", {}) do end end)
  return {ok = ok, code = type(e) == "table" and e.code or tostring(e)}
end
"""
    p, out = run_lua(hookhost, write, body, env)
    assert p.returncode == 0, p.stderr
    assert out["result"] == {"ok": False, "code": "ConnectionError"}


WAIT = """
return function()
  local cf = aws.client("cloudfront")
  local inv = assert(cf:create_invalidation{DistributionId = "E2EXAMPLE123",
      InvalidationBatch = {Paths = {Quantity = 1, Items = {"/*"}}, CallerReference = "w1"}})
  local t0 = os.time()
  local done, err = cf:wait("invalidation_completed", {DistributionId = "E2EXAMPLE123",
                                                       Id = inv.Invalidation.Id}, {delay = 0.2})
  local _, missing = cf:wait("invalidation_completed", {DistributionId = "E2EXAMPLE123", Id = "NOPE"},
                             {delay = 0.1})
  local _, never = cf:wait("InvalidationCompleted", {DistributionId = "E2EXAMPLE123",
                                                    Id = inv.Invalidation.Id}, {max_attempts = 1})
  local ok, bad = pcall(cf.wait, cf, "distribution_gone", {})
  return {status = done and done.Invalidation.Status, err = err and tostring(err),
          missing = tostring(missing), bad = tostring(bad)}
end
"""


def test_wait_polls_until_the_invalidation_completes(hookhost, write):
    emu = Emulators.start(invalidation_seconds=0.8)
    try:
        p, out = run_lua(hookhost, write, WAIT, emu.env())
        assert p.returncode == 0, p.stderr
        r = out["result"]
        assert r["status"] == "Completed", r
        gets = [q for q in emu.requests("cloudfront") if q["operation"] == "GetInvalidation"]
        assert len(gets) >= 3  # polled: InProgress at first, Completed after 0.8 s
        assert "NoSuchInvalidation" in r["missing"] and "Unexpected error encountered" in r["missing"]
        assert "no waiter distribution_gone" in r["bad"] and "invalidation_completed" in r["bad"]
        assert emu.signature_failures == 0
    finally:
        emu.stop()


def test_wait_gives_up_before_the_hooks_time_runs_out(hookhost, write):
    """The model's delay is 20 s; a 4-second hook gets the waiter's error in time to report."""
    emu = Emulators.start(invalidation_seconds=600)
    try:
        body = """
return function()
  local cf = aws.client("cloudfront")
  local inv = assert(cf:create_invalidation{DistributionId = "E2EXAMPLE123",
      InvalidationBatch = {Paths = {Quantity = 1, Items = {"/*"}}, CallerReference = "w2"}})
  local done, err = cf:wait("invalidation_completed", {DistributionId = "E2EXAMPLE123",
                                                       Id = inv.Invalidation.Id})
  return {done = done ~= nil, err = tostring(err), code = err and err.code}
end
"""
        t0 = time.monotonic()
        p, out = run_lua(hookhost, write, body, emu.env(), "--timeout", "4")
        elapsed = time.monotonic() - t0
        assert p.returncode == 0, p.stderr
        r = out["result"]
        assert r["done"] is False and r["code"] == "WaiterError"
        assert "the hook's time would run out before attempt 2" in r["err"]
        assert elapsed < 4
    finally:
        emu.stop()


def test_in_a_dry_run_paginate_gives_one_page_and_wait_returns_at_once(hookhost, write):
    body = """
return function()
  local ecs = aws.client("ecs")
  local n = 0
  for _ in ecs:paginate("list_tasks", {cluster = "c"}) do n = n + 1 end
  local cf = aws.client("cloudfront")
  local t0 = os.time()
  local w, err = cf:wait("invalidation_completed", {DistributionId = "E1", Id = "I1"})
  return {pages = n, waited = w ~= nil, err = err and tostring(err), seconds = os.time() - t0}
end
"""
    p, out = run_lua(hookhost, write, body, {"AWS_REGION": "eu-west-1"}, "--dry-run")
    assert p.returncode == 0, p.stderr
    r = out["result"]
    assert r["pages"] == 1 and r["waited"] is True and "err" not in r and r["seconds"] <= 1
    assert "dry run" in p.stderr and "ListTasks" in p.stderr
