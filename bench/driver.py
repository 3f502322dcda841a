"""hookhost's benchmarks, side by side with a Python + boto3 baseline, against the same local
emulators (tests/emulators). `make bench` runs this through scripts/bench with /usr/bin/python3.

    /usr/bin/python3 bench/driver.py [--build DIR]

Knobs (environment):
    BENCH_EVENTS=500      warm events per runtime (p50/p99 are over these)
    BENCH_WARMUP=20       warm-up events per runtime before measuring, not counted
    BENCH_RUNS=11         cold starts per program
    BENCH_SIGN_SECONDS=1  seconds per signing run; BENCH_SIGN_RUNS=5 runs of each signer
    BENCH_SOAK=0          N > 0: a separate long run of N warm events on hookhost, RSS sampled
                          (BENCH_SOAK_TARGET=hookhost-alt soaks the BENCH_ALT binary instead)
    BENCH_ONLY=a,b        only these contestants (names as in the table)
    BENCH_NAGLE=0         1: leave the emulators' sockets as shipped (Nagle on; see PERFORMANCE.md)
    BENCH_TLS=0           1: CloudFront and CodeDeploy over HTTPS (a bench CA appended to the
                          system bundle, given as AWS_CA_BUNDLE), as on real AWS; 2: the same
                          with the bench CA alone in the bundle (what parsing ~140 roots costs)
    BENCH_MAX_SECONDS=1800  the whole run is aborted (every process killed) after this long
    BENCH_LOG_LEVEL=INFO  AWS_LAMBDA_LOG_LEVEL of the hookhost runtimes (DEBUG: hookhost logs its
                          worker overhead per event, which the table then shows)
    BENCH_ALT=PATH        also run PATH (a candidate hookhost binary) as "hookhost-alt", same hook,
                          alternated with the others: an A/B test of a change before it lands
    BENCH_ALT_ENV=K=V,..  extra environment for hookhost-alt only

What runs (every one against its own fresh emulators on 127.0.0.1):
    hookhost         build/hookhost serve + the AfterAllowTraffic hook (shipped one if present):
                     the lean build (libcurl, OpenSSL, Lua, expat linked in; glibc only)
    hookhost-dynamic build/dynamic/hookhost (make LINK=dynamic: Debian's shared libcurl and its
                     ~30 libraries, OpenSSL, expat), same hook: the build the lean one replaced
    hookhost-noop    the same runtime with a hook that does nothing (the worker's per-event cost)
    dist-bootstrap   bootstrap from function.zip built by scripts/package from the same binary
    baseline         bench/baseline: Python 3 + boto3, a minimal Runtime API loop
    floor            bench/floor/rapi_floor: next -> report -> response, no script (C, libcurl)
    floor+cf         the same with the CloudFront invalidation (the harness's cost of the job)
    floor+cf-fresh   the same with a new CloudFront connection per event, as a worker has
    link-floor       an empty main linked with hookhost's $(LDLIBS) (lean: glibc alone is loaded);
                     link-dynamic: with the dynamic build's; link-nocurl: that without -lcurl
                     (what curl's ~30 libraries cost); link-crypto: -lcrypto only
    python-empty     /usr/bin/python3 -c pass; python-boto3: import boto3 and make two clients

Cold runs and warm events alternate between contestants (the order rotates each round), so
that load from other work on the machine falls on all of them alike. Figures are medians.
Every wait is bounded; every process started is killed at the end, whatever happens.
"""
import argparse
import datetime
import json
import os
import pathlib
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import time
import zipfile

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

import emulators.core  # noqa: E402
from emulators import Emulators  # noqa: E402

PY = "/usr/bin/python3"
DIST_ID = "E2EXAMPLE123"
EVENT_TIMEOUT_S = 30.0  # the Lambda deadline each event carries
COLD_WAIT_S = 60.0  # the longest a cold start may take before the run is called failed
WARM_WAIT_S = 15.0  # the longest one warm event may take


def env_int(name, default):
    v = os.environ.get(name, "")
    return int(v) if v.strip() else default


def env_float(name, default):
    v = os.environ.get(name, "")
    return float(v) if v.strip() else default


KNOBS = {
    "BENCH_EVENTS": env_int("BENCH_EVENTS", 500),
    "BENCH_WARMUP": env_int("BENCH_WARMUP", 20),
    "BENCH_RUNS": env_int("BENCH_RUNS", 11),
    "BENCH_SIGN_SECONDS": env_float("BENCH_SIGN_SECONDS", 1.0),
    "BENCH_SIGN_RUNS": env_int("BENCH_SIGN_RUNS", 5),
    "BENCH_SOAK": env_int("BENCH_SOAK", 0),
    "BENCH_SOAK_TARGET": os.environ.get("BENCH_SOAK_TARGET", "") or "hookhost",
    "BENCH_ONLY": os.environ.get("BENCH_ONLY", ""),
    "BENCH_NAGLE": env_int("BENCH_NAGLE", 0),
    "BENCH_TLS": env_int("BENCH_TLS", 0),
    "BENCH_MAX_SECONDS": env_int("BENCH_MAX_SECONDS", 1800),
    "BENCH_ALT": os.environ.get("BENCH_ALT", ""),
    "BENCH_LOG_LEVEL": os.environ.get("BENCH_LOG_LEVEL", "") or "INFO",
    "BENCH_ALT_ENV": os.environ.get("BENCH_ALT_ENV", ""),
}

# The emulators answer with two writes (headers, then body) on sockets with Nagle's algorithm
# on; against a client's delayed ACK that stalls every answer ~40 ms on loopback, which would
# drown everything measured here. The harness turns Nagle off (what StreamRequestHandler's own
# switch does) unless BENCH_NAGLE=1. See docs/PERFORMANCE.md.
if not KNOBS["BENCH_NAGLE"]:
    emulators.core._Handler.disable_nagle_algorithm = True


class Aborted(Exception):
    pass


TLS = {}  # BENCH_TLS=1: {"ctx": server SSLContext, "bundle": path of the CA bundle}


def tls_setup(out):
    """A throw-away CA and a certificate for 127.0.0.1 (RSA 2048, like AWS endpoints'), and a CA
    bundle = the system bundle + that CA, so that clients load as many roots as they would on
    AWS. Returns {"ctx", "bundle"}."""
    import ssl
    d = out / "tls"
    shutil.rmtree(d, ignore_errors=True)
    d.mkdir(parents=True)
    (d / "ext.cnf").write_text("subjectAltName=IP:127.0.0.1\n")
    cmds = [
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key",
         "-out", "ca.pem", "-days", "2", "-subj", "/CN=hookhost bench CA"],
        ["openssl", "req", "-newkey", "rsa:2048", "-nodes", "-keyout", "leaf.key", "-out",
         "leaf.csr", "-subj", "/CN=127.0.0.1"],
        ["openssl", "x509", "-req", "-in", "leaf.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
         "-CAcreateserial", "-out", "leaf.pem", "-days", "2", "-extfile", "ext.cnf"],
    ]
    for c in cmds:
        r = subprocess.run(c, cwd=d, capture_output=True, text=True, timeout=60,
                           stdin=subprocess.DEVNULL)
        if r.returncode != 0:
            raise Aborted(f"BENCH_TLS: {' '.join(c[:3])}: {r.stderr.strip()[-200:]}")
    system = pathlib.Path("/etc/ssl/certs/ca-certificates.crt")
    bundle = d / "bundle.pem"
    roots = system.read_text() if system.exists() and KNOBS["BENCH_TLS"] != 2 else ""
    bundle.write_text(roots + (d / "ca.pem").read_text())
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(d / "leaf.pem", d / "leaf.key")
    return {"ctx": ctx, "bundle": str(bundle)}


def tls_wrap(emu):
    """Serve CloudFront and CodeDeploy over TLS; returns the environment that points at them."""
    env = {"AWS_CA_BUNDLE": TLS["bundle"]}
    for ep in emu._endpoints:
        name = ep.server.service.name
        if name in ("cloudfront", "codedeploy"):
            ep.server.socket = TLS["ctx"].wrap_socket(ep.server.socket, server_side=True)
            env[f"AWS_ENDPOINT_URL_{name.upper()}"] = f"https://127.0.0.1:{ep.port}"
    return env


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def loadavg():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def median(xs):
    return statistics.median(xs) if xs else None


def pct(xs, p):
    """The p-th percentile, nearest rank (p99 of 500 samples is the 495th smallest)."""
    if not xs:
        return None
    s = sorted(xs)
    k = max(0, min(len(s) - 1, int(-(-p * len(s) // 100)) - 1))
    return s[k]


def proc_status(pid):
    """VmHWM, VmRSS, RssAnon, RssFile of a live process, in KiB ({} if it is gone)."""
    out = {}
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                k, _, v = line.partition(":")
                if k in ("VmHWM", "VmRSS", "RssAnon", "RssFile", "RssShmem"):
                    out[k] = int(v.split()[0])
    except OSError:
        pass
    return out


def proc_sched_ms(pid):
    """CPU time of a live process's threads in ms, from /proc/PID/task/*/schedstat (ns)."""
    total = 0
    try:
        for t in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{t}/schedstat") as f:
                total += int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    return total / 1e6


def proc_cpu_s(pid):
    """CPU seconds of a live process, of the children it has reaped, and of its live descendants
    (a worker kept between events is not reaped per event): utime + stime + cutime + cstime
    from /proc/PID/stat, 10 ms ticks, so use it over hundreds of events."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rpartition(")")[2].split()
    except OSError:
        return None
    total = sum(int(x) for x in fields[11:15]) / os.sysconf("SC_CLK_TCK")
    try:
        kids = []
        for t in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{t}/children") as f:
                kids += [int(x) for x in f.read().split()]
    except OSError:
        kids = []
    for k in kids:
        total += proc_cpu_s(k) or 0.0
    return total


# ---- processes --------------------------------------------------------------------------------

class Procs:
    """Every process the driver starts, so that all of them are killed whatever happens.
    Programs run under bench/floor/launch.c (built as BUILD/bench/launch): it forks the program,
    stamps its start, and reports wait4's peak RSS when it exits (see launch.c for why)."""

    def __init__(self):
        self.live = {}
        self.launcher = None
        self.n = 0

    def spawn(self, args, env, log_path=None):
        self.n += 1
        info = self.infodir / f"launch-{self.n}.txt"
        out = open(log_path, "ab") if log_path else subprocess.DEVNULL
        try:
            p = subprocess.Popen([str(self.launcher), str(info), *args], env=env,
                                 stdin=subprocess.DEVNULL, stdout=out,
                                 stderr=subprocess.STDOUT if log_path else subprocess.DEVNULL,
                                 start_new_session=True)
        finally:
            if log_path:
                out.close()
        p.info_path = info
        self.live[p.pid] = p
        return p

    @staticmethod
    def info(p):
        """What launch wrote: start, pid, and once done exit, status, maxrss_kib."""
        d = {}
        try:
            text = p.info_path.read_text()
        except OSError:
            return d
        for line in text.splitlines():
            w = line.split()
            if len(w) >= 4 and w[0] == "start":
                d["start"], d["pid"] = float(w[1]), int(w[3])
            elif len(w) >= 6 and w[0] == "exit":
                d["exit"], d["status"], d["maxrss_kib"] = float(w[1]), int(w[3]), int(w[5])
                if len(w) >= 8:
                    d["cpu_s"] = float(w[7])
        return d

    def target_pid(self, p, timeout=10.0):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            d = self.info(p)
            if "pid" in d:
                return d["pid"]
            if p.poll() is not None:
                break
            time.sleep(0.0005)
        raise Aborted(f"launch did not start {p.args[2:]}")

    def reap(self, p, timeout):
        """Wait (bounded) for the launcher and its program; returns launch's info or None."""
        try:
            p.wait(timeout)
        except subprocess.TimeoutExpired:
            return None
        self.live.pop(p.pid, None)
        return self.info(p)

    def stop(self, p, timeout=5.0):
        """SIGTERM, then SIGKILL, to the whole process group (launcher, program, workers);
        returns launch's info (with maxrss_kib unless SIGKILL was needed)."""
        if p.pid not in self.live:
            return self.info(p)
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(p.pid, sig)
            except ProcessLookupError:
                pass
            d = self.reap(p, timeout)
            if d is not None:
                return d
        return {}

    def kill_all(self):
        for p in list(self.live.values()):
            self.stop(p, 2.0)


PROCS = Procs()


# ---- contestants ----------------------------------------------------------------------------

class Contestant:
    """A program under test. kind "runtime": serves the Runtime API until stopped;
    kind "exit": runs and exits (its start -> exit is its cold start)."""

    def __init__(self, name, kind, args, env=None, note=""):
        self.name, self.kind, self.args, self.env, self.note = name, kind, args, env or {}, note
        self.unavailable = None  # why, when it cannot run


def base_env():
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("AWS_", "HOOKHOST_", "_HANDLER", "LAMBDA_", "BENCH_", "PYTHON"))}
    env.update({"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "128", "AWS_LAMBDA_FUNCTION_NAME": "bench",
                "DistributionId": DIST_ID})
    return env


def prepare(build, out):
    """Snapshot what is measured into out/ (others may rebuild build/ meanwhile) and describe
    every contestant. Returns (contestants, notes)."""
    notes = {}
    snap = out / "snap"
    if snap.exists():
        shutil.rmtree(snap)
    snap.mkdir(parents=True)
    hookhost = snap / "hookhost"
    shutil.copy2(build / "hookhost", hookhost)
    shutil.copytree(ROOT / "lua", snap / "lua")
    # the models, where the packages carry them: the library modules' clients load theirs
    if (build / "models").is_dir():
        shutil.copytree(build / "models", snap / "lua/hookhost/models",
                        ignore=shutil.ignore_patterns(".*"))

    task = out / "task"
    if task.exists():
        shutil.rmtree(task)
    (task / "hooks").mkdir(parents=True)
    shipped = ROOT / "lua/hooks/AfterAllowTraffic.lua"
    if shipped.exists() and (ROOT / "lua/hookhost/cloudfront.lua").exists():
        shutil.copy2(shipped, task / "hooks/AfterAllowTraffic.lua")
        notes["hook"] = "lua/hooks/AfterAllowTraffic.lua (shipped)"
    else:
        shutil.copy2(ROOT / "bench/hooks/AfterAllowTraffic.lua", task / "hooks/AfterAllowTraffic.lua")
        notes["hook"] = "bench/hooks/AfterAllowTraffic.lua (the shipped hook was not there)"
    shutil.copy2(ROOT / "bench/hooks/Noop.lua", task / "hooks/Noop.lua")

    baseline_task = out / "task-baseline"
    if baseline_task.exists():
        shutil.rmtree(baseline_task)
    shutil.copytree(ROOT / "bench/baseline", baseline_task,
                    ignore=shutil.ignore_patterns("__pycache__"))

    hh_env = {"LAMBDA_TASK_ROOT": str(task), "AWS_LAMBDA_LOG_FORMAT": "Text",
              "AWS_LAMBDA_LOG_LEVEL": KNOBS["BENCH_LOG_LEVEL"]}
    cs = [
        Contestant("hookhost", "runtime", [str(hookhost), "serve"],
                   dict(hh_env, _HANDLER="AfterAllowTraffic"), notes["hook"]),
        Contestant("hookhost-noop", "runtime", [str(hookhost), "serve"],
                   dict(hh_env, _HANDLER="Noop"), "bench/hooks/Noop.lua: a hook that does nothing"),
    ]
    dyn = snap / "dynamic"
    dyn.mkdir()
    os.symlink(snap / "lua", dyn / "lua")
    c = Contestant("hookhost-dynamic", "runtime", [str(dyn / "hookhost"), "serve"],
                   dict(hh_env, _HANDLER="AfterAllowTraffic"), "make LINK=dynamic: Debian's shared libcurl")
    if (build / "dynamic/hookhost").exists():
        shutil.copy2(build / "dynamic/hookhost", dyn / "hookhost")
    else:
        c.unavailable = "not available: build/dynamic/hookhost (make bench builds it)"
    cs.insert(1, c)
    if KNOBS["BENCH_ALT"]:
        alt = snap / "alt"
        alt.mkdir()
        shutil.copy2(KNOBS["BENCH_ALT"], alt / "hookhost")
        os.symlink(snap / "lua", alt / "lua")
        extra = dict(kv.split("=", 1) for kv in KNOBS["BENCH_ALT_ENV"].split(",") if "=" in kv)
        cs.append(Contestant("hookhost-alt", "runtime", [str(alt / "hookhost"), "serve"],
                             dict(hh_env, _HANDLER="AfterAllowTraffic", **extra),
                             f"BENCH_ALT={KNOBS['BENCH_ALT']} {KNOBS['BENCH_ALT_ENV']}"))
    cs.append(prepare_dist(hookhost, out, notes))
    cs += [
        Contestant("baseline", "runtime", [PY, str(baseline_task / "bootstrap.py")],
                   {"LAMBDA_TASK_ROOT": str(baseline_task), "_HANDLER": "handler.handler"},
                   "Python 3 + boto3 (bench/baseline)"),
        Contestant("floor", "runtime", [str(build / "bench/rapi_floor")], {},
                   "C: next -> report -> response, no script"),
        Contestant("floor+cf", "runtime", [str(build / "bench/rapi_floor"), "--cloudfront"], {},
                   "C: next -> invalidation -> report -> response"),
        Contestant("floor+cf-fresh", "runtime",
                   [str(build / "bench/rapi_floor"), "--cloudfront", "--fresh"], {},
                   "the same, a new CloudFront connection per event (as a worker has)"),
        Contestant("link-floor", "exit", [str(build / "bench/empty_full")], {},
                   "empty main linked with hookhost's $(LDLIBS) (lean: only glibc is loaded)"),
        Contestant("link-dynamic", "exit", [str(build / "dynamic/bench/empty_full")], {},
                   "empty main linked with the dynamic build's $(LDLIBS)"),
        Contestant("link-nocurl", "exit", [str(build / "dynamic/bench/empty_nocurl")], {},
                   "empty main linked with the dynamic build's $(LDLIBS) but -lcurl"),
        Contestant("link-crypto", "exit", [str(build / "bench/empty_crypto")], {},
                   "empty main linked with -lcrypto only"),
        Contestant("python-empty", "exit", [PY, "-c", "pass"], {}, "/usr/bin/python3 -c pass"),
        Contestant("python-boto3", "exit",
                   [PY, "-c", "import boto3; boto3.client('cloudfront'); boto3.client('codedeploy')"],
                   {"AWS_DEFAULT_REGION": "us-east-1"}, "import boto3, two clients"),
    ]
    for c in cs:
        prog = pathlib.Path(c.args[0])
        if not c.unavailable and not os.access(prog, os.X_OK):
            c.unavailable = f"{prog} is missing (make bench builds it)"
    only = [s for s in KNOBS["BENCH_ONLY"].split(",") if s]
    if only:
        cs = [c for c in cs if c.name in only]
    return cs, notes


def prepare_dist(hookhost, out, notes):
    """function.zip from scripts/package (make dist's script) on the snapshot binary, unpacked:
    its bootstrap with its own bundled libraries, as Lambda would run it."""
    c = Contestant("dist-bootstrap", "runtime", [], {}, "function.zip bootstrap (scripts/package)")
    script = ROOT / "scripts/package"
    if not os.access(script, os.X_OK):
        c.unavailable = "not available: scripts/package (make dist) does not exist yet"
        return c
    dist = out / "dist"
    if dist.exists():
        shutil.rmtree(dist)
    r = subprocess.run([str(script), "--bin", str(hookhost), "--out", str(dist)], cwd=ROOT,
                       stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=300)
    fz = dist / "function.zip"
    if r.returncode != 0 or not fz.exists():
        c.unavailable = ("not available: scripts/package failed: "
                         + (r.stderr.strip().splitlines() or ["?"])[-1][:200])
        return c
    root = dist / "function"
    with zipfile.ZipFile(fz) as z:
        for info in z.infolist():
            z.extract(info, root)
            mode = (info.external_attr >> 16) & 0o777
            if mode:
                os.chmod(root / info.filename, mode)
    if not (root / "hooks/AfterAllowTraffic.lua").exists():
        (root / "hooks").mkdir(exist_ok=True)
        shutil.copy2(ROOT / "bench/hooks/AfterAllowTraffic.lua", root / "hooks/AfterAllowTraffic.lua")
        c.note += "; hooks/AfterAllowTraffic.lua added from bench/hooks (not in the zip)"
    c.args = [str(root / "bootstrap")]
    c.env = {"LAMBDA_TASK_ROOT": str(root), "_HANDLER": "AfterAllowTraffic",
             "AWS_LAMBDA_LOG_FORMAT": "Text", "AWS_LAMBDA_LOG_LEVEL": KNOBS["BENCH_LOG_LEVEL"]}
    notes["dist_size_bytes"] = fz.stat().st_size
    lz = dist / "layer.zip"
    notes["layer_size_bytes"] = lz.stat().st_size if lz.exists() else None
    notes["bootstrap_size_bytes"] = (root / "bootstrap").stat().st_size
    with zipfile.ZipFile(fz) as z:
        notes["bundled_libraries"] = sum(1 for n in z.namelist() if re.search(r"\.so(\.[0-9]+)*$", n))
        notes["unzipped_bytes"] = sum(i.file_size for i in z.infolist())
    return c


# ---- one runtime against its emulators -----------------------------------------------------

class Session:
    """A contestant of kind runtime, its own emulators, and the process serving them."""

    def __init__(self, c, logdir):
        self.c = c
        self.emu = Emulators.start(invalidation_seconds=0.0)
        # botocore 1.29 reads AWS_DEFAULT_REGION, not AWS_REGION; Lambda sets both.
        self.env = dict(base_env(), **self.emu.env(), AWS_DEFAULT_REGION=self.emu.region, **c.env)
        if TLS:
            self.env.update(tls_wrap(self.emu))
        self.log_path = logdir / f"{c.name}.log"
        self.proc = self.pid = None
        self.failures = []

    def event(self):
        dep = self.emu.seed_deployment()
        ex = self.emu.seed_hook_execution(dep, "AfterAllowTraffic")
        return dep, {"DeploymentId": dep, "LifecycleEventHookExecutionId": ex}

    def start(self):
        self.proc = PROCS.spawn(self.c.args, self.env, self.log_path)
        self.pid = PROCS.target_pid(self.proc)
        self.t0 = PROCS.info(self.proc)["start"]

    def wait_first_next(self, timeout):
        end = time.monotonic() + timeout
        while self.emu.first_next_time is None:
            if self.proc.poll() is not None or time.monotonic() > end:
                raise Aborted(f"{self.c.name}: no GET next within {timeout} s "
                              f"(exit status {self.proc.returncode}); see {self.log_path}")
            time.sleep(0.0005)
        return self.emu.first_next_time

    def one(self, dep, ev, timeout):
        """Queue ev and wait for its answer. Returns (queued, report time, answer time) epoch s."""
        t = time.time()
        rid = self.emu.queue_event(ev, timeout=EVENT_TIMEOUT_S)
        out = self.emu.wait_outcome(rid, timeout)
        if out is None:
            alive = self.proc.poll() is None
            raise Aborted(f"{self.c.name}: no answer within {timeout} s "
                          f"({'alive' if alive else 'exited'}); see {self.log_path}")
        reps = self.emu.reports(dep)
        ok = out["kind"] == "response" and len(reps) == 1 and reps[0]["status"] == "Succeeded"
        if not ok:
            self.failures.append({"answer": out, "reports": reps})
            if len(self.failures) <= 3:
                log(f"  {self.c.name}: event not handled as expected: {out} {reps}")
        return t, (reps[0]["time"] if reps else out["time"]), out["time"]

    def stop(self):
        """Stop the process; returns (/proc status of the runtime just before, launch info)."""
        st = proc_status(self.pid) if self.pid else {}
        d = PROCS.stop(self.proc) if self.proc else {}
        self.emu.stop()
        return st, d


def cold_runtime(c, logdir):
    """Start the runtime with nothing queued; once it is blocked in its first GET next, read
    its CPU time so far (start-up alone, to the nanosecond), then queue the event. "-> report"
    thus includes the driver noticing the first next (polled every 0.5 ms) and queuing."""
    s = Session(c, logdir)
    try:
        dep, ev = s.event()
        s.start()
        first = s.wait_first_next(COLD_WAIT_S)
        time.sleep(0.002)  # let the request finish reaching the emulator's handler
        cpu_next = proc_sched_ms(s.pid)
        rid = s.emu.queue_event(ev, timeout=EVENT_TIMEOUT_S)
        out = s.emu.wait_outcome(rid, COLD_WAIT_S)
        if out is None:
            raise Aborted(f"{c.name}: first event not answered within {COLD_WAIT_S} s; "
                          f"see {s.log_path}")
        reps = s.emu.reports(dep)
        if out["kind"] != "response" or not reps or reps[0]["status"] != "Succeeded":
            raise Aborted(f"{c.name}: first event failed: {out} {reps}; see {s.log_path}")
        invs = s.emu.invalidations()
        res = {"first_next_ms": (first - s.t0) * 1e3, "report_ms": (reps[0]["time"] - s.t0) * 1e3,
               "cpu_to_next_ms": cpu_next,
               "answer_ms": (out["time"] - s.t0) * 1e3, "invalidations": len(invs)}
    finally:
        st, d = s.stop()
    res.update(rss_fields(st, d))
    return res


def cold_exit(c):
    env = dict(base_env(), **c.env)
    p = PROCS.spawn(c.args, env)
    d = PROCS.reap(p, COLD_WAIT_S)
    if d is None:
        PROCS.stop(p)
        raise Aborted(f"{c.name}: did not exit within {COLD_WAIT_S} s")
    if d.get("status") != 0 or "exit" not in d:
        raise Aborted(f"{c.name}: exit status {p.returncode}")
    return {"exit_ms": (d["exit"] - d["start"]) * 1e3, "maxrss_kib": d["maxrss_kib"],
            "cpu_ms": d.get("cpu_s", 0) * 1e3}


def rss_fields(st, d):
    """st: /proc/PID/status of the runtime just before it was stopped (its own peak: VmHWM);
    d: launch's report, whose maxrss is the peak of the runtime and every child it reaped."""
    return {"parent_hwm_kib": st.get("VmHWM"), "parent_rss_kib": st.get("VmRSS"),
            "parent_anon_kib": st.get("RssAnon"), "parent_file_kib": st.get("RssFile"),
            "tree_maxrss_kib": (d or {}).get("maxrss_kib"),
            "cpu_ms": (d or {}).get("cpu_s", 0) * 1e3 if (d or {}).get("cpu_s") is not None else None}


# ---- phases ---------------------------------------------------------------------------------

def phase_cold(cs, runs, logdir):
    samples = {c.name: [] for c in cs}
    for r in range(runs):
        order = cs[r % len(cs):] + cs[:r % len(cs)]
        for c in order:
            try:
                samples[c.name].append(cold_runtime(c, logdir) if c.kind == "runtime"
                                       else cold_exit(c))
            except Aborted as e:
                log(f"  cold {c.name}: {e}")
                samples[c.name].append({"error": str(e)})
        log(f"  cold round {r + 1}/{runs} done (load {loadavg()})")
    return samples


def phase_warm(cs, n, warmup, logdir):
    sessions, res = [], {}
    try:
        for c in cs:
            s = Session(c, logdir)
            sessions.append(s)
            s.start()
            s.wait_first_next(COLD_WAIT_S)
        for s in sessions:
            for _ in range(warmup):
                s.one(*s.event(), WARM_WAIT_S)
        lat = {s.c.name: {"report": [], "answer": []} for s in sessions}
        cpu0 = {s.c.name: proc_cpu_s(s.pid) for s in sessions}
        for i in range(n):
            k = i % len(sessions)
            for s in sessions[k:] + sessions[:k]:
                dep, ev = s.event()
                t, rep, ans = s.one(dep, ev, WARM_WAIT_S)
                lat[s.c.name]["report"].append((rep - t) * 1e3)
                lat[s.c.name]["answer"].append((ans - t) * 1e3)
            if (i + 1) % 100 == 0:
                log(f"  warm {i + 1}/{n} (load {loadavg()})")
        for s in sessions:
            c1, c0 = proc_cpu_s(s.pid), cpu0[s.c.name]
            st, d = s.stop()
            res[s.c.name] = dict(rss_fields(st, d), latency_ms=lat[s.c.name],
                                 failures=len(s.failures),
                                 cpu_ms_per_event=(c1 - c0) * 1e3 / n if None not in (c0, c1) else None)
    finally:
        for s in sessions:
            if s.proc and s.proc.pid in PROCS.live or not s.emu.hub.stopping.is_set():
                s.stop()
    return res


def phase_soak(c, n, logdir):
    s = Session(c, logdir)
    samples = []
    try:
        s.start()
        s.wait_first_next(COLD_WAIT_S)
        step = max(1, n // 20)
        lat = []
        for i in range(n):
            dep, ev = s.event()
            t, rep, _ = s.one(dep, ev, WARM_WAIT_S)
            lat.append((rep - t) * 1e3)
            if i == 99 or (i + 1) % step == 0:
                kids = []
                try:
                    for t in os.listdir(f"/proc/{s.pid}/task"):
                        with open(f"/proc/{s.pid}/task/{t}/children") as f:
                            kids += [int(x) for x in f.read().split()]
                except OSError:
                    pass
                ks = [proc_status(k) for k in kids]
                samples.append(dict(proc_status(s.pid), events=i + 1,
                                    p50_ms=median(lat[-step:]),
                                    worker_VmRSS=max((k.get("VmRSS", 0) for k in ks), default=None),
                                    worker_pids=kids))
                log(f"  soak {i + 1}/{n}: {samples[-1]}")
    finally:
        st, d = s.stop()
    base = next((x for x in samples if x["events"] >= 100), samples[0])
    last = samples[-1]
    return {"events": n, "samples": samples, "failures": len(s.failures),
            "rss_growth_kib": last["VmRSS"] - base["VmRSS"],
            "hwm_growth_kib": last["VmHWM"] - base["VmHWM"],
            "tree_maxrss_kib": d.get("maxrss_kib")}


def phase_steps(build, runs):
    """Single start-up and per-event steps, each in a fresh process (bench/floor/init_cost.c),
    alternated, runs times each."""
    tool = build / "bench/init_cost"
    if not os.access(tool, os.X_OK):
        return {"error": f"{tool} is missing (make bench builds it)"}
    lib = build / "bench/snap/lua/hookhost"
    hook = build / "bench/task/hooks/AfterAllowTraffic.lua"
    mods = [str(lib / f) for f in ("cloudfront.lua", "aws.lua", "util.lua", "xml.lua")
            if (lib / f).exists()]
    steps = [["curl_global_init"], ["curl_init_noconfig"], ["curl_init_lean"],
             ["openssl_init_noconfig"],
             ["ca_bundle"], ["lua_state"], ["lua_compile", str(hook), *mods], ["fork_exit"]]
    out = {s[0]: {"wall_us": [], "cpu_us": [], "maxrss_kib": []} for s in steps}
    out["lua_compile"]["files"] = [os.path.basename(f) for f in [str(hook), *mods]]
    for r in range(runs):
        for st in steps[r % len(steps):] + steps[:r % len(steps)]:
            # through launch: a program exec'd straight from Python would count the driver's
            # ~40 MiB as its own peak RSS (see launch.c)
            p = subprocess.run([str(PROCS.launcher), str(PROCS.infodir / "steps.txt"), str(tool), *st],
                               capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL)
            w = p.stdout.split()
            if p.returncode == 0 and len(w) == 4:
                out[st[0]]["wall_us"].append(float(w[1]))
                out[st[0]]["cpu_us"].append(float(w[2]))
                out[st[0]]["maxrss_kib"].append(float(w[3]))
    return out


# The services hooks call most (the packages carry every service; see docs/HOOKS.md).
HOOK_SERVICES = ("codedeploy", "ecs", "cloudfront", "elbv2", "ssm", "secretsmanager", "lambda",
                 "s3", "dynamodb", "sns", "sqs", "events", "stepfunctions", "cloudwatch",
                 "route53", "sts", "ec2", "logs", "codepipeline")
CLIENTS_LUA = """
local aws = require("hookhost.aws")
for _, m in ipairs({"client", "protocols.json", "protocols.rest", "protocols.query"}) do
  require("hookhost.aws." .. m) -- the client's own code: not part of a model's cost
end
return function()
  local out = {}
  for _, s in ipairs({%s}) do
    collectgarbage()
    local kib, t0 = collectgarbage("count"), os.clock()
    aws.client(s)
    local ms = (os.clock() - t0) * 1000
    collectgarbage()
    out[s] = {ms = ms, kib = collectgarbage("count") - kib}
  end
  return out
end
"""


def phase_clients(build, runs):
    """aws.client(service): the model-driven client of each service made in a fresh Lua state
    (its model read and decoded), runs times; and the size of the models (build/models)."""
    models = ROOT / "build" / "models"
    if not (models / ".stamp").exists():
        return {"error": "build/models is missing (make builds it)"}
    size = lambda names: sum(f.stat().st_size for n in names for f in (models / n).glob("*.json"))
    every = sorted(p.name for p in models.iterdir() if (p / "service-2.json").exists())
    out = {"services": len(every), "all_bytes": size(every),
           "hook_services": len(HOOK_SERVICES), "hook_bytes": size(HOOK_SERVICES), "clients": {}}
    script = build / "bench" / "clients.lua"
    probe = ("sts", "ecs", "cloudfront", "ssm", "ec2")
    script.write_text(CLIENTS_LUA % ", ".join(f'"{n}"' for n in probe))
    for _ in range(runs):
        p = subprocess.run([str(build / "hookhost"), "run", str(script)], capture_output=True,
                           text=True, timeout=60, stdin=subprocess.DEVNULL, env=base_env())
        try:
            res = json.loads(p.stdout.strip().splitlines()[-1])["result"]
        except (ValueError, IndexError, KeyError):
            out["error"] = (p.stderr or p.stdout)[-300:]
            continue
        for n, v in res.items():
            d = out["clients"].setdefault(n, {"ms": [], "kib": []})
            d["ms"].append(v["ms"])
            d["kib"].append(v["kib"])
    out["clients"] = {n: {"ms": median(v["ms"]), "kib": median(v["kib"])}
                      for n, v in out["clients"].items()}
    return out


def render_clients(c, runs):
    if not c or "error" in c and not c.get("clients"):
        return [f"aws.client: {c.get('error') if c else 'not measured'}", ""]
    rows = [[n, fmt(v["ms"], " ms", 2), fmt(v["kib"] / 1024, " MiB", 2)]
            for n, v in sorted(c["clients"].items(), key=lambda kv: kv[1]["ms"])]
    return [f"aws.client(service) in a fresh Lua state (model read and decoded), median of {runs}; "
            f"models: {c['services']} services {c['all_bytes'] / 2**20:.1f} MiB, the "
            f"{c['hook_services']} hooks use most {c['hook_bytes'] / 2**20:.1f} MiB",
            table(rows, ["service", "client made", "Lua memory"]), ""]


def phase_sign(build, seconds, runs):
    tool = build / "tools/sigv4_bench"
    out = {"cached": [], "derived": [], "botocore": []}
    if not os.access(tool, os.X_OK):
        out["error"] = f"{tool} is missing (make unit builds it)"
    for r in range(runs):
        jobs = [("hookhost", [str(tool), str(seconds)]),
                ("botocore", [PY, str(ROOT / "bench/sign_botocore.py"), str(seconds)])]
        if r % 2:
            jobs.reverse()
        for name, args in jobs:
            if name == "hookhost" and "error" in out:
                continue
            p = subprocess.run(args, capture_output=True, text=True, timeout=seconds * 10 + 30,
                               stdin=subprocess.DEVNULL)
            for line in p.stdout.splitlines():
                parts = line.split()
                if parts[0] == "sigv4_codedeploy_cached_key":
                    out["cached"].append(float(parts[1]))
                elif parts[0] == "sigv4_codedeploy_derived_key":
                    out["derived"].append(float(parts[1]))
                elif parts[0] == "botocore_sigv4":
                    out["botocore"].append(float(parts[1]))
    return out


# ---- summary --------------------------------------------------------------------------------

WORKER_RE = re.compile(r"worker overhead:? (\d+) ?us")


def worker_overhead_us(log_path):
    """Median of the per-event worker overhead hookhost logs (worker_last_overhead_us), if it
    logs it (proposed in docs/PERFORMANCE.md); None otherwise."""
    try:
        vals = [int(m.group(1)) for m in WORKER_RE.finditer(log_path.read_text(errors="replace"))]
    except OSError:
        return None
    return median(vals) if vals else None


def summarize(cs, cold, warm, sign, soak, logdir=None):
    S = {"cold": {}, "warm": {}, "sign": {}, "soak": soak}
    for c in cs:
        runs = [x for x in cold.get(c.name, []) if "error" not in x]
        if not runs:
            continue
        d = {"runs": len(runs), "errors": len(cold[c.name]) - len(runs)}
        for k in runs[0]:
            vals = [x[k] for x in runs if x.get(k) is not None]
            if vals:
                d[k] = median(vals)
        S["cold"][c.name] = d
    for name, w in warm.items():
        rep, ans = w["latency_ms"]["report"], w["latency_ms"]["answer"]
        S["warm"][name] = {"events": len(rep), "failures": w["failures"],
                           "report_p50_ms": median(rep), "report_p99_ms": pct(rep, 99),
                           "report_mean_ms": statistics.fmean(rep) if rep else None,
                           "answer_p50_ms": median(ans), "answer_p99_ms": pct(ans, 99),
                           "cpu_ms_per_event": w.get("cpu_ms_per_event"),
                           "parent_hwm_kib": w["parent_hwm_kib"],
                           "parent_rss_kib": w["parent_rss_kib"],
                           "parent_anon_kib": w["parent_anon_kib"],
                           "tree_maxrss_kib": w["tree_maxrss_kib"]}
    for k, v in sign.items():
        if isinstance(v, list) and v:
            S["sign"][k + "_per_s"] = median(v)
    if logdir:
        for name in S["warm"]:
            w = worker_overhead_us(logdir / f"{name}.log")
            if w is not None:
                S["warm"][name]["logged_worker_overhead_us"] = w
    return S


def targets(S):
    """The issue's targets, each with the measured value and whether it is met."""
    cold, warm = S["cold"], S["warm"]
    T = []

    def add(name, value, ok, unit=""):
        T.append({"target": name, "value": None if value is None else round(value, 3),
                  "unit": unit, "met": None if ok is None or value is None else bool(ok)})

    def g(d, a, b):
        return d.get(a, {}).get(b)

    hh_next, lf_exit = g(cold, "hookhost", "first_next_ms"), g(cold, "link-floor", "exit_ms")
    bl_next = g(cold, "baseline", "first_next_ms")
    d = hh_next - lf_exit if None not in (hh_next, lf_exit) else None
    add("cold start (start -> first next) within 2 ms of the link floor", d,
        d is not None and d <= 2.0, "ms above the floor")
    hc, lc = g(cold, "hookhost", "cpu_to_next_ms"), g(cold, "link-floor", "cpu_ms")
    d = hc - lc if None not in (hc, lc) else None
    add("cold start CPU (start -> first next) within 2 ms of the link floor's (start -> exit)", d,
        d is not None and d <= 2.0, "ms above the floor")
    hh_rep, bl_rep = g(cold, "hookhost", "report_ms"), g(cold, "baseline", "report_ms")
    r = bl_next / hh_next if None not in (hh_next, bl_next) else None
    add(">= 30x faster cold start than the baseline (start -> first next)", r,
        r is not None and r >= 30, "x")
    r = bl_rep / hh_rep if None not in (hh_rep, bl_rep) else None
    add(">= 30x faster cold start than the baseline (start -> first report)", r,
        r is not None and r >= 30, "x")
    hw, bw, fw = (g(warm, n, "report_p50_ms") for n in ("hookhost", "baseline", "floor+cf"))
    r = bw / hw if None not in (hw, bw) else None
    add("warm latency (p50) >= 3x lower than the baseline", r, r is not None and r >= 3, "x")
    d = hw - fw if None not in (hw, fw) else None
    add("warm latency (p50) within 1 ms of the emulators' floor (floor+cf)", d,
        d is not None and d <= 1.0, "ms above the floor")
    fl = g(warm, "floor", "report_p50_ms")
    d = hw - fl if None not in (hw, fl) else None
    add("warm latency (p50) within 1 ms of the bare floor (no invalidation)", d,
        d is not None and d <= 1.0, "ms above the floor")
    hr, lr = g(cold, "hookhost", "parent_hwm_kib"), g(cold, "link-floor", "maxrss_kib")
    d = (hr - lr) / 1024 if None not in (hr, lr) else None
    add("peak RSS (parent, cold) within 3 MiB of the link floor", d,
        d is not None and d <= 3.0, "MiB above the floor")
    ht = g(warm, "hookhost", "tree_maxrss_kib")
    d = (ht - lr) / 1024 if None not in (ht, lr) else None
    add("peak RSS (parent and workers, warm) within 3 MiB of the link floor", d,
        d is not None and d <= 3.0, "MiB above the floor")
    # Issue 16: the lean build against the dynamic one it replaced, in the same run.
    dn = g(cold, "hookhost-dynamic", "first_next_ms")
    r = hh_next / dn if None not in (hh_next, dn) else None
    add("lean: cold start to the first next <= 0.5x the dynamic build's", r, r is not None and r <= 0.5, "x")
    dc = g(cold, "hookhost-dynamic", "cpu_to_next_ms")
    r = hc / dc if None not in (hc, dc) else None
    add("lean: CPU to the first next, as a share of the dynamic build's", r, None if r is None else r <= 0.5, "x")
    add("lean: peak RSS (parent, cold) <= 6.5 MiB", None if hr is None else hr / 1024,
        hr is not None and hr / 1024 <= 6.5, "MiB")
    notes = S.get("notes", {})
    fz = notes.get("dist_size_bytes")
    add("function.zip <= 3 MiB", None if fz is None else fz / 2**20, fz is not None and fz <= 3 * 2**20, "MiB")
    nb = notes.get("bundled_libraries")
    add("function.zip bundles 0 shared libraries", nb, nb == 0, "libraries")
    dw = g(warm, "hookhost-dynamic", "report_p50_ms")
    r = hw / dw if None not in (hw, dw) else None
    add("lean: warm latency (p50) no worse than the dynamic build's (<= 1.05x: run-to-run noise)", r,
        r is not None and r <= 1.05, "x")
    hcpu, dcpu = g(warm, "hookhost", "cpu_ms_per_event"), g(warm, "hookhost-dynamic", "cpu_ms_per_event")
    r = hcpu / dcpu if None not in (hcpu, dcpu) else None
    add("lean: CPU per warm event no worse than the dynamic build's (<= 1.05x)", r,
        r is not None and r <= 1.05, "x")
    sp = S["sign"].get("cached_per_s")
    add(">= 300,000 signatures/s with the signing key cached", sp,
        sp is not None and sp >= 300000, "sig/s")
    soak = S.get("soak")
    if soak:
        g_kib = soak["rss_growth_kib"]
        add(f"no RSS growth over {soak['events']} warm events ({KNOBS['BENCH_SOAK_TARGET']})",
            g_kib, g_kib <= 0, "KiB")
    else:
        add("no RSS growth over 10,000 warm events (BENCH_SOAK=10000)", None, None, "not run")
    return T


def fmt(v, unit="", digits=1):
    if v is None:
        return "-"
    return f"{v:.{digits}f}{unit}"


def table(rows, headers):
    w = [max(len(str(x)) for x in col) for col in zip(headers, *rows)]
    line = lambda r: "  ".join(str(x).ljust(w[i]) if i == 0 else str(x).rjust(w[i])
                               for i, x in enumerate(r))
    return "\n".join([line(headers), line(["-" * n for n in w])] + [line(r) for r in rows])


def render(cs, S, meta, T):
    out = []
    out.append(f"hookhost bench  {meta['date']}  commit {meta['commit']}{' (dirty)' if meta['dirty'] else ''}"
               f"  {meta['cpus']} CPUs  load {meta['load_before']} -> {meta['load_after']}")
    out.append(f"hook: {meta['notes'].get('hook')}  emulators: Nagle "
               f"{'on (as shipped)' if KNOBS['BENCH_NAGLE'] else 'off (harness)'}, "
               + {0: "plain HTTP", 1: "HTTPS (BENCH_TLS=1, system roots + bench CA)",
                  2: "HTTPS (BENCH_TLS=2, bench CA only)"}.get(KNOBS["BENCH_TLS"], "?"))
    out.append("")
    cold, warm = S["cold"], S["warm"]
    hh = cold.get("hookhost", {})
    rows = []
    for c in cs:
        d = cold.get(c.name)
        if c.unavailable:
            rows.append([c.name, c.unavailable[:60], "", "", "", "", "", ""])
            continue
        if not d:
            rows.append([c.name, "failed", "", "", "", "", "", ""])
            continue
        start = d.get("first_next_ms", d.get("exit_ms"))
        vs = "" if c.name == "hookhost" or not hh.get("first_next_ms") else \
            f"{start / hh['first_next_ms']:.1f}x"
        rows.append([c.name, fmt(start, " ms", 2), fmt(d.get("report_ms"), " ms", 2), vs,
                     fmt(d.get("cpu_to_next_ms", d.get("cpu_ms") if c.kind == "exit" else None),
                         " ms", 2),
                     fmt(d.get("cpu_ms"), " ms", 1),
                     fmt((d.get("parent_hwm_kib") or d.get("maxrss_kib") or 0) / 1024, " MiB", 2),
                     fmt((d.get("tree_maxrss_kib") or 0) / 1024 if d.get("tree_maxrss_kib") else None,
                         " MiB", 2)])
    out.append(f"Cold start, median of {meta['knobs']['BENCH_RUNS']} runs "
               "(start -> first next, or -> exit for programs that exit)")
    out.append(table(rows, ["program", "-> next/exit", "-> report", "vs hookhost",
                            "CPU to next/exit", "CPU (life)", "peak RSS", "tree peak"]))
    out.append("")
    rows = []
    hw = warm.get("hookhost", {}).get("report_p50_ms")
    for c in cs:
        if c.kind != "runtime":
            continue
        d = warm.get(c.name)
        if not d:
            rows.append([c.name, c.unavailable[:60] if c.unavailable else "failed", "", "", "", "", "", ""])
            continue
        vs = "" if c.name == "hookhost" or not hw else f"{d['report_p50_ms'] / hw:.2f}x"
        rows.append([c.name, fmt(d["report_p50_ms"], " ms", 2), fmt(d["report_p99_ms"], " ms", 2),
                     fmt(d["answer_p50_ms"], " ms", 2), vs, fmt(d.get("cpu_ms_per_event"), " ms", 2),
                     fmt(d["parent_hwm_kib"] / 1024 if d["parent_hwm_kib"] else None, " MiB", 2),
                     fmt(d["tree_maxrss_kib"] / 1024 if d["tree_maxrss_kib"] else None, " MiB", 2)])
    out.append(f"Warm latency, event queued -> report accepted, {meta['knobs']['BENCH_EVENTS']} "
               "events each, alternated")
    out.append(table(rows, ["runtime", "p50", "p99", "answer p50", "vs hookhost", "CPU/event",
                            "peak RSS", "tree peak"]))
    out.append("")
    sg = S["sign"]
    rows = [["hookhost sigv4, key cached", fmt(sg.get("cached_per_s"), "", 0)],
            ["hookhost sigv4, key derived each time", fmt(sg.get("derived_per_s"), "", 0)],
            ["botocore SigV4Auth.add_auth", fmt(sg.get("botocore_per_s"), "", 0)]]
    if sg.get("cached_per_s") and sg.get("botocore_per_s"):
        rows.append(["ratio cached / botocore", fmt(sg["cached_per_s"] / sg["botocore_per_s"], "x", 1)])
    out.append(f"Signing, CodeDeploy report request, median of {meta['knobs']['BENCH_SIGN_RUNS']} "
               "runs (thread CPU time)")
    out.append(table(rows, ["signer", "sig/s"]))
    out.append("")
    fl, nw = warm.get("floor", {}).get("report_p50_ms"), warm.get("hookhost-noop", {}).get("report_p50_ms")
    if fl is not None and nw is not None:
        out.append(f"Fork-per-execution worker (hookhost-noop p50 - floor p50): {nw - fl:.2f} ms per event")
        lw = warm.get("hookhost-noop", {}).get("logged_worker_overhead_us")
        out.append("  as logged by hookhost (worker_last_overhead_us): "
                   + (f"{lw / 1e3:.2f} ms" if lw is not None
                      else "not logged (it is logged at DEBUG: BENCH_LOG_LEVEL=DEBUG)"))
        out.append("")
    st = S.get("steps", {})
    if st:
        rows = [[k + (" (" + ", ".join(v["files"]) + ")" if "files" in v else ""),
                 fmt(v["wall_us"] / 1e3, " ms", 2), fmt(v["cpu_us"] / 1e3, " ms", 2),
                 fmt(v["maxrss_kib"] / 1024, " MiB", 2)]
                for k, v in st.items()]
        out.append(f"Single steps, each in a fresh process linked like hookhost (bench/floor/init_cost.c), "
                   f"median of {meta['knobs']['BENCH_RUNS']}")
        out.append(table(rows, ["step", "wall", "CPU", "process peak RSS"]))
        out.append("")
    n = meta["notes"]
    if n.get("dist_size_bytes"):
        mib = lambda b: f"{b / 2**20:.2f} MiB" if b is not None else "-"
        out.append(f"Packages (scripts/package on the measured binary): function.zip {mib(n['dist_size_bytes'])} "
                   f"({mib(n.get('unzipped_bytes'))} unzipped), layer.zip {mib(n.get('layer_size_bytes'))}, "
                   f"bootstrap {mib(n.get('bootstrap_size_bytes'))} stripped, "
                   f"{n.get('bundled_libraries')} bundled shared libraries")
        out.append("")
    out.extend(render_clients(S.get("clients"), meta["knobs"]["BENCH_RUNS"]))
    rows = [[t["target"], "-" if t["value"] is None else f"{t['value']:g} {t['unit']}",
             {True: "met", False: "NOT met", None: "not measured"}[t["met"]]] for t in T]
    out.append("Targets")
    out.append(table(rows, ["target", "measured", ""]))
    return "\n".join(out)


def git(*args):
    try:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True,
                              timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def main():
    ap = argparse.ArgumentParser(prog="scripts/bench", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default="build")
    args = ap.parse_args()
    build = (ROOT / args.build).resolve()
    out = build / "bench"
    logdir = out / "logs"
    out.mkdir(parents=True, exist_ok=True)
    if logdir.exists():
        shutil.rmtree(logdir)
    logdir.mkdir()

    def on_signal(signum, frame):
        raise Aborted(f"signal {signum}")
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGALRM, lambda *a: on_signal("ALRM (BENCH_MAX_SECONDS)", None))
    signal.alarm(KNOBS["BENCH_MAX_SECONDS"])

    meta = {"date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "commit": git("rev-parse", "--short", "HEAD"),
            "dirty": bool(git("status", "--porcelain", "--", "src", "lua", "Makefile")),
            "cpus": os.cpu_count(), "machine": platform.machine(), "kernel": platform.release(),
            "load_before": loadavg(), "knobs": KNOBS}
    PROCS.launcher = build / "bench/launch"
    PROCS.infodir = out / "run"
    shutil.rmtree(PROCS.infodir, ignore_errors=True)
    PROCS.infodir.mkdir()
    try:
        if not os.access(PROCS.launcher, os.X_OK):
            raise Aborted(f"{PROCS.launcher} is missing (make bench builds it)")
        if KNOBS["BENCH_TLS"]:
            TLS.update(tls_setup(out))
        cs, notes = prepare(build, out)
        meta["notes"] = notes
        avail = [c for c in cs if not c.unavailable]
        for c in cs:
            if c.unavailable:
                log(f"{c.name}: {c.unavailable}")
        log(f"cold starts: {KNOBS['BENCH_RUNS']} rounds of {len(avail)} programs")
        cold = phase_cold(avail, KNOBS["BENCH_RUNS"], logdir)
        runtimes = [c for c in avail if c.kind == "runtime"
                    and any("error" not in x for x in cold.get(c.name, []))]
        log(f"warm: {KNOBS['BENCH_EVENTS']} events for each of {', '.join(c.name for c in runtimes)}")
        warm = {}
        if runtimes and KNOBS["BENCH_EVENTS"] > 0:
            try:
                warm = phase_warm(runtimes, KNOBS["BENCH_EVENTS"], KNOBS["BENCH_WARMUP"], logdir)
            except Aborted as e:
                log(f"warm phase aborted: {e}")
                meta["warm_error"] = str(e)
        log("start-up steps")
        steps = phase_steps(build, KNOBS["BENCH_RUNS"])
        log("model-driven clients")
        try:
            clients = phase_clients(build, KNOBS["BENCH_RUNS"])
        except (OSError, subprocess.SubprocessError, ValueError) as e:
            clients = {"error": str(e)}
        log("signing")
        sign = phase_sign(build, KNOBS["BENCH_SIGN_SECONDS"], KNOBS["BENCH_SIGN_RUNS"])
        soak = None
        hh = next((c for c in runtimes if c.name == KNOBS["BENCH_SOAK_TARGET"]), None)
        if KNOBS["BENCH_SOAK"] > 0 and hh:
            log(f"soak: {KNOBS['BENCH_SOAK']} events on {hh.name}")
            try:
                soak = phase_soak(hh, KNOBS["BENCH_SOAK"], logdir)
            except Aborted as e:
                log(f"soak aborted: {e}")
                meta["soak_error"] = str(e)
        meta["load_after"] = loadavg()
        S = summarize(cs, cold, warm, sign, soak, logdir)
        S["steps"] = {k: {"wall_us": median(v["wall_us"]), "cpu_us": median(v["cpu_us"]),
                          "maxrss_kib": median(v["maxrss_kib"]),
                          **({"files": v["files"]} if "files" in v else {})}
                      for k, v in steps.items() if isinstance(v, dict) and v.get("wall_us")}
        S["notes"] = meta.get("notes", {})
        S["clients"] = clients
        T = targets(S)
        text = render(cs, S, meta, T)
        meta["python"] = platform.python_version()
        result = {"meta": meta, "summary": S, "targets": T,
                  "contestants": [{"name": c.name, "kind": c.kind, "args": c.args, "note": c.note,
                                   "unavailable": c.unavailable} for c in cs],
                  "raw": {"cold": cold, "warm": warm, "sign": sign, "steps": steps}}
        # BENCH_TLS runs go to their own files, so that results.json stays the plain-HTTP run.
        stem = "results" if not KNOBS["BENCH_TLS"] else f"results-tls{KNOBS['BENCH_TLS']}"
        (out / f"{stem}.json").write_text(json.dumps(result, indent=1) + "\n")
        (out / f"{stem}.txt").write_text(text + "\n")
        if soak:
            (out / f"soak-{KNOBS['BENCH_SOAK_TARGET']}.json").write_text(
                json.dumps({"meta": meta, "soak": soak}, indent=1) + "\n")
        print(text)
        print(f"\n(results: {out / (stem + '.json')}; logs: {logdir})")
        return 0
    except (Aborted, KeyboardInterrupt) as e:
        log(f"bench aborted: {e}")
        return 1
    finally:
        signal.alarm(0)
        PROCS.kill_all()


if __name__ == "__main__":
    sys.exit(main())
