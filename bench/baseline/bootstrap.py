"""A minimal Lambda custom-runtime loop in Python, as the AWS Python runtime's bootstrap does it:
import the handler module named by _HANDLER ("module.function") from LAMBDA_TASK_ROOT, then
forever GET next, call the handler, POST its result to /response (or the exception to /error).
Run with /usr/bin/python3 (Debian's python3-boto3 lives there). Exits when the Runtime API goes.
"""
import http.client
import importlib
import json
import logging
import os
import sys
import time
import traceback

API = os.environ["AWS_LAMBDA_RUNTIME_API"]
BASE = "/2018-06-01/runtime"


class Context:
    def __init__(self, headers):
        self.aws_request_id = headers.get("Lambda-Runtime-Aws-Request-Id")
        self.invoked_function_arn = headers.get("Lambda-Runtime-Invoked-Function-Arn")
        self.deadline_ms = int(headers.get("Lambda-Runtime-Deadline-Ms") or 0)
        self.function_name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "baseline")

    def get_remaining_time_in_millis(self):
        return max(0, self.deadline_ms - int(time.time() * 1000))


def post(conn, path, body, headers=None):
    conn.request("POST", BASE + path, body=body,
                 headers={"Content-Type": "application/json", **(headers or {})})
    resp = conn.getresponse()
    resp.read()
    return resp.status


def main():
    # As the AWS Python runtime does: the root logger writes INFO and up to stdout (CloudWatch).
    logging.basicConfig(stream=sys.stdout, level=logging.INFO,
                        format="[%(levelname)s]\t%(asctime)s\t%(message)s")
    conn = http.client.HTTPConnection(API)  # kept alive; no timeout on next, as in Lambda
    try:
        sys.path.insert(0, os.environ.get("LAMBDA_TASK_ROOT", "."))
        module, _, func = os.environ["_HANDLER"].rpartition(".")
        handler = getattr(importlib.import_module(module), func)
    except Exception as e:
        post(conn, "/init/error", json.dumps({"errorMessage": str(e), "errorType": type(e).__name__}),
             {"Lambda-Runtime-Function-Error-Type": "Runtime.ImportModuleError"})
        return 1
    while True:
        try:
            conn.request("GET", BASE + "/invocation/next")
            resp = conn.getresponse()
            event = json.loads(resp.read())
        except (OSError, http.client.HTTPException):
            return 0  # the Runtime API is gone
        ctx = Context(resp.headers)
        os.environ["_X_AMZN_TRACE_ID"] = resp.headers.get("Lambda-Runtime-Trace-Id") or ""
        try:
            result = handler(event, ctx)
            post(conn, f"/invocation/{ctx.aws_request_id}/response", json.dumps(result))
        except Exception as e:
            body = json.dumps({"errorMessage": str(e), "errorType": type(e).__name__,
                               "stackTrace": traceback.format_exc().splitlines()})
            post(conn, f"/invocation/{ctx.aws_request_id}/error", body,
                 {"Lambda-Runtime-Function-Error-Type": "Function." + type(e).__name__})


if __name__ == "__main__":
    sys.exit(main())
