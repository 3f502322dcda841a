/* fuzz_rapi: the Runtime API client's handling of a `next` answer (status, request id, deadline,
 * function ARN, trace id, body) and what it does with them afterwards (the response and error
 * URLs and the error body).
 *
 * rapi.c is coupled to http.c, so this target includes rapi.c and links a stand-in for the
 * HTTP client instead of http.o: http_do() answers a GET with the fuzz input (a first line
 * "NNN" for the status, header lines "Name: value" up to a blank line, then the body) and
 * records the URL and body of every POST. No seam in rapi.c is needed.
 *
 * Invariants: an accepted invocation has a request id of letters, digits and '-' (it goes into
 * a URL path), a positive deadline at most 15 minutes away (Lambda's longest timeout), terminated
 * ARN and trace id, and the body as sent; the URLs rapi posts to hold no byte outside that set
 * beyond the fixed path; the error body it builds from a message carrying input bytes (the trace
 * id) is a JSON object whose errorMessage decodes back to the message. */
#include "../../src/rapi.c"

#include "fuzz.h"

static const uint8_t *in_data;
static size_t in_size;
static char last_url[700];
static char *last_body;
static size_t last_body_len;

/* ---- the stand-in for http.c ---- */
struct http_client {
    int unused;
};

struct http_client *http_client_new(const struct http_options *opt, char *err, size_t errlen)
{
    (void)opt, (void)err, (void)errlen;
    return xcalloc(1, sizeof(struct http_client));
}

void http_client_free(struct http_client *c)
{
    free(c);
}

int http_retryable(int rc)
{
    return rc == HTTP_ERR_CONNECTION;
}

int64_t http_now_ms(void)
{
    return 0;
}

int64_t http_deadline_in(int64_t ms)
{
    return ms;
}

void http_response_free(struct http_response *resp)
{
    for (size_t i = 0; i < resp->nheaders; i++) {
        free((char *)(uintptr_t)resp->headers[i].name);
        free((char *)(uintptr_t)resp->headers[i].value);
    }
    free(resp->headers);
    buf_free(&resp->body);
    *resp = (struct http_response)HTTP_RESPONSE_INIT;
}

const char *http_header_get(const struct http_response *resp, const char *name)
{
    for (size_t i = 0; i < resp->nheaders; i++)
        if (str_ieq(str_cstr(resp->headers[i].name), str_cstr(name)))
            return resp->headers[i].value;
    return NULL;
}

static void answer_next(struct http_response *resp)
{
    const char *d = (const char *)in_data, *end = d + in_size, *p = d;
    resp->status = 200;
    const char *eol = memchr(p, '\n', in_size);
    if (!eol) {
        buf_append(&resp->body, d, in_size);
        return;
    }
    char line[8] = {0};
    memcpy(line, p, (size_t)(eol - p) < 7 ? (size_t)(eol - p) : 7);
    char *e = NULL;
    long v = strtol(line, &e, 10);
    /* 5xx is left out: rapi.c retries it with real sleeps (1.55 s per input) */
    if (e != line && v >= 100 && v <= 499)
        resp->status = v;
    p = eol + 1;
    size_t cap = 0;
    while (p < end) {
        eol = memchr(p, '\n', (size_t)(end - p));
        if (!eol)
            eol = end;
        const char *next = eol < end ? eol + 1 : end;
        if (eol == p) {
            p = next;
            break;
        }
        const char *colon = memchr(p, ':', (size_t)(eol - p));
        if (colon && resp->nheaders < HTTP_MAX_HEADERS) {
            const char *vs = colon + 1;
            while (vs < eol && (*vs == ' ' || *vs == '\t'))
                vs++;
            if (resp->nheaders == cap) {
                cap = cap ? cap * 2 : 8;
                resp->headers = xrealloc(resp->headers, cap * sizeof *resp->headers);
            }
            /* as http.c keeps them: NUL-terminated copies (a NUL in a value cuts it short) */
            resp->headers[resp->nheaders].name = xstrndup(p, (size_t)(colon - p));
            resp->headers[resp->nheaders].value = xstrndup(vs, (size_t)(eol - vs));
            resp->nheaders++;
        }
        p = next;
    }
    if (buf_append(&resp->body, p, (size_t)(end - p)) < 0)
        abort();
}

int http_do(struct http_client *c, const struct http_request *req, struct http_response *resp,
            char *err, size_t errlen)
{
    (void)c;
    http_response_free(resp);
    if (strcmp(req->method, "GET") == 0) {
        answer_next(resp);
        return 0;
    }
    fmt_into(last_url, sizeof last_url, "%s", req->url);
    free(last_body);
    last_body = xmalloc(req->body_len + 1);
    memcpy(last_body, req->body, req->body_len);
    last_body[req->body_len] = '\0';
    last_body_len = req->body_len;
    (void)err, (void)errlen;
    resp->status = 202;
    return 0;
}

/* ---- the target ---- */
static void check_post_url(const char *id, const char *suffix)
{
    char want[700];
    fmt_into(want, sizeof want, "http://127.0.0.1:9001/2018-06-01/runtime/invocation/%s/%s", id,
             suffix);
    FUZZ_CHECK(strcmp(last_url, want) == 0);
    for (const char *p = last_url; *p; p++)
        FUZZ_CHECK(*p > 0x20 && *p < 0x7f && *p != '?' && *p != '#' && *p != '%');
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct rapi *r;
    char err[1024];
    if (!r && !(r = rapi_new("127.0.0.1:9001", err, sizeof err)))
        abort();
    in_data = data;
    in_size = size;

    struct rapi_invocation inv;
    int rc = rapi_next(r, &inv, err, sizeof err);
    if (rc < 0) {
        FUZZ_CHECK(fuzz_terminated(err, sizeof err));
        rapi_invocation_free(&inv);
        return 0;
    }
    size_t n = strlen(inv.request_id);
    FUZZ_CHECK(n > 0 && valid_request_id(inv.request_id, n));
    FUZZ_CHECK(inv.deadline_epoch_ms > 0);
    FUZZ_CHECK(inv.deadline_epoch_ms <= rapi_epoch_ms() + 15 * 60 * 1000);
    FUZZ_CHECK(fuzz_terminated(inv.function_arn, sizeof inv.function_arn));
    FUZZ_CHECK(fuzz_terminated(inv.trace_id, sizeof inv.trace_id));
    FUZZ_CHECK(inv.event.p && inv.event.p[inv.event.len] == '\0');

    FUZZ_CHECK(rapi_respond(r, inv.request_id, inv.event.p, inv.event.len, err, sizeof err) == 0);
    check_post_url(inv.request_id, "response");
    FUZZ_CHECK(last_body_len == inv.event.len);

    /* an error whose message and stack carry input bytes, as hook.c's do */
    char msg[600];
    fmt_into(msg, sizeof msg, "trace %s", inv.trace_id);
    FUZZ_CHECK(
        rapi_error(r, inv.request_id, "Runtime.Fuzz", msg, inv.function_arn, err, sizeof err) == 0);
    check_post_url(inv.request_id, "error");
    struct json_field f[] = {{.key = "errorMessage"}, {.key = "errorType"}, {.key = "stackTrace"}};
    FUZZ_CHECK(json_get_fields(last_body, last_body_len, f, 3, err, sizeof err) == 0);
    FUZZ_CHECK(f[0].kind == JSON_STRING && strcmp(f[0].value, msg) == 0);
    FUZZ_CHECK(f[1].kind == JSON_STRING && strcmp(f[1].value, "Runtime.Fuzz") == 0);
    FUZZ_CHECK(f[2].kind == JSON_OTHER);
    json_fields_free(f, 3);
    rapi_invocation_free(&inv);
    return 0;
}
