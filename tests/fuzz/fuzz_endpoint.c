/* fuzz_endpoint: endpoint URLs from the environment (AWS_ENDPOINT_URL, AWS_ENDPOINT_URL_<SERVICE>)
 * through aws_parse_endpoint_url(), aws_resolve_endpoint() and aws_request_url().
 *
 * Input: the URL (a NUL ends it early, as the environment would). Invariants on acceptance: the
 * scheme is http or https; the host is non-empty, lower-case, and holds no '/', '@', '?', '#',
 * blank or control byte (a bracketed IPv6 literal aside); the port is 0 or 1..65535; the host
 * header is the host, or host:port; the base path is "" or starts with '/' and ends without one;
 * a request URL built from the endpoint starts with scheme://host_header and holds no blank,
 * control byte or '#'. Refusals name the problem without echoing the URL. */
#include "aws.h"
#include "fuzz.h"

static const char *url_env;

static const char *fake_env(void *ud, const char *name)
{
    (void)ud;
    if (strcmp(name, "AWS_ENDPOINT_URL_CLOUDFRONT") == 0)
        return url_env;
    return NULL;
}

static void check_endpoint(const struct aws_endpoint *ep)
{
    FUZZ_CHECK(strcmp(ep->scheme, "http") == 0 || strcmp(ep->scheme, "https") == 0);
    FUZZ_CHECK(fuzz_terminated(ep->host, sizeof ep->host) && ep->host[0]);
    int v6 = ep->host[0] == '[';
    for (const char *p = ep->host; *p; p++) {
        FUZZ_CHECK(*p > 0x20 && *p < 0x7f && !strchr("/@?#", *p));
        FUZZ_CHECK(!(*p >= 'A' && *p <= 'Z') || v6);
    }
    FUZZ_CHECK(ep->port >= 0 && ep->port <= 65535);
    size_t hl = strlen(ep->host);
    FUZZ_CHECK(strncmp(ep->host_header, ep->host, hl) == 0);
    FUZZ_CHECK(ep->host_header[hl] == '\0' || (ep->host_header[hl] == ':' && ep->port > 0));
    FUZZ_CHECK(fuzz_terminated(ep->base_path, sizeof ep->base_path));
    size_t bl = strlen(ep->base_path);
    FUZZ_CHECK(bl == 0 || (ep->base_path[0] == '/' && ep->base_path[bl - 1] != '/'));
    for (const char *p = ep->base_path; *p; p++)
        FUZZ_CHECK(*p > 0x20 && *p < 0x7f && *p != '?' && *p != '#');

    struct buf u = BUF_INIT(0);
    if (aws_request_url(ep, "/2020-05-31/distribution/E1/invalidation", "a=b", &u) == 0) {
        char prefix[300];
        fmt_into(prefix, sizeof prefix, "%s://%s", ep->scheme, ep->host_header);
        FUZZ_CHECK(strncmp(u.p, prefix, strlen(prefix)) == 0);
        for (const char *p = u.p; *p; p++)
            FUZZ_CHECK(*p > 0x20 && *p < 0x7f && *p != '#');
        FUZZ_CHECK(strchr(u.p, '?') && strcmp(strchr(u.p, '?'), "?a=b") == 0);
    }
    buf_free(&u);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *url = malloc(size + 1);
    if (!url)
        abort();
    memcpy(url, data, size);
    url[size] = '\0';
    char err[512];

    struct aws_endpoint ep;
    memset(&ep, 0, sizeof ep);
    err[0] = '\0';
    if (aws_parse_endpoint_url(url, &ep, err, sizeof err) == 0) {
        check_endpoint(&ep);
    } else {
        FUZZ_CHECK(fuzz_terminated(err, sizeof err) && err[0]);
        if (strlen(url) >= 12) /* the message says what is wrong, not what the URL was */
            FUZZ_CHECK(!strstr(err, url));
    }

    url_env = url;
    memset(&ep, 0, sizeof ep);
    int rc = aws_resolve_endpoint("cloudfront", NULL, NULL, "us-east-1", fake_env, NULL, &ep, err,
                                  sizeof err);
    if (rc == 0) {
        check_endpoint(&ep);
        FUZZ_CHECK(strcmp(ep.region, "us-east-1") == 0 &&
                   strcmp(ep.signing_name, "cloudfront") == 0);
    } else {
        FUZZ_CHECK(rc == -1 && strstr(err, "AWS_ENDPOINT_URL_CLOUDFRONT"));
    }
    free(url);
    return 0;
}
