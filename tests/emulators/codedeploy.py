"""CodeDeploy (AWS JSON 1.1, CodeDeploy_20141006): the calls a lifecycle hook makes.

Deployments (ECS blue/green, one target) and hook executions are seeded by the test or the admin
API. A hook execution accepts one status report; the next one is
LifecycleEventAlreadyCompletedException. Every accepted report is recorded with its time.
"""

import base64
import json
import re
import secrets
import string
import threading
import time
import uuid

from .core import Response, Service
from .sigv4 import Verifier

TARGET_PREFIX = "CodeDeploy_20141006."
ECS_EVENTS = ("BeforeInstall", "Install", "AfterInstall", "BeforeAllowTestTraffic",
              "AllowTestTraffic", "AfterAllowTestTraffic", "BeforeAllowTraffic", "AllowTraffic",
              "AfterAllowTraffic")
_DEPLOYMENT_RE = re.compile(r"^d-[A-Z0-9]{9}$")
_REJECTIONS = {"missing": (403, "MissingAuthenticationTokenException"),
               "incomplete": (400, "IncompleteSignatureException"),
               "unknown_key": (403, "UnrecognizedClientException"),
               "bad_token": (403, "UnrecognizedClientException"),
               "mismatch": (403, "InvalidSignatureException"),
               "expired": (403, "InvalidSignatureException")}


class _Fail(Exception):
    def __init__(self, code, message):
        super().__init__(message)
        self.code, self.message = code, message


class CodeDeploy(Service):
    name = "codedeploy"

    def __init__(self, hub, keys, session_token=None, region="us-east-1"):
        super().__init__(hub)
        self.verifier = Verifier("codedeploy", region, keys, session_token)
        self.region = region
        self.lock = threading.Lock()
        self.deployments = {}
        self.executions = {}
        self.reports = []  # accepted reports, in order
        self.attempts = []  # every PutLifecycleEventHookExecutionStatus with its result

    # ---- admin side -------------------------------------------------------------------------

    def seed_deployment(self, deployment_id=None, application="hookhost-app",
                        group="hookhost-dg", target_id="hookhost-cluster:hookhost-service"):
        deployment_id = deployment_id or "d-" + "".join(
            secrets.choice(string.ascii_uppercase + string.digits) for _ in range(9))
        if not _DEPLOYMENT_RE.match(deployment_id):
            raise ValueError(f"deployment id {deployment_id!r} is not d- and 9 letters or digits")
        with self.lock:
            self.deployments[deployment_id] = {
                "applicationName": application, "deploymentGroupName": group,
                "deploymentId": deployment_id, "status": "InProgress", "computePlatform": "ECS",
                "createTime": time.time(), "creator": "user",
                "deploymentStyle": {"deploymentType": "BLUE_GREEN",
                                    "deploymentOption": "WITH_TRAFFIC_CONTROL"},
                "target_id": target_id, "events": {e: "Pending" for e in ECS_EVENTS}}
        return deployment_id

    def seed_hook_execution(self, deployment_id, lifecycle_event="AfterAllowTraffic",
                            execution_id=None):
        """A running hook: earlier lifecycle events Succeeded, this one InProgress."""
        if lifecycle_event not in ECS_EVENTS:
            raise ValueError(f"unknown ECS lifecycle event {lifecycle_event!r}")
        execution_id = execution_id or base64.b64encode(
            json.dumps({"encryptedData": secrets.token_urlsafe(48)}).encode()).decode()
        with self.lock:
            dep = self.deployments.get(deployment_id)
            if dep is None:
                raise ValueError(f"no seeded deployment {deployment_id!r}")
            for e in ECS_EVENTS[:ECS_EVENTS.index(lifecycle_event)]:
                dep["events"][e] = "Succeeded"
            dep["events"][lifecycle_event] = "InProgress"
            self.executions[execution_id] = {"deploymentId": deployment_id,
                                             "lifecycleEventName": lifecycle_event, "status": None}
        return execution_id

    def accepted_reports(self, deployment_id=None):
        with self.lock:
            return [dict(r) for r in self.reports if deployment_id in (None, r["deployment_id"])]

    def report_attempts(self):
        with self.lock:
            return [dict(a) for a in self.attempts]

    # ---- HTTP side --------------------------------------------------------------------------

    def operation(self, req):
        target = req.headers.get("X-Amz-Target", "")
        return target[len(TARGET_PREFIX):] if target.startswith(TARGET_PREFIX) else "Unknown"

    def handle(self, req, op):
        ops = {"PutLifecycleEventHookExecutionStatus": self._put, "GetDeployment": self._get,
               "ListDeploymentTargets": self._list_targets,
               "GetDeploymentTarget": self._get_target,
               "BatchGetDeploymentTargets": self._batch_get_targets}
        if req.method != "POST" or req.path != "/" or op not in ops:
            return self.error(400, "UnknownOperationException", f"Unknown operation {op}")
        try:
            args = json.loads(req.body or b"{}")
            if not isinstance(args, dict):
                raise ValueError("not an object")
        except ValueError:
            return self.error(400, "SerializationException", "Request body is not a JSON object")
        try:
            with self.lock:
                return _ok(ops[op](args))
        except _Fail as f:
            return self.error(400, f.code, f.message)

    def _deployment(self, args):
        dep_id = args.get("deploymentId")
        if not dep_id:
            raise _Fail("DeploymentIdRequiredException", "Deployment Id is required")
        if not isinstance(dep_id, str) or not _DEPLOYMENT_RE.match(dep_id):
            raise _Fail("InvalidDeploymentIdException", f"Deployment Id {dep_id} is not valid")
        dep = self.deployments.get(dep_id)
        if dep is None:
            raise _Fail("DeploymentDoesNotExistException", f"Deployment {dep_id} does not exist")
        return dep

    def _put(self, args):
        attempt = {"time": time.time(), "deployment_id": args.get("deploymentId"),
                   "execution_id": args.get("lifecycleEventHookExecutionId"),
                   "status": args.get("status"), "result": "accepted"}
        self.attempts.append(attempt)
        try:
            dep = self._deployment(args)
            if attempt["status"] not in ("Succeeded", "Failed"):
                raise _Fail("InvalidLifecycleEventHookExecutionStatusException",
                            f"Status {attempt['status']} is not a valid status; use Succeeded or Failed")
            ex = self.executions.get(attempt["execution_id"])
            if ex is None or ex["deploymentId"] != dep["deploymentId"]:
                raise _Fail("InvalidLifecycleEventHookExecutionIdException",
                            "Lifecycle event hook execution id is not valid for this deployment")
            if ex["status"] is not None:
                raise _Fail("LifecycleEventAlreadyCompletedException",
                            f"The lifecycle event {ex['lifecycleEventName']} has already completed "
                            f"with status {ex['status']}")
        except _Fail as f:
            attempt["result"] = f.code
            raise
        ex["status"] = attempt["status"]
        dep["events"][ex["lifecycleEventName"]] = attempt["status"]
        if attempt["status"] == "Failed":
            dep["status"] = "Failed"
        elif ex["lifecycleEventName"] == ECS_EVENTS[-1]:
            dep["status"] = "Succeeded"
        self.reports.append({k: attempt[k] for k in ("time", "deployment_id", "execution_id", "status")}
                            | {"lifecycle_event": ex["lifecycleEventName"]})
        return {"lifecycleEventHookExecutionId": attempt["execution_id"]}

    def _get(self, args):
        dep = self._deployment(args)
        return {"deploymentInfo": {k: v for k, v in dep.items() if k not in ("target_id", "events")}}

    def _list_targets(self, args):
        return {"targetIds": [self._deployment(args)["target_id"]]}

    def _target(self, dep, target_id):
        if not target_id:
            raise _Fail("DeploymentTargetIdRequiredException", "A deployment target ID is required")
        if target_id != dep["target_id"]:
            raise _Fail("DeploymentTargetDoesNotExistException", f"Target {target_id} does not exist")
        statuses = list(dep["events"].values())
        status = ("Failed" if "Failed" in statuses else "InProgress" if "InProgress" in statuses
                  else "Succeeded" if set(statuses) == {"Succeeded"} else "Pending")
        cluster, _, service = target_id.partition(":")
        return {"deploymentTargetType": "ECSTarget", "ecsTarget": {
            "deploymentId": dep["deploymentId"], "targetId": target_id,
            "targetArn": f"arn:aws:ecs:{self.region}:123456789012:service/{cluster}/{service}",
            "lastUpdatedAt": time.time(), "status": status, "taskSetsInfo": [],
            "lifecycleEvents": [{"lifecycleEventName": e, "status": s}
                                for e, s in dep["events"].items()]}}

    def _get_target(self, args):
        dep = self._deployment(args)
        return {"deploymentTarget": self._target(dep, args.get("targetId"))}

    def _batch_get_targets(self, args):
        dep = self._deployment(args)
        ids = args.get("targetIds") or []
        if len(ids) > 25:
            raise _Fail("DeploymentTargetListSizeExceededException", "At most 25 target IDs")
        return {"deploymentTargets": [self._target(dep, t) for t in ids]}

    def error(self, status, code, message):
        body = json.dumps({"__type": code, "message": message}).encode()
        return Response(status, {
            "Content-Type": "application/x-amz-json-1.1", "x-amzn-RequestId": str(uuid.uuid4()),
            "X-Amzn-ErrorType": f"{code}:http://internal.amazon.com/coral/com.amazonaws.codedeploy/"},
            body)

    def rejection(self, rej):
        status, code = _REJECTIONS[rej.kind]
        return self.error(status, code, rej.message)

    def fault_response(self, fault):
        if fault.kind == "throttle":
            return self.error(400, "ThrottlingException", "Rate exceeded")
        return super().fault_response(fault)


def _ok(obj):
    return Response(200, {"Content-Type": "application/x-amz-json-1.1",
                          "x-amzn-RequestId": str(uuid.uuid4())}, json.dumps(obj).encode())
