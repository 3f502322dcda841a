"""A hookhost runtime under test: the emulators, a function package in a temp folder, and
`hookhost serve` as the Lambda bootstrap, with helpers to send events and read what happened."""
import json
import os
import pathlib
import signal
import subprocess
import time

import luarun
from emulators import Emulators

# A hook that succeeds, for the event after a fault ("the runtime still serves").
OK = "return function(event, ctx) return {hook = ctx.hook} end\n"


def body(out):
    """The JSON body of a Runtime API outcome."""
    return json.loads(out["body"])


outcome = luarun.outcome  # the outcome line `hookhost run` prints last on stdout


def assert_one_report(rt, event, status, out):
    """Exactly one accepted report with this status, the answer before the deadline, and no
    signature failure."""
    reps = rt.reports(event)
    assert [r["status"] for r in reps] == [status], f"reports {reps}\nlog:\n{rt.log()}"
    assert out["before_deadline"], out
    assert rt.emu.signature_failures == 0


def assert_still_serving(rt):
    """The runtime answers the next event normally."""
    rt.hook("AfterAllowTraffic", OK)
    ev = rt.hook_event()
    _, out = rt.invoke(ev)
    assert out["kind"] == "response", out
    assert_one_report(rt, ev, "Succeeded", out)


class Runtime:
    def __init__(self, hookhost_bin, task_root, *, handler="AfterAllowTraffic", env=None,
                 emulator_options=None, start=True):
        self.bin = hookhost_bin
        self.task_root = pathlib.Path(task_root)
        (self.task_root / "hooks").mkdir(parents=True, exist_ok=True)
        self.emu = Emulators.start(**(emulator_options or {}))
        self.env = {k: v for k, v in os.environ.items()
                    if not k.startswith(("AWS_", "HOOKHOST_", "_HANDLER", "LAMBDA_"))}
        self.env.update(self.emu.env())
        self.env.update({"_HANDLER": handler, "LAMBDA_TASK_ROOT": str(self.task_root),
                         "AWS_LAMBDA_LOG_FORMAT": "JSON", "AWS_LAMBDA_LOG_LEVEL": "DEBUG"})
        self.env.update(env or {})
        self.log_path = self.task_root / "runtime.log"
        self.proc = None
        if start:
            self.start()

    def hook(self, name, text):
        p = self.task_root / "hooks" / f"{name}.lua"
        p.write_text(text)
        return p

    def start(self, argv0=None):
        log = open(self.log_path, "ab")
        args = [self.bin, "serve"] if argv0 is None else [argv0]
        self.proc = subprocess.Popen(args, env=self.env, stdout=log, stderr=log,
                                     stdin=subprocess.DEVNULL)
        log.close()

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.emu.stop()

    # ---- events ----
    def hook_event(self, lifecycle_event="AfterAllowTraffic"):
        dep = self.emu.seed_deployment()
        ex = self.emu.seed_hook_execution(dep, lifecycle_event)
        return {"DeploymentId": dep, "LifecycleEventHookExecutionId": ex}

    def invoke(self, event, timeout=10.0, request_id=None, wait=None):
        """Queue an event and wait for its outcome (kind, body, error_type, before_deadline)."""
        before = len(self.answered(request_id)) if request_id else 0
        rid = self.emu.queue_event(event, timeout=timeout, request_id=request_id)
        end = time.time() + (wait or timeout + 5)
        while time.time() < end:
            done = self.answered(rid)
            if len(done) > before:
                return rid, done[-1]["outcome"]
            time.sleep(0.01)
        raise AssertionError(f"no answer to {rid}; log:\n{self.log()}")

    def answered(self, request_id):
        """The deliveries of request_id that have an outcome, in order."""
        return [o for o in self.emu.outcomes(request_id) if o.get("outcome")]

    def reports(self, event):
        return [r for r in self.emu.reports(event["DeploymentId"])
                if r["execution_id"] == event["LifecycleEventHookExecutionId"]]

    def log(self):
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def log_lines(self):
        lines = []
        for l in self.log().splitlines():
            try:
                lines.append(json.loads(l))
            except ValueError:
                lines.append({"message": l})
        return lines

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def wait_exit(self, timeout=10):
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None
