/* hook.h: the path every hook takes: event -> script -> outcome (-> report, in serve mode).
 *
 * hook_run_local() is `hookhost run`: the same path as in Lambda, driven from a terminal.
 */
#ifndef HOOKHOST_HOOK_H
#define HOOKHOST_HOOK_H

#include <stdint.h>

struct hook_local_opts {
    const char *script;     /* path of the hook script */
    const char *event_path; /* event file, "-" for stdin, NULL for {} */
    const char *hook;       /* lifecycle event name; NULL: the script's base name */
    int64_t timeout_ms;     /* the hook's whole time */
    int dry_run;
};

/* Run one hook locally; prints log lines on stderr and the outcome as one JSON line on stdout.
 * Returns the exit status: 0 the hook succeeded, 1 it failed, 2 the invocation was wrong (bad
 * event file, bad settings). */
int hook_run_local(const struct hook_local_opts *o);

/* The largest event accepted (Lambda's synchronous payload limit is 6 MB). */
#define HOOK_MAX_EVENT ((size_t)6 * 1024 * 1024 + 4096)

#endif
