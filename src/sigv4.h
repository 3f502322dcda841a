/* sigv4.h: AWS Signature Version 4, staged and synchronous.
 *
 * A `struct sigv4_signer` holds what signing reuses: the fetched SHA-256 and HMAC algorithms,
 * digest contexts, scratch buffers and a small cache of derived signing keys. One signer per
 * thread; it is not thread-safe. Every stage of the signature can be called on its own (tests use
 * them); sigv4_sign() runs them all.
 *
 * Paths and query strings are taken as they appear on the request line. With double_encode (every
 * service but S3) the canonical path is the URI-encoding of that path, so an already-encoded `%2F`
 * becomes `%252F`, as botocore and the services expect. Without it (S3) the path is used as sent,
 * only bytes that cannot appear raw in a request line are encoded. Query keys and values are
 * decoded and re-encoded with the RFC 3986 unreserved set, then sorted by key, then value.
 *
 * Secrets: the secret key is used only to derive signing keys; derived keys live in the cache,
 * wiped with OPENSSL_cleanse when evicted, flushed or freed. No error message carries a secret.
 */
#ifndef HOOKHOST_SIGV4_H
#define HOOKHOST_SIGV4_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

/* ---- inputs ---- */
struct sigv4_header {
    struct str name;  /* any case */
    struct str value; /* raw; trimmed and whitespace-collapsed when canonicalised */
};

enum sigv4_mode {
    SIGV4_HEADER, /* Authorization header (plus X-Amz-Date, X-Amz-Security-Token, ...) */
    SIGV4_QUERY   /* presigned URL: X-Amz-* parameters appended to the query string */
};

struct sigv4_request {
    struct str method; /* "GET", "POST", ... (used as given) */
    struct str path;   /* as on the request line, without the query; empty means "/" */
    struct str query;  /* as on the request line, without '?'; may be empty */
    const struct sigv4_header *headers; /* must include Host */
    size_t nheaders;
    struct str body;
};

struct sigv4_params {
    struct str access_key, secret_key, session_token; /* session_token may be empty */
    struct str region, service;
    const char *amz_date;    /* "YYYYMMDDTHHMMSSZ" */
    int normalize_path;      /* remove dot segments and empty segments (not S3) */
    int double_encode;       /* URI-encode the request-line path again (not S3) */
    int sign_body;           /* header mode: add and sign x-amz-content-sha256 */
    int omit_session_token;  /* add the token after signing instead of signing it */
    long expires;            /* query mode: X-Amz-Expires, 1..604800 seconds */
    struct str payload_hash; /* when non-empty, used instead of SHA-256(body), e.g.
                                "UNSIGNED-PAYLOAD" for S3 presigned URLs */
    enum sigv4_mode mode;
};

/* Set normalize_path, double_encode and sign_body from params->service: S3 ("s3", "s3-object-
 * lambda", "s3-outposts") signs the payload and neither normalises nor double-encodes. */
void sigv4_params_service_defaults(struct sigv4_params *params);

/* ---- outputs ---- */
#define SIGV4_MAX_ADD_HEADERS 4

struct sigv4_result {
    /* Views into the signer (valid until the next call on it, or sigv4_signer_free), except the
     * session-token value, which borrows params->session_token. */
    struct str canonical_request;
    struct str string_to_sign;
    struct str signed_headers; /* "host;x-amz-date" */
    struct str signature;      /* 64 lowercase hex digits */
    /* Header mode: headers to add to the request, in this order: X-Amz-Security-Token,
     * X-Amz-Date, x-amz-content-sha256, Authorization (those that apply). Any header of the
     * request with one of these names must be dropped by the caller. Query mode: none. */
    struct sigv4_header add[SIGV4_MAX_ADD_HEADERS];
    size_t nadd;
    /* Query mode: the complete query string to send (the request's own query, then
     * X-Amz-Algorithm, -Credential, -Date, -SignedHeaders, -Expires, -Security-Token,
     * -Signature). Header mode: the request's query, unchanged. */
    struct str query;
};

/* ---- the signer ---- */
struct sigv4_signer;

/* Returns a new signer (exits on out of memory), or NULL when OpenSSL lacks SHA-256 or HMAC,
 * with a message in err. Free with sigv4_signer_free. */
struct sigv4_signer *sigv4_signer_new(char *err, size_t errlen);
/* Wipes the cached keys and frees everything. NULL is a no-op. */
void sigv4_signer_free(struct sigv4_signer *s);

/* Sign a request: every stage below, with the signing key from the cache. Returns 0, or -1 with
 * a message in err (never containing a secret). The result's views stay valid until the next
 * call on s. */
int sigv4_sign(struct sigv4_signer *s, const struct sigv4_request *req,
               const struct sigv4_params *params, struct sigv4_result *out, char *err,
               size_t errlen);

/* ---- stages (each usable alone) ---- */

/* The canonical request into out (reset first). signed_headers (may be NULL) is set to a view
 * into out. In header mode the X-Amz-Date / X-Amz-Security-Token / x-amz-content-sha256 headers
 * that sigv4_sign adds are included; in query mode the X-Amz-* parameters are. Returns 0 or -1
 * (out is then empty). */
int sigv4_canonical_request(struct sigv4_signer *s, const struct sigv4_request *req,
                            const struct sigv4_params *params, struct buf *out,
                            struct str *signed_headers, char *err, size_t errlen);

/* "AWS4-HMAC-SHA256\n<amz_date>\n<date>/<region>/<service>/aws4_request\n<hex sha256(creq)>"
 * into out (reset first). Returns 0 or -1. */
int sigv4_string_to_sign(struct sigv4_signer *s, const struct sigv4_params *params,
                         struct str canonical_request, struct buf *out, char *err, size_t errlen);

/* Derive the signing key HMAC(HMAC(HMAC(HMAC("AWS4"+secret, date8), region), service),
 * "aws4_request") into key, bypassing the cache. The caller wipes key. Returns 0 or -1. */
int sigv4_signing_key(struct sigv4_signer *s, struct str secret, struct str date8,
                      struct str region, struct str service, unsigned char key[32], char *err,
                      size_t errlen);

/* hex(HMAC(key, string_to_sign)) into hex (65 bytes with the NUL). Returns 0 or -1. */
int sigv4_signature(struct sigv4_signer *s, const unsigned char key[32], struct str string_to_sign,
                    char hex[65]);

/* "AWS4-HMAC-SHA256 Credential=<ak>/<scope>, SignedHeaders=<sh>, Signature=<sig>" into out
 * (reset first). Returns 0 or -1. */
int sigv4_authorization(const struct sigv4_params *params, struct str signed_headers,
                        struct str signature, struct buf *out);

/* ---- building blocks (exposed for tests) ---- */
#define SIGV4_KEEP_SLASH   1u /* leave '/' as is (paths) */
#define SIGV4_KEEP_PERCENT 2u /* leave '%' as is (already-encoded S3 paths) */

/* Append in, percent-encoded (uppercase hex) except RFC 3986 unreserved bytes and what flags
 * keep. Returns 0 or -1 (buf limit; out is then freed, as buf.h says). */
int sigv4_uri_encode(struct buf *out, struct str in, unsigned flags);
/* Append the path with "." and ".." segments removed and runs of '/' collapsed, keeping a
 * leading and (when something is left) a trailing '/', as botocore does. "" gives "/". */
int sigv4_normalize_path(struct buf *out, struct str path);
/* Append the canonical URI of a request-line path under the two flags. */
int sigv4_canonical_uri(struct buf *out, struct str path, int normalize, int double_encode);
/* Append the canonical query string of a request-line query. Returns 0 or -1. */
int sigv4_canonical_query(struct sigv4_signer *s, struct str query, struct buf *out, char *err,
                          size_t errlen);
/* Append "name:value\n" for each signed header (lowercase names, sorted, duplicates joined with
 * ',' in order, values trimmed and collapsed) to canon, and "a;b;c" to signed_names. Headers
 * never signed (user-agent, expect, x-amzn-trace-id, connection, transfer-encoding, upgrade,
 * authorization) are skipped. Returns 0 or -1. */
int sigv4_canonical_headers(struct sigv4_signer *s, const struct sigv4_header *h, size_t n,
                            struct buf *canon, struct buf *signed_names, char *err, size_t errlen);
/* 1 when a header of this name is never signed. */
int sigv4_header_unsigned(struct str name);

/* ---- the signing-key cache (inspectable by tests) ---- */
#define SIGV4_CACHE_SLOTS 4

struct sigv4_cache_slot {
    unsigned char id[32];  /* SHA-256 over (secret, date, region, service); not the secret */
    unsigned char key[32]; /* the derived signing key */
    uint64_t last_used;    /* 0: empty slot */
    void *mac;             /* EVP_MAC_CTX keyed with key, re-initialised for each signature */
};

struct sigv4_cache {
    struct sigv4_cache_slot slot[SIGV4_CACHE_SLOTS];
    uint64_t clock, hits, misses;
};

/* The signer's cache, read-only, for tests and stats. */
const struct sigv4_cache *sigv4_signer_cache(const struct sigv4_signer *s);
/* Wipe and drop every cached key. */
void sigv4_signer_flush_keys(struct sigv4_signer *s);

#endif
