/* http.h: the HTTP client for AWS calls and the Lambda Runtime API, on libcurl.
 *
 * One `struct http_client` owns one curl easy handle, whose connection cache keeps one
 * connection per host alive between requests (HTTP/1.1 keep-alive). TLS peer and host
 * verification are always on; only http:// and https:// URLs are accepted; redirects are never
 * followed; no `Expect: 100-continue` is sent. Every request has an absolute deadline (or the
 * explicit HTTP_NO_DEADLINE, for the Runtime API's long-polling `next`).
 *
 * The module never logs. Failures come back as a negative `enum http_error` plus a message that
 * names the method and the URL without its query string (a presigned URL carries its signature
 * there) and never includes a header value (they carry Authorization).
 *
 * Not thread-safe: one client per thread; the first http_client_new() runs curl_global_init.
 */
#ifndef HOOKHOST_HTTP_H
#define HOOKHOST_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

/* ---- limits and defaults ---- */
#define HTTP_DEFAULT_MAX_BODY   ((size_t)16 << 20) /* response body bytes */
#define HTTP_MAX_HEADER_BYTES   ((size_t)64 << 10) /* response header bytes, all lines */
#define HTTP_MAX_HEADERS        200                /* response header lines */
#define HTTP_DEFAULT_CONNECT_MS 3000L              /* connect timeout when time allows */
#define HTTP_NO_DEADLINE        ((int64_t)-1)

/* ---- errors: every failing call returns one of these (all negative) ---- */
enum http_error {
    HTTP_ERR_TIMEOUT = -1,    /* deadline reached during the exchange: retryable */
    HTTP_ERR_CONNECTION = -2, /* refused, reset, closed early: retryable */
    HTTP_ERR_DNS = -3,        /* host name did not resolve: retryable (often transient) */
    HTTP_ERR_TLS = -4,        /* certificate or handshake failure: fails closed, not retryable */
    HTTP_ERR_TOO_LARGE = -5,  /* response body or headers over the limit: not retryable */
    HTTP_ERR_REQUEST = -6,    /* bad URL, scheme, method or header in the request itself */
    HTTP_ERR_OTHER = -7,      /* anything else libcurl reports: not retryable */
    HTTP_ERR_DEADLINE = -8,   /* deadline already past: nothing was sent, not retryable */
};

/* 1 when repeating the same request may succeed (HTTP_ERR_TIMEOUT, _CONNECTION, _DNS), else 0.
 * The caller still decides whether time is left for another attempt. */
int http_retryable(int rc);

/* ---- time ---- */
/* Monotonic milliseconds: the clock of every deadline here. */
int64_t http_now_ms(void);
/* The deadline `ms` milliseconds from now. */
int64_t http_deadline_in(int64_t ms);

/* ---- the client ---- */
struct http_options {
    /* PEM bundle of trusted CAs (AWS_CA_BUNDLE), copied. NULL or "": http_find_ca_bundle(). */
    const char *ca_bundle;
    long connect_timeout_ms; /* 0: HTTP_DEFAULT_CONNECT_MS; always capped by the time left */
    size_t max_body;         /* 0: HTTP_DEFAULT_MAX_BODY; a request may lower it */
    /* 1: never use a proxy, whatever the environment says (the Lambda Runtime API is on this
     * machine: an http_proxy or ALL_PROXY set for egress must not capture it). 0: libcurl's
     * environment rules: https_proxy/HTTPS_PROXY for https, http_proxy for http, ALL_PROXY
     * for both, NO_PROXY/no_proxy exempts hosts (host suffixes, IP addresses, CIDR ranges). */
    int direct;
};

struct http_client;

/* The CA bundle to trust, in *out (malloc'd; the caller frees it): `given` (AWS_CA_BUNDLE) when
 * set, which must be readable (a typo must not silently fall back to another trust store), else
 * SSL_CERT_FILE when set (kept even when unreadable: https then fails closed naming it, while a
 * client that makes no https call, the Runtime API's, still starts), else the first that exists
 * of /etc/ssl/certs/ca-certificates.crt (Debian) and /etc/pki/tls/certs/ca-bundle.crt (Amazon
 * Linux). *out is NULL when none is found: libcurl's default then, which is no CA at all in the
 * lean build, so https fails verification. Returns 0, or -1 with a message in err for an
 * unreadable `given`. */
int http_find_ca_bundle(const char *given, char **out, char *err, size_t errlen);

/* Create a client (opt may be NULL for defaults). Returns NULL and writes err when libcurl cannot
 * start or a given ca_bundle is not a readable file. Free with http_client_free(). */
struct http_client *http_client_new(const struct http_options *opt, char *err, size_t errlen);
/* Close the client's connections and free it. NULL is fine. */
void http_client_free(struct http_client *c);
/* New connections opened by this client since it was created (accounting for tests/bench). */
long http_client_connects(const struct http_client *c);
/* The CA bundle path in use, or NULL for libcurl's default. Valid until http_client_free(). */
const char *http_client_ca_bundle(const struct http_client *c);

/* Parse the client's CA bundle into the process's shared store now, as its first https
 * connection would, so that processes forked afterwards inherit it parsed. Returns 0, or -1 when
 * there is no bundle or it does not load (the first connection then fails as it would have). */
int http_client_preload_ca(struct http_client *c);

/* ---- requests and responses ---- */
/* A header name and value. In a request both are borrowed from the caller for the call. */
struct http_header {
    const char *name;
    const char *value;
};

struct http_request {
    const char *method; /* "GET", "HEAD", "POST", "PUT", "DELETE", ...; NULL means GET */
    const char *url;    /* absolute http:// or https:// URL, already encoded */
    const struct http_header *headers;
    size_t nheaders;
    const void *body; /* may hold NULs; NULL with body_len 0 for none */
    size_t body_len;
    /* Absolute http_now_ms() time by which the whole exchange must end, or HTTP_NO_DEADLINE.
     * A deadline already past (0 included) fails at once without touching the network. */
    int64_t deadline_ms;
    size_t max_body; /* 0: the client's max_body; larger than the client's is capped to it */
};

/* A response. Everything in it is owned by it and stays valid until http_response_free() or the
 * next http_do() with the same struct. */
struct http_response {
    long status;                 /* HTTP status code of the final response */
    struct http_header *headers; /* names and values owned by the response, values trimmed */
    size_t nheaders;
    struct buf body;      /* body.p is NULL or NUL-terminated; body.len bytes (may hold NULs) */
    long new_connections; /* connections this request opened (0 when one was reused) */
};

#define HTTP_RESPONSE_INIT                                                                         \
    {                                                                                              \
        0, NULL, 0, BUF_INIT(0), 0                                                                 \
    }

/* 1 when s[0..n) is a header name (an RFC 9110 token: no controls, spaces or separators, at most
 * 256 bytes), or a header value without CR, LF or NUL. Everything that builds headers from a
 * script's values checks them, so nothing can inject a header or a second request. */
int http_header_name_ok(const char *s, size_t n);
int http_header_value_ok(const char *s, size_t n);

/* Perform one request. `resp` must be HTTP_RESPONSE_INIT or a response from an earlier call (its
 * contents are freed first). Returns 0 when a response arrived, whatever its status; the caller
 * then owns *resp until http_response_free(). Returns a negative enum http_error, writes a
 * message to err (method, URL without query, what went wrong) and leaves *resp empty, except
 * for a body over the limit (HTTP_ERR_TOO_LARGE after the headers arrived): then the status and
 * headers are kept (the body is empty), so a caller can still tell which request it refused. */
int http_do(struct http_client *c, const struct http_request *req, struct http_response *resp,
            char *err, size_t errlen);

/* Copy `url` for a message into out (always terminated): scheme, host, port and path only. The
 * query (a presigned URL holds X-Amz-Signature and X-Amz-Credential there), the fragment and any
 * user:password@ part are dropped, and CR/LF become spaces, so a message can be logged as it is. */
void http_url_for_message(const char *url, char *out, size_t outlen);

/* The value of the first response header named `name` (ASCII case-insensitive), or NULL. The
 * pointer is owned by resp. */
const char *http_header_get(const struct http_response *resp, const char *name);

/* Free what the response holds; it becomes HTTP_RESPONSE_INIT again. */
void http_response_free(struct http_response *resp);

#endif
