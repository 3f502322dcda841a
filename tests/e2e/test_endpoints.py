"""hookhost's default endpoints agree with botocore's: the host and the signing region of the
services hooks call, in every partition botocore's data knows (aws, aws-cn, aws-us-gov, aws-iso,
aws-iso-b). botocore builds and signs a request for each (never sent: a before-send handler
answers it); $HOOKHOST_BUILD/tools/endpoint_resolve resolves the same pairs in one process."""
import os
import re
import subprocess

import botocore.awsrequest
import botocore.config
import botocore.session
import pytest

BUILD = os.environ.get("HOOKHOST_BUILD", "build")
TOOL = os.path.join(BUILD, "tools", "endpoint_resolve")

REGIONS = ["us-east-1", "eu-west-1", "ap-southeast-2", "il-central-1", "cn-north-1",
           "cn-northwest-1", "us-gov-west-1", "us-gov-east-1", "us-iso-east-1", "us-isob-east-1"]
# botocore service name -> (hookhost's name for it, an operation and its parameters)
SERVICES = {
    "cloudfront": ("cloudfront", "list_distributions", {}),
    "iam": ("iam", "list_users", {}),
    "route53": ("route53", "list_hosted_zones", {}),
    "codedeploy": ("codedeploy", "list_applications", {}),
    "cloudwatch": ("monitoring", "describe_alarms", {}),
    "logs": ("logs", "describe_log_groups", {}),
    "sns": ("sns", "list_topics", {}),
    "lambda": ("lambda", "list_functions", {}),
    "ecs": ("ecs", "list_clusters", {}),
    "ssm": ("ssm", "describe_parameters", {}),
    "secretsmanager": ("secretsmanager", "list_secrets", {}),
    "events": ("events", "list_rules", {}),
    "codepipeline": ("codepipeline", "list_pipelines", {}),
    "elbv2": ("elasticloadbalancing", "describe_load_balancers", {}),
}


def botocore_endpoint(session, service, region):
    client = session.create_client(service, region_name=region, aws_access_key_id="AKID",
                                   aws_secret_access_key="SECRET",
                                   config=botocore.config.Config(retries={"max_attempts": 0}))
    seen = {}

    def before_send(request, **_):
        auth = request.headers["Authorization"]
        auth = auth.decode() if isinstance(auth, bytes) else auth
        scope = re.search(r"Credential=[^/]+/\d{8}/([^/]+)/([^/]+)/aws4_request", auth)
        u = re.match(r"(https://[^/]+)", request.url)
        seen.update(url=u.group(1), region=scope.group(1), signing=scope.group(2))
        return botocore.awsrequest.AWSResponse(request.url, 200, {}, None)

    client.meta.events.register("before-send", before_send)
    _, op, params = SERVICES[service]
    try:
        getattr(client, op)(**params)
    except Exception:  # the empty answer does not parse for every protocol; the request was seen
        pass
    return seen


def test_default_endpoints_match_botocore():
    if not os.path.exists(TOOL):
        pytest.skip(f"{TOOL} is missing: build it with `make unit` (or set HOOKHOST_BUILD)")
    session = botocore.session.get_session()
    pairs = [(s, r) for s in SERVICES for r in REGIONS]
    text = "".join(f"{SERVICES[s][0]} {r}\n" for s, r in pairs)
    out = subprocess.run([TOOL], input=text, capture_output=True, text=True, timeout=60,
                         check=True).stdout.splitlines()
    assert len(out) == len(pairs)
    wrong = []
    for (service, region), line in zip(pairs, out):
        want = botocore_endpoint(session, service, region)
        assert want, (service, region)
        got = dict(zip(("url", "region", "signing"), line.split()))
        if got != want:
            wrong.append(f"{service} {region}: hookhost {line!r}, botocore {want}")
    assert not wrong, "\n".join(wrong)
