/* hook.h: the path every hook takes, in Lambda and at a terminal:
 *
 *   event -> validate -> script (from _HANDLER or the command line) -> worker process with
 *   limits -> outcome (always) -> report to CodeDeploy (hook events) -> answer
 *
 * hook_serve() is `hookhost serve` (the Lambda bootstrap); hook_run_local() is `hookhost run`.
 */
#ifndef HOOKHOST_HOOK_H
#define HOOKHOST_HOOK_H

#include <stdint.h>

struct hook_local_opts {
    const char *script;     /* path of the hook script */
    const char *event_path; /* event file, "-" for stdin, NULL for {} */
    const char *hook;       /* lifecycle event name; NULL: the script's base name */
    int64_t timeout_ms;     /* the hook's whole time, reserve included */
    int dry_run;            /* no report; signed calls are described, not sent */
    int verbose;            /* dry run: descriptions show headers and body */
    /* A stub file (JSON, hookhost.stubs entries): AWS calls get its canned answers and nothing is
     * reported; without dry_run strictly (an unexpected call raises, unused entries fail the
     * run with "stubs_unused" in the outcome). NULL: none. */
    const char *stub_path;
    const char *task_root; /* the function package; NULL: LAMBDA_TASK_ROOT, else from the script's
                            * path (<root>/hooks/X.lua -> <root>, else the script's folder) */
    int follow;            /* an ECS event: call again while the hook answers IN_PROGRESS */
    int max_rounds;        /* with follow: at most this many calls (0: HOOK_FOLLOW_ROUNDS) */
    int max_delay_s;       /* with follow: wait at most this long between calls (-1: 30) */
};

/* --follow's defaults: rounds, and the longest wait between two calls, in seconds. */
#define HOOK_FOLLOW_ROUNDS    20
#define HOOK_FOLLOW_MAX_DELAY 30

/* Run one hook locally, with the same worker, limits and finalizer as in Lambda: an event with
 * a DeploymentId gets its status reported to CodeDeploy (unless dry_run). Logs go to stderr and
 * the outcome to stdout as one JSON line (one per call with follow). Returns the exit status: 0 the
 * hook succeeded, 1 it failed (or its report could not be delivered), 2 the invocation was wrong.
 */
int hook_run_local(const struct hook_local_opts *o);

/* Serve invocations from the Runtime API at $AWS_LAMBDA_RUNTIME_API until it goes away. Returns
 * the process exit status (non-zero: the Runtime API is gone or unusable). */
int hook_serve(void);

/* The largest event accepted (Lambda's synchronous payload limit is 6 MB). */
#define HOOK_MAX_EVENT ((size_t)6 * 1024 * 1024 + 4096)

/* The largest stub file `hookhost run --stub` reads. */
#define HOOK_MAX_STUBS ((size_t)1024 * 1024)

#endif
