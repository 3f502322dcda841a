/* fuzz_aws_error: aws_decode_error() (the X-Amzn-ErrorType header, JSON `__type`/`code`/
 * `message` through cjson, XML `Error/Code`/`Message`/`RequestId` through expat) on arbitrary
 * responses.
 *
 * Input: a first line "NNN" (status; anything else is 400), header lines "Name: value" up to a
 * blank line, then the body. Invariants: every string of struct aws_error is NUL-terminated
 * inside its array; the code is never empty and holds no ':' or '#' left over from trimming when
 * it came from a header; the message is never empty; retryable is 0 or 1; the status is the
 * response's. aws_trim_error_code is also run on the raw first header value. */
#include "aws.h"
#include "fuzz.h"

#define MAX_HEADERS 32

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *d = (const char *)data, *end = d + size, *p = d;
    struct http_header h[MAX_HEADERS];
    char *owned[2 * MAX_HEADERS];
    size_t nh = 0, no = 0;
    long status = 400;

    const char *eol = memchr(p, '\n', size);
    if (eol) {
        char line[8] = {0};
        size_t n = (size_t)(eol - p) < sizeof line - 1 ? (size_t)(eol - p) : sizeof line - 1;
        memcpy(line, p, n);
        char *e = NULL;
        long v = strtol(line, &e, 10);
        if (e != line)
            status = v;
        p = eol + 1;
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
            if (colon && nh < MAX_HEADERS) {
                const char *vs = colon + 1;
                while (vs < eol && *vs == ' ')
                    vs++;
                h[nh].name = owned[no++] = strndup(p, (size_t)(colon - p));
                h[nh].value = owned[no++] = strndup(vs, (size_t)(eol - vs));
                nh++;
            }
            p = next;
        }
    }
    struct http_response resp = HTTP_RESPONSE_INIT;
    resp.status = status;
    resp.headers = h;
    resp.nheaders = nh;
    /* the body as http.c hands it over: its own NUL-terminated allocation */
    if (buf_append(&resp.body, p, (size_t)(end - p)) < 0)
        abort();

    struct aws_error e;
    aws_decode_error(&resp, &e);
    FUZZ_CHECK(fuzz_terminated(e.code, sizeof e.code) && e.code[0]);
    FUZZ_CHECK(fuzz_terminated(e.message, sizeof e.message) && e.message[0]);
    FUZZ_CHECK(fuzz_terminated(e.request_id, sizeof e.request_id));
    FUZZ_CHECK(e.status == status);
    FUZZ_CHECK(e.retryable == 0 || e.retryable == 1);

    if (nh) {
        char code[128];
        fmt_into(code, sizeof code, "%s", h[0].value);
        aws_trim_error_code(code);
        FUZZ_CHECK(fuzz_terminated(code, sizeof code));
        FUZZ_CHECK(!strchr(code, ':'));
    }
    buf_free(&resp.body);
    for (size_t i = 0; i < no; i++)
        free(owned[i]);
    return 0;
}
