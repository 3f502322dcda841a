/* report.h: the finalizer's call: PutLifecycleEventHookExecutionStatus, retried within a deadline.
 *
 * LifecycleEventAlreadyCompletedException means the status is already recorded (an earlier
 * delivery of the same event reported it): that counts as delivered, not as a failure.
 */
#ifndef HOOKHOST_REPORT_H
#define HOOKHOST_REPORT_H

#include <stddef.h>
#include <stdint.h>

enum report_result {
    REPORT_ACCEPTED,          /* CodeDeploy accepted this status */
    REPORT_ALREADY_COMPLETED, /* CodeDeploy already had a status for this hook execution */
    REPORT_NOT_DELIVERED,     /* every attempt failed, or no attempt could be made in time */
};

struct report {
    enum report_result result;
    int attempts;
    int64_t duration_ms;
    char error[512]; /* why it was not delivered; "" otherwise */
};

/* Report status ("Succeeded" or "Failed") for one hook execution, trying until deadline_ms
 * (monotonic). Uses one AWS client for the life of the process (kept-alive connection to
 * CodeDeploy). Always fills *out. */
void report_send(const char *deployment_id, const char *execution_id, const char *status,
                 int64_t deadline_ms, struct report *out);

/* Create the process's CodeDeploy client and resolve the CodeDeploy endpoint now, so that a
 * setting that makes every report impossible (AWS_MAX_ATTEMPTS, AWS_RETRY_MODE, AWS_CA_BUNDLE,
 * a bad AWS_ENDPOINT_URL_CODEDEPLOY or AWS_ENDPOINT_URL, no region) is found at start-up, where
 * it is an init error, rather than at the first hook. Opens no connection. Returns 0, or -1 with
 * a message naming the setting. report_send() calls it itself when needed. */
int report_init(char *err, size_t errlen);

const char *report_result_name(enum report_result r);

#endif
