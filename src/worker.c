/* worker.c: see worker.h. */
#include "clock.h"
#include "worker.h"

#include "buf.h"
#include "json.h"
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdint.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define OUTCOME_MAX ((size_t)8 << 20) /* the largest outcome a child may send */

/* AddressSanitizer maps terabytes of shadow memory as private writable memory, which RLIMIT_DATA
 * counts: under it the data limit would fail every allocation, so such builds go without. */
#if defined(__SANITIZE_ADDRESS__)
#define WORKER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define WORKER_ASAN 1
#endif
#endif
#ifndef WORKER_ASAN
#define WORKER_ASAN 0
#endif

static int64_t last_overhead_us, last_run_us;

int64_t worker_last_overhead_us(void)
{
    return last_overhead_us;
}

/* ---- the worker process ----------------------------------------------------------------------

 * One worker process serves executions one after another, each in a fresh Lua state, so that
 * what is expensive to build and holds no script state survives between events: the fork
 * itself, the copy-on-write faults of a new process, the kept-alive connections and the parsed
 * CA store of the HTTP clients, the cached credentials. The parent replaces it whenever it dies,
 * is killed at a deadline, sends something that is not an outcome, or has served
 * WORKER_MAX_EXECUTIONS (a bound on whatever a long life could accumulate). Jobs and outcomes
 * travel as frames: a 4-byte length, then JSON through cjson. PR_SET_PDEATHSIG takes the worker
 * down with the parent; EOF on its socket makes it exit.
 *
 * The channel is a socketpair, not pipes: a script has io.open, and a pipe can be opened again
 * through /proc/self/fd (a script could then write an outcome of its choosing), a socket cannot
 * (ENXIO). Behind that, each job carries a random id its outcome must repeat: an outcome with
 * another id, or bytes beyond the outcome (or from an idle worker), mean the channel was tampered
 * with, and the worker is replaced. */

struct worker {
    pid_t pid;
    int fd; /* the parent's end: job frames out, outcome frames in */
    int served;
};
static struct worker worker_ = {-1, -1, 0};

/* A job id nobody can guess: 64 random bits as hex. */
static void new_job_id(char id[17])
{
    static uint64_t counter;
    uint64_t v;
    if (getrandom(&v, sizeof v, GRND_NONBLOCK) != (ssize_t)sizeof v)
        v = (uint64_t)clock_us() * 6364136223846793005u + (uint64_t)getpid() + ++counter;
    fmt_into(id, 17, "%016llx", (unsigned long long)v);
}

/* Everything a child needs for one execution, as JSON: the job's strings and numbers, the event
 * as a string, and the per-event process state the child cannot have inherited (it was forked
 * before the event arrived): the trace id and the log's ids. */
static char *encode_job(const struct lhost_job *job, int64_t deadline_left_ms, const char *id)
{
    struct json *j = json_new();
    json_set_str(j, "job_id", id);
    json_set_str(j, "script", job->script_path);
    if (job->event_json)
        json_set_strn(j, "event", job->event_json, job->event_len);
    json_set_str(j, "hook", job->hook);
    json_set_str(j, "deployment_id", job->deployment_id);
    json_set_str(j, "execution_id", job->execution_id);
    json_set_str(j, "request_id", job->request_id);
    json_set_str(j, "controller", job->controller);
    json_set_str(j, "stage", job->stage);
    json_set_int(j, "deadline_left_ms", deadline_left_ms);
    json_set_int(j, "mem_max", (int64_t)job->mem_max);
    json_set_str(j, "lua_dir", job->lua_dir);
    json_set_str(j, "task_root", job->task_root);
    json_set_bool(j, "dry_run", job->dry_run);
    json_set_bool(j, "verbose", job->verbose);
    if (job->stubs_json)
        json_set_strn(j, "stubs", job->stubs_json, job->stubs_len);
    json_set_bool(j, "discover_hook", job->discover_hook);
    json_set_str(j, "hooks_dir", job->hooks_dir);
    json_set_str(j, "trace_id", getenv("_X_AMZN_TRACE_ID"));
    return json_finish(j);
}

enum {
    F_SCRIPT,
    F_EVENT,
    F_HOOK,
    F_DEPLOYMENT,
    F_EXECUTION,
    F_REQUEST,
    F_CONTROLLER,
    F_STAGE,
    F_DEADLINE,
    F_MEM,
    F_LUA_DIR,
    F_TASK_ROOT,
    F_DRY_RUN,
    F_DISCOVER,
    F_HOOKS_DIR,
    F_TRACE,
    F_JOB_ID,
    F_VERBOSE,
    F_STUBS,
    F_COUNT
};

/* The job back from its JSON; the strings stay owned by f. Returns 0 or -1. */
static int decode_job(const char *text, size_t len, struct json_field *f, struct lhost_job *job)
{
    static const char *const keys[F_COUNT] = {
        "script",           "event",         "hook",       "deployment_id",
        "execution_id",     "request_id",    "controller", "stage",
        "deadline_left_ms", "mem_max",       "lua_dir",    "task_root",
        "dry_run",          "discover_hook", "hooks_dir",  "trace_id",
        "job_id",           "verbose",       "stubs"};
    for (int i = 0; i < F_COUNT; i++)
        f[i] = (struct json_field){.key = keys[i]};
    char err[128];
    if (json_get_fields(text, len, f, F_COUNT, err, sizeof err) < 0 ||
        f[F_DEADLINE].kind != JSON_NUMBER || f[F_MEM].kind != JSON_NUMBER ||
        f[F_JOB_ID].kind != JSON_STRING)
        return -1;
    memset(job, 0, sizeof *job);
    job->script_path = f[F_SCRIPT].value;
    job->event_json = f[F_EVENT].value;
    job->event_len = f[F_EVENT].len;
    job->hook = f[F_HOOK].value;
    job->deployment_id = f[F_DEPLOYMENT].value;
    job->execution_id = f[F_EXECUTION].value;
    job->request_id = f[F_REQUEST].value;
    job->controller = f[F_CONTROLLER].value;
    job->stage = f[F_STAGE].value;
    job->deadline_ms = clock_ms() + (int64_t)f[F_DEADLINE].num;
    job->mem_max = (size_t)f[F_MEM].num;
    job->lua_dir = f[F_LUA_DIR].value;
    job->task_root = f[F_TASK_ROOT].value;
    job->dry_run = f[F_DRY_RUN].kind == JSON_BOOL && f[F_DRY_RUN].num != 0;
    job->verbose = f[F_VERBOSE].kind == JSON_BOOL && f[F_VERBOSE].num != 0;
    job->stubs_json = f[F_STUBS].kind == JSON_STRING ? f[F_STUBS].value : NULL;
    job->stubs_len = f[F_STUBS].kind == JSON_STRING ? f[F_STUBS].len : 0;
    job->discover_hook = f[F_DISCOVER].kind == JSON_BOOL && f[F_DISCOVER].num != 0;
    job->hooks_dir = f[F_HOOKS_DIR].value;
    /* putenv on one static buffer: setenv would keep every value in a long-lived worker. */
    static char trace_env[600];
    if (f[F_TRACE].value && f[F_TRACE].len < sizeof trace_env - 20) {
        fmt_into(trace_env, sizeof trace_env, "_X_AMZN_TRACE_ID=%s", f[F_TRACE].value);
        putenv(trace_env);
    } else {
        unsetenv("_X_AMZN_TRACE_ID");
    }
    log_set_request_id(job->request_id);
    log_set_deployment_id(job->deployment_id);
    return 0;
}

/* Read exactly n bytes. Returns 0, 1 at EOF before the first byte, -1 on error or EOF inside. */
static int read_exact(int fd, void *p, size_t n)
{
    size_t off = 0;
    while (off < n) {
        ssize_t r = read(fd, (char *)p + off, n - off);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return r == 0 && off == 0 ? 1 : -1;
        off += (size_t)r;
    }
    return 0;
}

/* Write a frame: the length as 4 bytes in host order (both ends are this process image), then
 * the bytes. Returns 0 or -1 (EPIPE when the other end is gone: SIGPIPE is ignored). */
static int write_frame(int fd, const char *p, size_t n)
{
    uint32_t len = (uint32_t)n;
    struct iovec iov[2] = {{&len, sizeof len}, {(void *)(uintptr_t)p, n}};
    size_t total = sizeof len + n, done = 0;
    while (done < total) {
        ssize_t w = writev(fd, iov, 2);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        done += (size_t)w;
        for (int i = 0; i < 2; i++) { /* skip what was written */
            size_t k = (size_t)w < iov[i].iov_len ? (size_t)w : iov[i].iov_len;
            iov[i].iov_base = (char *)iov[i].iov_base + k;
            iov[i].iov_len -= k;
            w -= (ssize_t)k;
        }
    }
    return 0;
}

static char *encode_outcome(const struct lhost_outcome *o, int64_t run_us, const char *job_id)
{
    struct json *j = json_new();
    json_set_str(j, "job_id", job_id);
    json_set_int(j, "run_us", run_us);
    json_set_int(j, "reason", o->reason);
    json_set_str(j, "message", o->message);
    json_set_str(j, "traceback", o->traceback);
    json_set_str(j, "result", o->result_json);
    json_set_int(j, "mem_peak", (int64_t)o->mem_peak);
    json_set_int(j, "duration_ms", o->duration_ms);
    json_set_bool(j, "in_progress", o->in_progress);
    json_set_int(j, "callback_delay", o->callback_delay);
    json_set_str(j, "details", o->details_json);
    json_set_str(j, "hook", o->hook);
    json_set_int(j, "stubs_unused", o->stubs_unused);
    return json_finish(j);
}

/* ---- the worker's memory outside Lua ---- */

static volatile sig_atomic_t in_job; /* a job is being read, run or answered */

/* exit() in the middle of a job (the C out-of-memory paths: buf.c, json.c, cjson's buffer) is
 * reported with one status the parent knows as "out of memory". */
static void exit_in_job(void)
{
    if (in_job)
        _exit(WORKER_EXIT_NOMEM);
}

/* The process's data segment as the kernel counts it for RLIMIT_DATA (and its stack), in bytes,
 * or 0 when /proc cannot tell. */
static size_t data_bytes(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    unsigned long size, rss, shared, text, lib, data;
    int n = f ? fscanf(f, "%lu %lu %lu %lu %lu %lu", &size, &rss, &shared, &text, &lib, &data) : 0;
    if (f)
        fclose(f);
    return n == 6 ? (size_t)data * (size_t)sysconf(_SC_PAGESIZE) : 0;
}

/* Bound the data segment for a job with a Lua cap of mem_max (see worker.h). */
static void limit_data(size_t base, size_t mem_max)
{
    if (WORKER_ASAN || base == 0)
        return;
    struct rlimit rl;
    if (getrlimit(RLIMIT_DATA, &rl) < 0)
        return;
    rlim_t want = (rlim_t)(base + WORKER_DATA_FACTOR * mem_max + WORKER_DATA_HEADROOM);
    rl.rlim_cur = rl.rlim_max != RLIM_INFINITY && rl.rlim_max < want ? rl.rlim_max : want;
    if (setrlimit(RLIMIT_DATA, &rl) < 0)
        log_warn("cannot limit the worker's memory: %s", strerror(errno));
}

/* The worker's side: serve job frames until EOF, one fresh Lua state each. Never returns. _exit
 * skips atexit handlers and stdio flushing that belong to the parent. */
static void child_main(int fd)
{
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    /* Scripts' io.stdout is the log (lhost.c); a script opening /dev/stdout itself reaches the
     * log stream too, never `hookhost run`'s outcome line or a Lambda answer. */
    dup2(STDERR_FILENO, STDOUT_FILENO);
    size_t base = data_bytes(); /* before any job: what every job's limit starts from */
    atexit(exit_in_job);
    for (;;) {
        uint32_t len;
        int r = read_exact(fd, &len, sizeof len);
        if (r == 1)
            _exit(0); /* the parent retired this worker */
        in_job = 1;
        if (r < 0 || len == 0 || len > WORKER_MAX_JOB)
            _exit(4);
        char *text = xmalloc((size_t)len + 1);
        if (read_exact(fd, text, len) != 0)
            _exit(4);
        text[len] = '\0';
        struct json_field f[F_COUNT];
        struct lhost_job job;
        if (decode_job(text, len, f, &job) < 0)
            _exit(5);
        free(text);
        limit_data(base, job.mem_max);
        int64_t t0 = clock_us();
        struct lhost_outcome o;
        lhost_run(&job, &o);
        lhost_outcome_redact(&o); /* with the secrets only this worker has seen */
        const char *id = f[F_JOB_ID].value;
        char *out = encode_outcome(&o, clock_us() - t0, id);
        if (strlen(out) > OUTCOME_MAX) { /* lhost bounds each part; this is the backstop */
            log_warn("the hook's outcome is too large to hand over; its result is dropped");
            free(out);
            lhost_outcome_free(&o);
            out = encode_outcome(&o, clock_us() - t0, id);
        }
        lhost_outcome_free(&o);
        json_fields_free(f, F_COUNT);
        if (write_frame(fd, out, strlen(out)) < 0)
            _exit(3);
        free(out);
        in_job = 0;
    }
}

/* Decode what the child wrote. A child that died before writing everything leaves text that
 * does not decode; the caller then says how the child died instead. Returns 0, -1 for text that
 * is no outcome, -2 for an outcome of another job than job_id. */
static int decode_outcome(const char *text, size_t len, const char *job_id,
                          struct lhost_outcome *out)
{
    struct json_field f[] = {
        {.key = "reason"},      {.key = "message"},        {.key = "traceback"},
        {.key = "result"},      {.key = "mem_peak"},       {.key = "duration_ms"},
        {.key = "in_progress"}, {.key = "callback_delay"}, {.key = "details"},
        {.key = "hook"},        {.key = "run_us"},         {.key = "job_id"},
        {.key = "stubs_unused"}};
    size_t nf = sizeof f / sizeof *f;
    char err[128];
    if (len == 0 || json_get_fields(text, len, f, nf, err, sizeof err) < 0)
        return -1;
    if (f[0].kind != JSON_NUMBER || f[0].num < LHOST_OK || f[0].num > LHOST_REASON_LAST) {
        json_fields_free(f, nf);
        return -1;
    }
    if (f[11].kind != JSON_STRING || strcmp(f[11].value, job_id) != 0) {
        json_fields_free(f, nf);
        return -2;
    }
    out->reason = (enum lhost_reason)f[0].num;
    if (f[1].kind == JSON_STRING)
        fmt_into(out->message, sizeof out->message, "%s", f[1].value);
    out->traceback = f[2].value; /* ownership moves to the outcome */
    out->result_json = f[3].value;
    f[2].value = f[3].value = NULL;
    out->mem_peak = f[4].kind == JSON_NUMBER ? (size_t)f[4].num : 0;
    out->duration_ms = f[5].kind == JSON_NUMBER ? (int64_t)f[5].num : 0;
    out->in_progress = f[6].kind == JSON_BOOL && f[6].num != 0;
    out->callback_delay = f[7].kind == JSON_NUMBER ? (int64_t)f[7].num : -1;
    out->details_json = f[8].value;
    f[8].value = NULL;
    if (f[9].kind == JSON_STRING)
        fmt_into(out->hook, sizeof out->hook, "%s", f[9].value);
    last_run_us = f[10].kind == JSON_NUMBER ? (int64_t)f[10].num : 0;
    out->stubs_unused = f[12].kind == JSON_NUMBER ? (int)f[12].num : 0;
    json_fields_free(f, nf);
    return 0;
}

/* Read one frame from fd by the hard deadline. Returns 1 with the frame in b, 0 when the
 * deadline came first, -1 when the worker closed its end (it died) or sent garbage. */
static int read_frame_until(int fd, struct buf *b, int64_t hard_deadline_ms)
{
    uint32_t len = 0;
    size_t have_len = 0, want = 0;
    char chunk[65536];
    for (;;) {
        int64_t left = hard_deadline_ms - clock_ms();
        if (left <= 0)
            return 0;
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int n = poll(&p, 1, left > 1000000 ? 1000000 : (int)left);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            continue; /* timeout: the loop head decides */
        if (have_len < sizeof len) {
            ssize_t r = read(fd, (char *)&len + have_len, sizeof len - have_len);
            if (r < 0 && errno == EINTR)
                continue;
            if (r <= 0)
                return -1;
            have_len += (size_t)r;
            if (have_len == sizeof len) {
                if (len == 0 || len > OUTCOME_MAX)
                    return -1;
                want = len;
            }
            continue;
        }
        size_t ask = want - b->len < sizeof chunk ? want - b->len : sizeof chunk;
        ssize_t r = read(fd, chunk, ask);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0 || buf_append(b, chunk, (size_t)r) < 0)
            return -1;
        if (b->len == want)
            return 1;
    }
}

static void describe_death(int status, int killed, struct lhost_outcome *out)
{
    if (killed) {
        out->reason = LHOST_TIMEOUT;
        fmt_into(out->message, sizeof out->message,
                 "hook timed out: the script was still running (blocked inside a C call?) "
                 "when its time ran out, and was killed");
    } else if (WIFEXITED(status) && WEXITSTATUS(status) == WORKER_EXIT_NOMEM) {
        out->reason = LHOST_MEMORY;
        fmt_into(out->message, sizeof out->message,
                 "not enough memory: the hook's worker process ran out of memory outside Lua "
                 "(its limit is %d times the hook's memory plus %zu MiB) and was replaced",
                 WORKER_DATA_FACTOR, WORKER_DATA_HEADROOM >> 20);
    } else if (WIFSIGNALED(status)) {
        out->reason = LHOST_CRASH;
        fmt_into(out->message, sizeof out->message,
                 "the hook's worker process died of signal %d (%s)", WTERMSIG(status),
                 strsignal(WTERMSIG(status)));
    } else {
        out->reason = LHOST_CRASH;
        fmt_into(out->message, sizeof out->message,
                 "the hook's worker process exited (status %d) without an outcome",
                 WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    }
}

/* Whether the worker's end has anything to read while no outcome is due: bytes nobody asked for
 * (EOF, a dead worker, counts too). Never blocks. */
static int unexpected_input(int fd)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    return poll(&p, 1, 0) > 0;
}

/* Kill and reap the worker (idle, stuck or dead) and forget it. Returns its wait status. */
static int discard_worker(void)
{
    int status = 0;
    if (worker_.pid > 0) {
        kill(worker_.pid, SIGKILL);
        while (waitpid(worker_.pid, &status, 0) < 0 && errno == EINTR)
            ;
    }
    if (worker_.fd >= 0)
        close(worker_.fd);
    worker_ = (struct worker){-1, -1, 0};
    return status;
}

/* Fork a worker, unless a usable one is waiting. Returns 0, or -1 with errno set. */
static int spawn(void)
{
    if (worker_.pid > 0 && worker_.served < WORKER_MAX_EXECUTIONS)
        return 0;
    if (worker_.pid > 0)
        discard_worker(); /* it served its share */
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
        return -1;
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        int e = errno;
        close(sv[0]), close(sv[1]);
        errno = e;
        return -1;
    }
    if (pid == 0) {
        close(sv[0]);
        child_main(sv[1]);
    }
    close(sv[1]);
    worker_ = (struct worker){pid, sv[0], 0};
    return 0;
}

int worker_spare_pid(void)
{
    return worker_.pid;
}

void worker_prefork(void)
{
    if (spawn() < 0)
        log_warn("cannot fork a worker now: %s (the next hook forks its own)", strerror(errno));
}

void worker_shutdown(void)
{
    discard_worker();
}

int worker_run(const struct lhost_job *job, int64_t hard_deadline_ms, struct lhost_outcome *out)
{
    memset(out, 0, sizeof *out);
    int64_t t0 = clock_us();
    char id[17];
    new_job_id(id);
    char *text = encode_job(job, job->deadline_ms - clock_ms(), id);
    int sent = -1;
    if (worker_.pid > 0 && unexpected_input(worker_.fd)) {
        log_warn("the idle worker process sent bytes nobody asked for (or died); replacing it");
        discard_worker();
    }
    /* A worker that died while idle shows up as a failed write (EPIPE): replace it once. */
    for (int attempt = 0; attempt < 2 && sent < 0; attempt++) {
        if (spawn() < 0) {
            out->reason = LHOST_CRASH;
            fmt_into(out->message, sizeof out->message, "cannot fork a worker: %s",
                     strerror(errno));
            free(text);
            return -1;
        }
        sent = write_frame(worker_.fd, text, strlen(text));
        if (sent < 0)
            discard_worker();
    }
    free(text);
    if (sent < 0) {
        out->reason = LHOST_CRASH;
        fmt_into(out->message, sizeof out->message, "cannot hand the job to a worker process");
        return -1;
    }
    struct buf frame = BUF_INIT(OUTCOME_MAX);
    int got = read_frame_until(worker_.fd, &frame, hard_deadline_ms);
    last_run_us = 0;
    int dec = got == 1 ? decode_outcome(frame.p, frame.len, id, out) : -1;
    if (dec == 0) {
        worker_.served++;
        if (unexpected_input(
                worker_.fd)) { /* the outcome is this job's; the channel is not clean */
            log_warn("the worker process sent bytes after its outcome; replacing it");
            discard_worker();
        }
    } else if (dec == -2) {
        discard_worker();
        memset(out, 0, sizeof *out);
        out->reason = LHOST_CRASH;
        fmt_into(out->message, sizeof out->message,
                 "the hook's worker process answered with an outcome that is not this job's "
                 "(something wrote to the runtime's channel); the worker was replaced");
    } else {
        /* killed at the deadline, dead, or talking nonsense: it is replaced either way */
        int status = discard_worker();
        memset(out, 0, sizeof *out);
        describe_death(status, got == 0, out);
    }
    buf_free(&frame);
    int64_t total = clock_us() - t0;
    last_overhead_us = total - last_run_us;
    if (out->duration_ms == 0 || got == 0)
        out->duration_ms = total / 1000;
    return out->reason == LHOST_OK ? 0 : -1;
}
