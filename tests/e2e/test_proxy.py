"""An egress proxy in the environment (http_proxy, ALL_PROXY, as corporate VPCs set them):
the Runtime API is local and never goes through it; AWS calls honour it and NO_PROXY, as the
SDKs do. The proxy here is a forward proxy on 127.0.0.1 that counts every request by target port
and forwards only to the ports it is told to (the AWS emulators); anything else gets 403."""
import http.client
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

import pytest

from runtime import OK, Runtime, assert_one_report, body

HOP_BY_HOP = {"connection", "proxy-connection", "keep-alive", "proxy-authorization", "te",
              "transfer-encoding", "upgrade"}


class CountingProxy:
    def __init__(self):
        self.lock = threading.Lock()
        self.seen = []  # (method, port)
        self.forward_ports = set()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_CONNECT(self):
                with proxy.lock:
                    proxy.seen.append(("CONNECT", self.path))
                self._answer(403, b"no tunnels here")

            def _any(self):
                u = urlsplit(self.path)
                with proxy.lock:
                    proxy.seen.append((self.command, u.port))
                length = int(self.headers.get("Content-Length") or 0)
                data = self.rfile.read(length) if length else b""
                if u.hostname != "127.0.0.1" or u.port not in proxy.forward_ports:
                    self._answer(403, b"not through this proxy")
                    return
                conn = http.client.HTTPConnection("127.0.0.1", u.port, timeout=10)
                headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
                conn.request(self.command, u.path + (f"?{u.query}" if u.query else ""),
                             body=data, headers=headers)
                r = conn.getresponse()
                payload = r.read()
                self.send_response(r.status)
                for k, v in r.getheaders():
                    if k.lower() not in HOP_BY_HOP and k.lower() != "content-length":
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
                conn.close()

            do_GET = do_POST = do_PUT = do_DELETE = _any

            def _answer(self, status, text):
                self.send_response(status)
                self.send_header("Content-Length", str(len(text)))
                self.end_headers()
                self.wfile.write(text)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()

    def ports(self):
        with self.lock:
            return [p for _, p in self.seen]

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def proxy():
    p = CountingProxy()
    yield p
    p.stop()


def port_of(url):
    return urlsplit(url).port


def start(hookhost_bin, tmp_path, proxy, extra):
    env = {"http_proxy": proxy.url, "HTTP_PROXY": proxy.url, "ALL_PROXY": proxy.url,
           "all_proxy": proxy.url, "https_proxy": proxy.url, "HTTPS_PROXY": proxy.url,
           "no_proxy": "localhost,169.254.169.254"}  # the usual value: 127.0.0.1 is not in it
    env.update(extra)
    rt = Runtime(hookhost_bin, tmp_path / "task", env=env, start=False)
    proxy.forward_ports = {port_of(rt.emu.codedeploy_url), port_of(rt.emu.cloudfront_url)}
    rt.hook("AfterAllowTraffic", OK)
    rt.start()
    return rt


def test_the_runtime_api_never_goes_through_an_egress_proxy(hookhost_bin, tmp_path, proxy):
    rt = start(hookhost_bin, tmp_path, proxy, {})
    try:
        for _ in range(2):
            ev = rt.hook_event()
            _, out = rt.invoke(ev)
            assert out["kind"] == "response", rt.log()
            assert body(out)["report"] == "accepted"
            assert_one_report(rt, ev, "Succeeded", out)
        assert rt.alive()
        ports = proxy.ports()
        assert port_of(rt.emu.rapi_url) not in ports, ports
        # AWS calls honour the proxy the environment names: the reports went through it.
        assert ports.count(port_of(rt.emu.codedeploy_url)) == 2, ports
    finally:
        rt.stop()


def test_no_proxy_sends_aws_calls_direct(hookhost_bin, tmp_path, proxy):
    rt = start(hookhost_bin, tmp_path, proxy, {"NO_PROXY": "127.0.0.1", "no_proxy": "127.0.0.1"})
    try:
        ev = rt.hook_event()
        _, out = rt.invoke(ev)
        assert out["kind"] == "response", rt.log()
        assert_one_report(rt, ev, "Succeeded", out)
        assert proxy.ports() == []
    finally:
        rt.stop()
