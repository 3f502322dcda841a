"""Container credentials over https (AWS_CONTAINER_CREDENTIALS_FULL_URI) are verified against
AWS_CA_BUNDLE or SSL_CERT_FILE, like every other https call (the lean libcurl has no CA of its
own), and a transient failure of the credentials endpoint
is tried again within the call's deadline. The endpoint here is an https server on 127.0.0.1
with a certificate made for the test; its first answer is a 503."""
import json
import os
import ssl
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from emulators import Emulators
from runtime import outcome

TOKEN = "TOKENVALUE-container"


@pytest.fixture
def emu():
    e = Emulators.start(session_token=TOKEN)
    try:
        yield e
    finally:
        e.stop()


@pytest.fixture
def creds_server(tmp_path, emu):
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-nodes", "-keyout", str(key), "-out", str(cert),
                    "-days", "1", "-subj", "/CN=hookhost test",
                    "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, capture_output=True)
    hits = []
    creds = json.dumps({"AccessKeyId": emu.access_key, "SecretAccessKey": emu.secret_key,
                        "Token": TOKEN, "Expiration": "2099-01-01T00:00:00Z"}).encode()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *a):
            pass

        def do_GET(self):
            hits.append(self.path)
            status, data = (503, b"{}") if len(hits) == 1 else (200, creds)
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.daemon_threads = True
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(str(cert), str(key))
    srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    threading.Thread(target=srv.serve_forever, args=(0.05,), daemon=True).start()
    yield f"https://127.0.0.1:{srv.server_address[1]}/creds", str(cert), hits
    srv.shutdown()
    srv.server_close()


@pytest.mark.parametrize("ca_var", ["AWS_CA_BUNDLE", "SSL_CERT_FILE"])
def test_https_container_credentials_use_the_ca_bundle_and_retry(hookhost, write, emu,
                                                                  creds_server, tmp_path, ca_var):
    url, cert, hits = creds_server
    dep = emu.seed_deployment()
    ex = emu.seed_hook_execution(dep, "AfterAllowTraffic")
    script = write("AfterAllowTraffic.lua", "return function() end\n")
    ev = write("event.json", json.dumps({"DeploymentId": dep,
                                         "LifecycleEventHookExecutionId": ex}))
    env = {k: v for k, v in emu.env().items()
           if k not in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")}
    env.pop("AWS_CA_BUNDLE", None)
    env.update({"AWS_CONTAINER_CREDENTIALS_FULL_URI": url, ca_var: cert,
                "HOME": str(tmp_path / "home")})
    p = hookhost("run", "--event", ev, script, env=env)
    o = outcome(p)
    assert p.returncode == 0 and o["report"] == "accepted", p.stderr
    assert [r["status"] for r in emu.reports(dep)] == ["Succeeded"]
    assert hits == ["/creds", "/creds"]  # the 503, then the credentials
    assert emu.signature_failures == 0
    assert emu.secret_key not in p.stderr and TOKEN not in p.stderr
