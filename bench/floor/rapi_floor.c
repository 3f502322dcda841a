/* rapi_floor: the emulators' own floor. A trivial custom runtime with no script, no Lua, no
 * worker process: GET next -> [CloudFront CreateInvalidation] -> CodeDeploy report -> POST
 * response, on kept-alive libcurl handles, signing with a few lines of SigV4 over libcrypto.
 * What it takes per event is what the harness (the Python emulators and their botocore
 * signature check) costs; whatever hookhost takes above it is hookhost's.
 *
 *   rapi_floor [--cloudfront [--fresh]]   (environment: as for hookhost serve, from the
 *                                          emulators, and DistributionId with --cloudfront)
 *
 * --fresh opens a new connection to CloudFront for every event, as hookhost's worker process
 * must (it is a new process each time): the difference to the kept-alive case is what a new
 * connection costs against the emulators (on real AWS, add a TLS handshake).
 *
 * A benchmark tool, not a runtime: the event is searched for its two ids with strstr, errors end
 * the process, nothing is retried. Runs until the Runtime API goes away.
 */
#include <curl/curl.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct resp {
    char body[65536];
    size_t len;
    char request_id[128];
};

static size_t on_body(char *p, size_t size, size_t n, void *ud)
{
    struct resp *r = ud;
    size_t len = size * n, room = sizeof r->body - 1 - r->len;
    memcpy(r->body + r->len, p, len < room ? len : room);
    r->len += len < room ? len : room;
    r->body[r->len] = '\0';
    return len;
}

static size_t on_header(char *p, size_t size, size_t n, void *ud)
{
    struct resp *r = ud;
    size_t len = size * n;
    static const char name[] = "lambda-runtime-aws-request-id:";
    if (len > sizeof name && strncasecmp(p, name, sizeof name - 1) == 0) {
        const char *v = p + sizeof name - 1;
        while (*v == ' ')
            v++;
        size_t vl = (size_t)(p + len - v);
        while (vl && (v[vl - 1] == '\r' || v[vl - 1] == '\n'))
            vl--;
        if (vl >= sizeof r->request_id)
            vl = sizeof r->request_id - 1;
        memcpy(r->request_id, v, vl);
        r->request_id[vl] = '\0';
    }
    return len;
}

static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("rapi_floor: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(1);
}

static void hex(const unsigned char *d, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++)
        snprintf(out + 2 * i, 3, "%02x", d[i]);
}

static void sha256_hex(const char *p, size_t n, char out[65])
{
    unsigned char d[32];
    SHA256((const unsigned char *)p, n, d);
    hex(d, 32, out);
}

static void hmac(const void *key, size_t klen, const char *msg, unsigned char out[32])
{
    unsigned int olen = 32;
    HMAC(EVP_sha256(), key, (int)klen, (const unsigned char *)msg, strlen(msg), out, &olen);
}

/* Sign a POST with host, x-amz-date, content-type and (if any) x-amz-target, and send it on h.
 * Returns the HTTP status. */
static long signed_post(CURL *h, const char *endpoint, const char *path, const char *region,
                        const char *service, const char *ctype, const char *target,
                        const char *body, struct resp *r)
{
    const char *ak = getenv("AWS_ACCESS_KEY_ID"), *sk = getenv("AWS_SECRET_ACCESS_KEY");
    if (!ak || !sk)
        die("AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are needed");
    const char *host = strstr(endpoint, "://");
    host = host ? host + 3 : endpoint;
    char amz_date[32], day[16];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(amz_date, sizeof amz_date, "%Y%m%dT%H%M%SZ", &tm);
    strftime(day, sizeof day, "%Y%m%d", &tm);
    char body_hash[65];
    sha256_hex(body, strlen(body), body_hash);
    char canon[8192], sh[128];
    if (target) {
        snprintf(sh, sizeof sh, "content-type;host;x-amz-date;x-amz-target");
        snprintf(canon, sizeof canon,
                 "POST\n%s\n\ncontent-type:%s\nhost:%s\nx-amz-date:%s\nx-amz-target:%s\n\n%s\n%s",
                 path, ctype, host, amz_date, target, sh, body_hash);
    } else {
        snprintf(sh, sizeof sh, "content-type;host;x-amz-date");
        snprintf(canon, sizeof canon,
                 "POST\n%s\n\ncontent-type:%s\nhost:%s\nx-amz-date:%s\n\n%s\n%s", path, ctype, host,
                 amz_date, sh, body_hash);
    }
    char canon_hash[65], sts[512], scope[128];
    sha256_hex(canon, strlen(canon), canon_hash);
    snprintf(scope, sizeof scope, "%s/%s/%s/aws4_request", day, region, service);
    snprintf(sts, sizeof sts, "AWS4-HMAC-SHA256\n%s\n%s\n%s", amz_date, scope, canon_hash);
    char k0[128];
    unsigned char k1[32], k2[32], k3[32], k4[32], sig[32];
    snprintf(k0, sizeof k0, "AWS4%s", sk);
    hmac(k0, strlen(k0), day, k1);
    hmac(k1, 32, region, k2);
    hmac(k2, 32, service, k3);
    hmac(k3, 32, "aws4_request", k4);
    hmac(k4, 32, sts, sig);
    char sig_hex[65];
    hex(sig, 32, sig_hex);

    char url[1024], hh[5][512];
    snprintf(url, sizeof url, "%s%s", endpoint, path);
    snprintf(hh[0], sizeof hh[0], "Host: %s", host);
    snprintf(hh[1], sizeof hh[1], "X-Amz-Date: %s", amz_date);
    snprintf(hh[2], sizeof hh[2], "Content-Type: %s", ctype);
    snprintf(hh[3], sizeof hh[3],
             "Authorization: AWS4-HMAC-SHA256 Credential=%s/%s, SignedHeaders=%s, Signature=%s", ak,
             scope, sh, sig_hex);
    snprintf(hh[4], sizeof hh[4], "X-Amz-Target: %s", target ? target : "");
    struct curl_slist *hl = NULL;
    for (int i = 0; i < (target ? 5 : 4); i++)
        hl = curl_slist_append(hl, hh[i]);
    hl = curl_slist_append(hl, "Expect:");
    r->len = 0;
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hl);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 10000L);
    CURLcode rc = curl_easy_perform(h);
    curl_slist_free_all(hl);
    if (rc != CURLE_OK)
        die("%s: %s", url, curl_easy_strerror(rc));
    long status = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    return status;
}

/* The string value of "key": "..." in a flat JSON object (no escapes in the ids we send). */
static int json_str(const char *json, const char *key, char *out, size_t outlen)
{
    char pat[128];
    snprintf(pat, sizeof pat, "\"%s\"", key);
    const char *p = strstr(json, pat);
    if (!p)
        return -1;
    p = strchr(p + strlen(pat), '"');
    if (!p)
        return -1;
    const char *e = strchr(++p, '"');
    if (!e || (size_t)(e - p) >= outlen)
        return -1;
    memcpy(out, p, (size_t)(e - p));
    out[e - p] = '\0';
    return 0;
}

int main(int argc, char **argv)
{
    int cloudfront = argc > 1 && strcmp(argv[1], "--cloudfront") == 0;
    int fresh = argc > 2 && strcmp(argv[2], "--fresh") == 0;
    const char *api = getenv("AWS_LAMBDA_RUNTIME_API");
    const char *cd = getenv("AWS_ENDPOINT_URL_CODEDEPLOY");
    const char *cf = getenv("AWS_ENDPOINT_URL_CLOUDFRONT");
    const char *region = getenv("AWS_REGION") ? getenv("AWS_REGION") : "us-east-1";
    const char *dist = getenv("DistributionId");
    if (!api || !cd || (cloudfront && (!cf || !dist)))
        die("AWS_LAMBDA_RUNTIME_API, AWS_ENDPOINT_URL_CODEDEPLOY (and with --cloudfront "
            "AWS_ENDPOINT_URL_CLOUDFRONT, DistributionId) are needed");
    curl_global_init(CURL_GLOBAL_DEFAULT);
    CURL *rapi = curl_easy_init(), *cdh = curl_easy_init(), *cfh = curl_easy_init();
    const char *ca = getenv("AWS_CA_BUNDLE"); /* BENCH_TLS=1: the emulators' own CA */
    if (ca && *ca) {
        curl_easy_setopt(cfh, CURLOPT_CAINFO, ca);
        curl_easy_setopt(cdh, CURLOPT_CAINFO, ca);
    }
    if (fresh) {
        curl_easy_setopt(cfh, CURLOPT_FRESH_CONNECT, 1L);
        curl_easy_setopt(cfh, CURLOPT_FORBID_REUSE, 1L);
    }
    static struct resp r;
    char next_url[512], url[1024];
    snprintf(next_url, sizeof next_url, "http://%s/2018-06-01/runtime/invocation/next", api);
    for (;;) {
        r.len = 0;
        r.request_id[0] = '\0';
        curl_easy_setopt(rapi, CURLOPT_URL, next_url);
        curl_easy_setopt(rapi, CURLOPT_HTTPGET, 1L);
        curl_easy_setopt(rapi, CURLOPT_WRITEFUNCTION, on_body);
        curl_easy_setopt(rapi, CURLOPT_WRITEDATA, &r);
        curl_easy_setopt(rapi, CURLOPT_HEADERFUNCTION, on_header);
        curl_easy_setopt(rapi, CURLOPT_HEADERDATA, &r);
        if (curl_easy_perform(rapi) != CURLE_OK)
            return 0; /* the Runtime API is gone: done */
        char dep[64], ex[1024], body[2048];
        if (json_str(r.body, "DeploymentId", dep, sizeof dep) < 0 ||
            json_str(r.body, "LifecycleEventHookExecutionId", ex, sizeof ex) < 0)
            die("not a hook event: %s", r.body);
        char rid[128];
        snprintf(rid, sizeof rid, "%s", r.request_id);
        static struct resp w;
        if (cloudfront) {
            char path[256];
            snprintf(path, sizeof path, "/2020-05-31/distribution/%s/invalidation", dist);
            snprintf(body, sizeof body,
                     "<?xml version=\"1.0\" encoding=\"UTF-8\"?><InvalidationBatch "
                     "xmlns=\"http://cloudfront.amazonaws.com/doc/2020-05-31/\"><Paths><Quantity>1"
                     "</Quantity><Items><Path>/*</Path></Items></Paths><CallerReference>floor-%s"
                     "</CallerReference></InvalidationBatch>",
                     dep);
            long st = signed_post(cfh, cf, path, "us-east-1", "cloudfront", "application/xml", NULL,
                                  body, &w);
            if (st != 201)
                die("CreateInvalidation: HTTP %ld: %s", st, w.body);
        }
        snprintf(body, sizeof body,
                 "{\"deploymentId\":\"%s\",\"lifecycleEventHookExecutionId\":\"%s\","
                 "\"status\":\"Succeeded\"}",
                 dep, ex);
        long st = signed_post(cdh, cd, "/", region, "codedeploy", "application/x-amz-json-1.1",
                              "CodeDeploy_20141006.PutLifecycleEventHookExecutionStatus", body, &w);
        if (st != 200)
            die("PutLifecycleEventHookExecutionStatus: HTTP %ld: %s", st, w.body);
        snprintf(url, sizeof url, "http://%s/2018-06-01/runtime/invocation/%s/response", api, rid);
        struct curl_slist *hl = curl_slist_append(NULL, "Content-Type: application/json");
        hl = curl_slist_append(hl, "Expect:");
        curl_easy_setopt(rapi, CURLOPT_URL, url);
        curl_easy_setopt(rapi, CURLOPT_HTTPHEADER, hl);
        curl_easy_setopt(rapi, CURLOPT_POSTFIELDS, "{\"status\":\"Succeeded\"}");
        curl_easy_setopt(rapi, CURLOPT_HEADERFUNCTION, NULL);
        w.len = 0;
        curl_easy_setopt(rapi, CURLOPT_WRITEDATA, &w);
        CURLcode rc = curl_easy_perform(rapi);
        curl_easy_setopt(rapi, CURLOPT_HTTPHEADER, NULL);
        curl_slist_free_all(hl);
        if (rc != CURLE_OK)
            return 0;
    }
}
