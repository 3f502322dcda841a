/* aws.h: one signed AWS call: endpoint resolution, SigV4 signing, retries within a deadline, and
 * error decoding. Knows nothing of Lua (lmod_aws.c exposes it).
 *
 * A `struct aws_client` owns an HTTP client (one kept-alive connection per host), a SigV4
 * signer, and the credentials chain, so one client per process is enough and keeps connections
 * warm across calls. Not thread-safe (nothing in hookhost is).
 *
 * Environment, read by aws_client_new() (through opts->getenv_fn when given):
 *   AWS_REGION, else AWS_DEFAULT_REGION, else the profile's `region`: the default region.
 *   AWS_ENDPOINT_URL_<SERVICE>, then AWS_ENDPOINT_URL: endpoints (read at each call).
 *   AWS_MAX_ATTEMPTS (1..20, default 3), AWS_RETRY_MODE (standard | legacy | adaptive; all
 *   behave as "standard"), AWS_CA_BUNDLE.
 *
 * Retries follow the SDKs' "standard" mode: up to max_attempts attempts; between them a delay of
 * rand(0,1) * min(2^(attempt-1) s, 20 s) (full jitter; botocore's ExponentialBackoff, base 1 s);
 * retried are HTTP 500/502/503/504, connection failures and timeouts, and the throttling and
 * transient error codes of aws_retryable_code(). ExpiredToken / ExpiredTokenException /
 * RequestExpired invalidate the credentials and retry once. Every call has an absolute deadline
 * (monotonic ms, http_now_ms()): no attempt starts with less than AWS_MIN_ATTEMPT_MS left; an
 * attempt that may be followed by another gets at most half the time left (aws_attempt_ms()),
 * so one hung attempt cannot eat the whole call; a backoff that would end past the deadline
 * (less AWS_MIN_ATTEMPT_MS) is not slept: the call gives up at once with the last error, except
 * after a timeout or a failed connection, when the next attempt (on a new connection: libcurl
 * closes a timed-out one) starts after a short pause instead, if AWS_MIN_ATTEMPT_MS still fits.
 *
 * Secrets: the secret key and session token are registered with log_add_secret() when first
 * obtained; no error message or log line carries a header value, and a verbose dry-run
 * description shows the headers with credentials and secret-looking values as "***".
 */
#ifndef HOOKHOST_AWS_H
#define HOOKHOST_AWS_H

#include <stddef.h>
#include <stdint.h>

#include "http.h"

/* ---- limits and defaults ---- */
#define AWS_DEFAULT_MAX_ATTEMPTS 3
#define AWS_MAX_MAX_ATTEMPTS     20
#define AWS_MAX_BACKOFF_MS       20000 /* the SDKs' cap on one backoff delay */
#define AWS_BACKOFF_BASE_MS      1000  /* standard mode: rand * 2^(attempt-1) seconds */
#define AWS_MIN_ATTEMPT_MS       100   /* no attempt starts with less time than this left */
#define AWS_MAX_URL              2048
#define DRY_RUN_BODY_MAX         4096 /* body bytes a verbose dry run shows */

/* ---- errors ---- */
/* A decoded failure: a service error (status != 0) or a transport error (status 0, code one of
 * ConnectionError, Timeout, DNSError, TLSError, ResponseTooLarge, DeadlineExceeded,
 * RequestError, HttpError), or a local one (InvalidEndpoint, MissingRegion, CredentialsError,
 * SigningError, DryRun). Strings are always NUL-terminated, possibly truncated, never secret. */
struct aws_error {
    char code[128];       /* "ThrottlingException": anything after ':' and before '#' dropped */
    char message[1024];   /* the service's message, or what went wrong */
    char request_id[128]; /* x-amzn-RequestId / x-amz-request-id / the body's; "" when unknown */
    long status;          /* HTTP status of the last response; 0 when none arrived */
    int retryable;        /* the last failure was of a retryable kind (retries may be spent) */
};

/* ---- endpoints ---- */
/* Where and how a service is called. */
struct aws_endpoint {
    char scheme[8];        /* "https" or "http" */
    char host[256];        /* lower-case host name, or a bracketed IPv6 literal */
    char host_header[264]; /* host, plus ":port" when the port is not the scheme's default */
    char base_path[512];   /* "" or "/base" (no trailing '/'), prefixed to request paths */
    char region[64];       /* signing region */
    char signing_name[64]; /* SigV4 service name: "monitoring" for CloudWatch */
    const char *source;    /* static: the variable it came from, or "default" */
    int port;              /* explicit port, 0 when none was given */
};

/* Resolve the endpoint of `service` (a service id or endpoint prefix, any case: "codedeploy",
 * "cloudfront", "CloudWatch" or "monitoring", "sns", "sts", "iam", ...). region may be NULL or ""
 * (then default_region; global services always sign for their own region). endpoint_prefix may be
 * NULL (the table's, else the service name lower-cased). getenv_fn NULL means getenv.
 * `service` is looked up in hookhost's table, then in botocore's models (gen-models table) as
 * an endpoint prefix, a service id, a model folder or a signing name only one service uses
 * (aws_service_id()); that gives the endpoint
 * prefix, the signing name and the service id. An unknown name is its own prefix, signing name
 * and id.
 * Order: AWS_ENDPOINT_URL_<SERVICE_ID> (aws_endpoint_env_var()), AWS_ENDPOINT_URL,
 * then https://<prefix>.<region>.<the partition's DNS suffix> (amazonaws.com, amazonaws.com.cn
 * for cn-*, c2s.ic.gov for us-iso-*, sc2s.sgov.gov for us-isob-*), or the partition's endpoint
 * of CloudFront, IAM, Route 53 and the region it is signed for (as botocore's endpoints.json:
 * cloudfront.amazonaws.com and us-east-1 in aws, cloudfront.cn-northwest-1.amazonaws.com.cn and
 * cn-northwest-1 in aws-cn, iam.us-gov.amazonaws.com and us-gov-west-1 in aws-us-gov, ...; with
 * no region, the aws partition's). Returns 0; -1 with a message in err naming the variable for a
 * bad URL, for a variable named after `service` where the SDKs' name differs
 * (AWS_ENDPOINT_URL_STATES set, AWS_ENDPOINT_URL_SFN not), or for an ambiguous name; -2 when no
 * region is configured (or it is not a region name), saying so. */
int aws_resolve_endpoint(const char *service, const char *region, const char *endpoint_prefix,
                         const char *default_region,
                         const char *(*getenv_fn)(void *ud, const char *name), void *getenv_ud,
                         struct aws_endpoint *out, char *err, size_t errlen);

/* Check and split an endpoint URL (http/https, host, optional port 1..65535, optional base path;
 * no user info, query or fragment) into out's scheme, host, host_header, base_path and port.
 * Returns 0 or -1 with the reason in err (without the URL: the caller names the variable). */
int aws_parse_endpoint_url(const char *url, struct aws_endpoint *out, char *err, size_t errlen);

/* The partition a region belongs to: "aws", "aws-cn", "aws-us-gov", "aws-iso" or "aws-iso-b"
 * (a static string; NULL or an unknown region: "aws"). */
const char *aws_partition(const char *region);

/* The URL of a request to ep: scheme://host[:port] + base_path + path (NULL: "/") + "?query"
 * (when query is non-empty), appended to out. Returns 0 or -1 (out's limit). */
int aws_request_url(const struct aws_endpoint *ep, const char *path, const char *query,
                    struct buf *out);

/* The environment variable suffix for a service id: "CloudWatch Logs" -> "CLOUDWATCH_LOGS". */
void aws_service_env_name(const char *service, char *out, size_t outlen);

/* The AWS SDKs' endpoint variable of a service id (botocore's metadata.serviceId): spaces (and
 * dashes) as '_', upper-cased, after AWS_ENDPOINT_URL_: "SFN" -> "AWS_ENDPOINT_URL_SFN",
 * "Secrets Manager" -> "AWS_ENDPOINT_URL_SECRETS_MANAGER". Always terminates out. */
void aws_endpoint_env_var(const char *service_id, char *out, size_t outlen);

/* The service id a script's service name stands for, as aws_resolve_endpoint() resolves it
 * ("states", "SFN" or "stepfunctions" -> "SFN"; "monitoring" -> "CloudWatch"); a static string,
 * or NULL for a name no table knows (then the name itself names the variable) or one that is
 * ambiguous ("email": SES, SESv2 and Pinpoint Email). */
const char *aws_service_id(const char *name);

/* ---- retries (pure, for tests) ---- */
/* 1 when an error code is a throttling or transient code that standard mode retries. */
int aws_retryable_code(const char *code);
/* 1 when a status code is retried (500, 502, 503, 504). */
int aws_retryable_status(long status);
/* The delay before attempt `attempt`+1 after attempt `attempt` (1-based) failed, with r in
 * [0, 1): r * min(2^(attempt-1) * AWS_BACKOFF_BASE_MS, AWS_MAX_BACKOFF_MS). Returns the delay in
 * ms, or -1 when now + delay + AWS_MIN_ATTEMPT_MS would pass deadline_ms (give up now). */
int64_t aws_backoff_ms(int attempt, double r, int64_t now_ms, int64_t deadline_ms);

/* The HTTP timeout of one attempt with `left` ms before the call's deadline: half of it while
 * the call may still make another attempt (more != 0) and at least 2 * AWS_MIN_ATTEMPT_MS are
 * left, so a hung answer or a black-holed kept-alive connection always leaves room for one
 * more attempt on a fresh connection; else all of it. Never more than left. */
int64_t aws_attempt_ms(int64_t left, int more);

/* ---- error decoding (pure, for tests) ---- */
/* Decode a non-2xx response into err (status, code, message, request_id, retryable), whatever
 * the protocol: the X-Amzn-ErrorType header, else the body: JSON `__type`/`code` and
 * `message`/`Message`, or XML `<Error><Code>/<Message>` (under any root: ErrorResponse,
 * Response/Errors, or Error itself) and `RequestId`/`RequestID`, parsed with expat. With neither,
 * the code is the status ("404") and the message "HTTP 404". Never fails. */
void aws_decode_error(const struct http_response *resp, struct aws_error *err);
/* Trim an error code in place: "a.b#Name:http://..." -> "Name". */
void aws_trim_error_code(char *code);

/* ---- the client ---- */
struct aws_client_opts {
    /* Environment lookup; NULL means getenv. Returned strings are borrowed. */
    const char *(*getenv_fn)(void *ud, const char *name);
    void *getenv_ud;
    int dry_run; /* every call is described (logged) and fails with DryRun; nothing is sent */
};

struct aws_client;

/* Create a client (opts may be NULL). Reads the environment (above) and opens no connection.
 * Returns NULL with a message in err for a bad AWS_MAX_ATTEMPTS / AWS_RETRY_MODE / AWS_CA_BUNDLE.
 * A missing region is not an error here: it is one for the first regional call. */
struct aws_client *aws_client_new(const struct aws_client_opts *opts, char *err, size_t errlen);
/* Close connections, wipe cached credentials, free. NULL is fine. */
void aws_client_free(struct aws_client *c);
void aws_client_set_dry_run(struct aws_client *c, int on);
/* 1 when r can stand in an endpoint's host name as a region (lower-case letters, digits and '-',
 * 1 to 63 bytes), else 0. The one region check, for settings and the command line alike. */
int aws_region_ok(const char *r);

/* The default region, or "" when none is configured. Valid until aws_client_free(). */
const char *aws_client_region(const struct aws_client *c);
/* Parse the client's CA bundle now (http_client_preload_ca()): for a process about to fork
 * workers that will call AWS over https. Returns 0 or -1 (nothing loaded; calls still verify). */
int aws_client_preload_ca(struct aws_client *c);
/* New connections opened since the client was created (connection reuse, for tests). */
long aws_client_connects(const struct aws_client *c);

/* ---- calls ---- */
/* How a request is authenticated (the models' `authtype`). */
enum aws_auth {
    AWS_AUTH_SIGV4 = 0,     /* signed (S3: with the payload's SHA-256 in x-amz-content-sha256) */
    AWS_AUTH_NONE,          /* "none": sent unsigned, no credentials needed or sent (no
                               Authorization, X-Amz-Date or X-Amz-Security-Token) */
    AWS_AUTH_UNSIGNED_BODY, /* "v4-unsigned-body": signed, with x-amz-content-sha256:
                               UNSIGNED-PAYLOAD standing for the payload's hash */
};

struct aws_request {
    const char *service;         /* as for aws_resolve_endpoint() */
    const char *region;          /* NULL: the client's default region */
    const char *endpoint_prefix; /* NULL: from the service */
    const char *signing_name;    /* NULL: the service's (the table's, else the endpoint prefix) */
    const char *method;          /* "GET", "POST", ...; NULL means GET */
    const char *path;            /* request-line path, already encoded, "/..."; NULL means "/" */
    const char *query;           /* encoded query without '?'; NULL or "" for none */
    /* Extra headers, signed. Host, Authorization, X-Amz-Date, X-Amz-Security-Token and
     * X-Amz-Content-SHA256 are set by the signer: caller headers of these names are ignored. */
    const struct http_header *headers;
    size_t nheaders;
    const char *content_type; /* sent and signed as Content-Type when non-NULL */
    const void *body;         /* may be NULL when body_len is 0 */
    size_t body_len;
    const char *operation; /* what dry runs and logs call it ("GetDeployment"); may be NULL */
    int max_attempts;      /* 0: the client's (AWS_MAX_ATTEMPTS) */
    int dry_run;           /* this call only: describe instead of sending */
    int verbose;           /* dry run: the description also logs headers, query and body */
    int64_t deadline_ms;   /* absolute http_now_ms() time; the call never runs past it */
    size_t max_body;       /* 0: HTTP_DEFAULT_MAX_BODY */
    /* NULL, or host labels ending in '.' ("my-bucket."), put in front of the resolved host,
     * whichever endpoint it is (S3's virtual-hosted buckets): lower-case letters, digits and
     * '-', each label 1..63 bytes not starting or ending with '-'; anything else is an
     * InvalidEndpoint error. */
    const char *host_prefix;
    enum aws_auth auth;
};

/* Resolve req's endpoint with the client's environment and default region (as aws_call does),
 * host_prefix and signing_name applied. Returns as aws_resolve_endpoint() (-1 for a bad
 * host_prefix). */
int aws_client_resolve(const struct aws_client *c, const struct aws_request *req,
                       struct aws_endpoint *ep, char *err, size_t errlen);

/* Send a signed request, retrying as described above until deadline_ms.
 * Returns 0 when a 2xx response arrived: *resp (HTTP_RESPONSE_INIT or an earlier response) then
 * holds it, the caller frees it with http_response_free(). Returns -1 otherwise with err filled:
 * *resp then holds the last error response when the service answered (err->status != 0), else
 * it is empty; free it either way. *attempts (may be NULL) is set to the number of HTTP requests
 * sent (0 when none was: bad endpoint, no credentials, no time, dry run).
 * Dry run (client flag or req->dry_run): logs "dry run: not sent: <service> <operation>
 * <METHOD> <URL without query> (<n> bytes)" at INFO, sends nothing, and returns -1 with
 * err->code "DryRun" and that line as err->message. It needs no region (described as in
 * us-east-1, "(no region set)") and no credentials (described unsigned, "(not signed: no
 * credentials)"); with credentials the request is signed as it would be sent. req->verbose adds
 * the headers (secret values as "***"), the query and the body's first DRY_RUN_BODY_MAX bytes
 * ("... (N bytes more)") as fields of the line. */
int aws_call(struct aws_client *c, const struct aws_request *req, struct http_response *resp,
             struct aws_error *err, int *attempts);

/* An AWS JSON 1.0/1.1 call: POST / with `X-Amz-Target: <target>` and
 * `Content-Type: application/x-amz-json-<json_version>`, the JSON text `body` (NULL means "{}"),
 * on `service` in the client's default region, until deadline_ms (absolute http_now_ms() time).
 * E.g. aws_json_call(c, "codedeploy", "CodeDeploy_20141006.PutLifecycleEventHookExecutionStatus",
 * "1.1", json, http_deadline_in(5000), &resp, &err, &n).
 * Returns and fills resp, err and *attempts exactly as aws_call(): 0 for a 2xx answer (its JSON
 * is resp->body), -1 with the decoded error otherwise (e.g. err->code
 * "LifecycleEventAlreadyCompletedException"; "DryRun" in a dry run). */
int aws_json_call(struct aws_client *c, const char *service, const char *target,
                  const char *json_version, const char *body, int64_t deadline_ms,
                  struct http_response *resp, struct aws_error *err, int *attempts);

#endif
