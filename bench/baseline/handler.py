"""The baseline hook, written the way most people write it: Python 3 and boto3.

On AfterAllowTraffic, invalidate CloudFront "/*" on $DistributionId (CallerReference from the
deployment id, so a redelivered event does not create a second invalidation), then report the
hook's status to CodeDeploy. Clients are created at import time, as the Lambda docs advise.

boto3 1.26 / botocore 1.29 (Debian 12) do not read AWS_ENDPOINT_URL_<SERVICE> (that arrived in
botocore 1.31), so the endpoints are passed explicitly from the environment: None means the real
AWS endpoint.
"""
import logging
import os

import boto3

log = logging.getLogger()
log.setLevel(logging.INFO)

cloudfront = boto3.client("cloudfront", endpoint_url=os.environ.get("AWS_ENDPOINT_URL_CLOUDFRONT"))
codedeploy = boto3.client("codedeploy", endpoint_url=os.environ.get("AWS_ENDPOINT_URL_CODEDEPLOY"))


def handler(event, context):
    deployment_id = event["DeploymentId"]
    execution_id = event["LifecycleEventHookExecutionId"]
    status = "Succeeded"
    try:
        inv = cloudfront.create_invalidation(
            DistributionId=os.environ["DistributionId"],
            InvalidationBatch={"Paths": {"Quantity": 1, "Items": ["/*"]},
                               "CallerReference": "baseline-" + deployment_id})
        log.info("invalidation created: %s", inv["Invalidation"]["Id"])
    except Exception:
        log.exception("invalidation failed")
        status = "Failed"
    codedeploy.put_lifecycle_event_hook_execution_status(
        deploymentId=deployment_id, lifecycleEventHookExecutionId=execution_id, status=status)
    return {"status": status}
