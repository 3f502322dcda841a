/* creds.h: the AWS credentials chain, in botocore's order.
 *
 *   1. environment: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN
 *   2. shared credentials file (AWS_SHARED_CREDENTIALS_FILE, default ~/.aws/credentials),
 *      profile AWS_PROFILE (default "default")
 *   3. credential_process of that profile (config or credentials file), run with /bin/sh -c
 *   4. config file (AWS_CONFIG_FILE, default ~/.aws/config; sections "[profile name]", and
 *      "[default]"): aws_access_key_id / aws_secret_access_key / aws_session_token
 *   5. container credentials: AWS_CONTAINER_CREDENTIALS_RELATIVE_URI (on 169.254.170.2) or
 *      _FULL_URI (https, or http to loopback / 169.254.170.2 / 169.254.170.23), with
 *      AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE or AWS_CONTAINER_AUTHORIZATION_TOKEN
 *
 * The first source that is configured decides: a configured source that fails (a process that
 * hangs, bad JSON, a partial set of keys) is an error, not a reason to try the next one. When no
 * source is configured, one error lists everything tried.
 *
 * Credentials with an expiration are refreshed like botocore's: from 15 minutes before expiry a
 * get tries to refresh and keeps the old set if that fails; from 10 minutes before, a failed
 * refresh is an error.
 *
 * Secrets (secret key, session token, and every buffer that held them: files, process output,
 * HTTP bodies, the Lua state that decoded JSON) are wiped with OPENSSL_cleanse when freed, and
 * appear in no error message.
 */
#ifndef HOOKHOST_CREDS_H
#define HOOKHOST_CREDS_H

#include <stddef.h>
#include <stdint.h>

/* A credential set. Owned by whoever filled it; release with creds_clear. */
struct creds {
    char *access_key;
    char *secret_key;
    char *session_token; /* NULL when none */
    int64_t expires_ms;  /* Unix epoch milliseconds; 0 = never */
    const char *source;  /* static: "environment", "shared-credentials-file", "custom-process",
                            "config-file", "container-role" */
};

/* Wipe and free the strings; the struct is left zeroed. NULL-safe. */
void creds_clear(struct creds *c);

struct creds_opts {
    /* Environment lookup; NULL means getenv. Returned strings are borrowed. */
    const char *(*getenv_fn)(void *ud, const char *name);
    void *getenv_ud;
    /* Wall clock in epoch milliseconds; NULL means CLOCK_REALTIME. */
    int64_t (*now_ms)(void *ud);
    void *now_ud;
    int process_timeout_ms; /* credential_process is killed after this; 0 = 10000 */
    int http_timeout_ms;    /* container endpoint; 0 = 2000 */
};

/* A provider caches one credential set; it is not thread-safe (one per thread, or a lock). */
struct creds_provider;

/* opts may be NULL (defaults); it is copied. Never NULL (exits on out of memory). */
struct creds_provider *creds_provider_new(const struct creds_opts *opts);
/* Wipes the cached credentials and frees. NULL-safe. */
void creds_provider_free(struct creds_provider *p);

/* Resolve (first call), serve from the cache, or refresh (near expiry). On success fills *out
 * with a copy the caller owns (creds_clear it) and returns 0. On failure returns -1 with a
 * message in err (no secrets) and *out zeroed. */
int creds_get(struct creds_provider *p, struct creds *out, char *err, size_t errlen);

/* Forget the cached set, so that the next creds_get resolves again (e.g. after an
 * ExpiredToken error from a service). */
void creds_invalidate(struct creds_provider *p);

/* Bound the resolutions that follow by an absolute deadline (CLOCK_MONOTONIC milliseconds, the
 * clock of http_now_ms()): credential_process and the container endpoint get at most the time
 * left then (at least 1 ms), not their full timeouts. 0 removes the bound. aws_call sets each
 * call's deadline, so that a hanging credential_process cannot hold a call (the status report
 * included) past it. */
void creds_set_deadline(struct creds_provider *p, int64_t deadline_ms);

/* The profile's `region` (config file, else credentials file), as a malloc'd string the caller
 * frees, or NULL when not set or unreadable. */
char *creds_profile_region(struct creds_provider *p);

/* ---- exposed for tests ---- */

/* RFC 3339 ("2026-11-26T06:00:00Z", fractions and +hh:mm offsets allowed) to epoch ms.
 * Returns 0 or -1. */
int creds_parse_rfc3339(const char *s, int64_t *ms);

#endif
