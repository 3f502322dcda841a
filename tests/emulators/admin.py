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
    POST   /alarms            {"name", "state": "OK" | "ALARM" | "INSUFFICIENT_DATA", "reason",
                              "composite": false}: seed (or update) a CloudWatch alarm
    POST   /topics            {"arn", "exists": true}: mark an SNS topic ARN missing (or existing)
    GET    /published         SNS messages published; ?topic_arn=ARN
    POST   /buckets           {"name"}: an S3 bucket that exists
    GET    /objects           ?bucket=NAME: {"objects": {key: size}} of an S3 bucket
    POST   /faults            {"kind", "service", "operation", "count", "seconds", "status",
                              "code", "message"};  DELETE /faults clears them
    GET    /requests          the request log; ?service=NAME
    POST   /shutdown          stop the process (or the Emulators object)
"""

import argparse
import json
import shlex
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
            if op == "POST /alarms":
                emu.seed_alarm(args["name"], args.get("state", "OK"), args.get("reason"),
                               bool(args.get("composite", False)))
                return json_response(200, {"name": args["name"], "state": args.get("state", "OK")})
            if op == "POST /topics":
                emu.seed_topic(args["arn"], bool(args.get("exists", True)))
                return json_response(200, {"arn": args["arn"], "exists": bool(args.get("exists", True))})
            if op == "GET /published":
                return json_response(200, {"messages": emu.published(q.get("topic_arn"))})
            if op == "POST /buckets":
                emu.seed_bucket(args["name"])
                return json_response(200, {"name": args["name"]})
            if op == "GET /objects":
                return json_response(200, {"objects": {k: len(v) for k, v in
                                                       emu.objects(q["bucket"]).items()}})
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


def shell_env(emu):
    """`export NAME=value` lines (values quoted for sh) that point a shell at the emulators: the
    endpoints, the region and the emulators' credentials, and EMULATORS_ADMIN_URL."""
    env = dict(emu.env())
    if emu.admin_url:
        env["EMULATORS_ADMIN_URL"] = emu.admin_url
    return "".join(f"export {k}={shlex.quote(v)}\n" for k, v in env.items())


def main(argv=None):
    p = argparse.ArgumentParser(prog="scripts/emulators", description=(
        "Start local emulators of the Lambda Runtime API, CloudFront, CodeDeploy, CloudWatch "
        "(DescribeAlarms), SNS (Publish) and S3 (object calls), and an admin HTTP API, on free "
        "127.0.0.1 ports; "
        "print one JSON line with their URLs (or, with --print-env, shell export lines); run "
        "until SIGTERM, SIGINT, POST /shutdown or --max-seconds. Admin routes seed "
        "distributions, deployments, hook executions, alarms (POST /alarms) and topics "
        "(POST /topics), S3 buckets (POST /buckets), and read published SNS messages "
        "(GET /published): see "
        "tests/emulators/README.md."))
    p.add_argument("--max-seconds", type=float, default=None, help="stop after this many seconds")
    p.add_argument("--access-key", default=None, help="default AKIDEXAMPLE")
    p.add_argument("--secret-key", default=None, help="default the AWS documentation example key")
    p.add_argument("--session-token", default=None, help="required and signed on every AWS call")
    p.add_argument("--region", default="us-east-1", help="the region of CodeDeploy, CloudWatch, SNS and S3 (CloudFront: us-east-1)")
    p.add_argument("--invalidation-seconds", type=float, default=1.0,
                   help="seconds until an invalidation is Completed")
    p.add_argument("--distribution", action="append", default=None,
                   help="a distribution id that exists (repeatable; default E2EXAMPLE123)")
    p.add_argument("--log", default=None, help="also append the request log, as JSON lines, here")
    p.add_argument("--alarm", action="append", default=[], metavar="NAME[=STATE]",
                   help="a CloudWatch alarm that exists, in STATE (OK, ALARM or "
                        "INSUFFICIENT_DATA; default OK); repeatable")
    p.add_argument("--print-env", action="store_true",
                   help="print `export NAME=value` lines instead of the JSON line: "
                        "AWS_ENDPOINT_URL_<SERVICE> for each service, AWS_LAMBDA_RUNTIME_API, "
                        "AWS_REGION, the emulators' credentials and EMULATORS_ADMIN_URL, to "
                        "paste into (or source in) a shell")
    a = p.parse_args(argv)
    alarms = []
    for spec in a.alarm:
        name, _, state = spec.partition("=")
        if not name or (state or "OK") not in ("OK", "ALARM", "INSUFFICIENT_DATA"):
            p.error(f"--alarm {spec}: expected NAME or NAME=OK|ALARM|INSUFFICIENT_DATA")
        alarms.append((name, state or "OK"))

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
    for name, state in alarms:
        emu.seed_alarm(name, state)
    admin = emu._endpoints[-1].server.service
    print(shell_env(emu) if a.print_env else json.dumps(emu.info()), end="" if a.print_env else "\n",
          flush=True)
    end = None if a.max_seconds is None else time.monotonic() + a.max_seconds
    while not done.is_set() and not admin.shutdown_requested.is_set():
        if end is not None and time.monotonic() >= end:
            break
        done.wait(0.1)
    emu.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
