"""The demo behind `make demo`; see scripts/demo."""
import argparse
import calendar
import json
import os
import pathlib
import subprocess
import sys
import time

from emulators import DEFAULT_DISTRIBUTION, Emulators

ROOT = pathlib.Path(__file__).resolve().parent.parent


def epoch(ts):
    """Epoch seconds from a float or an RFC 3339 UTC time with milliseconds."""
    if isinstance(ts, (int, float)):
        return float(ts)
    return calendar.timegm(time.strptime(ts[:19], "%Y-%m-%dT%H:%M:%S")) + float("0." + ts[20:23])


def main():
    ap = argparse.ArgumentParser(description="Run the shipped AfterAllowTraffic hook end to end "
                                             "against local emulators and print a timeline.")
    ap.add_argument("--bin", default=str(ROOT / "build" / "hookhost"), help="the hookhost binary")
    ap.add_argument("--hook", default="AfterAllowTraffic", help="the lifecycle event to run")
    ap.add_argument("--timeout", type=float, default=30.0, help="the event's Lambda timeout (s)")
    args = ap.parse_args()
    if not os.path.exists(args.bin):
        sys.exit(f"demo: {args.bin} is missing; run make first")

    emu = Emulators.start(invalidation_seconds=2.0)
    proc = None
    log_path = ROOT / "build" / "demo.log"
    try:
        print("hookhost demo: CodeDeploy shifts an ECS service blue/green and invokes its %s hook" % args.hook)
        print(f"  emulators on 127.0.0.1: Runtime API {emu.rapi_address.split(':')[1]}, "
              f"CloudFront {emu.cloudfront_url.rsplit(':', 1)[1]}, "
              f"CodeDeploy {emu.codedeploy_url.rsplit(':', 1)[1]} (every signature verified)")
        dep = emu.seed_deployment()
        ex = emu.seed_hook_execution(dep, args.hook)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "HOOKHOST_"))}
        env.update(emu.env())
        env.update({"_HANDLER": args.hook, "LAMBDA_TASK_ROOT": str(ROOT / "lua"),
                    "DistributionId": DEFAULT_DISTRIBUTION, "AWS_LAMBDA_LOG_FORMAT": "JSON",
                    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "128"})
        t0 = time.time()
        with open(log_path, "wb") as log:
            proc = subprocess.Popen([args.bin, "serve"], env=env, stdout=log, stderr=log,
                                    stdin=subprocess.DEVNULL)
        while emu.first_next_time is None and time.time() - t0 < 10:
            time.sleep(0.001)
        t_sent = time.time()
        rid = emu.queue_event({"DeploymentId": dep, "LifecycleEventHookExecutionId": ex},
                              timeout=args.timeout)
        out = emu.wait_outcome(rid, timeout=args.timeout + 5)

        def ms(t):
            return f"{(t - t0) * 1000:8.1f} ms"

        rows = [(t0, f"hookhost serve started as the bootstrap (_HANDLER={args.hook})")]
        if emu.first_next_time:
            rows.append((emu.first_next_time, "runtime ready: first GET /runtime/invocation/next (cold start)"))
        rows.append((t_sent, f"CodeDeploy invokes the hook: deployment {dep}"))
        for line in log_path.read_text(errors="replace").splitlines():
            try:
                rec = json.loads(line)
            except ValueError:
                continue
            msg = rec.get("message", "")
            if msg.startswith(("event received", "script finished", "report", "invalidation")):
                rows.append((epoch(rec["timestamp"]), f"[runtime] {msg}"))
        created = [epoch(r["time"]) for r in emu.requests("cloudfront")
                   if r.get("operation") == "CreateInvalidation" and r.get("status") == 201]
        for inv, t in zip(emu.invalidations(), created):
            paths = ", ".join(inv["Paths"])
            rows.append((t, f"[CloudFront] invalidation {inv['Id']} created on "
                            f"{inv['DistributionId']} ({paths})"))
        for rep in emu.reports(dep):
            rows.append((epoch(rep["time"]), f"[CodeDeploy] status {rep['status']} accepted for {rep['lifecycle_event']}"))
        if out:
            rows.append((epoch(out["time"]), f"[Lambda] invocation answered ({out['kind']})"))
        for t, text in sorted(rows, key=lambda r: r[0]):
            print(f"  {ms(t)}  {text}")
        reports = emu.reports(dep)
        ok = out is not None and out["kind"] == "response" and [r["status"] for r in reports] == ["Succeeded"]
        print(f"  signed requests verified: {len([r for r in emu.requests() if r['service'] != 'rapi'])}, "
              f"signature failures: {emu.signature_failures}")
        if out and out.get("body"):
            print("  outcome: " + out["body"])
        if not ok:
            print(f"demo FAILED; the runtime's log is {log_path}")
            return 1
        print(f"demo OK in {time.time() - t0:.2f} s (runtime log: {log_path})")
        return 0
    finally:
        if proc and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
        emu.stop()


if __name__ == "__main__":
    sys.exit(main())
