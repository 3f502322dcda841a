/* worker.c: see worker.h. */
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
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define OUTCOME_MAX ((size_t)8 << 20) /* the largest outcome a child may send */

static int64_t last_overhead_us;

int64_t worker_last_overhead_us(void)
{
    return last_overhead_us;
}

static int64_t clock_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* The child's side: run, encode, write, exit. Never returns. _exit skips atexit handlers and
 * stdio flushing that belong to the parent (its buffered output would be written twice). */
static void child_main(const struct lhost_job *job, int fd)
{
    struct lhost_outcome o;
    lhost_run(job, &o);
    struct json *j = json_new();
    json_set_int(j, "reason", o.reason);
    json_set_str(j, "message", o.message);
    json_set_str(j, "traceback", o.traceback);
    json_set_str(j, "result", o.result_json);
    json_set_int(j, "mem_peak", (int64_t)o.mem_peak);
    json_set_int(j, "duration_ms", o.duration_ms);
    json_set_bool(j, "in_progress", o.in_progress);
    json_set_int(j, "callback_delay", o.callback_delay);
    json_set_str(j, "details", o.details_json);
    json_set_str(j, "hook", o.hook);
    char *text = json_finish(j);
    size_t len = strlen(text), off = 0;
    while (off < len) {
        ssize_t w = write(fd, text + off, len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            _exit(3);
        off += (size_t)w;
    }
    _exit(0);
}

/* Decode what the child wrote. A child that died before writing everything leaves text that
 * does not decode; the caller then says how the child died instead. */
static int decode_outcome(const char *text, size_t len, struct lhost_outcome *out)
{
    struct json_field f[] = {{.key = "reason"},      {.key = "message"},
                             {.key = "traceback"},   {.key = "result"},
                             {.key = "mem_peak"},    {.key = "duration_ms"},
                             {.key = "in_progress"}, {.key = "callback_delay"},
                             {.key = "details"},     {.key = "hook"}};
    size_t nf = sizeof f / sizeof *f;
    char err[128];
    if (len == 0 || json_get_fields(text, len, f, nf, err, sizeof err) < 0)
        return -1;
    if (f[0].kind != JSON_NUMBER || f[0].num < LHOST_OK || f[0].num > LHOST_REASON_LAST) {
        json_fields_free(f, nf);
        return -1;
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
    json_fields_free(f, nf);
    return 0;
}

/* Read whatever the child writes until EOF or the hard deadline. Returns 1 at EOF, 0 when the
 * deadline came first. */
static int read_until(int fd, struct buf *b, int64_t hard_deadline_ms)
{
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
        ssize_t r = read(fd, chunk, sizeof chunk);
        if (r < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (r <= 0)
            return 1;
        if (b->p || b->len == 0) {
            if (buf_append(b, chunk, (size_t)r) < 0)
                b->len = 0; /* too big: keep draining so the child can exit; decoded as a crash */
        }
    }
}

static void describe_death(int status, int killed, struct lhost_outcome *out)
{
    if (killed) {
        out->reason = LHOST_TIMEOUT;
        fmt_into(out->message, sizeof out->message,
                 "hook timed out: the script was still running (blocked inside a C call?) "
                 "when its time ran out, and was killed");
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

int worker_run(const struct lhost_job *job, int64_t hard_deadline_ms, struct lhost_outcome *out)
{
    memset(out, 0, sizeof *out);
    int64_t t0 = clock_us();
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) < 0) {
        out->reason = LHOST_CRASH;
        fmt_into(out->message, sizeof out->message, "cannot create a pipe: %s", strerror(errno));
        return -1;
    }
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        out->reason = LHOST_CRASH;
        fmt_into(out->message, sizeof out->message, "cannot fork a worker: %s", strerror(errno));
        close(fds[0]);
        close(fds[1]);
        return -1;
    }
    if (pid == 0) {
        close(fds[0]);
        child_main(job, fds[1]);
    }
    close(fds[1]);
    struct buf text = BUF_INIT(OUTCOME_MAX);
    int eof = read_until(fds[0], &text, hard_deadline_ms);
    close(fds[0]);
    int killed = 0, status = 0;
    if (!eof) {
        kill(pid, SIGKILL);
        killed = 1;
    }
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (killed || !(WIFEXITED(status) && WEXITSTATUS(status) == 0) ||
        decode_outcome(text.p ? text.p : "", text.len, out) < 0)
        describe_death(status, killed, out);
    buf_free(&text);
    int64_t total = clock_us() - t0;
    last_overhead_us = total - out->duration_ms * 1000;
    if (out->duration_ms == 0 || killed)
        out->duration_ms = total / 1000;
    return out->reason == LHOST_OK ? 0 : -1;
}
