/* fuzz_sigv4: the SigV4 canonicaliser and signer on arbitrary requests.
 *
 * The input is a request in the sigv4 test suite's request.txt form:
 *     METHOD SP target [SP HTTP/1.1] LF  (target = path ["?" query])
 *     name ":" value LF ...              (a line starting with SP/HT continues the value)
 *     LF body
 * (CRLF works too.) Each input is canonicalised and signed in header and query mode, with and
 * without path normalisation and double encoding, with a session token, body signing and an
 * explicit payload hash in some of the runs.
 *
 * Invariants, besides "no crash, no leak, no UB": on success the canonical request has exactly
 * 5 + (number of signed headers) line feeds (a byte in a path, query or header value that
 * became a line break would shift every line after it); its URI and query lines hold only
 * RFC 3986 unreserved bytes, '%XX' escapes and '/', '=', '&'; the signature is 64 lowercase hex
 * digits; the string to sign ends with SHA-256 hex; no stage output holds the secret key. */
#include "fuzz.h"
#include "sigv4.h"

#define MAX_HEADERS 64

static struct sigv4_signer *signer;

static int is_unreserved(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.' || c == '_' || c == '~';
}

static int hexdig(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'F');
}

/* Every byte is unreserved, one of `extra`, or starts an uppercase %XX escape. */
static int well_encoded(const char *p, size_t n, const char *extra)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)p[i];
        if (is_unreserved(c) || (c && strchr(extra, c)))
            continue;
        if (c == '%' && i + 2 < n && hexdig((unsigned char)p[i + 1]) &&
            hexdig((unsigned char)p[i + 2])) {
            i += 2;
            continue;
        }
        return 0;
    }
    return 1;
}

static size_t count(const char *p, size_t n, char c)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        k += p[i] == c;
    return k;
}

/* Split data into a request; views point into data. Returns 0, or -1 for no request line. */
static int parse(const char *d, size_t n, struct sigv4_request *req, struct sigv4_header *h)
{
    memset(req, 0, sizeof *req);
    const char *end = d + n, *p = d;
    const char *eol = memchr(p, '\n', n);
    if (!eol)
        eol = end;
    const char *line_end = eol > p && eol[-1] == '\r' ? eol - 1 : eol;
    const char *sp = memchr(p, ' ', (size_t)(line_end - p));
    if (!sp)
        return -1;
    req->method = (struct str){p, (size_t)(sp - p)};
    const char *t = sp + 1, *te = line_end;
    /* drop a trailing " HTTP/x" */
    for (const char *q = te; q > t; q--)
        if (q[-1] == ' ') {
            if ((size_t)(te - q) >= 5 && memcmp(q, "HTTP/", 5) == 0)
                te = q - 1;
            break;
        }
    const char *qm = memchr(t, '?', (size_t)(te - t));
    req->path = (struct str){t, (size_t)((qm ? qm : te) - t)};
    req->query = qm ? (struct str){qm + 1, (size_t)(te - qm - 1)} : (struct str){"", 0};
    p = eol < end ? eol + 1 : end;
    size_t nh = 0;
    while (p < end) {
        eol = memchr(p, '\n', (size_t)(end - p));
        if (!eol)
            eol = end;
        line_end = eol > p && eol[-1] == '\r' ? eol - 1 : eol;
        const char *next = eol < end ? eol + 1 : end;
        if (line_end == p) { /* blank line: the body follows */
            p = next;
            break;
        }
        if ((*p == ' ' || *p == '\t') && nh) {
            /* continuation: the value runs on to the end of this line (it is contiguous) */
            h[nh - 1].value.len = (size_t)(line_end - h[nh - 1].value.p);
        } else if (nh < MAX_HEADERS) {
            const char *colon = memchr(p, ':', (size_t)(line_end - p));
            const char *ne = colon ? colon : line_end;
            h[nh].name = (struct str){p, (size_t)(ne - p)};
            /* no colon: an empty value that still points into the input, so that a
             * continuation line can extend it */
            h[nh].value = colon ? (struct str){colon + 1, (size_t)(line_end - colon - 1)}
                                : (struct str){line_end, 0};
            nh++;
        }
        p = next;
    }
    req->headers = h;
    req->nheaders = nh;
    req->body = (struct str){p, (size_t)(end - p)};
    return 0;
}

static const char SECRET[] = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
static int secret_in_input, path_is_relative;

static void check_result(const struct sigv4_result *r, const struct sigv4_params *pr,
                         struct str query)
{
    FUZZ_CHECK(r->signature.len == 64);
    for (size_t i = 0; i < 64; i++) {
        char c = r->signature.p[i];
        FUZZ_CHECK((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'));
    }
    FUZZ_CHECK(r->string_to_sign.len > 64);
    FUZZ_CHECK(count(r->string_to_sign.p, r->string_to_sign.len, '\n') == 3);
    FUZZ_CHECK(r->nadd <= SIGV4_MAX_ADD_HEADERS);
    for (size_t i = 0; i < r->nadd; i++)
        FUZZ_CHECK(!memchr(r->add[i].value.p, '\n', r->add[i].value.len));
    if (pr->mode == SIGV4_QUERY) {
        /* the request's own query (sent as given), then the X-Amz-* parameters, encoded */
        FUZZ_CHECK(r->query.len >= query.len && memcmp(r->query.p, query.p, query.len) == 0);
        FUZZ_CHECK(well_encoded(r->query.p + query.len, r->query.len - query.len, "=&"));
    }
    /* the secret never appears in what a signature exposes (unless the request itself held it) */
    if (secret_in_input)
        return;
    FUZZ_CHECK(
        !memmem(r->canonical_request.p, r->canonical_request.len, SECRET, sizeof SECRET - 1));
    FUZZ_CHECK(!memmem(r->string_to_sign.p, r->string_to_sign.len, SECRET, sizeof SECRET - 1));
    FUZZ_CHECK(!memmem(r->query.p, r->query.len, SECRET, sizeof SECRET - 1));
}

/* Printable ASCII other than space: what a request line's path may hold. */
static int printable(const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)p[i] <= 0x20 || (unsigned char)p[i] >= 0x7f)
            return 0;
    return 1;
}

/* RFC 9110 token characters: what http.c accepts as a header name. */
static int is_token(struct str n)
{
    if (!n.len)
        return 0;
    for (size_t i = 0; i < n.len; i++) {
        unsigned char c = (unsigned char)n.p[i];
        if (!(is_unreserved(c) || (c && strchr("!#$%&'*+^`|", c))))
            return 0;
    }
    return 1;
}

static int names_are_tokens; /* else a name like "a;b" (http.c refuses it) skews the count */

static void check_canonical(const struct buf *cr, struct str sh, int double_encode)
{
    /* method, uri, query, headers..., "", signed headers, payload hash */
    size_t nsigned = sh.len ? count(sh.p, sh.len, ';') + 1 : 0;
    if (names_are_tokens)
        FUZZ_CHECK(count(cr->p, cr->len, '\n') == 5 + nsigned);
    const char *uri = memchr(cr->p, '\n', cr->len);
    FUZZ_CHECK(uri);
    uri++;
    const char *q = memchr(uri, '\n', (size_t)(cr->p + cr->len - uri));
    FUZZ_CHECK(q);
    /* '/'-led and never empty, for every path a URL can give ("" or starting with '/'); a
     * relative request-line path ("a/..") can normalise to "" (aws.c never sends one) */
    if (!path_is_relative)
        FUZZ_CHECK(q > uri && uri[0] == '/');
    if (double_encode)
        FUZZ_CHECK(well_encoded(uri, (size_t)(q - uri), "/"));
    else /* S3: the path as sent, '%' kept; only what cannot be sent raw is encoded */
        FUZZ_CHECK(printable(uri, (size_t)(q - uri)));
    q++;
    const char *qe = memchr(q, '\n', (size_t)(cr->p + cr->len - q));
    FUZZ_CHECK(qe);
    FUZZ_CHECK(well_encoded(q, (size_t)(qe - q), "=&"));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[512];
    if (!signer && !(signer = sigv4_signer_new(err, sizeof err)))
        abort();
    struct sigv4_header h[MAX_HEADERS];
    struct sigv4_request req;
    if (parse((const char *)data, size, &req, h) < 0)
        return 0;
    secret_in_input = memmem(data, size, SECRET, sizeof SECRET - 1) != NULL;
    path_is_relative = req.path.len && req.path.p[0] != '/';
    names_are_tokens = 1;
    for (size_t i = 0; i < req.nheaders; i++)
        names_are_tokens &= is_token(h[i].name);
    for (int run = 0; run < 6; run++) {
        struct sigv4_params p = {0};
        p.access_key = STR_LIT("AKIDEXAMPLE");
        p.secret_key = STR_LIT(SECRET);
        p.region = STR_LIT("us-east-1");
        p.service = run == 5 ? STR_LIT("s3") : STR_LIT("service");
        p.amz_date = "20150830T123600Z";
        p.mode = (run & 1) ? SIGV4_QUERY : SIGV4_HEADER;
        p.normalize_path = p.double_encode = run < 2;
        p.expires = 300;
        if (run == 2 || run == 3)
            p.session_token =
                STR_LIT("AQoDYXdzEPT//////////wEXAMPLEtc764bNrC9SAPBSM22wDOk4x4HIZ8j4FZTwdQW"
                        "LWsKWHGBuFqwAeMicRXmxfpSPfIeoIYRqTflfKD8YUuwthAx7mSEI");
        if (run == 4)
            p.sign_body = 1;
        if (run == 5) {
            sigv4_params_service_defaults(&p);
            p.payload_hash = STR_LIT("UNSIGNED-PAYLOAD");
        }
        struct buf cr = BUF_INIT(0);
        struct str sh = {0};
        if (sigv4_canonical_request(signer, &req, &p, &cr, &sh, err, sizeof err) == 0)
            check_canonical(&cr, sh, p.double_encode);
        else
            FUZZ_CHECK(cr.len == 0);
        buf_free(&cr);

        struct sigv4_result r;
        if (sigv4_sign(signer, &req, &p, &r, err, sizeof err) == 0) {
            check_result(&r, &p, req.query);
            check_canonical(&(struct buf){(char *)(uintptr_t)r.canonical_request.p,
                                          r.canonical_request.len, 0, 0},
                            r.signed_headers, p.double_encode);
        } else {
            FUZZ_CHECK(fuzz_terminated(err, sizeof err));
            FUZZ_CHECK(secret_in_input || !strstr(err, SECRET));
        }
    }
    /* the building blocks on the raw target, as a second angle */
    struct buf b = BUF_INIT(0);
    if (sigv4_normalize_path(&b, req.path) == 0 && !path_is_relative) {
        FUZZ_CHECK(b.len && b.p[0] == '/');
        FUZZ_CHECK(!strstr(b.p, "//"));
        /* normalising a normalised path changes nothing */
        struct buf b2 = BUF_INIT(0);
        if (sigv4_normalize_path(&b2, (struct str){b.p, b.len}) == 0)
            FUZZ_CHECK(b2.len == b.len && memcmp(b.p, b2.p, b.len) == 0);
        buf_free(&b2);
    }
    buf_free(&b);
    if (sigv4_uri_encode(&b, req.path, 0) == 0)
        FUZZ_CHECK(well_encoded(b.p, b.len, ""));
    buf_free(&b);
    return 0;
}
