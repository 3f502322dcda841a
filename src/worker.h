/* worker.h: run one hook execution in a child process, so that nothing the script does (a
 * crash inside C, a signal, an abort, a block inside a C call) can take the finalizer with it.
 *
 * The parent keeps one worker forked in advance (worker_prefork(), between events); for each
 * execution it sends the job (JSON through cjson, the event included) down a pipe, and the child
 * runs lhost_run() and writes the outcome back, then _exits. The parent reads until the child is
 * done or until the hard deadline, when it kills the child with SIGKILL. Whatever happened, the
 * parent ends up with an outcome: the child's own, or one saying how the child died. Each worker
 * runs exactly one execution, so nothing one script does survives into the next.
 *
 * The parent must ignore SIGPIPE (main() does): a spare killed from outside makes the job's
 * write fail with EPIPE, and worker_run() then forks another.
 */
#ifndef HOOKHOST_WORKER_H
#define HOOKHOST_WORKER_H

#include "lhost.h"

#include <stdint.h>

/* Run job in a child. hard_deadline_ms (monotonic) is when the parent stops waiting and kills
 * the child; it should leave the child's own deadline (job->deadline_ms) a little room to stop
 * by itself. Always fills *out (release with lhost_outcome_free); returns 0 when the hook
 * succeeded, -1 otherwise. */
int worker_run(const struct lhost_job *job, int64_t hard_deadline_ms, struct lhost_outcome *out);

/* The largest job a worker accepts (the event plus its settings). */
#define WORKER_MAX_JOB ((size_t)16 << 20)

/* Fork the spare worker now if none is waiting, so that the next worker_run() does not pay for
 * the fork. Failing here is not an error: worker_run() forks on demand. */
void worker_prefork(void);

/* The spare's process id, or -1 when none is waiting (for tests). */
int worker_spare_pid(void);

/* What the last worker_run cost in the parent, for the logs and the benchmarks: microseconds from
 * handing the job over to the child's exit being reaped, minus the time lhost_run() took in the
 * child (the Lua state, the script, its calls). */
int64_t worker_last_overhead_us(void);

#endif
