"""The Lambda packages of `make dist`: layout (a lean bootstrap, no lib/), glibc 2.34
compatibility, and proof that they run in a root filesystem that has none of hookhost's libraries
(Debian minbase under chroot), both as a self-contained function (/var/task) and as a layer (/opt)
with a scripts-only function, and in a root that holds nothing but glibc's loader, libc, libm and
libresolv (and a CA bundle).

The chroot cases run `bootstrap run SCRIPT` (the local runner) and `bootstrap` as Lambda starts
it, serving events from the Runtime API emulator with CodeDeploy's signature check. A probe hook
reads /proc/self/maps to show which shared objects the process really loaded.
"""
import http.server
import json
import pathlib
import re
import shutil
import ssl
import subprocess
import threading
import zipfile

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
GLIBC_MAX = (2, 34)  # provided.al2023

# Shared objects built from glibc: the Lambda image provides them, the packages must not.
GLIBC_SONAME = re.compile(r"^(libc|libm|libmvec|libpthread|libdl|librt|libresolv|libanl|libutil|"
                          r"libBrokenLocale|libthread_db|libc_malloc_debug|libnss_[a-z0-9]+|"
                          r"ld-linux[-a-z0-9_]*)\.so(\.[0-9]+)*$")
# hookhost's libraries as shared objects: the bare root must not have them (and the lean
# bootstrap links them in, so it never loads them: STATIC).
ESSENTIAL = ("libcurl.so.4", "libssl.so.3", "libcrypto.so.3", "libexpat.so.1")
STATIC = re.compile(r"^lib(curl|ssl|crypto|expat|lua)")

# A hook that prints the shared objects mapped into its process, package.path, and that
# requires a module planted in the package's Lua library folder.
PROBE = r"""
local probe = require("hookhost._distprobe")
return function(event, ctx)
  local f = assert(io.open("/proc/self/maps", "r"))
  local seen, list = {}, {}
  for line in f:lines() do
    local p = line:match("%s(/%S+)$")
    if p and p:match("%.so[.%d]*$") and not seen[p] then seen[p] = true; list[#list + 1] = p end
  end
  f:close()
  table.sort(list)
  print("MAPS " .. table.concat(list, ","))
  print("PATH " .. package.path)
  print("PROBE " .. probe.word)
end
"""
PROBE_MODULE = 'return { word = "found" }\n'


# ---------------------------------------------------------------- helpers

def unzip_all(zip_path, dest):
    with zipfile.ZipFile(zip_path) as z:
        z.extractall(dest)
        for info in z.infolist():
            mode = (info.external_attr >> 16) & 0o7777
            if mode and not info.is_dir():
                (pathlib.Path(dest) / info.filename).chmod(mode)
    return pathlib.Path(dest)


def is_elf(path):
    with open(path, "rb") as f:
        return f.read(4) == b"\x7fELF"


def elf_files(folder):
    return sorted(p for p in pathlib.Path(folder).rglob("*") if p.is_file() and is_elf(p))


def version_tuple(v):
    return tuple(int(x) for x in v.split("."))


def glibc_requirements(path):
    """{version: [symbols]} of the GLIBC_ versions a file requires.

    The versions come from the version-needs section (`readelf -V`), which is what the dynamic
    loader checks at load time; the symbols using each come from `objdump -T`."""
    out = subprocess.run(["readelf", "-V", "--wide", str(path)], capture_output=True, text=True, check=True).stdout
    needs = {}
    section = out.split(".gnu.version_r", 1)[1] if ".gnu.version_r" in out else ""
    for m in re.finditer(r"Name:\s*GLIBC_([0-9.]+)\s", section):
        needs.setdefault(m.group(1), [])
    dyn = subprocess.run(["objdump", "-T", str(path)], capture_output=True, text=True, check=True).stdout
    for line in dyn.splitlines():
        if "*UND*" not in line:
            continue
        m = re.search(r"\(?GLIBC_([0-9.]+)\)?\s+(\S+)$", line)
        if m:
            needs.setdefault(m.group(1), []).append(m.group(2))
    return needs


def dynamic_section(path):
    """(needed sonames, DT_RPATH or None, DT_RUNPATH or None) from `readelf -d`."""
    out = subprocess.run(["readelf", "-d", "--wide", str(path)], capture_output=True, text=True, check=True).stdout
    needed = re.findall(r"\(NEEDED\)\s+Shared library: \[([^]]+)\]", out)
    rpath = re.search(r"\(RPATH\)\s+Library rpath: \[([^]]*)\]", out)
    runpath = re.search(r"\(RUNPATH\)\s+Library runpath: \[([^]]*)\]", out)
    return needed, rpath and rpath.group(1), runpath and runpath.group(1)


def run_lines(text, prefix):
    """The text after `prefix` on the log lines a hook printed (print goes to the log)."""
    found = []
    for line in text.splitlines():
        i = line.find(prefix + " ")
        if i >= 0:
            found.append(line[i + len(prefix) + 1:].strip())
    return found


def check_maps(maps_line):
    """Every mapped shared object is glibc's: libcurl, OpenSSL, expat and Lua are linked in."""
    libs = maps_line.split(",")
    foreign = [p for p in libs if not GLIBC_SONAME.match(p.rsplit("/", 1)[1])]
    assert not foreign, f"shared objects that are not glibc's were loaded: {foreign}"
    assert not [p for p in libs if STATIC.match(p.rsplit("/", 1)[1])], libs
    assert any(p.rsplit("/", 1)[1] == "libc.so.6" for p in libs), libs
    return libs


def outcome_of(stdout):
    lines = [ln for ln in stdout.splitlines() if ln.startswith("{")]
    assert lines, f"no outcome line on stdout: {stdout!r}"
    return json.loads(lines[-1])


# ---------------------------------------------------------------- the zips

def test_package_layout(dist):
    fn = zipfile.ZipFile(dist / "function.zip")
    layer = zipfile.ZipFile(dist / "layer.zip")
    hooks_only = zipfile.ZipFile(dist / "hooks-only.zip")

    names = fn.namelist()
    assert "bootstrap" in names and "hooks/" in names and "hookhost/" in names
    assert (fn.getinfo("bootstrap").external_attr >> 16) & 0o777 == 0o755
    # The lean bootstrap needs no library of its own: no lib/ folder, no shared object at all.
    assert not [n for n in names if n.startswith("lib/") or ".so" in n], names
    # The package root mirrors lua/: every shipped hook and library file, and the models of the
    # services hooks call most (scripts/package's HOOK_MODELS) in hookhost/models/ (the layer:
    # lua/hookhost/models/), nothing else.
    hook_models = re.search(r'HOOK_MODELS="([^"]*)"', (ROOT / "scripts" / "package").read_text())
    services = hook_models.group(1).split()
    assert len(services) == 19 and "ecs" in services and "ssm" in services
    models = sorted(f"hookhost/models/{p.relative_to(ROOT / 'build' / 'models')}"
                    for svc in services for p in (ROOT / "build" / "models" / svc).rglob("*")
                    if p.is_file())
    assert "hookhost/models/ecs/service-2.json" in models
    assert not [n for n in names if n.startswith("hookhost/models/glue/")], "only the hook set"
    for sub in ("hooks", "hookhost"):
        want = sorted(f"{sub}/{p.relative_to(ROOT / 'lua' / sub)}" for p in (ROOT / "lua" / sub).rglob("*")
                      if p.is_file() and not p.name.startswith("."))
        if sub == "hookhost":
            want = sorted(want + models)
        assert sorted(n for n in names if n.startswith(sub + "/") and not n.endswith("/")) == want
    assert {"lua/" + m for m in models} <= set(layer.namelist())

    lnames = layer.namelist()
    assert "bootstrap" in lnames and "lua/hookhost/" in lnames
    assert not any(n.startswith("hooks/") for n in lnames), "the layer is the runtime alone"
    assert not [n for n in lnames if n.startswith("lib/") or ".so" in n], lnames
    assert layer.read("bootstrap") == fn.read("bootstrap")
    assert all(n.startswith("hooks/") for n in hooks_only.namelist())

    # Reproducible: sorted entries, one fixed time stamp, no extra fields (zip -X).
    for z in (fn, layer, hooks_only):
        assert z.namelist() == sorted(z.namelist())
        for info in z.infolist():
            assert info.date_time == (1980, 1, 1, 0, 0, 0), info.filename
            assert info.extra == b"", info.filename


def test_the_library_modules_models_are_carried_whatever_the_models_list(dist, tmp_path):
    """The library modules built on clients (hookhost.sns, .cloudfront, ...: every
    aws.client("x") in lua/hookhost/*.lua) find their model in a package made with a short
    --models list that does not name them."""
    used = set()
    for f in (ROOT / "lua" / "hookhost").glob("*.lua"):
        code = [x for x in f.read_text().splitlines() if not x.lstrip().startswith("--")]
        used |= set(re.findall(r'aws\.client\("([a-z0-9-]+)"', "\n".join(code)))
    assert {"sns", "cloudfront"} <= used, used
    out = tmp_path / "out"
    r = subprocess.run([str(ROOT / "scripts" / "package"), "--bin", str(ROOT / "build" / "hookhost"),
                        "--models", "sts", "--out", str(out)],
                       cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    fn = zipfile.ZipFile(out / "function.zip").namelist()
    layer = zipfile.ZipFile(out / "layer.zip").namelist()
    carried = {n.split("/")[2] for n in fn if n.startswith("hookhost/models/") and n.count("/") >= 3}
    assert carried == used | {"sts"}, carried
    for svc in used:
        assert f"hookhost/models/{svc}/service-2.json" in fn
        assert f"lua/hookhost/models/{svc}/service-2.json" in layer


def test_no_shipped_elf_needs_glibc_newer_than_2_34(dist, tmp_path):
    offenders = []
    checked = 0
    for name in ("function.zip", "layer.zip"):
        folder = unzip_all(dist / name, tmp_path / name)
        for path in elf_files(folder):
            checked += 1
            for version, symbols in sorted(glibc_requirements(path).items()):
                if version_tuple(version) > GLIBC_MAX:
                    offenders.append(f"{name}:{path.relative_to(folder)} needs GLIBC_{version}"
                                     f" ({', '.join(sorted(set(symbols))) or 'no symbol named'})")
    assert checked == 2, "one ELF file per package: the bootstrap"
    assert not offenders, "glibc newer than 2.34 (provided.al2023) needed by:\n" + "\n".join(offenders)


def test_bootstrap_needs_nothing_but_glibc(dist, tmp_path):
    """The bootstrap's NEEDED entries are glibc's own libraries (libc, libm, ...), it has no run
    path (nothing to find beside it), and it is an x86-64 program for Lambda's loader."""
    folder = unzip_all(dist / "function.zip", tmp_path / "fn")
    needed, rpath, runpath = dynamic_section(folder / "bootstrap")
    assert needed and all(GLIBC_SONAME.match(n) for n in needed), needed
    assert "libc.so.6" in needed
    assert rpath is None and runpath is None, (rpath, runpath)
    head = subprocess.run(["readelf", "-h", "-l", str(folder / "bootstrap")], capture_output=True, text=True,
                          check=True).stdout
    assert "Advanced Micro Devices X86-64" in head
    assert "[Requesting program interpreter: /lib64/ld-linux-x86-64.so.2]" in head


# ---------------------------------------------------------------- in a bare root

def runner(box, folder):
    """The packaged binary under another name than `bootstrap`, for its subcommands.

    Named `bootstrap` it always serves the Runtime API, whatever its arguments (src/main.c), so
    the tests reach `run` and `check` through a symlink beside it: the same file, the same
    /proc/self/exe and $ORIGIN, so the same libraries and Lua folder."""
    link = box.path(f"{folder}/hookhost-cli")  # not `hookhost`: that is the Lua library folder
    link.symlink_to("bootstrap")
    return f"{folder}/hookhost-cli"


def plant_probe(box, task_hooks, lib_folder):
    box.write(f"{task_hooks}/DistProbe.lua", PROBE)
    box.write(f"{lib_folder}/hookhost/_distprobe.lua", PROBE_MODULE)


def assert_bare_root(box):
    libdir = box.path("/usr/lib/x86_64-linux-gnu")
    present = [e for e in ESSENTIAL if (libdir / e).exists()]
    assert not present, f"the test root must not have hookhost's libraries, but has {present}"


def test_function_package_runs_in_a_bare_root(dist, sandbox):
    box = sandbox
    assert_bare_root(box)
    box.unzip(dist / "function.zip", "/var/task")
    plant_probe(box, "/var/task/hooks", "/var/task")
    exe = runner(box, "/var/task")

    r = box.run([exe, "--version"])
    assert r.returncode == 0 and r.stdout.startswith("hookhost "), r.stdout + r.stderr

    r = box.run([exe, "run", "--dry-run", "/var/task/hooks/DistProbe.lua"])
    assert r.returncode == 0, f"exit {r.returncode}\nstdout: {r.stdout}\nstderr: {r.stderr}"
    assert outcome_of(r.stdout)["status"] == "Succeeded"
    check_maps(run_lines(r.stderr, "MAPS")[0])
    assert "/var/task/?.lua" in run_lines(r.stderr, "PATH")[0]
    assert run_lines(r.stderr, "PROBE") == ["found"]

    # The failure path of the packaged binary: a raising hook fails with exit 1.
    box.write("/var/task/hooks/Boom.lua", 'return function() error("boom") end\n')
    r = box.run([exe, "run", "--dry-run", "/var/task/hooks/Boom.lua"])
    assert r.returncode == 1 and outcome_of(r.stdout)["status"] == "Failed", r.stdout + r.stderr

    # Every shipped hook compiles with the packaged binary.
    shipped = sorted(p.name for p in box.path("/var/task/hooks").glob("*.lua")
                     if p.name not in ("DistProbe.lua", "Boom.lua"))
    if shipped:
        r = box.run([exe, "check", *[f"/var/task/hooks/{n}" for n in shipped]])
        assert r.returncode == 0, r.stdout + r.stderr


def test_every_shipped_library_module_loads_in_the_bare_root(dist, sandbox):
    modules = sorted(".".join(p.relative_to(ROOT / "lua").with_suffix("").parts)
                     for p in (ROOT / "lua" / "hookhost").rglob("*.lua"))
    if not modules:
        pytest.skip("lua/hookhost has no Lua modules yet")
    box = sandbox
    box.unzip(dist / "function.zip", "/var/task")
    lines = "\n".join(f'  require("{m}")' for m in modules)
    box.write("/var/task/hooks/Requires.lua", f"return function()\n{lines}\nend\n")
    r = box.run([runner(box, "/var/task"), "run", "--dry-run", "/var/task/hooks/Requires.lua"])
    assert r.returncode == 0, f"requiring {modules}:\n{r.stdout}\n{r.stderr}"


def test_layer_with_a_scripts_only_function_runs_in_a_bare_root(dist, sandbox):
    box = sandbox
    assert_bare_root(box)
    box.unzip(dist / "layer.zip", "/opt")
    box.unzip(dist / "hooks-only.zip", "/var/task")
    assert not box.path("/var/task/bootstrap").exists() and not box.path("/var/task/lib").exists()
    plant_probe(box, "/var/task/hooks", "/opt/lua")

    r = box.run([runner(box, "/opt"), "run", "--dry-run", "/var/task/hooks/DistProbe.lua"])
    assert r.returncode == 0, f"exit {r.returncode}\nstdout: {r.stdout}\nstderr: {r.stderr}"
    assert outcome_of(r.stdout)["status"] == "Succeeded"
    check_maps(run_lines(r.stderr, "MAPS")[0])
    assert "/opt/lua/?.lua" in run_lines(r.stderr, "PATH")[0]
    assert run_lines(r.stderr, "PROBE") == ["found"]


@pytest.mark.parametrize("layout", ["function", "layer"])
def test_bootstrap_serves_hook_events_in_a_bare_root(dist, sandbox, hookhost_bin, layout):
    """Lambda's start: `bootstrap` with no arguments serves the Runtime API; the hook's report
    reaches the CodeDeploy emulator, which verifies its SigV4 signature."""
    from emulators import Emulators

    box = sandbox
    if layout == "function":
        box.unzip(dist / "function.zip", "/var/task")
        plant_probe(box, "/var/task/hooks", "/var/task")
        bootstrap = "/var/task/bootstrap"
    else:
        box.unzip(dist / "layer.zip", "/opt")
        box.unzip(dist / "hooks-only.zip", "/var/task")
        plant_probe(box, "/var/task/hooks", "/opt/lua")
        bootstrap = "/opt/bootstrap"

    log_path = box.workdir / "serve.log"
    with Emulators.start() as emu:
        dep = emu.seed_deployment()
        ex = emu.seed_hook_execution(dep, "AfterAllowTraffic")
        env = box.env(**emu.env(), _HANDLER="DistProbe", AWS_LAMBDA_LOG_FORMAT="Text",
                      AWS_LAMBDA_FUNCTION_MEMORY_SIZE="256")
        with open(log_path, "wb") as log:
            proc = box.popen([bootstrap], env=env, stdout=log, stderr=log, stdin=subprocess.DEVNULL)
        try:
            rid = emu.queue_event({"DeploymentId": dep, "LifecycleEventHookExecutionId": ex}, timeout=20)
            outcome = emu.wait_outcome(rid, timeout=30)
            log_text = log_path.read_text(errors="replace")
            assert outcome is not None, f"no answer from the runtime; log:\n{log_text}"
            assert outcome["kind"] == "response" and outcome["before_deadline"], outcome
            assert [r["status"] for r in emu.reports(dep)] == ["Succeeded"], log_text
            assert emu.signature_failures == 0
            check_maps(run_lines(log_text, "MAPS")[0])
        finally:
            proc.terminate()
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


# ---------------------------------------------------------------- TLS in the bare root

TLS_HOOK = r"""
local aws = require("hookhost.aws")
return function(event, ctx)
  local status, headers, body = aws.request{service = "cloudfront", method = "GET",
                                            path = "/2020-05-31/tls-probe", max_attempts = 1}
  if not status then error(tostring(headers.code) .. ": " .. tostring(headers.message)) end
  print("TLS " .. status .. " " .. body)
end
"""


# The same call inside the probe hook (its `print` lines are read from the log).
TLS_CALL = """
  local aws = require("hookhost.aws")
  local status, headers, body = aws.request{service = "cloudfront", method = "GET",
                                            path = "/2020-05-31/tls-probe", max_attempts = 1}
  if not status then error(tostring(headers.code) .. ": " .. tostring(headers.message)) end
  print("TLS " .. status .. " " .. body)
"""


class _TLSHandler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802
        self.server.paths.append(self.path)
        body = b"tls-ok"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def tls_server(tmp_path):
    """An HTTPS server on 127.0.0.1 with a throw-away self-signed certificate (its own CA)."""
    if not shutil.which("openssl"):
        pytest.skip("openssl (the command) is needed to make a test certificate")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _TLSHandler)
    server.paths = []
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
    t = threading.Thread(target=server.serve_forever, daemon=True)
    t.start()
    yield server, cert
    server.shutdown()
    server.server_close()


def test_tls_with_the_bundled_openssl_and_amazon_linux_ca_path(dist, sandbox, tls_server):
    """The packaged libcurl + OpenSSL make a verified HTTPS call in the bare root, trusting the
    CA found at Amazon Linux's bundle path (the root has no Debian bundle), and refuse the server
    once that bundle is gone."""
    server, cert = tls_server
    box = sandbox
    assert not box.path("/etc/ssl/certs/ca-certificates.crt").exists()
    box.unzip(dist / "function.zip", "/var/task")
    box.write("/var/task/hooks/TlsProbe.lua", TLS_HOOK)
    bundle = box.path("/etc/pki/tls/certs/ca-bundle.crt")
    bundle.parent.mkdir(parents=True)
    shutil.copy(cert, bundle)
    env = box.env(AWS_ENDPOINT_URL_CLOUDFRONT=f"https://127.0.0.1:{server.server_address[1]}",
                  AWS_ACCESS_KEY_ID="AKIDEXAMPLE", AWS_SECRET_ACCESS_KEY="wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")
    exe = runner(box, "/var/task")
    r = box.run([exe, "run", "/var/task/hooks/TlsProbe.lua"], env=env)
    assert r.returncode == 0, f"exit {r.returncode}\nstdout: {r.stdout}\nstderr: {r.stderr}"
    assert run_lines(r.stderr, "TLS") == ["200 tls-ok"]
    assert server.paths == ["/2020-05-31/tls-probe"]

    bundle.unlink()  # no CA bundle anywhere: the call must fail, not go unverified
    r = box.run([exe, "run", "/var/task/hooks/TlsProbe.lua"], env=env)
    assert r.returncode == 1 and outcome_of(r.stdout)["status"] == "Failed", r.stdout + r.stderr
    assert server.paths == ["/2020-05-31/tls-probe"]


def test_shipped_after_allow_traffic_through_the_layer_in_a_bare_root(dist, sandbox, hookhost_bin):
    """The product's main job as deployed by deploy/cdk: the layer in /opt, hooks-only.zip in
    /var/task, _HANDLER=AfterAllowTraffic. The CloudFront emulator gets one signed invalidation
    of /*, the CodeDeploy emulator one Succeeded report."""
    assert (ROOT / "lua" / "hooks" / "AfterAllowTraffic.lua").exists()
    from emulators import Emulators

    box = sandbox
    box.unzip(dist / "layer.zip", "/opt")
    box.unzip(dist / "hooks-only.zip", "/var/task")
    log_path = box.workdir / "serve.log"
    with Emulators.start(invalidation_seconds=0.2) as emu:
        dep = emu.seed_deployment()
        ex = emu.seed_hook_execution(dep, "AfterAllowTraffic")
        env = box.env(**emu.env(), _HANDLER="AfterAllowTraffic", DistributionId="E2EXAMPLE123",
                      AWS_LAMBDA_LOG_FORMAT="JSON", AWS_LAMBDA_FUNCTION_MEMORY_SIZE="256")
        with open(log_path, "wb") as log:
            proc = box.popen(["/opt/bootstrap"], env=env, stdout=log, stderr=log, stdin=subprocess.DEVNULL)
        try:
            rid = emu.queue_event({"DeploymentId": dep, "LifecycleEventHookExecutionId": ex}, timeout=30)
            outcome = emu.wait_outcome(rid, timeout=40)
            log_text = log_path.read_text(errors="replace")
            assert outcome is not None and outcome["kind"] == "response", f"{outcome}\n{log_text}"
            assert [r["status"] for r in emu.reports(dep)] == ["Succeeded"], log_text
            invalidations = emu.invalidations("E2EXAMPLE123")
            assert len(invalidations) == 1 and invalidations[0]["Paths"] == ["/*"], invalidations
            assert emu.signature_failures == 0
        finally:
            proc.terminate()
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


# ---------------------------------------------------------------- nothing but glibc

@pytest.fixture
def glibc_root(tmp_path):
    """A root with nothing but ld.so, libc, libm and libresolv (dist_sandbox.MinimalRoot)."""
    import os
    from dist_sandbox import MinimalRoot
    if os.geteuid() != 0:
        pytest.skip("the chroot tests need root (mount, chroot)")
    with MinimalRoot(tmp_path / "glibc-root") as box:
        yield box


def test_bootstrap_serves_and_verifies_tls_with_nothing_but_glibc(dist, glibc_root, tls_server, hookhost_bin):
    """Lambda's start in a root holding only glibc's loader, libc, libm, libresolv, the function
    package and a CA bundle at Amazon Linux's path: the bootstrap serves a hook event, the hook
    makes a verified HTTPS call, the report reaches CodeDeploy with a valid signature, and the
    process maps no shared object but glibc's."""
    from emulators import Emulators

    server, cert = tls_server
    box = glibc_root
    box.unzip(dist / "function.zip", "/var/task")
    box.write("/etc/pki/tls/certs/ca-bundle.crt", cert.read_text())
    box.write("/var/task/hooks/Minimal.lua", PROBE.replace('require("hookhost._distprobe")', "{word = 'n/a'}")
              .replace('print("PROBE " .. probe.word)', TLS_CALL))
    files = box.files()
    extra = [f for f in files if not f.startswith(("/usr/lib64/", "/lib64", "/var/task/", "/etc/pki/"))]
    assert not extra, extra
    assert [f for f in files if f.startswith("/usr/lib64/")] == sorted(
        f"/usr/lib64/{n}" for n in (box.LOADER, *box.GLIBC))

    log_path = box.workdir / "serve.log"
    with Emulators.start() as emu:
        dep = emu.seed_deployment()
        ex = emu.seed_hook_execution(dep, "AfterAllowTraffic")
        env = box.env(**{**emu.env(), "AWS_ENDPOINT_URL_CLOUDFRONT": f"https://127.0.0.1:{server.server_address[1]}"},
                      _HANDLER="Minimal", AWS_LAMBDA_LOG_FORMAT="Text", AWS_LAMBDA_FUNCTION_MEMORY_SIZE="256")
        with open(log_path, "wb") as log:
            proc = box.popen(["/var/task/bootstrap"], env=env, stdout=log, stderr=log, stdin=subprocess.DEVNULL)
        try:
            rid = emu.queue_event({"DeploymentId": dep, "LifecycleEventHookExecutionId": ex}, timeout=20)
            outcome = emu.wait_outcome(rid, timeout=30)
            log_text = log_path.read_text(errors="replace")
            assert outcome is not None, f"no answer from the runtime; log:\n{log_text}"
            assert outcome["kind"] == "response" and outcome["before_deadline"], outcome
            assert [r["status"] for r in emu.reports(dep)] == ["Succeeded"], log_text
            assert emu.signature_failures == 0
            assert run_lines(log_text, "TLS") == ["200 tls-ok"], log_text
            libs = check_maps(run_lines(log_text, "MAPS")[0])
            assert {p.rsplit("/", 1)[1] for p in libs} <= {box.LOADER, *box.GLIBC}, libs
        finally:
            proc.terminate()
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    assert server.paths == ["/2020-05-31/tls-probe"]


def test_ca_bundle_from_ssl_cert_file_or_aws_ca_bundle_never_a_compiled_in_path(dist, glibc_root, tls_server):
    """With nothing but glibc in the root: SSL_CERT_FILE and AWS_CA_BUNDLE name the trusted CAs;
    without them and without a system bundle, the CA at OpenSSL's compiled-in places (Debian's
    /usr/lib/ssl/cert.pem, a hashed /usr/lib/ssl/certs) is not trusted: the call fails closed."""
    server, cert = tls_server
    box = glibc_root
    box.unzip(dist / "function.zip", "/var/task")
    box.write("/var/task/hooks/TlsProbe.lua", TLS_HOOK)
    box.write("/srv/ca/custom.pem", cert.read_text())
    base = dict(AWS_ENDPOINT_URL_CLOUDFRONT=f"https://127.0.0.1:{server.server_address[1]}",
                AWS_ACCESS_KEY_ID="AKIDEXAMPLE", AWS_SECRET_ACCESS_KEY="wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")
    exe = runner(box, "/var/task")
    for var in ("SSL_CERT_FILE", "AWS_CA_BUNDLE"):
        r = box.run([exe, "run", "/var/task/hooks/TlsProbe.lua"], env=box.env(**base, **{var: "/srv/ca/custom.pem"}))
        assert r.returncode == 0, f"{var}: exit {r.returncode}\nstdout: {r.stdout}\nstderr: {r.stderr}"
        assert run_lines(r.stderr, "TLS") == ["200 tls-ok"], var
    assert server.paths == ["/2020-05-31/tls-probe"] * 2

    # A bad SSL_CERT_FILE is named, not silently replaced by another trust store.
    box.write("/etc/pki/tls/certs/ca-bundle.crt", cert.read_text())
    r = box.run([exe, "run", "/var/task/hooks/TlsProbe.lua"], env=box.env(**base, SSL_CERT_FILE="/srv/ca/nope.pem"))
    assert r.returncode == 1 and "the CA bundle /srv/ca/nope.pem cannot be loaded" in r.stdout + r.stderr, \
        r.stdout + r.stderr
    box.path("/etc/pki/tls/certs/ca-bundle.crt").unlink()

    box.write("/usr/lib/ssl/cert.pem", cert.read_text())
    h = subprocess.run(["openssl", "x509", "-hash", "-noout", "-in", str(cert)], capture_output=True, text=True,
                       check=True).stdout.strip()
    box.write(f"/usr/lib/ssl/certs/{h}.0", cert.read_text())
    r = box.run([exe, "run", "/var/task/hooks/TlsProbe.lua"], env=box.env(**base))
    assert r.returncode == 1 and outcome_of(r.stdout)["status"] == "Failed", r.stdout + r.stderr
    assert server.paths == ["/2020-05-31/tls-probe"] * 2
