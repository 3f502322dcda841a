"""ECS-native blue/green lifecycle hooks, driven through the Runtime API emulator.

Amazon ECS (deployment controller ECS, strategy BLUE_GREEN) invokes a Lambda function at each
lifecycle stage it is configured for, with a payload describing the deployment, and reads the
function's *return value*: {"hookStatus": "SUCCEEDED" | "FAILED" | "IN_PROGRESS",
"callBackDelay": seconds, "hookDetails": {...}}. IN_PROGRESS makes ECS call again after
callBackDelay (30 s by default) with the returned hookDetails; anything else, or a function
error, rolls the deployment back. EcsDeployment plays ECS's side of that contract.

    with Emulators.start() as emu:
        dep = EcsDeployment(emu, time_scale=0.01)        # 30 s callBackDelay -> 0.3 s here
        result = dep.run_stage("POST_PRODUCTION_TRAFFIC_SHIFT")
        assert result.status == "SUCCEEDED" and result.calls == 1
"""
import json
import time

# The lifecycle stages ECS's API reference lists for hooks (DeploymentLifecycleHookStage). ECS
# adds stages with new deployment strategies (linear, canary): run_stage(..., new_stage=True)
# plays one it does not list yet.
STAGES = ("RECONCILE_SERVICE", "PRE_SCALE_UP", "POST_SCALE_UP", "TEST_TRAFFIC_SHIFT",
          "POST_TEST_TRAFFIC_SHIFT", "PRE_PRODUCTION_TRAFFIC_SHIFT", "PRODUCTION_TRAFFIC_SHIFT",
          "POST_PRODUCTION_TRAFFIC_SHIFT")
VALID_STATUSES = ("SUCCEEDED", "FAILED", "IN_PROGRESS")
DEFAULT_CALLBACK_DELAY = 30


class StageResult:
    """How one lifecycle stage ended, as ECS would see it."""

    def __init__(self):
        self.status = None          # SUCCEEDED, FAILED, or ROLLBACK (invalid answer or error)
        self.calls = 0
        self.answers = []           # every decoded answer (or the error outcome)
        self.payloads = []          # every payload sent
        self.reason = ""

    def __repr__(self):
        return f"StageResult({self.status}, calls={self.calls}, reason={self.reason!r})"


class EcsDeployment:
    """One ECS blue/green deployment of one service, calling its hook function through the
    Runtime API emulator. time_scale shrinks callBackDelay so tests stay fast."""

    def __init__(self, emu, *, service="arn:aws:ecs:us-east-1:123456789012:service/demo/web",
                 revision="arn:aws:ecs:us-east-1:123456789012:service-revision/demo/web/123",
                 hook_details=None, time_scale=0.01, nested=True, send_stage=True,
                 invoke_timeout=10.0):
        self.emu = emu
        self.service, self.revision = service, revision
        self.hook_details = hook_details
        self.time_scale = time_scale
        self.nested = nested            # payload fields under executionDetails (as ECS sends)
        self.send_stage = send_stage    # include lifecycleStage in the payload
        self.invoke_timeout = invoke_timeout

    def payload(self, stage, hook_details):
        details = {"serviceArn": self.service, "targetServiceRevisionArn": self.revision,
                   "testTrafficWeights": {self.revision: 100 if "TEST" in stage else 0},
                   "productionTrafficWeights": {self.revision: 100 if "POST_PRODUCTION" in stage else 0}}
        if self.send_stage:
            details["lifecycleStage"] = stage
        body = {"executionDetails": details} if self.nested else dict(details)
        if hook_details is not None:
            body["hookDetails"] = hook_details
        return body

    def run_stage(self, stage, max_calls=10, new_stage=False):
        """Invoke the hook for one stage until it answers SUCCEEDED or FAILED (or ECS would roll
        back), honouring callBackDelay and handing hookDetails back, like ECS does."""
        assert (stage not in STAGES) if new_stage else (stage in STAGES), stage
        result = StageResult()
        details = self.hook_details
        while result.calls < max_calls:
            payload = self.payload(stage, details)
            result.payloads.append(payload)
            rid = self.emu.queue_event(payload, timeout=self.invoke_timeout)
            out = self.emu.wait_outcome(rid, timeout=self.invoke_timeout + 5)
            result.calls += 1
            if out is None or out["kind"] != "response":
                result.answers.append(out)
                result.status, result.reason = "ROLLBACK", f"function error or no answer: {out}"
                return result
            try:
                answer = json.loads(out["body"])
            except ValueError:
                answer = None
            result.answers.append(answer)
            status = answer.get("hookStatus") if isinstance(answer, dict) else None
            if status not in VALID_STATUSES:
                result.status, result.reason = "ROLLBACK", f"invalid hookStatus in {out['body']!r}"
                return result
            if status != "IN_PROGRESS":
                result.status = status
                return result
            delay = answer.get("callBackDelay", DEFAULT_CALLBACK_DELAY)
            details = answer.get("hookDetails", details)
            time.sleep(max(0.0, float(delay)) * self.time_scale)
        result.status, result.reason = "ROLLBACK", f"still IN_PROGRESS after {max_calls} calls"
        return result
