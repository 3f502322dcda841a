/* aws.c: see aws.h. One signed AWS call: where it goes (endpoints), how it is signed (afresh on
 * every attempt), when it is repeated (standard retry mode, inside the caller's deadline), and
 * what a failure means (the error decoding every protocol needs). */
#include "aws.h"

#include "buf.h"
#include "config.h"
#include "creds.h"
#include "json.h"
#include "log.h"
#include "sigv4.h"

#include <expat.h>
#include <openssl/crypto.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#ifndef HOOKHOST_VERSION
#define HOOKHOST_VERSION "0.0.0"
#endif

#define URL_MAX           ((size_t)16 << 10) /* a request URL, query included */
#define XML_ERR_MAX_DEPTH 64                 /* element nesting in an error document */

/* ---- services ------------------------------------------------------------------------------ */

/* What the SDKs' endpoint rulesets say about the services hooks are likely to call. `id` is the
 * service id that names AWS_ENDPOINT_URL_<ID>; `alias` another accepted name (usually the
 * endpoint prefix). Unknown services are called by their name: prefix and signing name alike. */
struct service_info {
    const char *id, *alias, *prefix, *signing;
    int global; /* one endpoint per partition (global_endpoints), not one per region */
};

static const struct service_info services[] = {
    {"CloudFront", NULL, "cloudfront", "cloudfront", 1},
    {"IAM", NULL, "iam", "iam", 1},
    {"Route 53", "route53", "route53", "route53", 1},
    {"CodeDeploy", NULL, "codedeploy", "codedeploy", 0},
    {"CloudWatch", "monitoring", "monitoring", "monitoring", 0},
    {"CloudWatch Logs", "logs", "logs", "logs", 0},
    {"EventBridge", "events", "events", "events", 0},
    {"Elastic Load Balancing v2", "elasticloadbalancing", "elasticloadbalancing",
     "elasticloadbalancing", 0},
    {"Secrets Manager", "secretsmanager", "secretsmanager", "secretsmanager", 0},
    {"CodePipeline", NULL, "codepipeline", "codepipeline", 0},
    {"SNS", NULL, "sns", "sns", 0},
    {"SQS", NULL, "sqs", "sqs", 0},
    {"STS", NULL, "sts", "sts", 0},
    {"SSM", NULL, "ssm", "ssm", 0},
    {"ECS", NULL, "ecs", "ecs", 0},
    {"EC2", NULL, "ec2", "ec2", 0},
    {"Lambda", NULL, "lambda", "lambda", 0},
    {"DynamoDB", NULL, "dynamodb", "dynamodb", 0},
    {"S3", NULL, "s3", "s3", 0},
};

/* Partitions, from botocore's data/endpoints.json: which regions belong to each (by prefix;
 * "aws" takes every region the others do not) and their DNS suffix. */
struct partition {
    const char *name, *region_prefix, *dns_suffix;
};

static const struct partition partitions[] = {
    {"aws", "", "amazonaws.com"},
    {"aws-cn", "cn-", "amazonaws.com.cn"},
    {"aws-us-gov", "us-gov-", "amazonaws.com"},
    {"aws-iso", "us-iso-", "c2s.ic.gov"},
    {"aws-iso-b", "us-isob-", "sc2s.sgov.gov"},
};

/* The partition endpoints of the global services (endpoints.json, "partitionEndpoint"): the host
 * and the region it is signed for. A global service without an entry for a partition (CloudFront
 * outside aws and aws-cn) is called regionally there, as botocore does. */
struct global_endpoint {
    const char *service, *partition, *host, *region;
};

static const struct global_endpoint global_endpoints[] = {
    {"CloudFront", "aws", "cloudfront.amazonaws.com", "us-east-1"},
    {"CloudFront", "aws-cn", "cloudfront.cn-northwest-1.amazonaws.com.cn", "cn-northwest-1"},
    {"IAM", "aws", "iam.amazonaws.com", "us-east-1"},
    {"IAM", "aws-cn", "iam.cn-north-1.amazonaws.com.cn", "cn-north-1"},
    {"IAM", "aws-us-gov", "iam.us-gov.amazonaws.com", "us-gov-west-1"},
    {"IAM", "aws-iso", "iam.us-iso-east-1.c2s.ic.gov", "us-iso-east-1"},
    {"IAM", "aws-iso-b", "iam.us-isob-east-1.sc2s.sgov.gov", "us-isob-east-1"},
    {"Route 53", "aws", "route53.amazonaws.com", "us-east-1"},
    {"Route 53", "aws-cn", "route53.amazonaws.com.cn", "cn-northwest-1"},
    {"Route 53", "aws-us-gov", "route53.us-gov.amazonaws.com", "us-gov-west-1"},
    {"Route 53", "aws-iso", "route53.c2s.ic.gov", "us-iso-east-1"},
    {"Route 53", "aws-iso-b", "route53.sc2s.sgov.gov", "us-isob-east-1"},
};

/* The partition of a region; NULL or "" (a global service called without a region): aws. */
static const struct partition *partition_of(const char *region)
{
    const struct partition *best = &partitions[0];
    size_t n = sizeof partitions / sizeof *partitions;
    for (size_t i = 1; region && i < n; i++)
        if (strncmp(region, partitions[i].region_prefix, strlen(partitions[i].region_prefix)) == 0)
            best = &partitions[i];
    return best;
}

static const struct global_endpoint *global_endpoint(const char *service_id,
                                                     const struct partition *pt)
{
    for (size_t i = 0; i < sizeof global_endpoints / sizeof *global_endpoints; i++)
        if (strcmp(global_endpoints[i].service, service_id) == 0 &&
            strcmp(global_endpoints[i].partition, pt->name) == 0)
            return &global_endpoints[i];
    return NULL;
}

const char *aws_partition(const char *region)
{
    return partition_of(region)->name;
}

void aws_service_env_name(const char *service, char *out, size_t outlen)
{
    size_t j = 0;
    for (const char *p = service; *p && j + 1 < outlen; p++) {
        char ch = *p;
        if (ch == ' ' || ch == '-')
            ch = '_';
        else if (ch >= 'a' && ch <= 'z')
            ch = (char)(ch - 'a' + 'A');
        out[j++] = ch;
    }
    if (outlen)
        out[j] = '\0';
}

/* Names compare equal when their env-style spellings do: "CloudWatch Logs" = "cloudwatch-logs". */
static char env_char(char ch)
{
    return ch == ' ' || ch == '-' ? '_' : ch >= 'a' && ch <= 'z' ? (char)(ch - 'a' + 'A') : ch;
}

static int service_name_eq(const char *a, const char *b)
{
    for (; *a && *b; a++, b++)
        if (env_char(*a) != env_char(*b))
            return 0;
    return *a == *b;
}

static const struct service_info *service_lookup(const char *name)
{
    for (size_t i = 0; i < sizeof services / sizeof *services; i++)
        if (service_name_eq(name, services[i].id) ||
            (services[i].alias && service_name_eq(name, services[i].alias)))
            return &services[i];
    return NULL;
}

/* Every service of botocore's models: {model folder, serviceId, endpointPrefix, signingName},
 * written at build time by scripts/gen-models --c-table from BOTOCORE_DATA (build/gen/, on the
 * include path; tests/e2e/test_endpoints.py compares the generator with botocore). */
struct model_service {
    const char *name, *id, *prefix, *signing;
};

static const struct model_service model_services[] = {
#include "aws_services.inc"
};
#define N_MODEL_SERVICES (sizeof model_services / sizeof *model_services)

/* What a script's service name stands for: hookhost's own table first (global endpoints,
 * aliases), then botocore's models: the name as an endpoint prefix (what it meant before the
 * models were consulted, so no working call changes), a prefix several services share decided
 * by the name being one's service id or model folder ("apigateway", "rds"), else the name as a
 * service id or model folder ("SFN", "stepfunctions" -> states), else as the signing name of
 * one service ("awsssoportal" -> SSO at portal.sso). Returns 0 with *si or *ms set
 * (neither: an unknown service, called by its own name), -1 when the name is an endpoint prefix
 * of several services and names none of them. */
static int service_resolve(const char *name, const struct service_info **si,
                           const struct model_service **ms, char *err, size_t errlen)
{
    *si = service_lookup(name);
    *ms = NULL;
    if (*si)
        return 0;
    const struct model_service *by_prefix = NULL, *named = NULL;
    int several = 0;
    for (size_t i = 0; i < N_MODEL_SERVICES; i++) {
        const struct model_service *m = &model_services[i];
        int is_named = service_name_eq(name, m->id) || service_name_eq(name, m->name);
        if (strcasecmp(name, m->prefix) == 0) {
            if (by_prefix && strcmp(by_prefix->id, m->id) != 0)
                several = 1;
            if (!by_prefix || is_named)
                by_prefix = m;
        }
        if (is_named && !named)
            named = m;
    }
    if (by_prefix && several) {
        if (named && strcasecmp(named->prefix, name) == 0) {
            *ms = named;
            return 0;
        }
        char ids[256] = "";
        for (size_t i = 0, n = 0; i < N_MODEL_SERVICES; i++)
            if (strcasecmp(name, model_services[i].prefix) == 0 && n < 4) {
                size_t used = strlen(ids);
                fmt_into(ids + used, sizeof ids - used, "%s\"%s\"", n++ ? ", " : "",
                         model_services[i].id);
            }
        fmt_into(err, errlen,
                 "service '%.64s' is the endpoint prefix of several services (%s): pass the "
                 "service id instead",
                 name, ids);
        return -1;
    }
    *ms = by_prefix ? by_prefix : named;
    if (*ms)
        return 0;
    /* last, a signing name that only one service uses ("ses": SES at email.<region>...) */
    for (size_t i = 0; i < N_MODEL_SERVICES; i++) {
        const struct model_service *m = &model_services[i];
        if (strcasecmp(name, m->signing) != 0)
            continue;
        if (*ms && strcmp((*ms)->id, m->id) != 0) {
            *ms = NULL; /* several: the name stays unknown, as before */
            break;
        }
        *ms = m;
    }
    return 0;
}

/* Whether var is the SDKs' endpoint variable of some service (then it is never an old name). */
static int is_sdk_var(const char *var)
{
    char v[128];
    for (size_t i = 0; i < sizeof services / sizeof *services; i++) {
        aws_endpoint_env_var(services[i].id, v, sizeof v);
        if (strcmp(v, var) == 0)
            return 1;
    }
    for (size_t i = 0; i < N_MODEL_SERVICES; i++) {
        aws_endpoint_env_var(model_services[i].id, v, sizeof v);
        if (strcmp(v, var) == 0)
            return 1;
    }
    return 0;
}

const char *aws_service_id(const char *name)
{
    const struct service_info *si;
    const struct model_service *ms;
    char err[8];
    if (!name || service_resolve(name, &si, &ms, err, sizeof err) < 0)
        return NULL;
    return si ? si->id : ms ? ms->id : NULL;
}

void aws_endpoint_env_var(const char *service_id, char *out, size_t outlen)
{
    char id[96];
    aws_service_env_name(service_id, id, sizeof id);
    fmt_into(out, outlen, "AWS_ENDPOINT_URL_%s", id);
}

/* ---- endpoints ----------------------------------------------------------------------------- */

static int is_host_char(char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
           ch == '.' || ch == '-' || ch == '_';
}

/* Everything the URL's parts may hold is checked here, because the parts go verbatim into a
 * request line, a Host header and a signature: a space or a stray '?' would break all three. */
int aws_parse_endpoint_url(const char *url, struct aws_endpoint *out, char *err, size_t errlen)
{
    const char *sep = strstr(url, "://");
    if (!sep) {
        fmt_into(err, errlen, "not a URL (expected http://host[:port][/path] or https://...)");
        return -1;
    }
    size_t slen = (size_t)(sep - url);
    if (slen == 5 && strncasecmp(url, "https", 5) == 0)
        fmt_into(out->scheme, sizeof out->scheme, "https");
    else if (slen == 4 && strncasecmp(url, "http", 4) == 0)
        fmt_into(out->scheme, sizeof out->scheme, "http");
    else {
        fmt_into(err, errlen, "the scheme must be http or https");
        return -1;
    }
    for (const char *p = url; *p; p++) {
        unsigned char ch = (unsigned char)*p;
        if (ch <= 0x20 || ch >= 0x7f) {
            fmt_into(err, errlen, "spaces and control or non-ASCII characters are not allowed");
            return -1;
        }
        if (ch == '?' || ch == '#') {
            fmt_into(err, errlen, "a query or fragment is not allowed");
            return -1;
        }
    }
    const char *auth = sep + 3;
    size_t alen = strcspn(auth, "/");
    if (memchr(auth, '@', alen)) {
        fmt_into(err, errlen, "user information (user@) is not allowed");
        return -1;
    }
    const char *host = auth, *hend;
    if (*auth == '[') {
        hend = memchr(auth, ']', alen);
        if (!hend || hend == auth + 1) {
            fmt_into(err, errlen, "bad IPv6 address");
            return -1;
        }
        for (const char *p = auth + 1; p < hend; p++)
            if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f') ||
                  (*p >= 'A' && *p <= 'F') || *p == ':' || *p == '.')) {
                fmt_into(err, errlen, "bad IPv6 address");
                return -1;
            }
        hend++;
    } else {
        hend = host;
        while (hend < auth + alen && *hend != ':')
            hend++;
        for (const char *p = host; p < hend; p++)
            if (!is_host_char(*p)) {
                fmt_into(err, errlen, "bad character in the host name");
                return -1;
            }
    }
    size_t hlen = (size_t)(hend - host);
    if (hlen == 0 || hlen >= sizeof out->host) {
        fmt_into(err, errlen, hlen ? "host name too long" : "no host");
        return -1;
    }
    for (size_t i = 0; i < hlen; i++) {
        char ch = host[i];
        out->host[i] = ch >= 'A' && ch <= 'Z' ? (char)(ch - 'A' + 'a') : ch;
    }
    out->host[hlen] = '\0';
    out->port = 0;
    if (hend < auth + alen) {
        if (*hend != ':') {
            fmt_into(err, errlen, "unexpected characters after the host");
            return -1;
        }
        const char *d = hend + 1;
        long port = 0;
        if (d == auth + alen) {
            fmt_into(err, errlen, "empty port");
            return -1;
        }
        for (; d < auth + alen; d++) {
            if (*d < '0' || *d > '9' || port > 65535) {
                fmt_into(err, errlen, "the port must be a number from 1 to 65535");
                return -1;
            }
            port = port * 10 + (*d - '0');
        }
        if (port < 1 || port > 65535) {
            fmt_into(err, errlen, "the port must be a number from 1 to 65535");
            return -1;
        }
        out->port = (int)port;
    }
    int defport = strcmp(out->scheme, "https") == 0 ? 443 : 80;
    if (out->port && out->port != defport)
        fmt_into(out->host_header, sizeof out->host_header, "%s:%d", out->host, out->port);
    else
        fmt_into(out->host_header, sizeof out->host_header, "%s", out->host);
    const char *path = auth + alen;
    size_t plen = strlen(path);
    while (plen > 0 && path[plen - 1] == '/')
        plen--;
    if (plen >= sizeof out->base_path) {
        fmt_into(err, errlen, "base path too long");
        return -1;
    }
    memcpy(out->base_path, path, plen);
    out->base_path[plen] = '\0';
    return 0;
}

static const char *env_get(const char *(*getenv_fn)(void *, const char *), void *ud,
                           const char *name)
{
    const char *v = getenv_fn ? getenv_fn(ud, name) : getenv(name);
    return v && *v ? v : NULL;
}

int aws_region_ok(const char *r)
{
    size_t n = strlen(r);
    if (n == 0 || n > 63)
        return 0;
    for (; *r; r++)
        if (!((*r >= 'a' && *r <= 'z') || (*r >= '0' && *r <= '9') || *r == '-'))
            return 0;
    return 1;
}

/* The precedence is the SDKs': the service's own variable, then the global one, then the
 * default host. The signing region does not depend on where the endpoint came from: an emulator
 * of CloudFront verifies us-east-1 like the real one. */
int aws_resolve_endpoint(const char *service, const char *region, const char *endpoint_prefix,
                         const char *default_region,
                         const char *(*getenv_fn)(void *ud, const char *name), void *getenv_ud,
                         struct aws_endpoint *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    if (!service || !*service) {
        fmt_into(err, errlen, "no service given");
        return -1;
    }
    const struct service_info *si;
    const struct model_service *ms;
    if (service_resolve(service, &si, &ms, err, errlen) < 0)
        return -1;
    const char *id = si ? si->id : ms ? ms->id : service;
    char var[128], old_var[128], lower[96];
    aws_endpoint_env_var(id, var, sizeof var);
    aws_endpoint_env_var(service, old_var, sizeof old_var);
    size_t i;
    for (i = 0; service[i] && i + 1 < sizeof lower; i++)
        lower[i] =
            service[i] >= 'A' && service[i] <= 'Z' ? (char)(service[i] - 'A' + 'a') : service[i];
    lower[i] = '\0';
    const char *prefix = endpoint_prefix && *endpoint_prefix ? endpoint_prefix
                         : si                                ? si->prefix
                         : ms                                ? ms->prefix
                                                             : lower;
    fmt_into(out->signing_name, sizeof out->signing_name, "%s",
             si   ? si->signing
             : ms ? ms->signing
                  : prefix);

    const char *r = region && *region ? region : default_region;
    if (r && *r && !aws_region_ok(r)) {
        fmt_into(err, errlen, "region '%.64s' is not a region name (like us-east-1)", r);
        return -2;
    }
    const struct partition *pt = partition_of(r);
    const struct global_endpoint *ge = si && si->global ? global_endpoint(si->id, pt) : NULL;
    if (ge) {
        fmt_into(out->region, sizeof out->region, "%s", ge->region);
    } else {
        if (!r || !*r) {
            fmt_into(err, errlen,
                     "no region for %s: set AWS_REGION (or AWS_DEFAULT_REGION, or region in "
                     "the profile), or pass region",
                     service);
            return -2;
        }
        fmt_into(out->region, sizeof out->region, "%s", r);
    }

    /* Only the SDKs' name is read. A variable named after the script's argument instead
     * (AWS_ENDPOINT_URL_STATES for SFN, which hookhost read before it followed the SDKs) is
     * refused rather than ignored: ignoring it would send the call to real AWS. (Unless it is
     * another service's own variable: AWS_ENDPOINT_URL_SSO is SSO's, while "sso" is SSO Admin.) */
    if (strcmp(old_var, var) != 0 && env_get(getenv_fn, getenv_ud, old_var) &&
        !env_get(getenv_fn, getenv_ud, var) && !is_sdk_var(old_var)) {
        fmt_into(err, errlen,
                 "%s is set, but the AWS SDKs' variable for %s (service id \"%s\") is %s: "
                 "rename it",
                 old_var, service, id, var);
        return -1;
    }
    const char *names[] = {var, "AWS_ENDPOINT_URL"};
    for (i = 0; i < 2; i++) {
        const char *url = env_get(getenv_fn, getenv_ud, names[i]);
        if (!url)
            continue;
        char why[256];
        if (aws_parse_endpoint_url(url, out, why, sizeof why) < 0) {
            fmt_into(err, errlen, "%s='%.200s' is not a valid endpoint URL: %s", names[i], url,
                     why);
            return -1;
        }
        out->source = i == 0 ? "AWS_ENDPOINT_URL_<SERVICE>" : "AWS_ENDPOINT_URL";
        return 0;
    }

    char url[512];
    for (const char *p = prefix; *p; p++)
        if (!is_host_char(*p)) {
            fmt_into(err, errlen, "endpoint prefix '%.64s' is not a host name label", prefix);
            return -1;
        }
    if (ge)
        fmt_into(url, sizeof url, "https://%s", ge->host);
    else
        fmt_into(url, sizeof url, "https://%s.%s.%s", prefix, out->region, pt->dns_suffix);
    if (aws_parse_endpoint_url(url, out, err, errlen) < 0)
        return -1;
    out->source = "default";
    return 0;
}

int aws_request_url(const struct aws_endpoint *ep, const char *path, const char *query,
                    struct buf *out)
{
    if (buf_printf(out, "%s://%s", ep->scheme, ep->host) < 0)
        return -1;
    if (ep->port && buf_printf(out, ":%d", ep->port) < 0)
        return -1;
    if (buf_puts(out, ep->base_path) < 0 || buf_puts(out, path && *path ? path : "/") < 0)
        return -1;
    if (query && *query && (buf_putc(out, '?') < 0 || buf_puts(out, query) < 0))
        return -1;
    return 0;
}

/* ---- retries ------------------------------------------------------------------------------- */

int aws_retryable_code(const char *code)
{
    static const char *const codes[] = {
        /* throttling (botocore standard.py, _THROTTLED_ERROR_CODES) */
        "Throttling", "ThrottlingException", "ThrottledException", "RequestThrottledException",
        "TooManyRequestsException", "ProvisionedThroughputExceededException",
        "TransactionInProgressException", "RequestLimitExceeded", "BandwidthLimitExceeded",
        "LimitExceededException", "RequestThrottled", "SlowDown", "PriorRequestNotComplete",
        "EC2ThrottledException",
        /* transient */
        "RequestTimeout", "RequestTimeoutException", "IDPCommunicationError"};
    if (!code)
        return 0;
    for (size_t i = 0; i < sizeof codes / sizeof *codes; i++)
        if (strcmp(code, codes[i]) == 0)
            return 1;
    return 0;
}

int aws_retryable_status(long status)
{
    return status == 500 || status == 502 || status == 503 || status == 504;
}

static int expired_code(const char *code)
{
    return strcmp(code, "ExpiredToken") == 0 || strcmp(code, "ExpiredTokenException") == 0 ||
           strcmp(code, "RequestExpired") == 0;
}

int64_t aws_backoff_ms(int attempt, double r, int64_t now_ms, int64_t deadline_ms)
{
    if (attempt < 1)
        attempt = 1;
    if (r < 0)
        r = 0;
    if (r >= 1)
        r = 0.999999;
    int64_t cap = AWS_MAX_BACKOFF_MS;
    if (attempt <= 16) {
        int64_t grow = (int64_t)AWS_BACKOFF_BASE_MS << (attempt - 1);
        if (grow < cap)
            cap = grow;
    }
    int64_t delay = (int64_t)(r * (double)cap);
    if (now_ms + delay + AWS_MIN_ATTEMPT_MS > deadline_ms)
        return -1;
    return delay;
}

int64_t aws_attempt_ms(int64_t left, int more)
{
    if (left <= 0)
        return 0;
    if (!more || left < 2 * AWS_MIN_ATTEMPT_MS)
        return left;
    return left / 2;
}

/* ---- error decoding ------------------------------------------------------------------------ */

void aws_trim_error_code(char *code)
{
    char *colon = strchr(code, ':');
    if (colon)
        *colon = '\0';
    char *hash = strrchr(code, '#');
    if (hash)
        memmove(code, hash + 1, strlen(hash + 1) + 1);
}

/* What the XML error parser collects: the first Code and Message inside an <Error>, and the
 * first RequestId/RequestID anywhere. Expat does the parsing; DOCTYPEs stop it (no entities). */
enum { XF_NONE, XF_CODE, XF_MESSAGE, XF_REQID };

struct xml_err {
    XML_Parser parser;
    int depth;
    char parent_is_error[XML_ERR_MAX_DEPTH];
    int field, field_depth;
    struct buf text;
    struct aws_error *e;
    int got_code, got_message, got_reqid;
};

static const char *local_name(const char *name)
{
    const char *c = strrchr(name, ':');
    return c ? c + 1 : name;
}

static void XMLCALL xe_start(void *ud, const XML_Char *name, const XML_Char **attrs)
{
    struct xml_err *x = ud;
    const char *n = local_name(name);
    if (x->depth + 1 >= XML_ERR_MAX_DEPTH) {
        XML_StopParser(x->parser, XML_FALSE);
        return;
    }
    int in_error = x->depth > 0 && x->parent_is_error[x->depth];
    x->depth++;
    x->parent_is_error[x->depth] = strcmp(n, "Error") == 0;
    if (x->field != XF_NONE)
        return;
    if (in_error && !x->got_code && strcmp(n, "Code") == 0)
        x->field = XF_CODE;
    else if (in_error && !x->got_message && strcmp(n, "Message") == 0)
        x->field = XF_MESSAGE;
    else if (!x->got_reqid && (strcmp(n, "RequestId") == 0 || strcmp(n, "RequestID") == 0))
        x->field = XF_REQID;
    if (x->field != XF_NONE) {
        x->field_depth = x->depth;
        buf_reset(&x->text);
    }
}

static void XMLCALL xe_text(void *ud, const XML_Char *s, int len)
{
    struct xml_err *x = ud;
    if (x->field != XF_NONE && x->text.len < 1024)
        buf_append(&x->text, s, (size_t)len);
}

/* Leading and trailing whitespace go: pretty-printed documents indent their text. */
static void copy_trimmed(char *dst, size_t dstlen, const char *s, size_t n)
{
    while (n && (*s == ' ' || *s == '\n' || *s == '\r' || *s == '\t'))
        s++, n--;
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\n' || s[n - 1] == '\r' || s[n - 1] == '\t'))
        n--;
    fmt_into(dst, dstlen, "%.*s", (int)(n < dstlen ? n : dstlen - 1), s);
}

static void XMLCALL xe_end(void *ud, const XML_Char *name)
{
    struct xml_err *x = ud;
    if (x->field != XF_NONE && x->depth == x->field_depth) {
        const char *t = x->text.p ? x->text.p : "";
        switch (x->field) {
        case XF_CODE:
            copy_trimmed(x->e->code, sizeof x->e->code, t, x->text.len);
            x->got_code = 1;
            break;
        case XF_MESSAGE:
            copy_trimmed(x->e->message, sizeof x->e->message, t, x->text.len);
            x->got_message = 1;
            break;
        default:
            if (!x->e->request_id[0])
                copy_trimmed(x->e->request_id, sizeof x->e->request_id, t, x->text.len);
            x->got_reqid = 1;
            break;
        }
        x->field = XF_NONE;
    }
    x->depth--;
}

static void XMLCALL xe_doctype(void *ud, const XML_Char *name, const XML_Char *sysid,
                               const XML_Char *pubid, int has_internal_subset)
{
    struct xml_err *x = ud;
    XML_StopParser(x->parser, XML_FALSE);
}

/* Parse an XML error document into e. Only fills fields still empty; a broken document leaves
 * what was read before the break, which is still better than nothing. */
static void decode_xml_error(const char *body, size_t len, struct aws_error *e, int have_code)
{
    struct xml_err x = {0};
    x.parser = XML_ParserCreate(NULL);
    if (!x.parser)
        return;
    x.e = e;
    x.got_code = have_code;
    x.text = BUF_INIT(4096);
    XML_SetUserData(x.parser, &x);
    XML_SetElementHandler(x.parser, xe_start, xe_end);
    XML_SetCharacterDataHandler(x.parser, xe_text);
    XML_SetStartDoctypeDeclHandler(x.parser, xe_doctype);
    XML_Parse(x.parser, body, (int)(len > (size_t)1 << 30 ? (size_t)1 << 30 : len), XML_TRUE);
    XML_ParserFree(x.parser);
    buf_free(&x.text);
}

static void decode_json_error(const char *body, size_t len, struct aws_error *e, int have_code)
{
    struct json_field f[5];
    static const char *const keys[] = {"__type", "code", "Code", "message", "Message"};
    for (size_t i = 0; i < 5; i++)
        f[i] = (struct json_field){.key = keys[i]};
    char why[128];
    if (json_get_fields(body, len, f, sizeof f / sizeof *f, why, sizeof why) < 0)
        return;
    for (size_t i = 0; i < 3 && !have_code; i++)
        if (f[i].kind == JSON_STRING && f[i].len) {
            fmt_into(e->code, sizeof e->code, "%s", f[i].value);
            have_code = 1;
        }
    for (size_t i = 3; i < 5; i++)
        if (f[i].kind == JSON_STRING && !e->message[0])
            fmt_into(e->message, sizeof e->message, "%s", f[i].value);
    json_fields_free(f, sizeof f / sizeof *f);
}

void aws_decode_error(const struct http_response *resp, struct aws_error *e)
{
    memset(e, 0, sizeof *e);
    e->status = resp->status;
    const char *h = http_header_get(resp, "x-amzn-ErrorType");
    if (h && *h)
        fmt_into(e->code, sizeof e->code, "%s", h);
    const char *rid = http_header_get(resp, "x-amzn-RequestId");
    if (!rid || !*rid)
        rid = http_header_get(resp, "x-amz-request-id");
    if (rid && *rid)
        fmt_into(e->request_id, sizeof e->request_id, "%s", rid);

    const char *b = resp->body.p ? resp->body.p : "";
    size_t n = resp->body.len;
    size_t skip = 0;
    while (skip < n && (b[skip] == ' ' || b[skip] == '\n' || b[skip] == '\r' || b[skip] == '\t'))
        skip++;
    if (skip < n && b[skip] == '{')
        decode_json_error(b, n, e, e->code[0] != '\0');
    else if (skip < n && b[skip] == '<')
        decode_xml_error(b, n, e, e->code[0] != '\0');

    aws_trim_error_code(e->code);
    if (!e->code[0])
        fmt_into(e->code, sizeof e->code, "%ld", resp->status);
    if (!e->message[0])
        fmt_into(e->message, sizeof e->message, "HTTP %ld", resp->status);
    e->retryable = aws_retryable_status(resp->status) || aws_retryable_code(e->code);
}

/* ---- the client ---------------------------------------------------------------------------- */

struct aws_client {
    struct http_client *http;
    struct sigv4_signer *signer;
    struct creds_provider *creds;
    const char *(*getenv_fn)(void *, const char *);
    void *getenv_ud;
    char region[64];
    int max_attempts;
    int dry_run;
    uint64_t rng; /* xorshift state: backoff jitter, not security */
};

static double rand01(struct aws_client *c)
{
    uint64_t x = c->rng;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    c->rng = x;
    return (double)((x * 2685821657736338717ULL) >> 11) / 9007199254740992.0;
}

struct aws_client *aws_client_new(const struct aws_client_opts *opts, char *err, size_t errlen)
{
    struct aws_client_opts o = {0};
    if (opts)
        o = *opts;
    const char *v;
    long long attempts = AWS_DEFAULT_MAX_ATTEMPTS;
    if ((v = env_get(o.getenv_fn, o.getenv_ud, "AWS_MAX_ATTEMPTS")) &&
        parse_int(v, 1, AWS_MAX_MAX_ATTEMPTS, &attempts) < 0) {
        fmt_into(err, errlen, "AWS_MAX_ATTEMPTS='%.32s': expected a whole number from 1 to %d", v,
                 AWS_MAX_MAX_ATTEMPTS);
        return NULL;
    }
    if ((v = env_get(o.getenv_fn, o.getenv_ud, "AWS_RETRY_MODE"))) {
        if (strcasecmp(v, "adaptive") == 0) {
            log_debug("AWS_RETRY_MODE=adaptive: hookhost retries in standard mode (no client-side "
                      "rate limiting)");
        } else if (strcasecmp(v, "standard") != 0 && strcasecmp(v, "legacy") != 0) {
            fmt_into(err, errlen, "AWS_RETRY_MODE='%.32s': expected standard, legacy or adaptive",
                     v);
            return NULL;
        }
    }
    struct http_options ho = {.ca_bundle = env_get(o.getenv_fn, o.getenv_ud, "AWS_CA_BUNDLE")};
    char why[512];
    struct http_client *http = http_client_new(&ho, why, sizeof why);
    if (!http) {
        fmt_into(err, errlen, "%s%s", ho.ca_bundle ? "AWS_CA_BUNDLE: " : "", why);
        return NULL;
    }
    struct sigv4_signer *signer = sigv4_signer_new(why, sizeof why);
    if (!signer) {
        http_client_free(http);
        fmt_into(err, errlen, "%s", why);
        return NULL;
    }
    struct aws_client *c = xcalloc(1, sizeof *c);
    c->http = http;
    c->signer = signer;
    struct creds_opts co = {.getenv_fn = o.getenv_fn, .getenv_ud = o.getenv_ud};
    c->creds = creds_provider_new(&co);
    c->getenv_fn = o.getenv_fn;
    c->getenv_ud = o.getenv_ud;
    c->max_attempts = (int)attempts;
    c->dry_run = o.dry_run;
    if ((v = env_get(o.getenv_fn, o.getenv_ud, "AWS_REGION")) ||
        (v = env_get(o.getenv_fn, o.getenv_ud, "AWS_DEFAULT_REGION"))) {
        fmt_into(c->region, sizeof c->region, "%s", v);
    } else {
        char *r = creds_profile_region(c->creds);
        if (r)
            fmt_into(c->region, sizeof c->region, "%s", r);
        free(r);
    }
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    c->rng = ((uint64_t)ts.tv_nsec << 20) ^ (uint64_t)ts.tv_sec ^ ((uint64_t)getpid() << 40) ^
             (uint64_t)(uintptr_t)c;
    if (!c->rng)
        c->rng = 0x9E3779B97F4A7C15ULL;
    return c;
}

void aws_client_free(struct aws_client *c)
{
    if (!c)
        return;
    http_client_free(c->http);
    sigv4_signer_free(c->signer);
    creds_provider_free(c->creds);
    free(c);
}

void aws_client_set_dry_run(struct aws_client *c, int on)
{
    c->dry_run = on;
}

const char *aws_client_region(const struct aws_client *c)
{
    return c->region;
}

int aws_client_preload_ca(struct aws_client *c)
{
    return http_client_preload_ca(c->http);
}

long aws_client_connects(const struct aws_client *c)
{
    return http_client_connects(c->http);
}

/* 1 when p is one or more host labels, each followed by '.': what may stand in front of a host. */
static int host_prefix_ok(const char *p)
{
    size_t label = 0;
    if (!*p)
        return 0;
    for (; *p; p++) {
        if (*p == '.') {
            if (label == 0 || p[-1] == '-')
                return 0;
            label = 0;
        } else if ((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
                   (*p == '-' && label > 0)) {
            if (++label > 63)
                return 0;
        } else {
            return 0;
        }
    }
    return label == 0; /* ends with '.' */
}

/* The host prefix goes in front of any endpoint, the default or a variable's: an S3 bucket
 * addressed virtually is part of the host name wherever S3 is. */
int aws_client_resolve(const struct aws_client *c, const struct aws_request *req,
                       struct aws_endpoint *ep, char *err, size_t errlen)
{
    int rc = aws_resolve_endpoint(req->service, req->region, req->endpoint_prefix, c->region,
                                  c->getenv_fn, c->getenv_ud, ep, err, errlen);
    if (rc == 0 && req->signing_name && *req->signing_name)
        fmt_into(ep->signing_name, sizeof ep->signing_name, "%s", req->signing_name);
    if (rc == 0 && req->host_prefix) {
        size_t n = strlen(req->host_prefix);
        if (!host_prefix_ok(req->host_prefix) || ep->host[0] == '[' ||
            n + strlen(ep->host_header) >= sizeof ep->host_header) {
            fmt_into(err, errlen,
                     "host prefix '%.80s' is not host labels ending in '.' (lower-case letters, "
                     "digits, '-'), or the host would be too long",
                     req->host_prefix);
            return -1;
        }
        char host[sizeof ep->host_header];
        fmt_into(host, sizeof host, "%s%s", req->host_prefix, ep->host);
        fmt_into(ep->host, sizeof ep->host, "%s", host);
        fmt_into(host, sizeof host, "%s%s", req->host_prefix, ep->host_header);
        fmt_into(ep->host_header, sizeof ep->host_header, "%s", host);
    }
    return rc;
}

/* ---- calls --------------------------------------------------------------------------------- */

static void set_error(struct aws_error *e, const char *code, long status, int retryable,
                      const char *message)
{
    memset(e, 0, sizeof *e);
    fmt_into(e->code, sizeof e->code, "%s", code);
    fmt_into(e->message, sizeof e->message, "%s", message);
    e->status = status;
    e->retryable = retryable;
}

static const char *transport_code(int rc)
{
    switch (rc) {
    case HTTP_ERR_TIMEOUT:
        return "Timeout";
    case HTTP_ERR_CONNECTION:
    case HTTP_ERR_DNS:
        return "ConnectionError";
    case HTTP_ERR_TLS:
        return "TLSError";
    case HTTP_ERR_TOO_LARGE:
        return "ResponseTooLarge";
    case HTTP_ERR_REQUEST:
        return "RequestError";
    case HTTP_ERR_DEADLINE:
        return "DeadlineExceeded";
    default:
        return "HttpError";
    }
}

/* Headers the signer sets: a caller's copy would be sent twice or signed wrongly. */
static int reserved_header(const char *name)
{
    static const char *const names[] = {"host", "authorization", "x-amz-date",
                                        "x-amz-security-token", "x-amz-content-sha256"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++)
        if (strcasecmp(name, names[i]) == 0)
            return 1;
    return 0;
}

static void sleep_ms(int64_t ms)
{
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

static int request_line_ok(const char *s)
{
    for (; s && *s; s++)
        if ((unsigned char)*s <= 0x20 || (unsigned char)*s >= 0x7f || *s == '#')
            return 0;
    return 1;
}

/* What a call needs from one attempt to the next: the URL, the signing path and the headers
 * that do not change. Only X-Amz-Date, the credentials and hence the signature are redone. */
struct call {
    const struct aws_request *req;
    struct aws_endpoint ep;
    struct buf url, sign_path;
    const char *method;
    struct sigv4_header *sh; /* signed: Host, Content-Type, the caller's, User-Agent */
    size_t nsh;
    int64_t attempt_deadline_ms; /* this attempt's HTTP deadline (aws_attempt_ms()) */
};

/* Sign k's request with cr, dated now (written into amz_date, which res's X-Amz-Date borrows).
 * res gets views into the signer (valid until its next use) and into amz_date and cr. Returns
 * 0, or -1 with the reason in why. */
static int sign_call(struct aws_client *c, const struct call *k, const struct creds *cr,
                     char amz_date[32], struct sigv4_result *res, char *why, size_t whylen)
{
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(amz_date, 32, "%Y%m%dT%H%M%SZ", &tm);

    const struct aws_request *req = k->req;
    struct sigv4_request sr = {
        .method = str_cstr(k->method),
        .path = {k->sign_path.p, k->sign_path.len},
        .query = str_cstr(req->query ? req->query : ""),
        .headers = k->sh,
        .nheaders = k->nsh,
        .body = {req->body_len ? req->body : "", req->body_len},
    };
    struct sigv4_params sp = {
        .access_key = str_cstr(cr->access_key),
        .secret_key = str_cstr(cr->secret_key),
        .session_token = str_cstr(cr->session_token ? cr->session_token : ""),
        .region = str_cstr(k->ep.region),
        .service = str_cstr(k->ep.signing_name),
        .amz_date = amz_date,
        .mode = SIGV4_HEADER,
    };
    sigv4_params_service_defaults(&sp);
    if (req->auth == AWS_AUTH_UNSIGNED_BODY) {
        sp.sign_body = 1;
        sp.payload_hash = STR_LIT("UNSIGNED-PAYLOAD");
    }
    return sigv4_sign(c->signer, &sr, &sp, res, why, whylen) < 0 ? -1 : 0;
}

/* One attempt: fresh credentials from the provider (cached there), a fresh date, a signature,
 * one HTTP exchange. Returns http_do's result, or 1 for a local failure already in e. */
static int attempt(struct aws_client *c, struct call *k, struct http_response *resp,
                   struct aws_error *e)
{
    char why[512];
    struct creds cr = {0};
    struct http_header *hh = NULL;
    char *added[SIGV4_MAX_ADD_HEADERS] = {0};
    char *added_names[SIGV4_MAX_ADD_HEADERS] = {0};
    int rc = 1;
    const struct aws_request *req = k->req;
    struct sigv4_result res = {.nadd = 0};
    char amz_date[32];

    if (req->auth != AWS_AUTH_NONE) { /* an unsigned operation needs no credentials */
        creds_set_deadline(c->creds, req->deadline_ms); /* a hanging helper ends with the call */
        int got = creds_get(c->creds, &cr, why, sizeof why);
        creds_set_deadline(c->creds, 0);
        if (got < 0) {
            set_error(e, "CredentialsError", 0, 0, why);
            goto cleanup;
        }
        log_add_secret(cr.secret_key);
        if (cr.session_token)
            log_add_secret(cr.session_token);
        if (sign_call(c, k, &cr, amz_date, &res, why, sizeof why) < 0) {
            set_error(e, "SigningError", 0, 0, why);
            goto cleanup;
        }
    }
    hh = xcalloc(k->nsh + SIGV4_MAX_ADD_HEADERS, sizeof *hh);
    size_t n = 0;
    for (size_t i = 0; i < k->nsh; i++)
        hh[n++] = (struct http_header){k->sh[i].name.p, k->sh[i].value.p};
    for (size_t i = 0; i < res.nadd; i++) {
        added_names[i] = xstrndup(res.add[i].name.p, res.add[i].name.len);
        added[i] = xstrndup(res.add[i].value.p, res.add[i].value.len);
        hh[n++] = (struct http_header){added_names[i], added[i]};
    }
    struct http_request hr = {
        .method = k->method,
        .url = k->url.p,
        .headers = hh,
        .nheaders = n,
        .body = req->body_len ? req->body : NULL,
        .body_len = req->body_len,
        .deadline_ms = k->attempt_deadline_ms,
        .max_body = req->max_body,
    };
    rc = http_do(c->http, &hr, resp, why, sizeof why);
    if (rc < 0)
        set_error(e, transport_code(rc), 0, http_retryable(rc), why);

cleanup:
    for (size_t i = 0; i < SIGV4_MAX_ADD_HEADERS; i++) {
        free(added_names[i]);
        if (added[i]) /* the Authorization value: not a secret, but no reason to leave it */
            OPENSSL_cleanse(added[i], strlen(added[i]));
        free(added[i]);
    }
    free(hh);
    creds_clear(&cr);
    return rc;
}

/* Header names whose values no description shows: credentials, cookies, and anything named
 * like a secret. (The log's redaction runs on the line too; this does not rely on it.) */
static int secret_header(const char *name, size_t len)
{
    static const char *const parts[] = {"authorization", "cookie",  "token",     "secret",
                                        "password",      "passwd",  "signature", "credential",
                                        "session",       "api-key", "apikey",    "auth",
                                        "customer-key"}; /* S3's SSE-C keys */
    char low[128];
    if (len >= sizeof low)
        return 1;
    for (size_t i = 0; i < len; i++)
        low[i] = (char)((name[i] >= 'A' && name[i] <= 'Z') ? name[i] + 32 : name[i]);
    low[len] = '\0';
    for (size_t i = 0; i < sizeof parts / sizeof *parts; i++)
        if (strstr(low, parts[i]))
            return 1;
    return 0;
}

/* "Name: value", or "Name: ***" for a secret one; malloc'd. */
static char *header_line(struct str name, struct str value)
{
    int hide = secret_header(name.p, name.len);
    size_t n = name.len + 2 + (hide ? 3 : value.len) + 1;
    char *line = xmalloc(n);
    fmt_into(line, n, "%.*s: %.*s", (int)name.len, name.p, hide ? 3 : (int)value.len,
             hide ? "***" : value.p);
    return line;
}

/* The verbose description's fields: the headers as they would be sent (secret values as
 * "***"), the query, and the body's first DRY_RUN_BODY_MAX bytes. malloc'd JSON. */
static char *dry_run_fields(const struct call *k, const struct sigv4_result *res)
{
    const struct aws_request *req = k->req;
    size_t n = k->nsh + (res ? res->nadd : 0);
    char **lines = xcalloc(n ? n : 1, sizeof *lines);
    for (size_t i = 0; i < k->nsh; i++)
        lines[i] = header_line(k->sh[i].name, k->sh[i].value);
    for (size_t i = 0; res && i < res->nadd; i++)
        lines[k->nsh + i] = header_line(res->add[i].name, res->add[i].value);
    struct json *j = json_new();
    json_set_str_array(j, "headers", (const char *const *)lines, n);
    if (req->query && *req->query)
        json_set_str(j, "query", req->query);
    if (req->body_len) {
        size_t show = req->body_len < DRY_RUN_BODY_MAX ? req->body_len : DRY_RUN_BODY_MAX;
        struct buf b = BUF_INIT(DRY_RUN_BODY_MAX + 64);
        buf_append(&b, req->body, show);
        if (show < req->body_len)
            buf_printf(&b, "... (%zu bytes more)", req->body_len - show);
        json_set_strn(j, "body", b.p ? b.p : "", b.len);
        buf_free(&b);
    }
    for (size_t i = 0; i < n; i++)
        free(lines[i]);
    free(lines);
    return json_finish(j);
}

/* Describe a call instead of making it: one INFO line, "dry run: not sent: <service>
 * <operation> <METHOD> <URL without query> (<n> bytes)", noting a missing region and missing
 * credentials. With credentials at hand the request is signed as it would be sent (so a dry run
 * shows the Authorization header's presence, never its value); without, it is described
 * unsigned. req->verbose adds the headers, query and body as fields of the line. */
static int dry_run(struct aws_client *c, struct call *k, struct aws_error *e, int no_region)
{
    const struct aws_request *req = k->req;
    char url[600];
    fmt_into(url, sizeof url, "%s://%s%s%s", k->ep.scheme, k->ep.host_header, k->ep.base_path,
             req->path && *req->path ? req->path : "/");
    char why[512];
    struct creds cr = {0};
    struct sigv4_result res;
    char amz_date[32];
    int is_signed = 0;
    int got = -1;
    if (req->auth != AWS_AUTH_NONE) {
        creds_set_deadline(c->creds, req->deadline_ms);
        got = creds_get(c->creds, &cr, why, sizeof why);
        creds_set_deadline(c->creds, 0);
    }
    if (got == 0) {
        log_add_secret(cr.secret_key);
        if (cr.session_token)
            log_add_secret(cr.session_token);
        is_signed = sign_call(c, k, &cr, amz_date, &res, why, sizeof why) == 0;
    } else {
        log_debug("dry run: no credentials: %s", why);
    }
    char note_[160] = "";
    if (req->auth == AWS_AUTH_NONE)
        fmt_into(note_, sizeof note_, " (unsigned operation)");
    else if (got < 0)
        fmt_into(note_, sizeof note_, " (not signed: no credentials)");
    else if (!is_signed)
        fmt_into(note_, sizeof note_, " (not signed: %.120s)", why);
    char msg[1024];
    fmt_into(msg, sizeof msg, "dry run: not sent: %s%s%s %s %s (%zu bytes)%s%s", req->service,
             req->operation ? " " : "", req->operation ? req->operation : "", k->method, url,
             req->body_len, no_region ? " (no region set)" : "", note_);
    char *fields = req->verbose ? dry_run_fields(k, is_signed ? &res : NULL) : NULL;
    log_line(LOG_INFO, fields, "%s", msg);
    free(fields);
    creds_clear(&cr);
    set_error(e, "DryRun", 0, 0, msg);
    return -1;
}

/* Add " (suffix)" to a message when it fits: the reason a call stopped retrying. */
static void note(struct aws_error *e, const char *suffix)
{
    size_t n = strlen(e->message);
    if (n + strlen(suffix) + 4 < sizeof e->message)
        fmt_into(e->message + n, sizeof e->message - n, " (%s)", suffix);
}

/* The retry loop. The deadline is checked before every attempt and before every sleep, so the
 * call ends by the deadline whatever the server does: an attempt that may be followed by another
 * gets half the time left, the last one all of it, and a backoff that would not leave
 * AWS_MIN_ATTEMPT_MS for the next attempt is not slept at all (after a transport failure it is
 * shortened to fit instead). */
int aws_call(struct aws_client *c, const struct aws_request *req, struct http_response *resp,
             struct aws_error *e, int *attempts_out)
{
    struct call k = {.req = req, .url = BUF_INIT(URL_MAX), .sign_path = BUF_INIT(URL_MAX)};
    char why[512];
    int n = 0, refreshed = 0, rc = -1;
    int have_err = 0;
    memset(e, 0, sizeof *e);
    http_response_free(resp);
    if (attempts_out)
        *attempts_out = 0;

    int dry = c->dry_run || req->dry_run, no_region = 0;
    int r = aws_client_resolve(c, req, &k.ep, why, sizeof why);
    if (r == -2 && dry && !(req->region && *req->region)) {
        /* A dry run needs no region: describe the call as in us-east-1, and say so. */
        struct aws_request rr = *req;
        rr.region = "us-east-1";
        r = aws_client_resolve(c, &rr, &k.ep, why, sizeof why);
        no_region = 1;
    }
    if (r < 0) {
        set_error(e, r == -2 ? "MissingRegion" : "InvalidEndpoint", 0, 0, why);
        goto cleanup;
    }
    k.method = req->method && *req->method ? req->method : "GET";
    const char *path = req->path && *req->path ? req->path : "/";
    if (path[0] != '/' || !request_line_ok(path) || !request_line_ok(req->query) ||
        strchr(path, '?')) {
        set_error(e, "RequestError", 0, 0,
                  "the path must start with '/' and, like the query, hold no spaces, control "
                  "characters, '#' (or '?' in the path)");
        goto cleanup;
    }
    if (aws_request_url(&k.ep, path, req->query, &k.url) < 0 ||
        buf_puts(&k.sign_path, k.ep.base_path) < 0 || buf_puts(&k.sign_path, path) < 0) {
        set_error(e, "RequestError", 0, 0, "the request URL is too long");
        goto cleanup;
    }
    k.sh = xcalloc(req->nheaders + 3, sizeof *k.sh);
    k.sh[k.nsh++] = (struct sigv4_header){STR_LIT("Host"), str_cstr(k.ep.host_header)};
    if (req->content_type)
        k.sh[k.nsh++] = (struct sigv4_header){STR_LIT("Content-Type"), str_cstr(req->content_type)};
    for (size_t i = 0; i < req->nheaders; i++) {
        if (reserved_header(req->headers[i].name) ||
            (req->content_type && strcasecmp(req->headers[i].name, "Content-Type") == 0))
            continue;
        k.sh[k.nsh++] =
            (struct sigv4_header){str_cstr(req->headers[i].name), str_cstr(req->headers[i].value)};
    }
    k.sh[k.nsh++] =
        (struct sigv4_header){STR_LIT("User-Agent"), STR_LIT("hookhost/" HOOKHOST_VERSION)};
    if (dry) {
        dry_run(c, &k, e, no_region);
        goto cleanup;
    }

    int max = req->max_attempts > 0 ? req->max_attempts : c->max_attempts;
    for (;;) {
        int64_t left = req->deadline_ms - http_now_ms();
        if (left < AWS_MIN_ATTEMPT_MS) {
            if (!have_err) {
                char msg[128];
                fmt_into(msg, sizeof msg, "no time left for the call (%lld ms before its deadline)",
                         (long long)(left > 0 ? left : 0));
                set_error(e, "DeadlineExceeded", 0, 0, msg);
            } else {
                note(e, "no time left for another attempt");
            }
            break;
        }
        n++;
        int more = n - refreshed < max;
        int64_t now0 = http_now_ms();
        k.attempt_deadline_ms = now0 + aws_attempt_ms(req->deadline_ms - now0, more);
        int hr = attempt(c, &k, resp, e);
        if (hr == 1)
            break; /* credentials or signing: not something a retry fixes */
        if (hr == 0 && resp->status >= 200 && resp->status < 300) {
            rc = 0;
            break;
        }
        if (hr == 0)
            aws_decode_error(resp, e);
        have_err = 1;
        if (!refreshed && expired_code(e->code)) {
            log_info("aws: %s: %s; refreshing credentials and trying again", req->service, e->code);
            creds_invalidate(c->creds);
            refreshed = 1;
            continue;
        }
        if (!e->retryable)
            break;
        if (n - refreshed >= max) {
            if (max > 1)
                note(e, "retries exhausted");
            break;
        }
        int64_t now = http_now_ms();
        int64_t delay = aws_backoff_ms(n - refreshed, rand01(c), now, req->deadline_ms);
        int64_t spare = req->deadline_ms - now - AWS_MIN_ATTEMPT_MS;
        if (delay < 0 && e->status == 0 && spare >= 0) {
            /* A timeout or a dead connection, not a busy service: one more attempt, on a new
             * connection, is worth more than the full backoff the time left cannot hold. */
            delay = (int64_t)(rand01(c) * (double)(spare < 100 ? spare : 100));
        }
        if (delay < 0) {
            note(e, "no time left for another attempt");
            break;
        }
        log_debug("aws: %s %s: attempt %d failed (%s); retrying in %lld ms", req->service,
                  req->operation ? req->operation : k.method, n, e->code, (long long)delay);
        sleep_ms(delay);
    }

cleanup:
    if (attempts_out)
        *attempts_out = n;
    if (rc == 0)
        memset(e, 0, sizeof *e);
    free(k.sh);
    buf_free(&k.url);
    buf_free(&k.sign_path);
    return rc;
}

int aws_json_call(struct aws_client *c, const char *service, const char *target,
                  const char *json_version, const char *body, int64_t deadline_ms,
                  struct http_response *resp, struct aws_error *err, int *attempts)
{
    char ctype[64];
    fmt_into(ctype, sizeof ctype, "application/x-amz-json-%s",
             json_version && *json_version ? json_version : "1.1");
    const char *op = target ? strrchr(target, '.') : NULL;
    struct http_header h = {"X-Amz-Target", target ? target : ""};
    if (!body)
        body = "{}";
    struct aws_request req = {
        .service = service,
        .method = "POST",
        .path = "/",
        .headers = &h,
        .nheaders = target ? 1 : 0,
        .content_type = ctype,
        .body = body,
        .body_len = strlen(body),
        .operation = op ? op + 1 : target,
        .deadline_ms = deadline_ms,
    };
    return aws_call(c, &req, resp, err, attempts);
}
