/* rapi.h: the Lambda Runtime API (2018-06-01) client: next, response, error, init error.
 *
 * One client per process, on one kept-alive connection to AWS_LAMBDA_RUNTIME_API. `next` has no
 * client timeout (the sandbox is frozen between events). Transient failures (connection refused
 * or reset, 5xx) are retried with a short backoff; a Runtime API that stays gone is an error the
 * caller turns into a non-zero exit.
 */
#ifndef HOOKHOST_RAPI_H
#define HOOKHOST_RAPI_H

#include "buf.h"

#include <stddef.h>
#include <stdint.h>

#define RAPI_MAX_EVENT ((size_t)6 * 1024 * 1024 + 4096) /* Lambda's payload limit, plus slack */

/* One invocation. Filled by rapi_next(); release the event with rapi_invocation_free(). */
struct rapi_invocation {
    char request_id[128];      /* validated: letters, digits and '-' only (it goes in a URL) */
    int64_t deadline_epoch_ms; /* Lambda-Runtime-Deadline-Ms */
    char function_arn[256];    /* Lambda-Runtime-Invoked-Function-Arn, may be "" */
    char trace_id[512];        /* Lambda-Runtime-Trace-Id, may be "" */
    struct buf event;          /* the body */
};

struct rapi;

/* host_port is AWS_LAMBDA_RUNTIME_API ("127.0.0.1:9001"). Returns NULL with a message when it is
 * malformed or the HTTP client cannot be made. Free with rapi_free(). */
struct rapi *rapi_new(const char *host_port, char *err, size_t errlen);
void rapi_free(struct rapi *r);

/* Wait for the next invocation. Returns 0, or -1 with a message once retries are exhausted. */
int rapi_next(struct rapi *r, struct rapi_invocation *inv, char *err, size_t errlen);
void rapi_invocation_free(struct rapi_invocation *inv);

/* Post the invocation's response (any bytes; JSON by convention). Returns 0 when the Runtime API
 * accepted it (202), -1 otherwise with a message. */
int rapi_respond(struct rapi *r, const char *request_id, const char *body, size_t len, char *err,
                 size_t errlen);

/* Post an invocation error: header Lambda-Runtime-Function-Error-Type = error_type ("Runtime.X"
 * or "Function.X"), body {"errorMessage","errorType","stackTrace"} built with cjson, where
 * errorType is error_type after its dot. stack may be NULL. Returns 0 or -1. */
int rapi_error(struct rapi *r, const char *request_id, const char *error_type, const char *message,
               const char *stack, char *err, size_t errlen);

/* Post an initialisation error (then the caller exits). Returns 0 or -1. */
int rapi_init_error(struct rapi *r, const char *error_type, const char *message, char *err,
                    size_t errlen);

/* Epoch milliseconds now (Lambda's deadlines are on the wall clock). */
int64_t rapi_epoch_ms(void);

#endif
