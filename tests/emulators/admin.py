"""The admin HTTP JSON API and the command behind `scripts/emulators`.

Routes (JSON in, JSON out; errors are 400/404 {"error": "..."}):
    GET    /                  ports and URLs (the line the command prints)
    POST   /events            queue an invocation: {"event": <any JSON> | "body": "<raw>",
                              "timeout": 30, "request_id", "function_arn", "trace_id"}
    GET    /outcomes          invocations, init errors, first next, reports, invalidations;
                              ?request_id=ID&wait=SECONDS waits for that invocation's outcome
    POST   /distributions     {"id": "E..."}
    POST   /deployments       {"deployment_id", "application", "group", "target_id"} (all optional)
    POST   /hook-executions   {"deployment_id", "lifecycle_event", "execution_id"}
    POST   /faults            {"kind", "service", "operation", "count", "seconds", "status",
                              "code", "message"};  DELETE /faults clears them
    GET    /requests          the request log; ?service=NAME
    POST   /shutdown          stop the process (or the Emulators object)
"""

import argparse
import json
import signal
import sys
import threading
import time
from urllib.parse import parse_qs

from .core import Hub, Service, json_response


class Admin(Service):
    name = "admin"

    def __init__(self, emu):
        super().__init__(Hub())  # a private hub: admin calls stay out of the request log
        self.emu = emu
        self.shutdown_requested = threading.Event()

    def operation(self, req):
        return f"{req.method} {req.path}"

    def error(self, status, code, message):
        return json_response(status, {"error": f"{code}: {message}"})

    def handle(self, req, op):
        emu = self.emu
        q = {k: v[-1] for k, v in parse_qs(req.query).items()}
        try:
            args = json.loads(req.body) if req.body else {}
            if not isinstance(args, dict):
                raise ValueError("the body must be a JSON object")
            if op == "GET /":
                return json_response(200, emu.info())
            if op == "POST /events":
                event = args["body"] if "body" in args else args.get("event", {})
                rid = emu.queue_event(event, timeout=float(args.get("timeout", 30.0)),
                                      request_id=args.get("request_id"),
                                      function_arn=args.get("function_arn"),
                                      trace_id=args.get("trace_id"))
                return json_response(200, {"request_id": rid})
            if op == "GET /outcomes":
                if "request_id" in q and "wait" in q:
                    emu.wait_outcome(q["request_id"], min(float(q["wait"]), 300.0))
                return json_response(200, {
                    "invocations": emu.outcomes(q.get("request_id")),
                    "first_next_time": emu.first_next_time, "init_errors": emu.init_errors(),
                    "reports": emu.reports(), "report_attempts": emu.report_attempts(),
                    "invalidations": emu.invalidations(),
                    "signature_failures": emu.signature_failures})
            if op == "POST /distributions":
                emu.seed_distribution(args["id"])
                return json_response(200, {"id": args["id"]})
            if op == "POST /deployments":
                kw = {k: args[k] for k in ("application", "group", "target_id") if k in args}
                return json_response(200, {"deployment_id": emu.seed_deployment(
                    args.get("deployment_id"), **kw)})
            if op == "POST /hook-executions":
                return json_response(200, {"execution_id": emu.seed_hook_execution(
                    args["deployment_id"], args.get("lifecycle_event", "AfterAllowTraffic"),
                    args.get("execution_id"))})
            if op == "POST /faults":
                emu.inject_fault(args["kind"], args["service"], args.get("operation"),
                                 args.get("count", 1), args.get("seconds", 0.0), args.get("status"),
                                 args.get("code"), args.get("message"))
                return json_response(200, {"ok": True})
            if op == "DELETE /faults":
                emu.clear_faults()
                return json_response(200, {"ok": True})
            if op == "GET /requests":
                return json_response(200, {"requests": emu.requests(q.get("service")),
                                           "signature_failures": emu.signature_failures})
            if op == "POST /shutdown":
                self.shutdown_requested.set()
                threading.Thread(target=emu.stop, daemon=True).start()
                return json_response(200, {"status": "stopping"})
        except KeyError as e:
            return self.error(400, "MissingParameter", f"{e.args[0]} is required")
        except (ValueError, TypeError) as e:
            return self.error(400, "InvalidParameter", str(e))
        return self.error(404, "NotFound", f"no admin route {op}")


def main(argv=None):
    p = argparse.ArgumentParser(prog="scripts/emulators", description=(
        "Start the Lambda Runtime API, CloudFront and CodeDeploy emulators and an admin API on "
        "free 127.0.0.1 ports; print one JSON line with their URLs; run until SIGTERM, SIGINT, "
        "POST /shutdown or --max-seconds."))
    p.add_argument("--max-seconds", type=float, default=None, help="stop after this many seconds")
    p.add_argument("--access-key", default=None, help="default AKIDEXAMPLE")
    p.add_argument("--secret-key", default=None, help="default the AWS documentation example key")
    p.add_argument("--session-token", default=None, help="required and signed on every AWS call")
    p.add_argument("--region", default="us-east-1", help="CodeDeploy's region (CloudFront: us-east-1)")
    p.add_argument("--invalidation-seconds", type=float, default=1.0,
                   help="seconds until an invalidation is Completed")
    p.add_argument("--distribution", action="append", default=None,
                   help="a distribution id that exists (repeatable; default E2EXAMPLE123)")
    p.add_argument("--log", default=None, help="also append the request log, as JSON lines, here")
    a = p.parse_args(argv)

    from . import DEFAULT_ACCESS_KEY, DEFAULT_DISTRIBUTION, DEFAULT_SECRET_KEY, Emulators
    emu = Emulators.start(access_key=a.access_key or DEFAULT_ACCESS_KEY,
                          secret_key=a.secret_key or DEFAULT_SECRET_KEY,
                          session_token=a.session_token, region=a.region,
                          invalidation_seconds=a.invalidation_seconds,
                          distributions=a.distribution or [DEFAULT_DISTRIBUTION],
                          log_path=a.log, admin=True)
    done = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: done.set())
    admin = emu._endpoints[-1].server.service
    print(json.dumps(emu.info()), flush=True)
    end = None if a.max_seconds is None else time.monotonic() + a.max_seconds
    while not done.is_set() and not admin.shutdown_requested.is_set():
        if end is not None and time.monotonic() >= end:
            break
        done.wait(0.1)
    emu.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
