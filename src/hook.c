/* hook.c: the one path that matters, top to bottom. Each step is a call into its own module:
 * event.c validates, worker.c runs the script in a child under limits, report.c tells CodeDeploy,
 * rapi.c answers Lambda. What this file owns is the order, the time budget and the rule that
 * every hook event ends with exactly one report. */
#include "clock.h"
#include "hook.h"

#include "buf.h"
#include "config.h"
#include "event.h"
#include "json.h"
#include "lhost.h"
#include "log.h"
#include "rapi.h"
#include "report.h"
#include "worker.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <limits.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* ECS's wait before calling an IN_PROGRESS hook again when the answer gives no callBackDelay. */
#define ECS_DEFAULT_CALLBACK_DELAY 30

/* ---- the time budget ------------------------------------------------------------------------ */

/* How an invocation's time is spent, all on the monotonic clock:
 *   script_ms: the Lua deadline (the count hook stops the script here)
 *   kill_ms:   the worker is killed if still running (blocked in C): script_ms + grace
 *   report_ms: the last moment for the report's retries, leaving time to answer Lambda
 * kill_ms is deadline - reserve, so the report is always sent no later than that. */
struct budget {
    int64_t script_ms, kill_ms, report_ms, reserve_ms;
};

static struct budget plan_budget(const struct config *cfg, int64_t time_left_ms)
{
    int64_t now = clock_ms();
    struct budget b;
    b.reserve_ms = config_reserve_ms(cfg, time_left_ms);
    int64_t grace = b.reserve_ms / 10;
    grace = grace < 20 ? 20 : grace > 200 ? 200 : grace;
    int64_t answer = b.reserve_ms / 10 < 100 ? b.reserve_ms / 10 : 100;
    b.kill_ms = now + time_left_ms - b.reserve_ms;
    b.script_ms = b.kill_ms - grace;
    b.report_ms = now + time_left_ms - answer;
    return b;
}

/* ---- the script ------------------------------------------------------------------------------ */

/* "hooks/AfterAllowTraffic.lua" -> "AfterAllowTraffic" */
static void name_from_path(const char *path, char *out, size_t outlen)
{
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    size_t n = strlen(base);
    if (n > 4 && strcmp(base + n - 4, ".lua") == 0)
        n -= 4;
    fmt_into(out, outlen, "%.*s", (int)n, base);
}

static int file_exists(const char *path)
{
    return access(path, F_OK) == 0;
}

/* Which script an event runs. _HANDLER names a lifecycle event ("AfterAllowTraffic" ->
 * $LAMBDA_TASK_ROOT/hooks/AfterAllowTraffic.lua) or a script path relative to LAMBDA_TASK_ROOT
 * ("custom/gate.lua"), for every kind of event: one AfterAllowTraffic script serves CodeDeploy and
 * ECS alike. _HANDLER=auto lets the event decide: an ECS event runs hooks/<STAGE>.lua, or the
 * script HOOKHOST_ECS_STAGE_MAP gives its stage. Absolute paths and ".." are refused: the handler
 * must not reach outside the package. A problem here fails each hook (with its report or
 * hookStatus), never the runtime. Returns 0 (path and hook set), 1 for a CodeDeploy event under
 * _HANDLER=auto (path is the hooks folder; the worker discovers the hook), or -1. */
static int resolve_script(const struct config *cfg, const struct event *ev, char *path,
                          size_t pathlen, char *hook, size_t hooklen, char *err, size_t errlen)
{
    const char *h = cfg->handler;
    if (!h || !*h) {
        fmt_into(err, errlen,
                 "_HANDLER is empty: set it to a lifecycle event name such as "
                 "AfterAllowTraffic, to a script path under LAMBDA_TASK_ROOT, or to auto");
        return -1;
    }
    if (!cfg->task_root || !*cfg->task_root) {
        fmt_into(err, errlen, "LAMBDA_TASK_ROOT is not set: the hook scripts cannot be found");
        return -1;
    }
    size_t n = strlen(h);
    if (strcmp(h, "auto") == 0) {
        if (ev->kind == EVENT_CODEDEPLOY) {
            /* The worker asks CodeDeploy which lifecycle event is InProgress (lhost.c). */
            fmt_into(path, pathlen, "%s/hooks", cfg->task_root);
            fmt_into(hook, hooklen, "auto");
            return 1;
        }
        if (ev->kind != EVENT_ECS) {
            fmt_into(err, errlen,
                     "_HANDLER=auto: a plain invocation does not say which hook it "
                     "is; set _HANDLER to the lifecycle event name");
            return -1;
        }
        char only_stage[64], only_name[80];
        if (!ev->ecs_stage) {
            /* A function mapped to a single stage knows its script without being told. */
            if (config_ecs_map_single(cfg, only_stage, sizeof only_stage, only_name,
                                      sizeof only_name) == 0) {
                fmt_into(path, pathlen, "%s/hooks/%s.lua", cfg->task_root, only_name);
                fmt_into(hook, hooklen, "%s", only_name);
                return 0;
            }
            fmt_into(err, errlen,
                     "_HANDLER=auto: this ECS event does not name its lifecycle stage; set "
                     "_HANDLER to the hook's name, or HOOKHOST_ECS_STAGE_MAP to a single stage");
            return -1;
        }
        char mapped[80];
        const char *st = ev->ecs_stage;
        fmt_into(path, pathlen, "%s/hooks/%s.lua", cfg->task_root, st);
        fmt_into(hook, hooklen, "%s", st);
        if (file_exists(path))
            return 0;
        if (config_ecs_map(cfg, st, mapped, sizeof mapped) == 0) {
            fmt_into(path, pathlen, "%s/hooks/%s.lua", cfg->task_root, mapped);
            fmt_into(hook, hooklen, "%s", mapped);
            return 0;
        }
        fmt_into(err, errlen,
                 "_HANDLER=auto: no script for ECS stage %s%s: add hooks/%s.lua, or map the stage "
                 "to a hook script with HOOKHOST_ECS_STAGE_MAP=%s=<HookName> (entries separated by "
                 "','), or set _HANDLER to the hook's name",
                 st, event_ecs_stage_known(st) ? "" : " (a stage new to this runtime)", st, st);
        return -1;
    }
    int is_path = strchr(h, '/') || (n > 4 && strcmp(h + n - 4, ".lua") == 0);
    if (!is_path) {
        if (!config_is_hook_name(h)) {
            fmt_into(err, errlen,
                     "_HANDLER=%.64s is neither a lifecycle event name (letters, digits, _ and -) "
                     "nor a .lua script path",
                     h);
            return -1;
        }
        fmt_into(path, pathlen, "%s/hooks/%s.lua", cfg->task_root, h);
        fmt_into(hook, hooklen, "%s", h);
        return 0;
    }
    if (h[0] == '/' || strcmp(h, "..") == 0 || strncmp(h, "../", 3) == 0 || strstr(h, "/../") ||
        (n >= 3 && strcmp(h + n - 3, "/..") == 0) || n > 512) {
        fmt_into(err, errlen,
                 "_HANDLER=%.64s: a script path must be relative to LAMBDA_TASK_ROOT, without '..'",
                 h);
        return -1;
    }
    fmt_into(path, pathlen, "%s/%s", cfg->task_root, h);
    name_from_path(h, hook, hooklen);
    return 0;
}

/* ---- outcomes ----------------------------------------------------------------------------------
 */

/* Everything known about one hook execution once it is over. */
struct result {
    const char *hook;
    const struct event *ev;
    struct lhost_outcome out;
    const char *status;   /* "Succeeded" or "Failed": what is (or would be) reported; for an
                           * ECS hook answering IN_PROGRESS, "InProgress" */
    struct report report; /* when a report was attempted */
    int reported;         /* a report was attempted */
    int redelivered;
    int stub_run; /* hookhost run --stub without --dry-run: stubs_unused is part of the outcome */
    int round;    /* hookhost run --follow: which call this was (1, 2, ...), else 0 */
};

/* The seconds ECS waits before calling an IN_PROGRESS hook again. */
static int64_t callback_seconds(const struct lhost_outcome *o)
{
    return o->callback_delay >= 0 ? o->callback_delay : ECS_DEFAULT_CALLBACK_DELAY;
}

/* The outcome as JSON, redacted, with '/' unescaped (URLs and paths as written): what `run`
 * prints and what a Lambda invocation returns. */
static char *result_json(const struct result *r)
{
    struct json *j = json_new();
    json_set_str(j, "status", r->status);
    json_set_str(j, "hook", r->hook);
    json_set_str(j, "deploymentId", r->ev->deployment_id);
    json_set_str(j, "reason", lhost_reason_name(r->out.reason));
    if (r->out.reason != LHOST_OK)
        json_set_str(j, "error", r->out.message);
    json_set_int(j, "durationMs", r->out.duration_ms);
    json_set_int(j, "memoryPeakBytes", (int64_t)r->out.mem_peak);
    if (r->out.result_json)
        json_set_raw(j, "result", r->out.result_json, strlen(r->out.result_json));
    if (r->reported) {
        json_set_str(j, "report", report_result_name(r->report.result));
        json_set_int(j, "reportAttempts", r->report.attempts);
    }
    /* For a CodeDeploy event, one field a script can test: did CodeDeploy get the status? */
    if (r->ev->kind == EVENT_CODEDEPLOY)
        json_set_bool(j, "reported", r->reported && r->report.result != REPORT_NOT_DELIVERED);
    if (r->redelivered)
        json_set_bool(j, "redelivered", 1);
    if (r->stub_run)
        json_set_int(j, "stubs_unused", r->out.stubs_unused);
    if (r->round > 0)
        json_set_int(j, "round", r->round);
    if (r->ev->kind == EVENT_ECS) {
        json_set_str(j, "stage", r->ev->ecs_stage);
        json_set_str(j, "hookStatus",
                     r->out.reason != LHOST_OK
                         ? (strcmp(r->status, "Succeeded") == 0 ? "SUCCEEDED" : "FAILED")
                     : r->out.in_progress ? "IN_PROGRESS"
                                          : "SUCCEEDED");
        if (r->out.in_progress && r->out.callback_delay >= 0)
            json_set_int(j, "callBackDelay", r->out.callback_delay);
        if (r->out.reason == LHOST_OK && r->out.in_progress) {
            char next[160];
            fmt_into(next, sizeof next,
                     "not done: ECS calls the hook again after %lld s%s, with these hookDetails",
                     (long long)callback_seconds(&r->out),
                     r->out.callback_delay >= 0 ? "" : " (its default)");
            json_set_str(j, "next", next);
        }
        if (r->out.details_json)
            json_set_raw(j, "hookDetails", r->out.details_json, strlen(r->out.details_json));
    }
    return log_redact(json_unslash(json_finish(j)));
}

/* The outcome without the script's result: what a redelivery repeats when the full answer was
 * too long to keep (the error message, the longest part left, is bounded). */
static char *short_answer(const struct result *r)
{
    struct result brief = *r;
    brief.out.result_json = NULL;
    brief.out.details_json = NULL;
    return result_json(&brief);
}

static const char *controller_name(enum event_kind k, const char *plain)
{
    return k == EVENT_CODEDEPLOY ? "codedeploy" : k == EVENT_ECS ? "ecs" : plain;
}

/* What an ECS-native hook returns: hookStatus, and for IN_PROGRESS the callBackDelay and the
 * hookDetails ECS hands to the next call. Nothing else, so that ECS reads nothing unexpected. */
static char *ecs_answer(const struct result *r, int on_error_succeeded)
{
    const struct lhost_outcome *o = &r->out;
    struct json *j = json_new();
    if (o->reason != LHOST_OK) {
        json_set_str(j, "hookStatus", on_error_succeeded ? "SUCCEEDED" : "FAILED");
    } else if (o->in_progress) {
        json_set_str(j, "hookStatus", "IN_PROGRESS");
        if (o->callback_delay >= 0)
            json_set_int(j, "callBackDelay", o->callback_delay);
        if (o->details_json)
            json_set_raw(j, "hookDetails", o->details_json, strlen(o->details_json));
    } else {
        json_set_str(j, "hookStatus", "SUCCEEDED");
    }
    return log_redact(json_finish(j));
}

/* Fail without running anything (bad handler, bad settings, no time): same shape as a script
 * failure, so the report and the answer follow the same path. */
static void fail_outcome(struct lhost_outcome *o, enum lhost_reason reason, const char *msg)
{
    memset(o, 0, sizeof *o);
    o->reason = reason;
    fmt_into(o->message, sizeof o->message, "%s", msg);
}

static void log_script_end(const char *hook, const struct lhost_outcome *o, int on_error_succeeded)
{
    if (o->reason == LHOST_OK && o->in_progress) {
        log_info("script finished: hook %s answered IN_PROGRESS in %lld ms (not done: call again "
                 "after %lld s)",
                 hook, (long long)o->duration_ms, (long long)callback_seconds(o));
        return;
    }
    if (o->reason == LHOST_OK) {
        log_info("script finished: hook %s succeeded in %lld ms", hook, (long long)o->duration_ms);
        return;
    }
    char *fields = NULL;
    if (o->traceback) {
        struct json *f = json_new();
        json_set_str(f, "traceback", o->traceback);
        fields = json_finish(f);
    }
    log_line(LOG_ERROR, fields, "script finished: hook %s failed (%s) in %lld ms: %s", hook,
             lhost_reason_name(o->reason), (long long)o->duration_ms, o->message);
    free(fields);
    if (on_error_succeeded)
        log_warn("HOOKHOST_ON_ERROR=Succeeded: the failure is reported as Succeeded");
}

/* Run the script (if there is one) in a worker under the budget, then report. This is the part
 * `run` and `serve` share. script may be NULL with why set: the hook fails without running. */
static void execute(const struct config *cfg, const char *script, const char *why,
                    struct lhost_job *job, const struct budget *b, int dry_run, struct result *r)
{
    if (!script) {
        fail_outcome(&r->out, LHOST_MISSING, why);
        log_error("hook %s cannot run: %s", r->hook, why);
    } else if (b->script_ms - clock_ms() < 10) {
        fail_outcome(&r->out, LHOST_TIMEOUT, "no time left to run the hook before the reserve");
        log_error("hook %s cannot run: no time left before the %lld ms reserve", r->hook,
                  (long long)b->reserve_ms);
    } else {
        job->script_path = script;
        job->deadline_ms = b->script_ms;
        log_info("script started: %s (hook %s, %lld ms, memory %zu MiB%s)",
                 job->discover_hook ? "(from CodeDeploy)" : script, r->hook,
                 (long long)(b->script_ms - clock_ms()), job->mem_max >> 20,
                 dry_run ? ", dry run" : "");
        worker_run(job, b->kill_ms, &r->out);
        log_debug("worker overhead: %lld us", (long long)worker_last_overhead_us());
        if (r->out.hook[0]) /* _HANDLER=auto: the worker found out which hook this is */
            r->hook = r->out.hook;
        log_script_end(r->hook, &r->out, cfg->on_error_succeeded);
    }
    int ok = r->out.reason == LHOST_OK;
    r->status = ok || cfg->on_error_succeeded ? "Succeeded" : "Failed";
    if (ok && r->ev->kind == EVENT_ECS && r->out.in_progress)
        r->status = "InProgress"; /* ECS calls again: neither succeeded nor failed yet */

    if (r->ev->kind != EVENT_CODEDEPLOY)
        return;
    if (dry_run || r->stub_run) {
        log_info("%s: would report %s for deployment %s", dry_run ? "dry run" : "stub run",
                 r->status, r->ev->deployment_id);
        return;
    }
    r->reported = 1;
    report_send(r->ev->deployment_id, r->ev->execution_id, r->status, b->report_ms, &r->report);
    if (r->report.result == REPORT_NOT_DELIVERED)
        log_error("report NOT delivered: status %s for deployment %s after %d attempts in %lld "
                  "ms: %s",
                  r->status, r->ev->deployment_id, r->report.attempts,
                  (long long)r->report.duration_ms, r->report.error);
    else
        log_info("report sent: status %s for deployment %s (%s, %d attempt%s, %lld ms)", r->status,
                 r->ev->deployment_id, report_result_name(r->report.result), r->report.attempts,
                 r->report.attempts == 1 ? "" : "s", (long long)r->report.duration_ms);
}

/* ---- hookhost run --------------------------------------------------------------------------- */

/* The human line after the outcome: what the script did and, for a CodeDeploy event, whether
 * CodeDeploy got its status, so that "Succeeded" beside exit status 1 cannot be misread. A log
 * line (stderr, Text or JSON like every other), at ERROR when the status was not delivered. */
static void say_local_outcome(const struct result *r, int dry_run, int follow)
{
    char what[160];
    if (r->out.reason == LHOST_OK && r->out.in_progress)
        fmt_into(what, sizeof what,
                 "hook %s answered IN_PROGRESS: not done, ECS would call it again after %lld s "
                 "with its hookDetails%s",
                 r->hook, (long long)callback_seconds(&r->out),
                 follow ? "" : " (hookhost run --follow makes those calls)");
    else if (r->out.reason == LHOST_OK)
        fmt_into(what, sizeof what, "hook %s succeeded", r->hook);
    else
        fmt_into(what, sizeof what, "hook %s failed (%s)", r->hook,
                 lhost_reason_name(r->out.reason));
    if (r->ev->kind != EVENT_CODEDEPLOY)
        log_info("hookhost run: %s", what);
    else if (dry_run || r->stub_run)
        log_info("hookhost run: %s; %s: status %s NOT reported to CodeDeploy", what,
                 dry_run ? "dry run" : "stub run", r->status);
    else if (r->report.result == REPORT_NOT_DELIVERED)
        log_error("hookhost run: %s, but status %s was NOT reported to CodeDeploy (%d attempt%s): "
                  "%s",
                  what, r->status, r->report.attempts, r->report.attempts == 1 ? "" : "s",
                  r->report.error);
    else
        log_info("hookhost run: %s; status %s reported to CodeDeploy (%s)", what, r->status,
                 report_result_name(r->report.result));
}

/* Read and check a stub file (hookhost.stubs's rules, lhost_check_stubs) into out. Returns 0, or
 * -1 after saying what is wrong, naming the file and the entry. */
static int read_stubs(const char *path, const struct config *cfg, struct buf *out)
{
    char err[1024];
    int rc = buf_read_file(out, path, err, sizeof err);
    if (rc == -2) {
        fprintf(stderr, "hookhost run: --stub %s: larger than the %zu-byte limit\n", path,
                HOOK_MAX_STUBS);
        return -1;
    }
    if (rc < 0) {
        fprintf(stderr, "hookhost run: --stub %s: %s\n", path, err);
        return -1;
    }
    if (!out->p)
        buf_puts(out, "");
    if (lhost_check_stubs(out->p, out->len, cfg->lua_dir, err, sizeof err) < 0) {
        fprintf(stderr, "hookhost run: --stub %s: %s\n", path, err);
        return -1;
    }
    return 0;
}

/* The function package for `hookhost run`, as an absolute path (so that a module-not-found
 * message names real files): --task-root, else LAMBDA_TASK_ROOT, else the script's location:
 * <root>/hooks/X.lua -> <root>, any other script -> its own folder. Returns 0 with out set ("" when
 * the script cannot be found: its outcome says so), or -1 with err for a bad --task-root. */
static int local_task_root(const struct hook_local_opts *o, const char *env_root, char *out,
                           size_t outlen, const char **from, char *err, size_t errlen)
{
    out[0] = '\0';
    if (o->task_root) {
        char *real = realpath(o->task_root, NULL);
        struct stat st;
        int ok = real && stat(real, &st) == 0 && S_ISDIR(st.st_mode);
        if (ok)
            fmt_into(out, outlen, "%s", real);
        else
            fmt_into(err, errlen, "--task-root %s: %s", o->task_root,
                     real ? "not a directory" : strerror(errno));
        free(real);
        *from = "--task-root";
        return ok ? 0 : -1;
    }
    if (env_root && *env_root) {
        fmt_into(out, outlen, "%s", env_root);
        *from = "LAMBDA_TASK_ROOT";
        return 0;
    }
    char *real = realpath(o->script, NULL);
    if (!real)
        return 0;
    char *slash = strrchr(real, '/'); /* an absolute path has one */
    *slash = '\0';
    slash = strrchr(real, '/');
    if (slash && strcmp(slash + 1, "hooks") == 0)
        *slash = '\0';
    fmt_into(out, outlen, "%s", real[0] ? real : "/");
    free(real);
    *from = "the script's location";
    return 0;
}

static void sleep_ms(int64_t ms)
{
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {
    }
}

/* --follow: the event of ECS's next call, with the hookDetails the hook returned. Returns 0 with
 * *next (malloc'd) set, or -1 with err. */
static int follow_event(const char *event, size_t len, const struct lhost_outcome *o, char **next,
                        size_t *next_len, char *err, size_t errlen)
{
    *next = NULL;
    if (!o->details_json) /* no details returned: ECS's next call carries the same */
        *next = xstrndup(event, len);
    else
        *next = json_object_with(event, len, "hookDetails", o->details_json,
                                 strlen(o->details_json), err, errlen);
    if (!*next)
        return -1;
    *next_len = strlen(*next);
    if (*next_len > HOOK_MAX_EVENT) {
        fmt_into(err, errlen, "the next event would be %zu bytes, over the %zu-byte event limit",
                 *next_len, HOOK_MAX_EVENT);
        free(*next);
        *next = NULL;
        return -1;
    }
    return 0;
}

int hook_run_local(const struct hook_local_opts *o)
{
    char err[512];
    struct config cfg;
    if (config_load(&cfg, err, sizeof err) < 0) {
        fprintf(stderr, "hookhost run: %s\n", err);
        return 2;
    }
    if (cfg.warning[0])
        log_warn("configuration: %s", cfg.warning);
    struct buf event = BUF_INIT(HOOK_MAX_EVENT);
    int rrc = o->event_path ? buf_read_file(&event, o->event_path, err, sizeof err) : 0;
    if (rrc < 0) {
        if (rrc == -2)
            fprintf(stderr, "hookhost run: --event %s: larger than the %zu-byte event limit\n",
                    o->event_path, HOOK_MAX_EVENT);
        else
            fprintf(stderr, "hookhost run: --event %s: %s\n", o->event_path, err);
        buf_free(&event);
        return 2;
    }
    if (!event.p)
        buf_puts(&event, "{}");
    struct event ev;
    if (event_parse(event.p, event.len, &ev, err, sizeof err) < 0) {
        fprintf(stderr, "hookhost run: --event %s: %s\n", o->event_path ? o->event_path : "-", err);
        event_free(&ev);
        buf_free(&event);
        return 2;
    }
    char root[PATH_MAX];
    const char *root_from = NULL;
    if (o->follow && ev.kind != EVENT_ECS)
        fmt_into(err, sizeof err,
                 "--follow drives the IN_PROGRESS calls of an ECS-native hook event (one with "
                 "executionDetails); this event is %s",
                 ev.kind == EVENT_CODEDEPLOY ? "a CodeDeploy hook event" : "a plain invocation");
    if ((o->follow && ev.kind != EVENT_ECS) ||
        local_task_root(o, cfg.task_root, root, sizeof root, &root_from, err, sizeof err) < 0) {
        fprintf(stderr, "hookhost run: %s\n", err);
        event_free(&ev);
        buf_free(&event);
        return 2;
    }
    if (root[0]) { /* as in Lambda, the script sees its package's root */
        setenv("LAMBDA_TASK_ROOT", root, 1);
        log_debug("task root: %s (from %s)", root, root_from);
    }
    char hook[128];
    if (o->hook)
        fmt_into(hook, sizeof hook, "%s", o->hook);
    else
        name_from_path(o->script, hook, sizeof hook);
    log_set_request_id("local");
    log_set_deployment_id(ev.deployment_id);

    struct buf stubs = BUF_INIT(HOOK_MAX_STUBS);
    if (o->stub_path && read_stubs(o->stub_path, &cfg, &stubs) < 0) {
        buf_free(&stubs);
        event_free(&ev);
        buf_free(&event);
        return 2;
    }
    int max_rounds = o->max_rounds > 0 ? o->max_rounds : HOOK_FOLLOW_ROUNDS;
    int64_t max_delay = o->max_delay_s >= 0 ? o->max_delay_s : HOOK_FOLLOW_MAX_DELAY;
    size_t text_len = event.len;
    char *text = buf_take(&event); /* the event of the current call */
    int rc = 1;
    for (int round = 1;; round++) {
        struct budget b = plan_budget(&cfg, o->timeout_ms);
        struct lhost_job job = {
            .event_json = text,
            .event_len = text_len,
            .hook = hook,
            .deployment_id = ev.deployment_id,
            .execution_id = ev.execution_id,
            .request_id = "local",
            .controller = controller_name(ev.kind, "local"),
            .stage = ev.ecs_stage,
            .mem_max = cfg.mem_max,
            .lua_dir = cfg.lua_dir,
            .task_root = root[0] ? root : NULL,
            .dry_run = o->dry_run,
            .verbose = o->verbose,
            .stubs_json = o->stub_path ? stubs.p : NULL,
            .stubs_len = stubs.len,
        };
        struct result r = {.hook = hook,
                           .ev = &ev,
                           .round = o->follow ? round : 0,
                           .stub_run = o->stub_path && !o->dry_run};
        execute(&cfg, o->script, NULL, &job, &b, o->dry_run, &r);

        char *json = result_json(&r);
        printf("%s\n", json);
        fflush(stdout);
        free(json);
        rc = r.out.reason == LHOST_OK ? 0 : 1;
        if (r.reported && r.report.result == REPORT_NOT_DELIVERED)
            rc = 1;
        if (r.stub_run && r.out.stubs_unused > 0) {
            log_error("hookhost run: %d stub entr%s never used (see the WARN lines above): the "
                      "script did not make every call the stub file expects",
                      r.out.stubs_unused, r.out.stubs_unused == 1 ? "y was" : "ies were");
            rc = 1;
        }
        say_local_outcome(&r, o->dry_run, o->follow);
        int again = o->follow && r.out.reason == LHOST_OK && r.out.in_progress;
        char *next = NULL;
        size_t next_len = 0;
        if (again && round >= max_rounds) {
            log_error("hookhost run --follow: hook %s still answers IN_PROGRESS after %d calls "
                      "(--max-rounds %d); stopped (ECS would go on calling it until its hook "
                      "timeout)",
                      hook, round, max_rounds);
            rc = 1;
            again = 0;
        } else if (again &&
                   follow_event(text, text_len, &r.out, &next, &next_len, err, sizeof err) < 0) {
            log_error("hookhost run --follow: cannot make the next call's event: %s", err);
            rc = 1;
            again = 0;
        }
        int64_t want = callback_seconds(&r.out);
        int64_t wait = want < max_delay ? want : max_delay;
        if (again)
            log_info("hookhost run --follow: call %d of at most %d answered IN_PROGRESS; calling "
                     "again in %lld s%s with hookDetails %.512s",
                     round, max_rounds, (long long)wait,
                     wait < want ? " (cut from the hook's delay by --max-delay)" : "",
                     r.out.details_json ? r.out.details_json : "as before");
        lhost_outcome_free(&r.out);
        if (!again)
            break;
        free(text);
        text = next;
        text_len = next_len;
        event_free(&ev);
        if (event_parse(text, text_len, &ev, err, sizeof err) < 0) {
            log_error("hookhost run --follow: the next call's event is unusable: %s", err);
            rc = 1;
            break;
        }
        sleep_ms(wait * 1000);
    }
    worker_shutdown();
    event_free(&ev);
    free(text);
    buf_free(&stubs);
    return rc;
}

/* ---- hookhost serve ----------------------------------------------------------------------------
 */

/* What this process remembers of recent hook executions, so that a redelivered event (Lambda
 * retries asynchronous invocations; CodeDeploy's invocation mode is undocumented) is not run
 * again: a known outcome whose report was delivered is answered as is; one whose report was not
 * delivered gets only its report retried. */
#define SEEN_MAX 64
/* The longest answer remembered as given; a longer one (a large result) is remembered without
 * its result, so the table holds at most SEEN_MAX short answers whatever scripts return. */
#define SEEN_ANSWER_MAX 4096
struct seen {
    char *execution_id;
    char status[16];
    int delivered;
    char *answer; /* the JSON answer given, or a short one without the result */
};
static struct seen seen_[SEEN_MAX];
static unsigned seen_next_;

static struct seen *seen_find(const char *execution_id)
{
    for (int i = 0; i < SEEN_MAX; i++)
        if (seen_[i].execution_id && strcmp(seen_[i].execution_id, execution_id) == 0)
            return &seen_[i];
    return NULL;
}

static struct seen *seen_add(const char *execution_id)
{
    struct seen *s = &seen_[seen_next_++ % SEEN_MAX];
    free(s->execution_id);
    free(s->answer);
    memset(s, 0, sizeof *s);
    s->execution_id = xstrdup(execution_id);
    return s;
}

/* Every answer and error message is redacted on its way out: it carries what the script
 * returned or raised. */
static void answer(struct rapi *api, const char *request_id, const char *body)
{
    char err[512], *b = log_redact(xstrdup(body));
    if (rapi_respond(api, request_id, b, strlen(b), err, sizeof err) < 0)
        log_error("could not answer the invocation: %s", err);
    free(b);
}

static void answer_error(struct rapi *api, const char *request_id, const char *type,
                         const char *message)
{
    char err[512], *m = log_redact(xstrdup(message));
    if (rapi_error(api, request_id, type, m, NULL, err, sizeof err) < 0)
        log_error("could not post the invocation error: %s", err);
    free(m);
}

/* A redelivered hook event: never run twice; make sure its report is there. */
static void handle_redelivery(struct rapi *api, const struct rapi_invocation *inv,
                              const struct event *ev, struct seen *s, int64_t report_ms)
{
    log_warn("redelivered hook execution: not running it again (status %s, report %s)", s->status,
             s->delivered ? "delivered" : "not yet delivered");
    if (!s->delivered) {
        struct report rep;
        report_send(ev->deployment_id, ev->execution_id, s->status, report_ms, &rep);
        s->delivered = rep.result != REPORT_NOT_DELIVERED;
        log_line(s->delivered ? LOG_INFO : LOG_ERROR, NULL,
                 "report %s: status %s (%s, %d attempts)", s->delivered ? "sent" : "NOT delivered",
                 s->status, report_result_name(rep.result), rep.attempts);
    }
    if (s->delivered) {
        struct json *j = json_new();
        json_set_str(j, "status", s->status);
        json_set_str(j, "deploymentId", ev->deployment_id);
        json_set_bool(j, "redelivered", 1);
        if (s->answer)
            json_set_raw(j, "first", s->answer, strlen(s->answer));
        char *body = json_finish(j);
        answer(api, inv->request_id, body);
        free(body);
    } else {
        answer_error(api, inv->request_id, "Runtime.ReportNotDelivered",
                     "the hook's status could not be reported to CodeDeploy");
    }
}

/* One invocation, from the event to the answer. */
static void handle(struct rapi *api, const struct config *cfg, const char *cfg_error,
                   struct rapi_invocation *inv)
{
    int64_t time_left = inv->deadline_epoch_ms - rapi_epoch_ms();
    struct budget b = plan_budget(cfg, time_left);
    log_set_request_id(inv->request_id);
    log_set_deployment_id(NULL);
    /* putenv on one static buffer: glibc's setenv keeps every value it was ever given (so that
     * old getenv pointers stay valid), which grew the runtime by ~120 bytes per event. */
    static char trace_env[sizeof "_X_AMZN_TRACE_ID=" + sizeof inv->trace_id];
    if (inv->trace_id[0]) {
        fmt_into(trace_env, sizeof trace_env, "_X_AMZN_TRACE_ID=%s", inv->trace_id);
        putenv(trace_env);
    } else {
        unsetenv("_X_AMZN_TRACE_ID");
    }

    char err[512];
    struct event ev;
    if (event_parse(inv->event.p, inv->event.len, &ev, err, sizeof err) < 0) {
        log_error("event received but unusable (%zu bytes): %s", inv->event.len, err);
        if (ev.kind == EVENT_ECS) /* ECS must get a hookStatus, never a function error */
            answer(api, inv->request_id, "{\"hookStatus\":\"FAILED\"}");
        else
            answer_error(api, inv->request_id, "Function.InvalidEvent", err);
        event_free(&ev);
        return;
    }
    log_set_deployment_id(ev.deployment_id);
    static const char *const kinds[] = {"plain invocation", "CodeDeploy hook", "ECS hook"};
    log_info("event received: %s%s%s, %lld ms left (reserve %lld ms)", kinds[ev.kind],
             ev.ecs_stage ? " at " : "", ev.ecs_stage ? ev.ecs_stage : "", (long long)time_left,
             (long long)b.reserve_ms);

    struct seen *s = ev.kind == EVENT_CODEDEPLOY ? seen_find(ev.execution_id) : NULL;
    if (s) {
        handle_redelivery(api, inv, &ev, s, b.report_ms);
        event_free(&ev);
        return;
    }

    char script[4096] = "", hook[128] = "unknown";
    const char *why = cfg_error;
    int discover = 0;
    if (!why) {
        int rc =
            resolve_script(cfg, &ev, script, sizeof script, hook, sizeof hook, err, sizeof err);
        if (rc < 0)
            why = err;
        discover = rc == 1;
    }
    struct lhost_job job = {
        .event_json = inv->event.p,
        .event_len = inv->event.len,
        .hook = hook,
        .deployment_id = ev.deployment_id,
        .execution_id = ev.execution_id,
        .request_id = inv->request_id,
        .controller = controller_name(ev.kind, "lambda"),
        .stage = ev.ecs_stage,
        .discover_hook = discover,
        .hooks_dir = discover ? script : NULL,
        .mem_max = cfg->mem_max,
        .lua_dir = cfg->lua_dir,
        .task_root = cfg->task_root,
    };
    struct result r = {.hook = hook, .ev = &ev};
    execute(cfg, why ? NULL : script, why, &job, &b, 0, &r);

    char *body = result_json(&r);
    if (ev.kind == EVENT_CODEDEPLOY) {
        s = seen_add(ev.execution_id);
        fmt_into(s->status, sizeof s->status, "%s", r.status);
        s->delivered = r.report.result != REPORT_NOT_DELIVERED;
        s->answer = strlen(body) <= SEEN_ANSWER_MAX ? xstrdup(body) : short_answer(&r);
        if (s->delivered)
            answer(api, inv->request_id, body);
        else
            answer_error(api, inv->request_id, "Runtime.ReportNotDelivered", r.report.error);
    } else if (ev.kind == EVENT_ECS) {
        char *a = ecs_answer(&r, cfg->on_error_succeeded);
        log_info("answered ECS: %s", a);
        answer(api, inv->request_id, a);
        free(a);
    } else if (r.out.reason == LHOST_OK) {
        const char *res = r.out.result_json ? r.out.result_json : "null";
        answer(api, inv->request_id, res);
    } else {
        answer_error(api, inv->request_id, "Function.HookFailed", r.out.message);
    }
    free(body);
    lhost_outcome_free(&r.out);
    event_free(&ev);
}

int hook_serve(void)
{
    char err[512], cfg_err[512];
    struct config cfg;
    const char *cfg_error = NULL;
    if (config_load(&cfg, cfg_err, sizeof cfg_err) < 0) {
        /* A bad setting fails every hook (with a report), never the runtime: an init error would
         * keep events from reaching us and leave CodeDeploy waiting an hour. */
        log_error("configuration: %s; every hook will fail until it is fixed", cfg_err);
        cfg_error = cfg_err;
        config_load_defaults(&cfg);
    }
    if (cfg.warning[0])
        log_warn("configuration: %s", cfg.warning);
    struct rapi *api = rapi_new(getenv("AWS_LAMBDA_RUNTIME_API"), err, sizeof err);
    if (!api) {
        log_line(LOG_FATAL, NULL, "cannot serve: %s", err);
        return 1;
    }
    /* The one init error: a runtime that could never deliver a report is broken. Lambda then
     * fails the invocations at once, which fails the deployment instead of letting it wait. */
    if (report_init(err, sizeof err) < 0) {
        char msg[600], perr[512];
        fmt_into(msg, sizeof msg, "cannot report to CodeDeploy: %s", err);
        log_line(LOG_FATAL, NULL, "%s", msg);
        if (rapi_init_error(api, "Runtime.ConfigError", msg, perr, sizeof perr) < 0)
            log_error("could not post the init error: %s", perr);
        rapi_free(api);
        return 1;
    }
    log_info("hookhost serving (handler %s, task root %s, memory %zu MiB)",
             cfg.handler ? cfg.handler : "(none)", cfg.task_root ? cfg.task_root : "(none)",
             cfg.mem_max >> 20);
    for (;;) {
        /* The next event's worker is forked now, between events, not on the event's path. */
        worker_prefork();
        struct rapi_invocation inv;
        if (rapi_next(api, &inv, err, sizeof err) < 0) {
            log_line(LOG_FATAL, NULL, "the Runtime API is gone: %s", err);
            rapi_free(api);
            return 1;
        }
        handle(api, &cfg, cfg_error, &inv);
        rapi_invocation_free(&inv);
        log_set_request_id(NULL);
        log_set_deployment_id(NULL);
    }
}
