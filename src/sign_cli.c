/* sign_cli.c: see sign_cli.h. Parse and check every option before touching credentials, so a
 * typo is a usage error (2) and never a half-printed request; then sign with the same signer
 * the runtime uses and print. */
#include "sign_cli.h"

#include "cli.h"
#include "aws.h"
#include "buf.h"
#include "config.h"
#include "creds.h"
#include "sigv4.h"

#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#define MAX_HEADERS    64
#define MAX_BODY_BYTES ((size_t)64 << 20)

static const char usage[] =
    "Usage: hookhost sign --method M --url URL [--header 'Name: value']... [--body-file F]\n"
    "                     --region R --service S [--date YYYYMMDDTHHMMSSZ] [--query]\n"
    "\n"
    "Sign a request with SigV4 using the usual credentials chain (environment, shared files,\n"
    "credential_process, container credentials) and print every header of the signed request,\n"
    "one 'Name: value' per line: Host, X-Amz-Date, X-Amz-Security-Token (with a session token),\n"
    "the given headers, x-amz-content-sha256 (S3), Authorization. Send them as printed.\n"
    "\n"
    "  --method M           HTTP method in upper case (GET, POST, ...)\n"
    "  --url URL            http:// or https:// URL, path and query as they will be sent\n"
    "  --header 'N: v'      a header to sign and send (repeatable)\n"
    "  --body-file F|-      the request body (default: empty); - reads stdin\n"
    "  --region R           signing region (us-east-1 for CloudFront and IAM)\n"
    "  --service S          signing name (codedeploy, cloudfront, monitoring, s3, ...)\n"
    "  --date D             X-Amz-Date to sign with, YYYYMMDDTHHMMSSZ (default: now, UTC)\n"
    "  --query              print a presigned URL instead (headers given are signed too and\n"
    "                       must be sent as given)\n"
    "  --expires N          presigned URL lifetime in seconds, 1 to 604800 (default 900)\n"
    "  -h, --help           this text\n"
    "\n"
    "Exit status: 0 printed, 1 credentials or signing failed, 2 usage error.\n";

#define usage_error(...) cli_usage_error("sign", usage, __VA_ARGS__)

static int is_help(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--") == 0)
            return 0;
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0)
            return 1;
    }
    return 0;
}

/* ---- checks ---------------------------------------------------------------------------------- */

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

static int name_ok(const char *s, size_t n, const char *extra)
{
    if (n == 0 || n > 64)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || strchr(extra, s[i])))
            return 0;
    return 1;
}

static int token_char(char ch)
{
    return ch > 0x20 && ch < 0x7f && !strchr("()<>@,;:\\\"/[]?={}", ch);
}

/* YYYYMMDDTHHMMSSZ with real ranges (days of the month, leap years). */
static int date_ok(const char *d)
{
    if (strlen(d) != 16 || d[8] != 'T' || d[15] != 'Z')
        return 0;
    int v[6] = {0};
    static const int pos[6][2] = {{0, 4}, {4, 2}, {6, 2}, {9, 2}, {11, 2}, {13, 2}};
    for (int i = 0; i < 6; i++)
        for (int j = 0; j < pos[i][1]; j++) {
            char ch = d[pos[i][0] + j];
            if (ch < '0' || ch > '9')
                return 0;
            v[i] = v[i] * 10 + (ch - '0');
        }
    static const int mdays[12] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (v[0] < 1970 || v[1] < 1 || v[1] > 12 || v[2] < 1 || v[2] > mdays[v[1] - 1])
        return 0;
    int leap = (v[0] % 4 == 0 && v[0] % 100 != 0) || v[0] % 400 == 0;
    if (v[1] == 2 && v[2] == 29 && !leap)
        return 0;
    return v[3] < 24 && v[4] < 60 && v[5] < 61;
}

/* The request line's bytes: printable ASCII without spaces. */
static int line_ok(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] >= 0x7f)
            return 0;
    return 1;
}

/* ---- the parts of a request -------------------------------------------------------------- */

struct url_parts {
    struct aws_endpoint ep; /* scheme, host, host_header, port */
    const char *path;       /* into the URL; "" means "/" */
    size_t path_len;
    const char *query; /* into the URL, after '?'; may be "" */
};

static int parse_url(const char *url, struct url_parts *u, char *why, size_t whylen)
{
    const char *sep = strstr(url, "://");
    if (!sep) {
        fmt_into(why, whylen, "expected an http:// or https:// URL");
        return -1;
    }
    if (strchr(url, '#')) {
        fmt_into(why, whylen, "a fragment (#...) is never sent; leave it out");
        return -1;
    }
    const char *auth = sep + 3;
    size_t alen = strcspn(auth, "/?");
    size_t plen = (size_t)(auth + alen - url);
    char prefix[600];
    if (plen >= sizeof prefix) {
        fmt_into(why, whylen, "the host part is too long");
        return -1;
    }
    memcpy(prefix, url, plen);
    prefix[plen] = '\0';
    if (aws_parse_endpoint_url(prefix, &u->ep, why, whylen) < 0)
        return -1;
    const char *rest = auth + alen;
    const char *q = strchr(rest, '?');
    u->path = rest;
    u->path_len = q ? (size_t)(q - rest) : strlen(rest);
    u->query = q ? q + 1 : "";
    if (!line_ok(rest, strlen(rest))) {
        fmt_into(why, whylen,
                 "the path and query must be encoded: no spaces, control or "
                 "non-ASCII characters");
        return -1;
    }
    return 0;
}

/* ---- the command --------------------------------------------------------------------------- */

struct sign_opts {
    const char *method, *url, *body_file, *region, *service, *date;
    const char *headers[MAX_HEADERS];
    size_t nheaders;
    int query;
    long expires; /* 0: not given */
};

/* Options into o; returns 0 or a usage error's exit status. */
static int parse_options(int argc, char **argv, struct sign_opts *o)
{
    static const struct option opts[] = {
        {"method", required_argument, 0, 'm'},
        {"url", required_argument, 0, 'u'},
        {"header", required_argument, 0, 'H'},
        {"body-file", required_argument, 0, 'b'},
        {"region", required_argument, 0, 'r'},
        {"service", required_argument, 0, 's'},
        {"date", required_argument, 0, 'd'},
        {"query", no_argument, 0, 'q'},
        {"expires", required_argument, 0, 'e'},
        {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0},
    };
    int c;
    opterr = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, "+:h", opts, NULL)) != -1) {
        long long v;
        switch (c) {
        case 'm':
            o->method = optarg;
            break;
        case 'u':
            o->url = optarg;
            break;
        case 'H':
            if (o->nheaders == MAX_HEADERS)
                return usage_error("--header: at most %d headers", MAX_HEADERS);
            o->headers[o->nheaders++] = optarg;
            break;
        case 'b':
            o->body_file = optarg;
            break;
        case 'r':
            o->region = optarg;
            break;
        case 's':
            o->service = optarg;
            break;
        case 'd':
            o->date = optarg;
            break;
        case 'q':
            o->query = 1;
            break;
        case 'e':
            if (parse_int(optarg, 1, 604800, &v) < 0)
                return usage_error("--expires %s: expected whole seconds, 1 to 604800", optarg);
            o->expires = (long)v;
            break;
        case ':':
            return usage_error("%s needs a value", argv[optind - 1]);
        default:
            return usage_error("unknown option %s", argv[optind - 1]);
        }
    }
    if (optind < argc)
        return usage_error("unexpected argument %s", argv[optind]);
    const char *missing = !o->method    ? "--method"
                          : !o->url     ? "--url"
                          : !o->region  ? "--region"
                          : !o->service ? "--service"
                                        : NULL;
    if (missing)
        return usage_error("%s is required", missing);
    if (!method_ok(o->method))
        return usage_error("--method %s: expected an HTTP method in upper case (GET, POST, ...)",
                           o->method);
    if (!name_ok(o->region, strlen(o->region), "-"))
        return usage_error("--region %s: expected a region name like us-east-1", o->region);
    if (!name_ok(o->service, strlen(o->service), "-."))
        return usage_error("--service %s: expected a signing name like codedeploy or s3",
                           o->service);
    if (o->date && !date_ok(o->date))
        return usage_error("--date %s: expected YYYYMMDDTHHMMSSZ (UTC), e.g. 20261126T060000Z",
                           o->date);
    if (o->expires && !o->query)
        return usage_error("--expires is for presigned URLs: add --query");
    return 0;
}

/* Split and check the --header values into hs (after the Host header at hs[0]). */
static int parse_headers(const struct sign_opts *o, struct sigv4_header *hs, size_t *n)
{
    static const char *const reserved[] = {"authorization", "x-amz-date", "x-amz-security-token",
                                           "x-amz-content-sha256"};
    for (size_t i = 0; i < o->nheaders; i++) {
        const char *h = o->headers[i];
        const char *colon = strchr(h, ':');
        if (!colon)
            return usage_error("--header '%.64s': expected 'Name: value'", h);
        size_t nlen = (size_t)(colon - h);
        int ok = nlen > 0;
        for (size_t j = 0; j < nlen; j++)
            ok = ok && token_char(h[j]);
        if (!ok)
            return usage_error("--header '%.64s': the name must be a token (letters, digits, "
                               "-, _ ...) before ':'",
                               h);
        if (strpbrk(colon, "\r\n"))
            return usage_error("--header %.*s: CR or LF in the value (header injection)", (int)nlen,
                               h);
        for (size_t j = 0; j < sizeof reserved / sizeof *reserved; j++)
            if (strlen(reserved[j]) == nlen && strncasecmp(h, reserved[j], nlen) == 0)
                return usage_error("--header %.*s: set by the signer, leave it out", (int)nlen, h);
        const char *v = colon + 1;
        while (*v == ' ' || *v == '\t')
            v++;
        if (nlen == 4 && strncasecmp(h, "host", 4) == 0) {
            hs[0].value = str_cstr(v); /* an explicit Host replaces the URL's */
            continue;
        }
        hs[(*n)++] = (struct sigv4_header){{h, nlen}, str_cstr(v)};
    }
    return 0;
}

static void print_header(struct str name, struct str value)
{
    printf("%.*s: %.*s\n", (int)name.len, name.p, (int)value.len, value.p);
}

/* Header mode's order: Host, X-Amz-Date, X-Amz-Security-Token, the given headers,
 * x-amz-content-sha256, Authorization. */
static void print_signed(const struct sigv4_header *hs, size_t n, const struct sigv4_result *r)
{
    static const char *const before[] = {"X-Amz-Date", "X-Amz-Security-Token"};
    static const char *const after[] = {"x-amz-content-sha256", "Authorization"};
    print_header(hs[0].name, hs[0].value);
    for (size_t k = 0; k < 2; k++)
        for (size_t i = 0; i < r->nadd; i++)
            if (str_ieq(r->add[i].name, str_cstr(before[k])))
                print_header(r->add[i].name, r->add[i].value);
    for (size_t i = 1; i < n; i++)
        print_header(hs[i].name, hs[i].value);
    for (size_t k = 0; k < 2; k++)
        for (size_t i = 0; i < r->nadd; i++)
            if (str_ieq(r->add[i].name, str_cstr(after[k])))
                print_header(r->add[i].name, r->add[i].value);
}

int sign_main(int argc, char **argv)
{
    if (is_help(argc, argv)) {
        fputs(usage, stdout);
        return 0;
    }
    struct sign_opts o = {0};
    int rc = parse_options(argc, argv, &o);
    if (rc)
        return rc;
    char why[512];
    struct url_parts u;
    if (parse_url(o.url, &u, why, sizeof why) < 0)
        return usage_error("--url %.200s: %s", o.url, why);
    struct sigv4_header hs[MAX_HEADERS + 1];
    size_t nh = 1;
    hs[0] = (struct sigv4_header){STR_LIT("Host"), str_cstr(u.ep.host_header)};
    if ((rc = parse_headers(&o, hs, &nh)))
        return rc;

    struct buf body = BUF_INIT(MAX_BODY_BYTES);
    struct creds cr = {0};
    struct creds_provider *prov = NULL;
    struct sigv4_signer *signer = NULL;
    rc = 1;
    if (o.body_file && buf_read_file(&body, o.body_file, why, sizeof why) < 0) {
        fprintf(stderr, "hookhost sign: --body-file %s: %s\n", o.body_file, why);
        rc = EXIT_USAGE;
        goto cleanup;
    }

    char amz_date[32];
    if (o.date) {
        fmt_into(amz_date, sizeof amz_date, "%s", o.date);
    } else {
        time_t now = time(NULL);
        struct tm tm;
        gmtime_r(&now, &tm);
        strftime(amz_date, sizeof amz_date, "%Y%m%dT%H%M%SZ", &tm);
    }

    prov = creds_provider_new(NULL);
    if (creds_get(prov, &cr, why, sizeof why) < 0) {
        fprintf(stderr, "hookhost sign: credentials: %s\n", why);
        goto cleanup;
    }
    signer = sigv4_signer_new(why, sizeof why);
    if (!signer) {
        fprintf(stderr, "hookhost sign: %s\n", why);
        goto cleanup;
    }
    struct sigv4_request req = {
        .method = str_cstr(o.method),
        .path = {u.path, u.path_len},
        .query = str_cstr(u.query),
        .headers = hs,
        .nheaders = nh,
        .body = {body.p ? body.p : "", body.len},
    };
    struct sigv4_params params = {
        .access_key = str_cstr(cr.access_key),
        .secret_key = str_cstr(cr.secret_key),
        .session_token = str_cstr(cr.session_token ? cr.session_token : ""),
        .region = str_cstr(o.region),
        .service = str_cstr(o.service),
        .amz_date = amz_date,
        .expires = o.expires ? o.expires : 900,
        .mode = o.query ? SIGV4_QUERY : SIGV4_HEADER,
    };
    sigv4_params_service_defaults(&params);
    if (o.query && params.sign_body) /* S3 presigned URLs never sign the payload */
        params.payload_hash = STR_LIT("UNSIGNED-PAYLOAD");
    struct sigv4_result res;
    if (sigv4_sign(signer, &req, &params, &res, why, sizeof why) < 0) {
        fprintf(stderr, "hookhost sign: signing failed: %s\n", why);
        goto cleanup;
    }
    if (o.query)
        printf("%s://%s%.*s?%.*s\n", u.ep.scheme, u.ep.host_header,
               u.path_len ? (int)u.path_len : 1, u.path_len ? u.path : "/", (int)res.query.len,
               res.query.p);
    else
        print_signed(hs, nh, &res);
    rc = fflush(stdout) == 0 ? 0 : 1;

cleanup:
    sigv4_signer_free(signer);
    creds_clear(&cr);
    creds_provider_free(prov);
    buf_free(&body);
    return rc;
}
