/* fuzz_http_headers: how http.c keeps the header lines of a response (libcurl hands them over
 * one line per call, status lines included, from any server, hostile ones too).
 *
 * on_header() is static, so this target includes http.c and calls it the way libcurl does: one
 * call per line of the input (lines end with LF; CRs stay in the line). Invariants: at most
 * HTTP_MAX_HEADERS headers; values hold no LF and start and end without blanks (folded lines
 * included; unless a NUL cut the value short); once the byte cap is passed the callback refuses
 * (returns 0) and says so; http_header_get finds the first header of a name. */
#include "../../src/http.c"

#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct http_response resp = HTTP_RESPONSE_INIT;
    struct xfer x = {.resp = &resp};
    const char *p = (const char *)data, *end = p + size;
    size_t total = 0;
    int has_nul = memchr(data, '\0', size) != NULL;
    while (p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        size_t n = eol ? (size_t)(eol - p) + 1 : (size_t)(end - p);
        /* libcurl's buffer is writable and not NUL-terminated: hand over an exact copy */
        char *line = malloc(n ? n : 1);
        if (!line)
            abort();
        memcpy(line, p, n);
        total += n;
        size_t got = on_header(line, 1, n, &x);
        free(line);
        if (got != n) {
            FUZZ_CHECK(got == 0 && x.overflow == HEADERS_TOO_LARGE);
            FUZZ_CHECK(total > HTTP_MAX_HEADER_BYTES || resp.nheaders == HTTP_MAX_HEADERS);
            break;
        }
        p += n;
    }
    FUZZ_CHECK(resp.nheaders <= HTTP_MAX_HEADERS);
    for (size_t i = 0; i < resp.nheaders; i++) {
        const char *nm = resp.headers[i].name, *v = resp.headers[i].value;
        FUZZ_CHECK(nm && v);
        FUZZ_CHECK(!strchr(v, '\n'));
        size_t vl = strlen(v);
        if (vl && !has_nul) /* a NUL cuts a value short, maybe just after a blank */
            FUZZ_CHECK(!is_ows(v[0]) && !is_ows(v[vl - 1]));
        if (*nm && !strchr(nm, ':')) {
            const char *got = http_header_get(&resp, nm);
            FUZZ_CHECK(got);
        }
    }
    http_response_free(&resp);
    return 0;
}
