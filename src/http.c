/* http.c: see http.h. One curl easy handle per client; curl_easy_reset() between requests clears
 * every option but keeps the connection cache, DNS cache and TLS session cache, so each request
 * sets its options from scratch and still reuses the live connection to its host. */
#include "http.h"

#include <curl/curl.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

struct http_client {
    CURL *easy;
    char *ca_bundle; /* NULL: libcurl's default */
    long connect_timeout_ms;
    size_t max_body;
    int direct; /* never through a proxy */
    long connects;
    char curl_err[CURL_ERROR_SIZE];
};

/* What the callbacks of one transfer need. */
struct xfer {
    struct http_response *resp;
    size_t header_bytes;
    size_t header_cap;
    enum { FIT, BODY_TOO_LARGE, HEADERS_TOO_LARGE } overflow;
};

/* Where the trusted CAs are looked for when neither AWS_CA_BUNDLE nor SSL_CERT_FILE names them.
 * The lean libcurl has no CA path compiled in (scripts/build-curl): this list is all there is. */
static const char *const system_ca_bundles[] = {
    "/etc/ssl/certs/ca-certificates.crt", /* Debian, Ubuntu */
    "/etc/pki/tls/certs/ca-bundle.crt",   /* Amazon Linux (provided.al2023), Fedora */
};

static int curl_ready;

/* ======================================================================== time and errors */

int64_t http_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t http_deadline_in(int64_t ms)
{
    return http_now_ms() + ms;
}

int http_retryable(int rc)
{
    return rc == HTTP_ERR_TIMEOUT || rc == HTTP_ERR_CONNECTION || rc == HTTP_ERR_DNS;
}

void http_url_for_message(const char *url, char *out, size_t outlen)
{
    size_t o = 0;
    if (!outlen)
        return;
    if (!url)
        url = "(no URL)";
    const char *p = url;
    const char *scheme_end = strstr(url, "://");
    if (scheme_end) {
        const char *auth = scheme_end + 3;
        size_t authlen = strcspn(auth, "/?#");
        const char *at = memchr(auth, '@', authlen);
        for (; p < auth && o + 1 < outlen; p++)
            out[o++] = *p;
        if (at)
            p = at + 1;
    }
    for (; *p && *p != '?' && *p != '#' && o + 1 < outlen; p++)
        out[o++] = (*p == '\r' || *p == '\n') ? ' ' : *p;
    out[o] = '\0';
}

/* libcurl's detail text helps (which host, which certificate problem), but the message must never
 * carry the query string of a presigned URL: when the detail contains the query or anything that
 * looks like a signature, use the fixed text for the code instead. */
static const char *safe_detail(const char *curl_err, CURLcode code, const char *url)
{
    if (!curl_err[0])
        return curl_easy_strerror(code);
    const char *q = url ? strchr(url, '?') : NULL;
    if (q && q[1] && strstr(curl_err, q + 1))
        return curl_easy_strerror(code);
    if (strcasestr(curl_err, "signature") || strcasestr(curl_err, "credential") ||
        strchr(curl_err, '?'))
        return curl_easy_strerror(code);
    return curl_err;
}

/* Sort a libcurl result into the classes the caller acts on (retry or not, and why). */
static int classify(CURLcode code)
{
    switch (code) {
    case CURLE_OPERATION_TIMEDOUT:
        return HTTP_ERR_TIMEOUT;
    case CURLE_COULDNT_CONNECT:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
    case CURLE_HTTP3:
        return HTTP_ERR_CONNECTION;
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
        return HTTP_ERR_DNS;
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_INVALIDCERTSTATUS:
    case CURLE_SSL_CRL_BADFILE:
    case CURLE_SSL_ENGINE_INITFAILED:
    case CURLE_SSL_CLIENTCERT:
        return HTTP_ERR_TLS;
    case CURLE_FILESIZE_EXCEEDED:
        return HTTP_ERR_TOO_LARGE;
    case CURLE_UNSUPPORTED_PROTOCOL:
    case CURLE_URL_MALFORMAT:
        return HTTP_ERR_REQUEST;
    default:
        return HTTP_ERR_OTHER;
    }
}

/* ======================================================================== the client */

int http_find_ca_bundle(const char *given, char **out, char *err, size_t errlen)
{
    *out = NULL;
    if (given && given[0]) {
        if (access(given, R_OK) != 0) {
            fmt_into(err, errlen, "CA bundle %s is not readable: %s", given, strerror(errno));
            return -1;
        }
        *out = xstrdup(given);
        return 0;
    }
    /* SSL_CERT_FILE is read by every client, the Runtime API's too, which must start whatever
     * it says: an unreadable one is not refused here but kept, so https fails closed on it. */
    const char *env = getenv("SSL_CERT_FILE");
    if (env && env[0]) {
        *out = xstrdup(env);
        return 0;
    }
    for (size_t i = 0; i < sizeof system_ca_bundles / sizeof system_ca_bundles[0]; i++) {
        if (access(system_ca_bundles[i], R_OK) == 0) {
            *out = xstrdup(system_ca_bundles[i]);
            return 0;
        }
    }
    return 0;
}

struct http_client *http_client_new(const struct http_options *opt, char *err, size_t errlen)
{
    static const struct http_options defaults = {NULL, 0, 0, 0};
    if (!opt)
        opt = &defaults;
    if (!curl_ready) {
        /* Skip openssl.cnf: it costs ~0.35 ms and ~0.1 MiB at every cold start and only restates
         * OpenSSL's built-in defaults on Debian (absent on provided.al2023). The cipher and
         * digest tables stay: without them certificate verification fails. */
        OPENSSL_init_ssl(OPENSSL_INIT_NO_LOAD_CONFIG, NULL);
        CURLcode rc = curl_global_init(CURL_GLOBAL_DEFAULT);
        if (rc != CURLE_OK) {
            fmt_into(err, errlen, "libcurl initialisation failed: %s", curl_easy_strerror(rc));
            return NULL;
        }
        curl_ready = 1;
    }
    struct http_client *c = xcalloc(1, sizeof *c);
    if (http_find_ca_bundle(opt->ca_bundle, &c->ca_bundle, err, errlen) < 0) {
        free(c);
        return NULL;
    }
    c->connect_timeout_ms =
        opt->connect_timeout_ms > 0 ? opt->connect_timeout_ms : HTTP_DEFAULT_CONNECT_MS;
    c->max_body = opt->max_body ? opt->max_body : HTTP_DEFAULT_MAX_BODY;
    c->direct = opt->direct;
    c->easy = curl_easy_init();
    if (!c->easy) {
        fmt_into(err, errlen, "libcurl could not create a handle");
        free(c->ca_bundle);
        free(c);
        return NULL;
    }
    return c;
}

void http_client_free(struct http_client *c)
{
    if (!c)
        return;
    curl_easy_cleanup(c->easy);
    free(c->ca_bundle);
    free(c);
}

long http_client_connects(const struct http_client *c)
{
    return c->connects;
}

const char *http_client_ca_bundle(const struct http_client *c)
{
    return c->ca_bundle;
}

/* ======================================================================== responses */

/* Response header strings are allocated here, and only typed const for the caller. */
static void headers_free(struct http_response *resp)
{
    for (size_t i = 0; i < resp->nheaders; i++) {
        free((char *)(uintptr_t)resp->headers[i].name);
        free((char *)(uintptr_t)resp->headers[i].value);
    }
    free(resp->headers);
    resp->headers = NULL;
    resp->nheaders = 0;
}

void http_response_free(struct http_response *resp)
{
    headers_free(resp);
    buf_free(&resp->body);
    *resp = (struct http_response)HTTP_RESPONSE_INIT;
}

const char *http_header_get(const struct http_response *resp, const char *name)
{
    struct str want = str_cstr(name);
    for (size_t i = 0; i < resp->nheaders; i++)
        if (str_ieq(str_cstr(resp->headers[i].name), want))
            return resp->headers[i].value;
    return NULL;
}

static int is_ows(char ch)
{
    return ch == ' ' || ch == '\t';
}

/* Append a header line's value to the previous header (obsolete line folding). */
static void fold_into_last(struct http_response *r, const char *p, size_t n)
{
    if (!r->nheaders)
        return;
    struct http_header *h = &r->headers[r->nheaders - 1];
    size_t old = strlen(h->value), sep = old ? 1 : 0; /* no leading space on an empty value */
    char *v = xmalloc(old + sep + n + 1);
    memcpy(v, h->value, old);
    if (sep)
        v[old] = ' ';
    memcpy(v + old + sep, p, n);
    v[old + sep + n] = '\0';
    free((char *)(uintptr_t)h->value);
    h->value = v;
}

/* libcurl hands over one header line per call, status lines included. A status line starts a new
 * header block (a 1xx interim response, or a proxy's CONNECT reply, comes before the final one),
 * so the headers kept are those of the final response only. The byte and line counts bound what
 * a hostile server can make us hold. */
static size_t on_header(char *data, size_t size, size_t nitems, void *userdata)
{
    struct xfer *x = userdata;
    struct http_response *r = x->resp;
    size_t n = size * nitems;
    x->header_bytes += n;
    if (x->header_bytes > HTTP_MAX_HEADER_BYTES) {
        x->overflow = HEADERS_TOO_LARGE;
        return 0;
    }
    size_t len = n;
    while (len && (data[len - 1] == '\n' || data[len - 1] == '\r'))
        len--;
    if (len >= 5 && memcmp(data, "HTTP/", 5) == 0) {
        headers_free(r);
        x->header_cap = 0;
        return n;
    }
    if (len == 0)
        return n;
    if (is_ows(data[0])) {
        size_t s = 0;
        while (s < len && is_ows(data[s]))
            s++;
        while (len > s && is_ows(data[len - 1]))
            len--;
        if (len > s) /* a blank continuation line adds nothing, not a trailing space */
            fold_into_last(r, data + s, len - s);
        return n;
    }
    const char *colon = memchr(data, ':', len);
    if (!colon || colon == data)
        return n;
    if (r->nheaders >= HTTP_MAX_HEADERS) {
        x->overflow = HEADERS_TOO_LARGE;
        return 0;
    }
    size_t vs = (size_t)(colon - data) + 1, ve = len;
    while (vs < ve && is_ows(data[vs]))
        vs++;
    while (ve > vs && is_ows(data[ve - 1]))
        ve--;
    if (r->nheaders == x->header_cap) {
        x->header_cap = x->header_cap ? x->header_cap * 2 : 16;
        r->headers = xrealloc(r->headers, x->header_cap * sizeof *r->headers);
    }
    r->headers[r->nheaders].name = xstrndup(data, (size_t)(colon - data));
    r->headers[r->nheaders].value = xstrndup(data + vs, ve - vs);
    r->nheaders++;
    return n;
}

/* The body goes into a bounded buf; passing its max aborts the transfer (returning less than
 * given makes libcurl stop with CURLE_WRITE_ERROR), which we report as "too large". */
static size_t on_body(char *data, size_t size, size_t nmemb, void *userdata)
{
    struct xfer *x = userdata;
    size_t n = size * nmemb;
    if (buf_append(&x->resp->body, data, n) < 0) {
        x->overflow = BODY_TOO_LARGE;
        return 0;
    }
    return n;
}

/* ======================================================================== requests */

int http_header_name_ok(const char *s, size_t n)
{
    if (n == 0 || n > 256)
        return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch <= 0x20 || ch >= 0x7f || strchr("()<>@,;:\\\"/[]?={}", ch))
            return 0;
    }
    return 1;
}

int http_header_value_ok(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] == '\r' || s[i] == '\n' || s[i] == '\0')
            return 0;
    return 1;
}

/* Header names are tokens and values hold no line breaks: otherwise a value taken from a script
 * could inject headers or a second request. */
static int header_ok(const struct http_header *h)
{
    return h->name && h->value && http_header_name_ok(h->name, strlen(h->name)) &&
           http_header_value_ok(h->value, strlen(h->value));
}

static int method_ok(const char *m)
{
    size_t n = strlen(m);
    if (n == 0 || n > 16)
        return 0;
    for (; *m; m++)
        if (*m < 'A' || *m > 'Z')
            return 0;
    return 1;
}

/* The request's header list for libcurl: the caller's headers, plus an empty `Expect:` (no
 * 100-continue round trip before large bodies) and an empty `Content-Type:` when the caller set
 * none (libcurl would otherwise add a form-urlencoded one to every body). An empty value is sent
 * with libcurl's "Name;" syntax, since "Name:" means "remove". */
static int build_headers(const struct http_request *req, struct curl_slist **out, char *msg,
                         size_t msglen)
{
    struct curl_slist *list = NULL;
    int has_ctype = 0;
    int rc = 0;
    struct buf line = BUF_INIT(HTTP_MAX_HEADER_BYTES);
    for (size_t i = 0; i < req->nheaders; i++) {
        const struct http_header *h = &req->headers[i];
        if (!header_ok(h)) {
            fmt_into(msg, msglen, "invalid request header %.64s (bad name or a line break)",
                     h->name ? h->name : "(null)");
            rc = -1;
            goto cleanup;
        }
        if (strcasecmp(h->name, "Content-Type") == 0)
            has_ctype = 1;
        buf_reset(&line);
        if (buf_printf(&line, h->value[0] ? "%s: %s" : "%s;", h->name, h->value) < 0) {
            fmt_into(msg, msglen, "request header %.64s is too long", h->name);
            rc = -1;
            goto cleanup;
        }
        struct curl_slist *next = curl_slist_append(list, line.p);
        if (!next) {
            fmt_into(msg, msglen, "out of memory building request headers");
            rc = -1;
            goto cleanup;
        }
        list = next;
    }
    const char *extra[] = {"Expect:", has_ctype ? NULL : "Content-Type:"};
    for (size_t i = 0; i < 2; i++) {
        if (!extra[i])
            continue;
        struct curl_slist *next = curl_slist_append(list, extra[i]);
        if (!next) {
            fmt_into(msg, msglen, "out of memory building request headers");
            rc = -1;
            goto cleanup;
        }
        list = next;
    }
cleanup:
    buf_free(&line);
    if (rc < 0) {
        curl_slist_free_all(list);
        list = NULL;
    }
    *out = list;
    return rc;
}

/* ---- one parsed CA store per bundle, shared by every connection and every worker ----------

 * Parsing a system bundle (~140 roots) costs 25 to 48 ms of CPU. With CURLOPT_CAINFO libcurl
 * does it for every new connection, so every worker paid it again. Instead each bundle is
 * parsed once per process into an X509_STORE that every SSL_CTX shares (reference-counted);
 * workers forked after the parent loaded it inherit it already parsed. Verification stays on
 * and uses exactly the bundle's roots; a bundle that cannot be loaded fails the connection. */

#define CA_STORES 4
static struct {
    char *path;
    X509_STORE *store;
} ca_stores[CA_STORES];

static X509_STORE *ca_store(const char *path)
{
    int i;
    for (i = 0; i < CA_STORES && ca_stores[i].path; i++)
        if (strcmp(ca_stores[i].path, path) == 0)
            return ca_stores[i].store;
    if (i == CA_STORES)
        return NULL; /* more bundles than any hookhost process uses: load per connection */
    X509_STORE *st = X509_STORE_new();
    if (!st || X509_STORE_load_file(st, path) != 1) {
        X509_STORE_free(st);
        return NULL;
    }
    ca_stores[i].path = xstrdup(path);
    ca_stores[i].store = st;
    return st;
}

int http_client_preload_ca(struct http_client *c)
{
    return c->ca_bundle && ca_store(c->ca_bundle) ? 0 : -1;
}

static CURLcode on_ssl_ctx(CURL *curl, void *ssl_ctx, void *bundle)
{
    (void)curl;
    X509_STORE *st = ca_store(bundle);
    if (st) {
        SSL_CTX_set1_cert_store(ssl_ctx, st);
        return CURLE_OK;
    }
    /* Not cacheable: load the bundle into this context alone (still verified). */
    return SSL_CTX_load_verify_locations(ssl_ctx, bundle, NULL) == 1 ? CURLE_OK
                                                                     : CURLE_SSL_CACERT_BADFILE;
}

/* Set the options that make every transfer safe: verification on, http(s) only, no redirects,
 * no signals, HTTP/1.1, the path sent exactly as signed. Any option libcurl refuses fails the
 * request: running with one of these silently off would be worse than not running. */
static CURLcode set_fixed_options(struct http_client *c, struct xfer *x)
{
    CURL *e = c->easy;
    CURLcode rc = CURLE_OK;
#define SET(opt, val)                                                                              \
    do {                                                                                           \
        if ((rc = curl_easy_setopt(e, opt, val)) != CURLE_OK)                                      \
            return rc;                                                                             \
    } while (0)
    SET(CURLOPT_ERRORBUFFER, c->curl_err);
    SET(CURLOPT_NOSIGNAL, 1L);
    SET(CURLOPT_TCP_NODELAY, 1L);
    SET(CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
    SET(CURLOPT_PROTOCOLS_STR, "http,https");
    SET(CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    SET(CURLOPT_FOLLOWLOCATION, 0L);
    SET(CURLOPT_SSL_VERIFYPEER, 1L);
    SET(CURLOPT_SSL_VERIFYHOST, 2L);
    if (c->direct)
        SET(CURLOPT_PROXY, ""); /* "" means no proxy, even when the environment names one */
    if (c->ca_bundle) {
        /* No file for libcurl to parse per connection: on_ssl_ctx gives it the shared store. */
        SET(CURLOPT_CAINFO, NULL);
        SET(CURLOPT_CAPATH, NULL);
        SET(CURLOPT_SSL_CTX_FUNCTION, on_ssl_ctx);
        SET(CURLOPT_SSL_CTX_DATA, c->ca_bundle);
    }
    /* SigV4 signs the path as given; libcurl would otherwise squash "/./" and "/../". */
    SET(CURLOPT_PATH_AS_IS, 1L);
    SET(CURLOPT_HEADERFUNCTION, on_header);
    SET(CURLOPT_HEADERDATA, x);
    SET(CURLOPT_WRITEFUNCTION, on_body);
    SET(CURLOPT_WRITEDATA, x);
#undef SET
    return CURLE_OK;
}

/* The method and body. GET and HEAD have their own options; anything with a body goes through
 * POSTFIELDS (which sends bytes as they are, NULs included, with a Content-Length) and a custom
 * method name when it is not POST. */
static CURLcode set_method(CURL *e, const char *method, const struct http_request *req)
{
    CURLcode rc;
    if (strcmp(method, "HEAD") == 0)
        return curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
    if (strcmp(method, "GET") == 0 && req->body_len == 0)
        return curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
    if (req->body_len > 0 || strcmp(method, "POST") == 0 || strcmp(method, "PUT") == 0 ||
        strcmp(method, "PATCH") == 0) {
        const char *body = req->body_len ? req->body : "";
        if ((rc = curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len)))
            return rc;
        if ((rc = curl_easy_setopt(e, CURLOPT_POSTFIELDS, body)))
            return rc;
    }
    if (strcmp(method, "POST") != 0)
        return curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
    return CURLE_OK;
}

/* Time budget: the whole transfer gets the time left before the deadline; connecting gets at most
 * the client's connect timeout of it, so an unreachable host cannot eat the whole budget of a
 * call that would be retried. */
static CURLcode set_timeouts(struct http_client *c, int64_t left)
{
    CURLcode rc;
    long connect_ms = c->connect_timeout_ms;
    if (left >= 0 && left < connect_ms)
        connect_ms = (long)left;
    if ((rc = curl_easy_setopt(c->easy, CURLOPT_CONNECTTIMEOUT_MS, connect_ms)))
        return rc;
    return curl_easy_setopt(c->easy, CURLOPT_TIMEOUT_MS, left >= 0 ? (long)left : 0L);
}

/* Let libcurl refuse a body whose announced Content-Length is over the limit before reading it
 * (the write callback still enforces the limit on bodies of unannounced length). Not for HEAD,
 * whose Content-Length describes a body that never comes. */
static CURLcode set_max_body(CURL *e, const char *method, size_t max_body)
{
    if (strcmp(method, "HEAD") == 0)
        return CURLE_OK;
    return curl_easy_setopt(e, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)max_body);
}

/* One exchange, in the order that keeps failures cheap and honest: refuse a bad request or a
 * spent deadline before any network work; reset the handle so no option leaks from the previous
 * request (connections survive the reset); then sort any failure into a class the caller can act
 * on, with a message that is safe to log. */
int http_do(struct http_client *c, const struct http_request *req, struct http_response *resp,
            char *err, size_t errlen)
{
    char where[256];
    char what[CURL_ERROR_SIZE + 64];
    struct curl_slist *headers = NULL;
    const char *method = req->method ? req->method : "GET";
    int rc = 0;
    CURLcode cc = CURLE_OK;

    http_response_free(resp);
    http_url_for_message(req->url, where, sizeof where);
    what[0] = '\0';
    size_t max_body = req->max_body && req->max_body < c->max_body ? req->max_body : c->max_body;
    struct xfer x = {resp, 0, 0, FIT};
    resp->body = (struct buf)BUF_INIT(max_body);

    if (!req->url || !method_ok(method) || (req->body_len && !req->body)) {
        rc = HTTP_ERR_REQUEST;
        fmt_into(what, sizeof what, "invalid request (method, URL or body)");
        goto cleanup;
    }
    int64_t start = http_now_ms(), left = -1;
    if (req->deadline_ms != HTTP_NO_DEADLINE) {
        left = req->deadline_ms - start;
        if (left <= 0) {
            rc = HTTP_ERR_DEADLINE;
            fmt_into(what, sizeof what, "deadline passed before the request was sent");
            goto cleanup;
        }
    }
    if (build_headers(req, &headers, what, sizeof what) < 0) {
        rc = HTTP_ERR_REQUEST;
        goto cleanup;
    }

    curl_easy_reset(c->easy);
    c->curl_err[0] = '\0';
    if ((cc = set_fixed_options(c, &x)) || (cc = set_timeouts(c, left)) ||
        (cc = set_max_body(c->easy, method, max_body)) ||
        (cc = curl_easy_setopt(c->easy, CURLOPT_HTTPHEADER, headers)) ||
        (cc = set_method(c->easy, method, req)) ||
        (cc = curl_easy_setopt(c->easy, CURLOPT_URL, req->url))) {
        rc = cc == CURLE_URL_MALFORMAT || cc == CURLE_UNSUPPORTED_PROTOCOL ? HTTP_ERR_REQUEST
                                                                           : HTTP_ERR_OTHER;
        fmt_into(what, sizeof what, "libcurl refused an option: %s", curl_easy_strerror(cc));
        goto cleanup;
    }

    cc = curl_easy_perform(c->easy);
    long connects = 0;
    if (curl_easy_getinfo(c->easy, CURLINFO_NUM_CONNECTS, &connects) == CURLE_OK)
        c->connects += connects;
    if (cc == CURLE_OK) {
        curl_easy_getinfo(c->easy, CURLINFO_RESPONSE_CODE, &resp->status);
        resp->new_connections = connects;
        goto cleanup;
    }

    if (x.overflow == BODY_TOO_LARGE || cc == CURLE_FILESIZE_EXCEEDED) {
        rc = HTTP_ERR_TOO_LARGE;
        fmt_into(what, sizeof what, "response body larger than %zu bytes", max_body);
    } else if (x.overflow == HEADERS_TOO_LARGE) {
        rc = HTTP_ERR_TOO_LARGE;
        fmt_into(what, sizeof what, "response headers larger than %zu bytes or %d lines",
                 HTTP_MAX_HEADER_BYTES, HTTP_MAX_HEADERS);
    } else {
        rc = classify(cc);
        const char *detail = safe_detail(c->curl_err, cc, req->url);
        switch (rc) {
        case HTTP_ERR_TIMEOUT:
            fmt_into(what, sizeof what, "timed out after %lld ms (%s)",
                     (long long)(http_now_ms() - start), detail);
            break;
        case HTTP_ERR_CONNECTION:
            fmt_into(what, sizeof what, "connection failed: %s", detail);
            break;
        case HTTP_ERR_DNS:
            fmt_into(what, sizeof what, "DNS lookup failed: %s", detail);
            break;
        case HTTP_ERR_TLS:
            if (cc == CURLE_SSL_CACERT_BADFILE && c->ca_bundle)
                fmt_into(what, sizeof what,
                         "TLS verification failed: the CA bundle %s cannot be loaded",
                         c->ca_bundle);
            else
                fmt_into(what, sizeof what, "TLS verification failed: %s", detail);
            break;
        default:
            fmt_into(what, sizeof what, "request failed: %s", detail);
            break;
        }
    }

cleanup:
    curl_slist_free_all(headers);
    if (rc == HTTP_ERR_TOO_LARGE && x.overflow != HEADERS_TOO_LARGE && resp->nheaders) {
        /* keep the status and headers: the caller may need them to answer for this request */
        curl_easy_getinfo(c->easy, CURLINFO_RESPONSE_CODE, &resp->status);
        buf_free(&resp->body);
        fmt_into(err, errlen, "%s %s: %s", method_ok(method) ? method : "?", where, what);
    } else if (rc < 0) {
        http_response_free(resp);
        fmt_into(err, errlen, "%s %s: %s", method_ok(method) ? method : "?", where, what);
    }
    return rc;
}
