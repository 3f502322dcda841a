/* lhost.h: one Lua state per hook execution, with the limits a script cannot escape.
 *
 * lhost_run() builds a fresh state (only the standard libraries a hook needs; text chunks only;
 * no C module loader), decodes the event with cjson, loads the script, calls the function it
 * returns as fn(event, ctx), and always fills an outcome: success, or failure with a reason and a
 * message. The state is closed before it returns, so nothing one execution sets is seen by the
 * next. Limits:
 *   - memory: a capped lua_Alloc; exhaustion is Lua's catchable "not enough memory" error;
 *   - time: a count hook checks the deadline; once it fires it re-arms on every line and every
 *     instruction, so a script's own pcall cannot swallow it.
 * A script blocked inside a C call (a network call, a pathological pattern match) is not stopped
 * here: the hook never fires inside C. That is the job of the worker process around it (hook.c)
 * and of the timeouts every network call derives from lhost_remaining_ms().
 */
#ifndef HOOKHOST_LHOST_H
#define HOOKHOST_LHOST_H

/* The largest JSON a hook's result (its first return value) or its in_progress details may
 * encode to. A larger result is dropped with a warning (the hook's status stands); larger
 * details fail the hook. Both travel in the outcome frame (worker.c) and in the answer to
 * Lambda, whose responses are limited to 6 MB. */
#define LHOST_MAX_RESULT ((size_t)1 << 20)

/* The longest traceback kept in an outcome; a longer one is cut. */
#define LHOST_MAX_TRACEBACK ((size_t)16 << 10)

/* ctx.in_progress's limit on callBackDelay, in seconds. */
#define LHOST_MAX_CALLBACK_DELAY 3600

#include <stddef.h>
#include <stdint.h>

struct lua_State;

/* What to run. Every pointer is borrowed for the duration of lhost_run(); NULL strings are
 * exposed to the script as nil. */
struct lhost_job {
    const char *script_path; /* the hook script, loaded as text */
    const char *event_json;  /* the event; NULL means {} */
    size_t event_len;
    const char *hook;          /* lifecycle event name: ctx.hook */
    const char *deployment_id; /* ctx.deployment_id */
    const char *execution_id;  /* ctx.execution_id */
    const char *request_id;    /* ctx.request_id */
    const char *controller;    /* ctx.controller: "codedeploy", "ecs", "lambda" or "local" */
    const char *stage;         /* ctx.stage: the ECS lifecycle stage, or NULL */
    int64_t deadline_ms;       /* monotonic ms (clock_ms()) at which the script is stopped */
    size_t mem_max;            /* bytes the Lua state may hold */
    const char *lua_dir;       /* the hookhost Lua library (lua/), on package.path */
    const char *task_root;     /* LAMBDA_TASK_ROOT, on package.path; may be NULL */
    int dry_run;               /* ctx.dry_run; signed calls are described, not sent */
    int verbose;               /* dry run: descriptions show headers and body (hookhost run -v) */
    /* Canned answers (hookhost run --stub): a JSON array of hookhost.stubs entries, loaded
     * before the script runs; strict unless dry_run. NULL: none. */
    const char *stubs_json;
    size_t stubs_len;
    /* _HANDLER=auto for a CodeDeploy event: ask hookhost.codedeploy which lifecycle event is
     * InProgress, then run <hooks_dir>/<that name>.lua; script_path and hook are then unused. */
    int discover_hook;
    const char *hooks_dir;
};

enum lhost_reason {
    LHOST_OK = 0,
    LHOST_ERROR,          /* the script raised */
    LHOST_RETURNED_FALSE, /* the function returned false[, message] */
    LHOST_TIMEOUT,        /* the deadline passed */
    LHOST_MEMORY,         /* the memory cap was hit and not recovered from */
    LHOST_MISSING,        /* the script file does not exist or cannot be read */
    LHOST_SYNTAX,         /* the script does not compile */
    LHOST_BAD_SCRIPT,     /* the script did not return a function */
    LHOST_BAD_EVENT,      /* the event is not valid JSON */
    LHOST_CRASH,          /* the process running the script died (worker.c) */
    LHOST_UNKNOWN_HOOK,   /* _HANDLER=auto could not tell which lifecycle event is running */
};
#define LHOST_REASON_LAST LHOST_UNKNOWN_HOOK

/* The result of one execution. Owned by the caller; release with lhost_outcome_free(). */
struct lhost_outcome {
    enum lhost_reason reason;
    char message[2048]; /* one line for people: "hooks/x.lua:3: boom", "timed out after 1000 ms" */
    char *traceback;    /* malloc'd Lua traceback, or NULL */
    char *result_json;  /* malloc'd JSON of the function's first return value, or NULL */
    size_t mem_peak;    /* the most bytes the state held */
    int64_t duration_ms;
    /* ECS-native hooks: the function returned the value of ctx.in_progress{delay, details}. */
    int in_progress;
    int64_t callback_delay; /* seconds; -1: ECS's default */
    char *details_json;     /* malloc'd JSON object for hookDetails, or NULL */
    char hook[80];          /* the lifecycle event discovered (discover_hook), else "" */
    int stubs_unused;       /* strict stubs: entries the script never used (each logged) */
};

/* Run one execution. Never fails to fill *out; returns 0 when the hook succeeded, -1 otherwise. */
int lhost_run(const struct lhost_job *job, struct lhost_outcome *out);
void lhost_outcome_free(struct lhost_outcome *out);
/* Redact (log_redact) every text of the outcome in place: message, traceback, result, details.
 * Called where the script's text leaves the process that ran it, with that process's secrets. */
void lhost_outcome_redact(struct lhost_outcome *out);

/* A short name for a reason ("error", "timeout", ...), as used in logs and outcomes. */
const char *lhost_reason_name(enum lhost_reason r);

/* Compile a script without running it. Returns 0, or -1 with "file:line: message" in err. */
int lhost_check(const char *path, char *err, size_t errlen);

/* For C functions exposed to Lua: the time the running script has left, in ms (>= 0), and
 * whether this execution is a dry run. Valid only inside lhost_run(). */
int64_t lhost_remaining_ms(struct lua_State *L);
int lhost_dry_run(struct lua_State *L);
int lhost_verbose(struct lua_State *L);

/* Check a stub file's text as hookhost.stubs.load would take it (the library in lua_dir), in a
 * state of its own. Returns 0, or -1 with the reason in err ("not valid JSON: ...", "stub entry
 * 3: operation must be ..."). */
int lhost_check_stubs(const char *json, size_t len, const char *lua_dir, char *err, size_t errlen);

#endif
