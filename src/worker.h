/* worker.h: run one hook execution in a child process, so that nothing the script does (a
 * crash inside C, a signal, an abort, a block inside a C call) can take the finalizer with it.
 *
 * The parent forks; the child runs lhost_run() with the script's deadline and writes the outcome
 * (JSON through cjson) to a pipe, then _exits. The parent reads until the child is done or until
 * the hard deadline, when it kills the child with SIGKILL. Whatever happened, the parent ends up
 * with an outcome: the child's own, or one saying how the child died.
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

/* What the last worker_run cost in the parent, for the logs and the benchmarks: microseconds from
 * fork to the child's exit being reaped, minus the time the script itself ran. */
int64_t worker_last_overhead_us(void);

#endif
