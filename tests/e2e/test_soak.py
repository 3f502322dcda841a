"""Soak: many warm hook events through one `hookhost serve`, with faults injected into CloudFront,
CodeDeploy and the Runtime API, and the runtime's own resources watched.

Each event runs a hook that creates one CloudFront invalidation (CallerReference derived from the
deployment and execution ids, so a retried call cannot create a second one) and is reported to
CodeDeploy. Every 10th event meets one fault, in turn: a 500, a 503, throttling, a dropped
connection, or a request applied but answered with a 500 (CloudFront's CreateInvalidation,
CodeDeploy's report, the Runtime API's response). At the end:
  - every hook was reported exactly once, Succeeded, and every invocation answered before its
    deadline;
  - one invalidation per hook, with that hook's CallerReference;
  - the runtime parent's RSS after warm-up grew by at most 1 MiB, and it holds no more file
    descriptors than after warm-up (/proc/<pid>/fd; sockets, the kept-alive connections that
    faults drop and retries reopen, are only held to a small bound);
  - zero signature failures.

`make test` runs SOAK_EVENTS=300 (under a minute); the full soak is SOAK_EVENTS=10000:
    SOAK_EVENTS=10000 /usr/bin/python3 -m pytest -s tests/e2e/test_soak.py -k soak
The numbers are printed and written to $HOOKHOST_BUILD/soak.json when that is set.

Also here: the happy path under valgrind memcheck (parent and forked workers, which inherit the
tool), run by `make valgrind` (HOOKHOST_VALGRIND=1) and skipped otherwise.
"""
import collections
import glob
import json
import os
import pathlib
import re
import shutil
import subprocess
import time

import pytest

from runtime import Runtime

EVENTS = int(os.environ.get("SOAK_EVENTS", "300"))
FAULT_EVERY = 10

HOOK = """
local aws = require("hookhost.aws")
return function(event, ctx)
  local ref = ctx.deployment_id .. ctx.execution_id
  local body = '<?xml version="1.0" encoding="UTF-8"?>'
    .. '<InvalidationBatch xmlns="http://cloudfront.amazonaws.com/doc/2020-05-31/">'
    .. '<Paths><Quantity>1</Quantity><Items><Path>/*</Path></Items></Paths>'
    .. '<CallerReference>' .. aws.xml_escape(ref) .. '</CallerReference></InvalidationBatch>'
  local status, doc = aws.rest_xml{service = "cloudfront", method = "POST",
    path = "/2020-05-31/distribution/E2EXAMPLE123/invalidation", body = body,
    operation = "CreateInvalidation"}
  if not status then error(doc) end
  return {id = require("hookhost.xml").text(doc, "Id")}
end
"""

PUT = "PutLifecycleEventHookExecutionStatus"
FAULTS = [
    ("http500", "cloudfront", "CreateInvalidation"),
    ("http503", "codedeploy", PUT),
    ("throttle", "cloudfront", "CreateInvalidation"),
    ("drop", "codedeploy", PUT),
    ("apply_then_fail", "codedeploy", PUT),
    ("drop", "cloudfront", "CreateInvalidation"),
    ("throttle", "codedeploy", PUT),
    ("apply_then_fail", "cloudfront", "CreateInvalidation"),
    ("http500", "rapi", "Response"),
    ("http500", "codedeploy", PUT),
]


def rss_kib(pid):
    for line in pathlib.Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def fds(pid):
    """{fd: target} of the process's open descriptors."""
    out = {}
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            out[fd] = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:  # closed meanwhile
            pass
    return out


def fd_counts(pid):
    """(descriptors that are not sockets, sockets). Sockets are the kept-alive connections to
    the Runtime API and CodeDeploy, which come and go with dropped connections and retries (at
    most a few); everything else (pipes to workers, files) must not grow at all."""
    f = fds(pid)
    sockets = sum(1 for t in f.values() if t.startswith("socket:"))
    return len(f) - sockets, sockets


def test_soak(hookhost_bin, tmp_path):
    rt = Runtime(hookhost_bin, tmp_path / "task",
                 emulator_options={"invalidation_seconds": 0.0},
                 env={"AWS_LAMBDA_LOG_LEVEL": "WARN"})
    rt.hook("AfterAllowTraffic", HOOK)
    emu = rt.emu
    pid = rt.proc.pid
    warm_at = max(50, EVENTS // 10)
    samples = []
    expected = {}
    late = []
    t0 = time.monotonic()
    try:
        for i in range(EVENTS):
            if i % FAULT_EVERY == FAULT_EVERY - 1:
                kind, service, op = FAULTS[(i // FAULT_EVERY) % len(FAULTS)]
                emu.inject_fault(kind, service, op)
            dep = emu.seed_deployment()
            ex = emu.seed_hook_execution(dep, "AfterAllowTraffic")
            expected[(dep, ex)] = i
            rid = emu.queue_event({"DeploymentId": dep, "LifecycleEventHookExecutionId": ex},
                                  timeout=15)
            out = emu.wait_outcome(rid, 30)
            assert out is not None, f"event {i}: no answer\n{rt.log()[-4000:]}"
            assert out["kind"] == "response", (i, out, rt.log()[-4000:])
            if not out["before_deadline"]:
                late.append(i)
            b = json.loads(out["body"])
            assert b["status"] == "Succeeded", (i, b)
            emu.clear_faults()  # a fault its event did not meet must not spill into the next
            if i + 1 == warm_at or (i + 1) % 100 == 0 or i + 1 == EVENTS:
                other, sockets = fd_counts(pid)
                samples.append({"events": i + 1, "rss_kib": rss_kib(pid), "fds": other,
                                "sockets": sockets, "seconds": round(time.monotonic() - t0, 1)})
        elapsed = time.monotonic() - t0
        assert rt.alive()
        warm = next(s for s in samples if s["events"] == warm_at)
        end = samples[-1]
        fd_names = fds(pid)

        reports = collections.Counter()
        statuses = set()
        for r in emu.reports():
            reports[(r["deployment_id"], r["execution_id"])] += 1
            statuses.add(r["status"])
        invs = emu.invalidations()
        refs = collections.Counter(inv["CallerReference"] for inv in invs)

        result = {"events": EVENTS, "seconds": round(elapsed, 1),
                  "events_per_second": round(EVENTS / elapsed, 1),
                  "faults_injected": EVENTS // FAULT_EVERY,
                  "rss_kib_after_warmup": warm["rss_kib"], "rss_kib_end": end["rss_kib"],
                  "rss_kib_growth": end["rss_kib"] - warm["rss_kib"],
                  "rss_kib_max": max(s["rss_kib"] for s in samples),
                  "fds_after_warmup": warm["fds"], "fds_end": end["fds"],
                  "sockets_max": max(s["sockets"] for s in samples),
                  "reports": sum(reports.values()), "invalidations": len(invs),
                  "late": len(late), "signature_failures": emu.signature_failures,
                  "samples": samples}
        print("\nsoak:", json.dumps({k: v for k, v in result.items() if k != "samples"}))
        if os.environ.get("HOOKHOST_BUILD"):
            pathlib.Path(os.environ["HOOKHOST_BUILD"], "soak.json").write_text(
                json.dumps(result, indent=1) + "\n")

        assert late == [], f"answered after the deadline: events {late[:20]}"
        assert set(reports) == set(expected), "a hook without a report, or an unknown one"
        assert all(n == 1 for n in reports.values()), [k for k, n in reports.items() if n != 1]
        assert statuses == {"Succeeded"}
        assert len(invs) == EVENTS and all(n == 1 for n in refs.values())
        assert set(refs) == {dep + ex for dep, ex in expected}
        assert emu.signature_failures == 0
        assert end["rss_kib"] - warm["rss_kib"] <= 1024, samples
        assert end["fds"] <= warm["fds"], (samples, fd_names)
        assert max(s["sockets"] for s in samples) <= 8, (samples, fd_names)
    finally:
        rt.stop()


# ---- valgrind memcheck over the happy path -------------------------------------------------------

def _valgrind_logs(folder):
    """{pid: text} of every valgrind log file (one per process: the parent and each worker)."""
    return {int(re.search(r"vg\.(\d+)\.log$", p).group(1)): pathlib.Path(p).read_text()
            for p in glob.glob(str(folder / "vg.*.log"))}


@pytest.mark.skipif(not os.environ.get("HOOKHOST_VALGRIND"),
                    reason="slow (about a minute): make valgrind runs it (HOOKHOST_VALGRIND=1)")
@pytest.mark.skipif(not shutil.which("valgrind"), reason="valgrind is not installed")
def test_valgrind_memcheck_happy_path(hookhost_bin, tmp_path):
    """`hookhost serve` under memcheck: three hook events (an invalidation and a report each), a
    failing script and a script that crashes its Lua state's memory cap, then SIGTERM. A forked
    worker keeps running under the tool (fork does not leave valgrind), so every process writes
    its own log (--log-file=vg.%p.log); --trace-children=no only concerns exec, which hookhost
    does only for credential_process. Leaks are not counted as errors (--errors-for-leak-kinds=
    none), so that a worker's exit status stays its own; they are read from each log instead.
    No errors, nothing definitely or indirectly lost, in any process."""
    logs = tmp_path / "vg"
    logs.mkdir()
    rt = Runtime(hookhost_bin, tmp_path / "task", start=False,
                 emulator_options={"invalidation_seconds": 0.0},
                 env={"HOOKHOST_MEMORY_MB": "16"})
    rt.hook("AfterAllowTraffic", HOOK)
    log = open(rt.log_path, "ab")
    rt.proc = subprocess.Popen(
        ["valgrind", "--tool=memcheck", "--leak-check=full", "--error-exitcode=99",
         "--show-leak-kinds=definite,indirect", "--errors-for-leak-kinds=none",
         "--trace-children=no", "--child-silent-after-fork=no", "--track-origins=no",
         "--num-callers=30", f"--log-file={logs}/vg.%p.log", hookhost_bin, "serve"],
        env=rt.env, stdout=log, stderr=log, stdin=subprocess.DEVNULL)
    log.close()
    try:
        for _ in range(3):
            ev = rt.hook_event()
            _, out = rt.invoke(ev, timeout=30, wait=90)
            assert json.loads(out["body"])["status"] == "Succeeded", (out, rt.log()[-3000:])
            assert [r["status"] for r in rt.reports(ev)] == ["Succeeded"]
        rt.hook("AfterAllowTraffic", "return function() error('boom') end\n")
        _, out = rt.invoke(rt.hook_event(), timeout=30, wait=90)
        assert json.loads(out["body"])["status"] == "Failed"
        rt.hook("AfterAllowTraffic",
                "return function() local t = {} for i = 1, 1e8 do t[i] = ('x'):rep(64) .. i end end\n")
        _, out = rt.invoke(rt.hook_event(), timeout=60, wait=120)
        assert json.loads(out["body"])["reason"] in ("memory", "timeout")
        rt.proc.terminate()
        rc = rt.proc.wait(60)
    finally:
        rt.stop()
    found = _valgrind_logs(logs)
    # the parent and at least one worker (workers may be persistent: one for many events)
    assert len(found) >= 2, f"expected the parent's and the workers' logs, got {sorted(found)}"
    parent = min(found)
    assert "ERROR SUMMARY" in found[parent], found[parent][-3000:]
    bad = {}
    for pid, text in found.items():
        # a worker stopped with SIGKILL writes no summary: its errors still appear one by one
        errors = re.findall(r"ERROR SUMMARY: (\d+) errors", text)
        definite = re.findall(r"definitely lost: ([\d,]+) bytes", text)
        indirect = re.findall(r"indirectly lost: ([\d,]+) bytes", text)
        reported = re.search(r"Invalid (read|write|free)|uninitialised|Mismatched free|"
                             r"Syscall param|Source and destination overlap", text)
        if (reported or (errors and errors[-1] != "0")
                or any(v != "0" for v in definite + indirect)):
            bad[pid] = text[-6000:]
    summary = {pid: re.findall(r"(ERROR SUMMARY: .*|definitely lost: .*|in use at exit: .*)", t)
               for pid, t in found.items()}
    print("\nvalgrind:", json.dumps(summary, indent=1))
    assert not bad, "\n\n".join(f"pid {p}:\n{t}" for p, t in bad.items())
    assert rc != 99, "valgrind reported errors in the parent"
    print("processes:", len(found), "with a summary:",
          sum("ERROR SUMMARY" in t for t in found.values()))
