/* hook.c: the one path that matters, top to bottom: read the event, decide the script, run it
 * under limits, turn whatever happened into an outcome, and say so. */
#include "hook.h"

#include "buf.h"
#include "config.h"
#include "event.h"
#include "json.h"
#include "lhost.h"
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Read a whole file (or stdin for "-") into b, refusing more than HOOK_MAX_EVENT bytes. */
static int read_event_file(const char *path, struct buf *b, char *err, size_t errlen)
{
    int fd = strcmp(path, "-") == 0 ? STDIN_FILENO : open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        fmt_into(err, errlen, "--event %s: %s", path, strerror(errno));
        return -1;
    }
    *b = BUF_INIT(HOOK_MAX_EVENT);
    char chunk[65536];
    int rc = 0;
    for (;;) {
        ssize_t n = read(fd, chunk, sizeof chunk);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            fmt_into(err, errlen, "--event %s: %s", path, strerror(errno));
            rc = -1;
            break;
        }
        if (n == 0)
            break;
        if (buf_append(b, chunk, (size_t)n) < 0) {
            fmt_into(err, errlen, "--event %s: larger than the %zu-byte event limit", path,
                     HOOK_MAX_EVENT);
            rc = -1;
            break;
        }
    }
    if (fd != STDIN_FILENO)
        close(fd);
    if (rc < 0)
        buf_free(b);
    return rc;
}

/* "hooks/AfterAllowTraffic.lua" -> "AfterAllowTraffic" */
static void hook_name_from_script(const char *script, char *out, size_t outlen)
{
    const char *base = strrchr(script, '/');
    base = base ? base + 1 : script;
    size_t n = strlen(base);
    if (n > 4 && strcmp(base + n - 4, ".lua") == 0)
        n -= 4;
    fmt_into(out, outlen, "%.*s", (int)n, base);
}

/* The outcome as JSON: what `run` prints and what a Lambda invocation returns. */
static char *outcome_json(const char *status, const char *hook, const struct event *ev,
                          const struct lhost_outcome *o)
{
    struct json *j = json_new();
    json_set_str(j, "status", status);
    json_set_str(j, "hook", hook);
    json_set_str(j, "deploymentId", ev->deployment_id);
    json_set_str(j, "reason", lhost_reason_name(o->reason));
    if (o->reason != LHOST_OK)
        json_set_str(j, "error", o->message);
    json_set_int(j, "durationMs", o->duration_ms);
    json_set_int(j, "memoryPeakBytes", (int64_t)o->mem_peak);
    if (o->result_json)
        json_set_raw(j, "result", o->result_json, strlen(o->result_json));
    return json_finish(j);
}

int hook_run_local(const struct hook_local_opts *o)
{
    char err[512];
    struct config cfg;
    if (config_load(&cfg, err, sizeof err) < 0) {
        fprintf(stderr, "hookhost run: %s\n", err);
        return 2;
    }
    struct buf event = BUF_INIT(HOOK_MAX_EVENT);
    if (o->event_path && read_event_file(o->event_path, &event, err, sizeof err) < 0) {
        fprintf(stderr, "hookhost run: %s\n", err);
        return 2;
    }
    if (!event.p)
        buf_puts(&event, "{}");
    struct event ev;
    if (event_parse(event.p, event.len, &ev, err, sizeof err) < 0) {
        fprintf(stderr, "hookhost run: --event %s: %s\n", o->event_path ? o->event_path : "-", err);
        buf_free(&event);
        return 2;
    }

    char hook[128];
    if (o->hook)
        fmt_into(hook, sizeof hook, "%s", o->hook);
    else
        hook_name_from_script(o->script, hook, sizeof hook);
    log_set_request_id("local");
    log_set_deployment_id(ev.deployment_id);

    struct lhost_job job = {
        .script_path = o->script,
        .event_json = event.p,
        .event_len = event.len,
        .hook = hook,
        .deployment_id = ev.deployment_id,
        .execution_id = ev.execution_id,
        .request_id = "local",
        .controller = "local",
        .deadline_ms = clock_ms() + o->timeout_ms,
        .mem_max = cfg.mem_max,
        .lua_dir = cfg.lua_dir,
        .task_root = cfg.task_root,
        .dry_run = o->dry_run,
    };
    log_info("hook %s: running %s (timeout %lld ms, memory %zu MiB%s)", hook, o->script,
             (long long)o->timeout_ms, cfg.mem_max >> 20, o->dry_run ? ", dry run" : "");
    struct lhost_outcome out;
    int ok = lhost_run(&job, &out) == 0;
    const char *status = ok || cfg.on_error_succeeded ? "Succeeded" : "Failed";
    if (ok) {
        log_info("hook %s: succeeded in %lld ms", hook, (long long)out.duration_ms);
    } else {
        char *fields = NULL;
        if (out.traceback) {
            struct json *f = json_new();
            json_set_str(f, "traceback", out.traceback);
            fields = json_finish(f);
        }
        log_line(LOG_ERROR, fields, "hook %s: failed (%s) in %lld ms: %s", hook,
                 lhost_reason_name(out.reason), (long long)out.duration_ms, out.message);
        free(fields);
        if (cfg.on_error_succeeded)
            log_warn("HOOKHOST_ON_ERROR=Succeeded: the failure is reported as Succeeded");
    }
    char *json = outcome_json(status, hook, &ev, &out);
    printf("%s\n", json);
    fflush(stdout);
    free(json);
    lhost_outcome_free(&out);
    event_free(&ev);
    buf_free(&event);
    return ok ? 0 : 1;
}
