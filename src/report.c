/* report.c: see report.h. */
#include "clock.h"
#include "report.h"

#include "aws.h"
#include "buf.h"
#include "json.h"
#include "log.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define TARGET "CodeDeploy_20141006.PutLifecycleEventHookExecutionStatus"

static struct aws_client *client_; /* the process's CodeDeploy client, created on first report */

const char *report_result_name(enum report_result r)
{
    switch (r) {
    case REPORT_ACCEPTED:
        return "accepted";
    case REPORT_ALREADY_COMPLETED:
        return "already completed";
    case REPORT_NOT_DELIVERED:
        break;
    }
    return "not delivered";
}

int report_init(char *err, size_t errlen)
{
    if (client_)
        return 0;
    struct aws_client *c = aws_client_new(NULL, err, errlen);
    if (!c)
        return -1;
    /* The endpoint is read from the environment at each call; it cannot change in between, so
     * one that does not resolve now never will. */
    struct aws_request req = {.service = "codedeploy"};
    struct aws_endpoint ep;
    if (aws_client_resolve(c, &req, &ep, err, errlen) < 0) {
        aws_client_free(c);
        return -1;
    }
    /* Every report goes over https (in Lambda): parse the CA bundle now, before the first worker
     * is forked, so that the worker inherits it and neither process parses it on an event's
     * path (docs/PERFORMANCE.md has the numbers). */
    if (strcmp(ep.scheme, "https") == 0)
        aws_client_preload_ca(c);
    client_ = c;
    return 0;
}

static void sleep_ms(int64_t ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

/* One status report. aws_json_call() already retries by the SDK's standard mode; on top of that,
 * as long as the failure is retryable and time is left, this tries again after a short jittered
 * pause: the report is the one call that must not give up while there is time. */
void report_send(const char *deployment_id, const char *execution_id, const char *status,
                 int64_t deadline_ms, struct report *out)
{
    memset(out, 0, sizeof *out);
    int64_t t0 = clock_ms();
    char err[512];
    if (!client_) {
        if (report_init(err, sizeof err) < 0) {
            out->result = REPORT_NOT_DELIVERED;
            fmt_into(out->error, sizeof out->error, "cannot call CodeDeploy: %s", err);
            return;
        }
    }
    struct json *j = json_new();
    json_set_str(j, "deploymentId", deployment_id);
    json_set_str(j, "lifecycleEventHookExecutionId", execution_id);
    json_set_str(j, "status", status);
    char *body = json_finish(j);

    out->result = REPORT_NOT_DELIVERED;
    int64_t pause = 50;
    for (;;) {
        struct http_response resp = HTTP_RESPONSE_INIT;
        struct aws_error e;
        int n = 0;
        int rc =
            aws_json_call(client_, "codedeploy", TARGET, "1.1", body, deadline_ms, &resp, &e, &n);
        http_response_free(&resp);
        out->attempts += n;
        if (rc == 0) {
            out->result = REPORT_ACCEPTED;
            break;
        }
        if (strcmp(e.code, "LifecycleEventAlreadyCompletedException") == 0) {
            out->result = REPORT_ALREADY_COMPLETED;
            break;
        }
        if (e.request_id[0])
            fmt_into(out->error, sizeof out->error, "%s: %s (HTTP %ld, request id %s)", e.code,
                     e.message, e.status, e.request_id);
        else if (e.status)
            fmt_into(out->error, sizeof out->error, "%s: %s (HTTP %ld)", e.code, e.message,
                     e.status);
        else
            fmt_into(out->error, sizeof out->error, "%s: %s", e.code, e.message);
        int64_t left = deadline_ms - clock_ms();
        if (!e.retryable || n == 0 || left < pause + AWS_MIN_ATTEMPT_MS)
            break;
        log_warn("report attempt failed (%s); trying again, %lld ms left", out->error,
                 (long long)left);
        sleep_ms(pause / 2 + rand() % (pause / 2 + 1));
        pause = pause * 2 > 1000 ? 1000 : pause * 2;
    }
    free(body);
    out->duration_ms = clock_ms() - t0;
    if (out->result != REPORT_NOT_DELIVERED)
        out->error[0] = '\0';
}
