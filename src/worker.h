/* worker.h: run hook executions in a worker process, so that nothing a script does (a crash
 * inside C, a signal, an abort, a block inside a C call) can take the finalizer with it.
 *
 * The parent keeps one worker process; for each execution it sends the job (JSON through cjson,
 * the event included, and a random job id) down a socket, and the worker runs lhost_run() in a
 * fresh Lua state and sends the outcome, tagged with that id, back. The parent reads until the
 * outcome arrives or until the hard deadline, when it kills the worker with SIGKILL. Whatever
 * happened, the parent ends up with an outcome: the worker's own, or one saying how the worker
 * died. A worker that died, was killed, answered out of turn, or has served
 * WORKER_MAX_EXECUTIONS is replaced by a fresh fork. Nothing a script can reach survives its Lua
 * state: what the worker keeps between executions is the process (no fork per event), the HTTP
 * connections, the parsed CA store and the cached credentials.
 *
 * The parent must ignore SIGPIPE (main() does): a worker killed from outside makes the job's
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

/* The worker's memory outside Lua is bounded too: during a job its data segment (RLIMIT_DATA:
 * heap and private writable mappings, what malloc anywhere in C draws on) may grow to what it was
 * when the worker started, plus WORKER_DATA_FACTOR times the job's Lua cap (the state itself and
 * cjson's encoding buffer), plus WORKER_DATA_HEADROOM (the event, HTTP bodies up to 16 MiB, TLS,
 * a resolver thread's stack). An allocation past it fails: in Lua as "not enough memory", in C
 * as the process's out-of-memory exit, which the parent reports as a memory outcome. Builds with
 * AddressSanitizer (whose shadow memory is one huge mapping) leave this limit out. */
#define WORKER_DATA_FACTOR   3
#define WORKER_DATA_HEADROOM ((size_t)96 << 20)

/* The exit status of a process that ran out of memory in C (buf.c's xmalloc, json.c); a worker
 * that exits in the middle of a job exits with it too. */
#define WORKER_EXIT_NOMEM 70

/* How many executions one worker process serves before it is replaced. */
#define WORKER_MAX_EXECUTIONS 1000

/* Retire the worker (at exit; the next worker_run() forks a new one). */
void worker_shutdown(void);

/* The largest job a worker accepts (the event plus its settings). */
#define WORKER_MAX_JOB ((size_t)16 << 20)

/* Fork the worker now if none is ready, so that the next worker_run() does not pay for the
 * fork (serve calls it before each next). Failing here is not an error: worker_run() forks on
 * demand. */
void worker_prefork(void);

/* The worker's process id, or -1 when there is none (for tests). */
int worker_spare_pid(void);

/* What the last worker_run cost in the parent, for the logs and the benchmarks: microseconds from
 * handing the job over to the child's exit being reaped, minus the time lhost_run() took in the
 * child (the Lua state, the script, its calls). */
int64_t worker_last_overhead_us(void);

#endif
