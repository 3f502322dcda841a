"""botocore's SigV4 signer on the request tests/tools/sigv4_bench.c signs: a CodeDeploy
PutLifecycleEventHookExecutionStatus (POST /, the same five headers and ~150-byte JSON body,
session credentials). botocore has no signing-key cache: add_auth derives the key every time.

    /usr/bin/python3 bench/sign_botocore.py [seconds]
Prints "botocore_sigv4 <signatures per second> sig/s", timed on the thread's CPU clock like
sigv4_bench (so that other load on the machine counts as little as possible).
"""
import sys
import time

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

BODY = (b'{"deploymentId":"d-ABCDEFGHI","lifecycleEventHookExecutionId":'
        b'"eyJlbmNyeXB0ZWREYXRhIjoiQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFB","status":"Succeeded"}')
HEADERS = {"Host": "codedeploy.eu-west-1.amazonaws.com",
           "Content-Type": "application/x-amz-json-1.1",
           "X-Amz-Target": "CodeDeploy_20141006.PutLifecycleEventHookExecutionStatus",
           "Content-Length": str(len(BODY)), "User-Agent": "hookhost/0.1.0"}
CREDS = Credentials("ASIAEXAMPLEEXAMPLE00", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
                    "IQoJb3JpZ2luX2VjEXAMPLETOKENEXAMPLETOKENEXAMPLETOKENEXAMPLETOKEN"
                    "EXAMPLETOKENEXAMPLETOKENEXAMPLETOKENEXAMPLETOKENEXAMPLETOKEN==")


def sign_once(signer):
    req = AWSRequest(method="POST", url="https://codedeploy.eu-west-1.amazonaws.com/",
                     data=BODY, headers=dict(HEADERS))
    signer.add_auth(req)
    return req.headers["Authorization"]


def main():
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 1.0
    signer = SigV4Auth(CREDS, "codedeploy", "eu-west-1")
    for _ in range(200):  # warm up
        sign_once(signer)
    n, t0 = 0, time.thread_time()
    while True:
        for _ in range(100):
            sign_once(signer)
        n += 100
        t = time.thread_time()
        if t - t0 >= seconds:
            break
    print(f"botocore_sigv4 {n / (t - t0):.0f} sig/s")


if __name__ == "__main__":
    main()
