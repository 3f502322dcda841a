/* rapi.c: see rapi.h. */
#include "rapi.h"

#include "http.h"
#include "json.h"
#include "log.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define RAPI_POST_TIMEOUT_MS 10000 /* a post to a local API that takes longer is a failure */
#define RAPI_ATTEMPTS        6     /* per call; backoff 50, 100, 200, 400, 800 ms */
#define RAPI_MAX_TIMEOUT_MS  (15 * 60 * 1000LL) /* Lambda's longest function timeout */

struct rapi {
    struct http_client *http;
    char base[300]; /* "http://host:port/2018-06-01" */
};

int64_t rapi_epoch_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The Runtime API address is host:port with a host of letters, digits, '.', '-' or an IPv6
 * literal in brackets; anything else could reshape the URL it is put in. */
static int valid_host_port(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 255)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '-' || c == ':' || c == '[' || c == ']'))
            return 0;
    }
    return 1;
}

/* Request ids go into URL paths: letters, digits and '-' only. */
static int valid_request_id(const char *s, size_t n)
{
    if (n == 0 || n >= sizeof((struct rapi_invocation *)0)->request_id)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-'))
            return 0;
    }
    return 1;
}

struct rapi *rapi_new(const char *host_port, char *err, size_t errlen)
{
    if (!host_port || !valid_host_port(host_port)) {
        fmt_into(err, errlen, "AWS_LAMBDA_RUNTIME_API is %s; expected host:port",
                 host_port && *host_port ? "malformed" : "not set");
        return NULL;
    }
    /* The Runtime API is on this machine: an egress proxy from the environment must never
     * carry (or refuse) its requests. */
    struct http_options opt = {.max_body = RAPI_MAX_EVENT, .direct = 1};
    struct http_client *http = http_client_new(&opt, err, errlen);
    if (!http)
        return NULL;
    struct rapi *r = xcalloc(1, sizeof *r);
    r->http = http;
    fmt_into(r->base, sizeof r->base, "http://%s/2018-06-01", host_port);
    return r;
}

void rapi_free(struct rapi *r)
{
    if (!r)
        return;
    http_client_free(r->http);
    free(r);
}

void rapi_invocation_free(struct rapi_invocation *inv)
{
    buf_free(&inv->event);
}

static void sleep_ms(int64_t ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

/* One exchange with the Runtime API, retried while the failure is transient: connection errors
 * and 5xx (the API restarting) are, 4xx are not (the request itself is wrong). Returns 0, or -1
 * with *http_rc (may be NULL) set to http_do()'s error, or 0 for a 5xx status. */
static int exchange(struct rapi *r, const struct http_request *req, struct http_response *resp,
                    int *http_rc, char *err, size_t errlen)
{
    int64_t backoff = 50;
    for (int attempt = 1;; attempt++) {
        int rc = http_do(r->http, req, resp, err, errlen);
        if (http_rc)
            *http_rc = rc;
        int transient = rc < 0 ? http_retryable(rc) : resp->status >= 500;
        if (rc == 0 && !transient)
            return 0;
        if (rc == 0)
            fmt_into(err, errlen, "%s %s: HTTP %ld", req->method, req->url, resp->status);
        if (!transient || attempt == RAPI_ATTEMPTS)
            return -1;
        log_warn("Runtime API: %s; retrying in %lld ms (attempt %d of %d)", err, (long long)backoff,
                 attempt, RAPI_ATTEMPTS);
        http_response_free(resp);
        sleep_ms(backoff);
        backoff *= 2;
    }
}

static void header_into(const struct http_response *resp, const char *name, char *out,
                        size_t outlen)
{
    const char *v = http_header_get(resp, name);
    fmt_into(out, outlen, "%s", v ? v : "");
}

/* An event over RAPI_MAX_EVENT arrived (its headers did): answer it with an error, so that the
 * runtime can go on serving. Returns 0 when it was answered. */
static int refuse_oversized(struct rapi *r, const struct http_response *resp)
{
    const char *id = http_header_get(resp, "Lambda-Runtime-Aws-Request-Id");
    if (!id || !valid_request_id(id, strlen(id)))
        return -1;
    char msg[160], err[512];
    fmt_into(msg, sizeof msg, "the event is larger than the runtime's %zu-byte limit",
             RAPI_MAX_EVENT);
    log_error("event %s refused: %s", id, msg);
    if (rapi_error(r, id, "Function.InvalidEvent", msg, NULL, err, sizeof err) < 0)
        log_error("could not post the invocation error: %s", err);
    return 0;
}

int rapi_next(struct rapi *r, struct rapi_invocation *inv, char *err, size_t errlen)
{
    memset(inv, 0, sizeof *inv);
    char url[400];
    fmt_into(url, sizeof url, "%s/runtime/invocation/next", r->base);
    struct http_request req = {.method = "GET", .url = url, .deadline_ms = HTTP_NO_DEADLINE};
    struct http_response resp = HTTP_RESPONSE_INIT;
    int http_rc = 0;
    while (exchange(r, &req, &resp, &http_rc, err, errlen) < 0) {
        int refused = http_rc == HTTP_ERR_TOO_LARGE && refuse_oversized(r, &resp) == 0;
        http_response_free(&resp);
        if (!refused)
            return -1;
    }
    int rc = -1;
    if (resp.status != 200) {
        fmt_into(err, errlen, "GET %s: HTTP %ld", url, resp.status);
        goto cleanup;
    }
    const char *id = http_header_get(&resp, "Lambda-Runtime-Aws-Request-Id");
    if (!id || !valid_request_id(id, strlen(id))) {
        fmt_into(err, errlen, "the Runtime API sent an event without a usable request id");
        goto cleanup;
    }
    fmt_into(inv->request_id, sizeof inv->request_id, "%s", id);
    const char *dl = http_header_get(&resp, "Lambda-Runtime-Deadline-Ms");
    char *end = NULL;
    long long v = dl ? strtoll(dl, &end, 10) : 0;
    /* Without a usable deadline, assume Lambda's default 3 s rather than none at all. */
    int64_t now = rapi_epoch_ms();
    inv->deadline_epoch_ms = (dl && end && !*end && v > 0) ? v : now + 3000;
    /* No invocation outlives Lambda's longest timeout: a deadline further out (up to LLONG_MAX
     * from strtoll) would give a script unbounded time, so hold it to that much from now. */
    if (inv->deadline_epoch_ms > now + RAPI_MAX_TIMEOUT_MS)
        inv->deadline_epoch_ms = now + RAPI_MAX_TIMEOUT_MS;
    header_into(&resp, "Lambda-Runtime-Invoked-Function-Arn", inv->function_arn,
                sizeof inv->function_arn);
    header_into(&resp, "Lambda-Runtime-Trace-Id", inv->trace_id, sizeof inv->trace_id);
    inv->event = resp.body;
    resp.body = BUF_INIT(0);
    if (!inv->event.p)
        buf_puts(&inv->event, "");
    rc = 0;
cleanup:
    http_response_free(&resp);
    return rc;
}

/* POST a body to path under the API's base; 202 is the only success. */
static int post(struct rapi *r, const char *path, const struct http_header *headers, size_t nh,
                const char *body, size_t len, char *err, size_t errlen)
{
    char url[600];
    fmt_into(url, sizeof url, "%s%s", r->base, path);
    struct http_request req = {.method = "POST",
                               .url = url,
                               .headers = headers,
                               .nheaders = nh,
                               .body = body,
                               .body_len = len,
                               .deadline_ms = http_deadline_in(RAPI_POST_TIMEOUT_MS)};
    struct http_response resp = HTTP_RESPONSE_INIT;
    int rc = exchange(r, &req, &resp, NULL, err, errlen);
    if (rc == 0 && resp.status != 202) {
        fmt_into(err, errlen, "POST %s: HTTP %ld %.200s", path, resp.status,
                 resp.body.p ? resp.body.p : "");
        rc = -1;
    }
    http_response_free(&resp);
    return rc;
}

int rapi_respond(struct rapi *r, const char *request_id, const char *body, size_t len, char *err,
                 size_t errlen)
{
    char path[200];
    fmt_into(path, sizeof path, "/runtime/invocation/%s/response", request_id);
    struct http_header h[] = {{"Content-Type", "application/json"}};
    return post(r, path, h, 1, body, len, err, errlen);
}

/* {"errorMessage", "errorType", "stackTrace"}, the body Lambda expects for both kinds of error:
 * errorType whole ("Runtime.ReportNotDelivered", as in the header), stackTrace a list of lines
 * (empty: []). */
static char *error_body(const char *error_type, const char *message, const char *stack)
{
    struct json *j = json_new();
    json_set_str(j, "errorMessage", message);
    json_set_str(j, "errorType", error_type);
    const char *lines[64];
    size_t n = 0;
    char *copy = stack ? xstrdup(stack) : NULL;
    for (char *p = copy, *nl; p && *p && n < 64; p = nl ? nl + 1 : NULL) {
        nl = strchr(p, '\n');
        if (nl)
            *nl = '\0';
        lines[n++] = p;
        if (!nl)
            break;
    }
    json_set_str_array(j, "stackTrace", lines, n);
    char *body = json_finish(j);
    free(copy);
    return body;
}

int rapi_error(struct rapi *r, const char *request_id, const char *error_type, const char *message,
               const char *stack, char *err, size_t errlen)
{
    char path[200];
    fmt_into(path, sizeof path, "/runtime/invocation/%s/error", request_id);
    char *body = error_body(error_type, message, stack);
    struct http_header h[] = {{"Content-Type", "application/json"},
                              {"Lambda-Runtime-Function-Error-Type", error_type}};
    int rc = post(r, path, h, 2, body, strlen(body), err, errlen);
    free(body);
    return rc;
}

int rapi_init_error(struct rapi *r, const char *error_type, const char *message, char *err,
                    size_t errlen)
{
    char *body = error_body(error_type, message, NULL);
    struct http_header h[] = {{"Content-Type", "application/json"},
                              {"Lambda-Runtime-Function-Error-Type", error_type}};
    int rc = post(r, "/runtime/init/error", h, 2, body, strlen(body), err, errlen);
    free(body);
    return rc;
}
