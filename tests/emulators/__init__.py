"""Local emulators of the Lambda Runtime API, CloudFront, CodeDeploy, CloudWatch (DescribeAlarms),
SNS (Publish) and S3 (object calls) for hookhost's tests.

    import sys; sys.path.insert(0, "tests")      # pytest already does this for tests/*
    from emulators import Emulators
    with Emulators.start() as emu:
        dep = emu.seed_deployment(); ex = emu.seed_hook_execution(dep)
        rid = emu.queue_event({"DeploymentId": dep, "LifecycleEventHookExecutionId": ex})
        ...  # run hookhost with emu.env()
        assert emu.wait_outcome(rid)["kind"] == "response"

See README.md in this folder for the admin HTTP API and the `scripts/emulators` command.
"""

import threading

from .cloudfront import DEFAULT_DISTRIBUTION, CloudFront
from .cloudwatch import CloudWatch
from .codedeploy import CodeDeploy
from .core import FAULT_KINDS, Endpoint, Fault, Hub
from .rapi import RuntimeApi
from .s3 import S3
from .sns import Sns

__all__ = ["Emulators", "DEFAULT_ACCESS_KEY", "DEFAULT_SECRET_KEY", "DEFAULT_DISTRIBUTION",
           "FAULT_KINDS"]

DEFAULT_ACCESS_KEY = "AKIDEXAMPLE"
DEFAULT_SECRET_KEY = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"


class Emulators:
    """The services (and optionally the admin API) on their own 127.0.0.1 ports."""

    def __init__(self, *, access_key=DEFAULT_ACCESS_KEY, secret_key=DEFAULT_SECRET_KEY,
                 session_token=None, region="us-east-1", invalidation_seconds=1.0,
                 distributions=(DEFAULT_DISTRIBUTION,), log_path=None, admin=False):
        self.access_key, self.secret_key, self.session_token = access_key, secret_key, session_token
        self.region = region
        self.hub = Hub(log_path)
        keys = {access_key: secret_key}
        self.rapi = RuntimeApi(self.hub)
        self.cloudfront = CloudFront(self.hub, keys, session_token, invalidation_seconds, distributions)
        self.codedeploy = CodeDeploy(self.hub, keys, session_token, region)
        self.cloudwatch = CloudWatch(self.hub, keys, session_token, region)
        self.sns = Sns(self.hub, keys, session_token, region)
        self.s3 = S3(self.hub, keys, session_token, region)
        self._endpoints = [Endpoint(s) for s in (self.rapi, self.cloudfront, self.codedeploy,
                                                 self.cloudwatch, self.sns, self.s3)]
        (self.rapi_url, self.cloudfront_url, self.codedeploy_url, self.cloudwatch_url,
         self.sns_url, self.s3_url) = (e.url for e in self._endpoints)
        self.rapi_address = self.rapi_url[len("http://"):]  # for AWS_LAMBDA_RUNTIME_API
        self.admin_url = None
        if admin:
            from .admin import Admin
            self._endpoints.append(Endpoint(Admin(self)))
            self.admin_url = self._endpoints[-1].url

    @classmethod
    def start(cls, **options):
        """Start every server; see __init__ for the options (all keyword-only)."""
        return cls(**options)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()

    def stop(self):
        """Stop every server and wake every waiting request; idempotent."""
        if self.hub.stopping.is_set():
            return
        self.hub.stopping.set()
        stoppers = [threading.Thread(target=e.stop) for e in self._endpoints]  # in parallel:
        for t in stoppers:  # each one waits for its server loop's next poll
            t.start()
        for t in stoppers:
            t.join()
        self.hub.close()

    def env(self):
        """Environment variables that point hookhost (or botocore) at these emulators."""
        env = {"AWS_LAMBDA_RUNTIME_API": self.rapi_address,
               "AWS_ENDPOINT_URL_CLOUDFRONT": self.cloudfront_url,
               "AWS_ENDPOINT_URL_CODEDEPLOY": self.codedeploy_url,
               "AWS_ENDPOINT_URL_CLOUDWATCH": self.cloudwatch_url,
               "AWS_ENDPOINT_URL_SNS": self.sns_url,
               "AWS_ENDPOINT_URL_S3": self.s3_url,
               "AWS_REGION": self.region, "AWS_ACCESS_KEY_ID": self.access_key,
               "AWS_SECRET_ACCESS_KEY": self.secret_key}
        if self.session_token:
            env["AWS_SESSION_TOKEN"] = self.session_token
        return env

    def info(self):
        """Ports and URLs, as `scripts/emulators` prints them."""
        return {"rapi": self.rapi_address, "rapi_url": self.rapi_url,
                "cloudfront_url": self.cloudfront_url, "codedeploy_url": self.codedeploy_url,
                "cloudwatch_url": self.cloudwatch_url, "sns_url": self.sns_url,
                "s3_url": self.s3_url,
                "admin_url": self.admin_url, "region": self.region,
                "ports": {e.server.service.name: e.port for e in self._endpoints}}

    # ---- Runtime API ------------------------------------------------------------------------

    def queue_event(self, event, *, timeout=30.0, request_id=None, function_arn=None, trace_id=None):
        """Queue an invocation (dict/list as JSON, str/bytes as is); returns its request id.
        Queue the same request_id again to simulate a redelivery."""
        return self.rapi.queue_event(event, timeout, request_id, function_arn, trace_id)

    def wait_outcome(self, request_id, timeout=10.0):
        """The latest delivery's outcome {kind: response|error, body, error_type, time,
        before_deadline}, or None if none came within timeout seconds."""
        return self.rapi.wait_outcome(request_id, timeout)

    def outcomes(self, request_id=None):
        """Every delivery (request_id, deadline_ms, delivered_at, outcome...), in order."""
        return self.rapi.outcomes(request_id)

    @property
    def first_next_time(self):
        """Epoch seconds of the first GET .../invocation/next, or None."""
        return self.rapi.first_next_time

    def init_errors(self):
        with self.rapi.cond:
            return list(self.rapi.init_errors)

    # ---- CloudFront -------------------------------------------------------------------------

    def seed_distribution(self, distribution_id):
        self.cloudfront.seed_distribution(distribution_id)

    def invalidations(self, distribution_id=None):
        """Every invalidation created: Id, Status, CreateTime, CallerReference, Paths, DistributionId."""
        return self.cloudfront.invalidations(distribution_id)

    # ---- CodeDeploy -------------------------------------------------------------------------

    def seed_deployment(self, deployment_id=None, **kw):
        """A new ECS blue/green deployment; kw: application, group, target_id. Returns its id."""
        return self.codedeploy.seed_deployment(deployment_id, **kw)

    def seed_hook_execution(self, deployment_id, lifecycle_event="AfterAllowTraffic",
                            execution_id=None):
        """A hook execution waiting for its report; returns its LifecycleEventHookExecutionId."""
        return self.codedeploy.seed_hook_execution(deployment_id, lifecycle_event, execution_id)

    def reports(self, deployment_id=None):
        """Accepted PutLifecycleEventHookExecutionStatus calls: time, deployment_id,
        execution_id, status, lifecycle_event."""
        return self.codedeploy.accepted_reports(deployment_id)

    def report_attempts(self):
        """Every PutLifecycleEventHookExecutionStatus that passed the signature check, with its
        result: "accepted" or the error code."""
        return self.codedeploy.report_attempts()

    # ---- CloudWatch and SNS -----------------------------------------------------------------

    def seed_alarm(self, name, state="OK", reason=None, composite=False):
        """A CloudWatch alarm (state OK, ALARM or INSUFFICIENT_DATA); seeding again updates it."""
        self.cloudwatch.seed_alarm(name, state, reason, composite)

    def seed_topic(self, arn, exists=True):
        """Any topic ARN in the region exists unless marked here with exists=False."""
        self.sns.seed_topic(arn, exists)

    def published(self, topic_arn=None):
        """Every message published: time, TopicArn, Message, Subject, MessageAttributes,
        MessageId."""
        return self.sns.published(topic_arn)

    # ---- S3 ---------------------------------------------------------------------------------

    def seed_bucket(self, name):
        """A bucket that exists (CreateBucket makes one too)."""
        self.s3.seed_bucket(name)

    def seed_object(self, bucket, key, body, content_type="binary/octet-stream"):
        """An object (any size: not limited by the servers' 8 MiB request bodies)."""
        self.s3.seed_object(bucket, key, body, content_type)

    def objects(self, bucket):
        """{key: body bytes} of an S3 bucket."""
        return self.s3.objects(bucket)

    # ---- faults and the request log ---------------------------------------------------------

    def inject_fault(self, kind, service, operation=None, count=1, seconds=0.0, status=None,
                     code=None, message=None):
        """Fault the next `count` requests to service ("rapi", "cloudfront", "codedeploy",
        "cloudwatch", "sns", "s3"), optionally only those of one operation. kind is one of
        FAULT_KINDS. Returns the Fault, whose count says how many uses are left."""
        if service not in ("rapi", "cloudfront", "codedeploy", "cloudwatch", "sns", "s3"):
            raise ValueError(f"unknown service {service!r}")
        fault = Fault(kind, service, operation, count, seconds, status, code, message)
        self.hub.inject(fault)
        return fault  # fault.count: the uses left

    def clear_faults(self):
        self.hub.clear_faults()

    def requests(self, service=None):
        """The request log: time, service, operation, method, path, status, signature, fault."""
        return self.hub.requests(service)

    @property
    def signature_failures(self):
        return self.hub.signature_failures
