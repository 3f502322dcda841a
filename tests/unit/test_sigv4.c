/* Tests for sigv4.c: each stage on tables of exact strings, the signing-key cache, and every case
 * of the AWS SigV4 conformance suite (../shared/sigv4-test-suite/v4, or $SIGV4_SUITE) in header
 * and presigned-query modes, against every expected file the case has. */
#include "buf.h"
#include "sigv4.h"
#include "testhelp.h"

#include <dirent.h>
#include <lauxlib.h>
#include <lua-cjson.h>
#include <lua.h>
#include <lualib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_FILE    ((size_t)1 << 20)
#define MAX_HEADERS 64

static struct sigv4_signer *S;
static int comparisons, cases;

/* ---------------------------------------------------------------- helpers */

/* Whole file into a NUL-terminated malloc'd string; NULL when missing or too large. */
static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    struct buf b = BUF_INIT(MAX_FILE);
    char chunk[4096];
    size_t n;
    int bad = 0;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        if (buf_append(&b, chunk, n) < 0) {
            bad = 1;
            break;
        }
    fclose(f);
    if (bad)
        return NULL;
    if (len)
        *len = b.len;
    return buf_take(&b);
}

static char *as_cstr(struct str s)
{
    return xstrndup(s.p ? s.p : "", s.len);
}

/* CHECK_STR on a view. */
#define CHECK_VIEW(view, want)                                                                     \
    do {                                                                                           \
        char *v_ = as_cstr(view);                                                                  \
        CHECK_STR(v_, want);                                                                       \
        free(v_);                                                                                  \
    } while (0)

static struct sigv4_params base_params(void)
{
    struct sigv4_params p = {0};
    p.access_key = STR_LIT("AKIDEXAMPLE");
    p.secret_key = STR_LIT("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY");
    p.region = STR_LIT("us-east-1");
    p.service = STR_LIT("service");
    p.amz_date = "20150830T123600Z";
    p.normalize_path = p.double_encode = 1;
    p.expires = 3600;
    return p;
}

/* ---------------------------------------------------------------- stage tables */

static void test_uri_encode(void)
{
    static const struct {
        const char *in;
        unsigned flags;
        const char *want;
    } t[] = {
        {"", 0, ""},
        {"-._~AZaz09", 0, "-._~AZaz09"},
        {"a b", 0, "a%20b"},
        {"/a/b", 0, "%2Fa%2Fb"},
        {"/a/b", SIGV4_KEEP_SLASH, "/a/b"},
        {"%2F", SIGV4_KEEP_SLASH, "%252F"},
        {"%2F", SIGV4_KEEP_SLASH | SIGV4_KEEP_PERCENT, "%2F"},
        {"\xe1\x88\xb4", 0, "%E1%88%B4"},
        {"+*=&?#:@!$'(),;", 0, "%2B%2A%3D%26%3F%23%3A%40%21%24%27%28%29%2C%3B"},
        {"\x01\x7f\xff", 0, "%01%7F%FF"},
    };
    TEST("URI encoding (RFC 3986 unreserved set, uppercase hex)")
    {
        for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
            struct buf b = BUF_INIT(0);
            CHECK_INT(sigv4_uri_encode(&b, str_cstr(t[i].in), t[i].flags), 0);
            CHECK_STR(b.p ? b.p : "", t[i].want);
            buf_free(&b);
        }
    }
}

static void test_normalize(void)
{
    static const struct {
        const char *in, *want;
    } t[] = {
        {"", "/"},
        {"/", "/"},
        {"//", "/"},
        {"/./", "/"},
        {"/a/..", "/"},
        {"/a/b/../..", "/"},
        {"/../a", "/a"},
        {"/a/b/../c", "/a/c"},
        {"/a/./b/", "/a/b/"},
        {"//a//b//", "/a/b/"},
        {"/a/.", "/a"},
        {"/a/b/..", "/a"},
        {"/a/b/../", "/a/"},
        {"a/b", "a/b"},
        {"/.../a", "/.../a"},
        {"/%2E%2E/a", "/%2E%2E/a"},
    };
    TEST("path normalisation removes dot segments and empty segments like botocore")
    {
        for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
            struct buf b = BUF_INIT(0);
            CHECK_INT(sigv4_normalize_path(&b, str_cstr(t[i].in)), 0);
            CHECK_STR(b.p ? b.p : "", t[i].want);
            buf_free(&b);
        }
    }
    static const struct {
        const char *in;
        int normalize, dbl;
        const char *want;
    } u[] = {
        {"/a b/%2F", 1, 1, "/a%20b/%252F"},
        {"/a b/%2F", 0, 0, "/a%20b/%2F"},
        {"/a/../b", 0, 0, "/a/../b"},
        {"/a/../b", 1, 1, "/b"},
        {"", 0, 0, "/"},
        {"//x", 0, 1, "//x"},
    };
    TEST("canonical URI under the normalize and double-encode flags")
    {
        for (size_t i = 0; i < sizeof u / sizeof u[0]; i++) {
            struct buf b = BUF_INIT(0);
            CHECK_INT(sigv4_canonical_uri(&b, str_cstr(u[i].in), u[i].normalize, u[i].dbl), 0);
            CHECK_STR(b.p ? b.p : "", u[i].want);
            buf_free(&b);
        }
    }
}

static void test_query(void)
{
    static const struct {
        const char *in, *want;
    } t[] = {
        {"", ""},
        {"b=2&a=1", "a=1&b=2"},
        {"a=2&a=1&a=10", "a=1&a=10&a=2"},
        {"a", "a="},
        {"a=&b", "a=&b="},
        {"&&a=1&", "a=1"},
        {"x=a%20b", "x=a%20b"},
        {"x=a b", "x=a%20b"},
        {"x=%7e%7E", "x=~~"},
        {"x=%2b+", "x=%2B%2B"},
        {"k=v=w", "k=v%3Dw"},
        {"%zz=1&%=2", "%25=2&%25zz=1"},
        {"a=1&A=1", "A=1&a=1"},
        {"a-b=1&a=1", "a=1&a-b=1"},
        {"\xe1\x88\xb4=bar", "%E1%88%B4=bar"},
        {"Param-3=Value3&Param=Value2&%E1%88%B4=Value1",
         "%E1%88%B4=Value1&Param=Value2&Param-3=Value3"},
    };
    TEST("canonical query: re-encoded, sorted by key then value, empty values kept")
    {
        char err[200];
        for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
            struct buf b = BUF_INIT(0);
            CHECK_INT(sigv4_canonical_query(S, str_cstr(t[i].in), &b, err, sizeof err), 0);
            CHECK_STR(b.p ? b.p : "", t[i].want);
            buf_free(&b);
        }
    }
}

static void test_headers(void)
{
    TEST("header canonicalisation: lowercase, sorted, joined in order, trimmed, never-signed "
         "skipped")
    {
        const struct sigv4_header h[] = {
            {STR_LIT("Host"), STR_LIT("example.com")},
            {STR_LIT("X-B"), STR_LIT("  x \t  y\n  z ")},
            {STR_LIT("x-a"), STR_LIT("2")},
            {STR_LIT("User-Agent"), STR_LIT("curl")},
            {STR_LIT("X-A"), STR_LIT(" 1 ")},
            {STR_LIT("Content-Type"), STR_LIT("a/b")},
            {STR_LIT("Expect"), STR_LIT("100-continue")},
            {STR_LIT("X-Amzn-Trace-Id"), STR_LIT("t")},
            {STR_LIT("Connection"), STR_LIT("close")},
            {STR_LIT("Transfer-Encoding"), STR_LIT("chunked")},
            {STR_LIT("Upgrade"), STR_LIT("h2c")},
            {STR_LIT("authorization"), STR_LIT("old")},
            {STR_LIT("X-Empty"), STR_LIT("   ")},
        };
        struct buf canon = BUF_INIT(0), names = BUF_INIT(0);
        char err[200];
        CHECK_INT(
            sigv4_canonical_headers(S, h, sizeof h / sizeof h[0], &canon, &names, err, sizeof err),
            0);
        CHECK_STR(canon.p, "content-type:a/b\nhost:example.com\nx-a:2,1\nx-b:x y z\nx-empty:\n");
        CHECK_STR(names.p, "content-type;host;x-a;x-b;x-empty");
        buf_free(&canon);
        buf_free(&names);
    }
    static const struct {
        const char *in, *want;
    } trims[] = {
        {"", ""},
        {"a", "a"},
        {"abcdefgh", "abcdefgh"},
        {"a b c d e f g h i", "a b c d e f g h i"},
        {"abcdefghijklmnop\tq", "abcdefghijklmnop q"},
        {"abcdefghij  klmnop", "abcdefghij klmnop"},
        {"abcdefgh ", "abcdefgh"},
        {"         abcdefgh", "abcdefgh"},
        {"caf\xc3\xa9 \xe1\x88\xb4  x", "caf\xc3\xa9 \xe1\x88\xb4 x"},
        {"a\r\n  b", "a b"},
        {" \t ", ""},
    };
    TEST("header values: trimmed, inner whitespace runs collapsed, other bytes untouched")
    {
        char err[200];
        for (size_t i = 0; i < sizeof trims / sizeof trims[0]; i++) {
            const struct sigv4_header h[] = {{STR_LIT("x"), str_cstr(trims[i].in)}};
            struct buf canon = BUF_INIT(0), names = BUF_INIT(0), want = BUF_INIT(0);
            buf_printf(&want, "x:%s\n", trims[i].want);
            CHECK_INT(sigv4_canonical_headers(S, h, 1, &canon, &names, err, sizeof err), 0);
            CHECK_STR(canon.p, want.p);
            buf_free(&canon);
            buf_free(&names);
            buf_free(&want);
        }
    }
    TEST("header mode replaces X-Amz-Date and signs x-amz-content-sha256 when asked")
    {
        const struct sigv4_header h[] = {
            {STR_LIT("Host"), STR_LIT("h")},
            {STR_LIT("X-Amz-Date"), STR_LIT("19990101T000000Z")},
        };
        struct sigv4_request req = {STR_LIT("POST"), STR_LIT("/"), STR_LIT(""), h, 2,
                                    STR_LIT("abc")};
        struct sigv4_params p = base_params();
        p.sign_body = 1;
        struct buf b = BUF_INIT(0);
        struct str sh;
        char err[200];
        CHECK_INT(sigv4_canonical_request(S, &req, &p, &b, &sh, err, sizeof err), 0);
        CHECK_STR(b.p, "POST\n/\n\nhost:h\n"
                       "x-amz-content-sha256:"
                       "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad\n"
                       "x-amz-date:20150830T123600Z\n\n"
                       "host;x-amz-content-sha256;x-amz-date\n"
                       "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
        CHECK_VIEW(sh, "host;x-amz-content-sha256;x-amz-date");
        buf_free(&b);
    }
    TEST("a caller's x-amz-content-sha256 is the payload hash (UNSIGNED-PAYLOAD)")
    {
        const struct sigv4_header h[] = {
            {STR_LIT("Host"), STR_LIT("h")},
            {STR_LIT("X-Amz-Content-SHA256"), STR_LIT("UNSIGNED-PAYLOAD")},
        };
        struct sigv4_request req = {STR_LIT("PUT"), STR_LIT("/k"), STR_LIT(""), h, 2,
                                    STR_LIT("abc")};
        struct sigv4_params p = base_params();
        struct buf b = BUF_INIT(0);
        char err[200];
        CHECK_INT(sigv4_canonical_request(S, &req, &p, &b, NULL, err, sizeof err), 0);
        CHECK(b.p && strstr(b.p, "\nUNSIGNED-PAYLOAD") && strstr(b.p, "x-amz-content-sha256:"));
        buf_free(&b);
    }
}

static void test_stages(void)
{
    TEST("the stages called one by one give the suite's get-vanilla values")
    {
        const struct sigv4_header h[] = {{STR_LIT("Host"), STR_LIT("example.amazonaws.com")}};
        struct sigv4_request req = {STR_LIT("GET"), STR_LIT("/"), STR_LIT(""), h, 1, {"", 0}};
        struct sigv4_params p = base_params();
        struct buf creq = BUF_INIT(0), sts = BUF_INIT(0), auth = BUF_INIT(0);
        struct str sh;
        unsigned char key[32];
        char hex[65], err[200];
        CHECK_INT(sigv4_canonical_request(S, &req, &p, &creq, &sh, err, sizeof err), 0);
        CHECK_STR(creq.p, "GET\n/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\n"
                          "host;x-amz-date\n"
                          "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
        CHECK_INT(
            sigv4_string_to_sign(S, &p, (struct str){creq.p, creq.len}, &sts, err, sizeof err), 0);
        CHECK_STR(sts.p, "AWS4-HMAC-SHA256\n20150830T123600Z\n"
                         "20150830/us-east-1/service/aws4_request\n"
                         "bb579772317eb040ac9ed261061d46c1f17a8133879d6129b6e1c25292927e63");
        CHECK_INT(sigv4_signing_key(S, p.secret_key, STR_LIT("20150830"), p.region, p.service, key,
                                    err, sizeof err),
                  0);
        CHECK_INT(sigv4_signature(S, key, (struct str){sts.p, sts.len}, hex), 0);
        CHECK_STR(hex, "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31");
        CHECK_INT(sigv4_authorization(&p, sh, (struct str){hex, 64}, &auth), 0);
        CHECK_STR(auth.p,
                  "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/"
                  "aws4_request, SignedHeaders=host;x-amz-date, "
                  "Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31");
        struct sigv4_result r;
        CHECK_INT(sigv4_sign(S, &req, &p, &r, err, sizeof err), 0);
        CHECK_INT(r.nadd, 2);
        CHECK_VIEW(r.add[0].name, "X-Amz-Date");
        CHECK_VIEW(r.add[1].name, "Authorization");
        CHECK_VIEW(r.add[1].value, auth.p);
        buf_free(&creq);
        buf_free(&sts);
        buf_free(&auth);
    }
    TEST("empty views may have NULL pointers: path \"/\", no query, empty body")
    {
        const struct sigv4_header h[] = {{STR_LIT("Host"), STR_LIT("example.amazonaws.com")},
                                         {STR_LIT("X-Empty"), {NULL, 0}}};
        struct sigv4_request req = {STR_LIT("GET"), {NULL, 0}, {NULL, 0}, h, 2, {NULL, 0}};
        struct sigv4_params p = base_params();
        p.session_token = (struct str){NULL, 0};
        struct sigv4_result r;
        char err[200];
        CHECK_INT(sigv4_sign(S, &req, &p, &r, err, sizeof err), 0);
        CHECK_VIEW(r.canonical_request,
                   "GET\n/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\nx-empty:\n\n"
                   "host;x-amz-date;x-empty\n"
                   "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
        p.mode = SIGV4_QUERY;
        CHECK_INT(sigv4_sign(S, &req, &p, &r, err, sizeof err), 0);
        CHECK(r.query.len > 0 && strncmp(r.query.p, "X-Amz-Algorithm=", 16) == 0);
    }
    TEST("service defaults: S3 signs the payload and keeps the path as sent")
    {
        struct sigv4_params p = base_params();
        p.service = STR_LIT("s3");
        sigv4_params_service_defaults(&p);
        CHECK(!p.normalize_path && !p.double_encode && p.sign_body);
        p.service = STR_LIT("codedeploy");
        sigv4_params_service_defaults(&p);
        CHECK(p.normalize_path && p.double_encode && !p.sign_body);
    }
    TEST("presigned S3 URL: UNSIGNED-PAYLOAD, token signed, parameters appended in order")
    {
        const struct sigv4_header h[] = {{STR_LIT("Host"), STR_LIT("b.s3.amazonaws.com")}};
        struct sigv4_request req = {
            STR_LIT("GET"), STR_LIT("/k%20y"), STR_LIT("x-id=GetObject"), h, 1, {"", 0}};
        struct sigv4_params p = base_params();
        p.service = STR_LIT("s3");
        sigv4_params_service_defaults(&p);
        p.mode = SIGV4_QUERY;
        p.session_token = STR_LIT("tok/en+");
        p.payload_hash = STR_LIT("UNSIGNED-PAYLOAD");
        struct sigv4_result r;
        char err[200];
        CHECK_INT(sigv4_sign(S, &req, &p, &r, err, sizeof err), 0);
        CHECK_INT(r.nadd, 0);
        CHECK(r.canonical_request.len > 16 &&
              memcmp(r.canonical_request.p + r.canonical_request.len - 16, "UNSIGNED-PAYLOAD",
                     16) == 0);
        char *q = as_cstr(r.query);
        const char *pre = "x-id=GetObject&X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=";
        CHECK(strncmp(q, pre, strlen(pre)) == 0);
        CHECK(strstr(q, "&X-Amz-Expires=3600&X-Amz-Security-Token=tok%2Fen%2B&X-Amz-Signature=") !=
              NULL);
        free(q);
        CHECK(strstr(r.canonical_request.p, "\n/k%20y\n") != NULL);
    }
}

static void test_errors(void)
{
    TEST("errors name the problem and never the secret")
    {
        const struct sigv4_header h[] = {{STR_LIT("Host"), STR_LIT("h")}};
        struct sigv4_request req = {STR_LIT("GET"), STR_LIT("/"), STR_LIT(""), h, 1, {"", 0}};
        struct sigv4_result r;
        char err[200];
        struct sigv4_params p = base_params();
        p.amz_date = "2015-08-30";
        CHECK_INT(sigv4_sign(S, &req, &p, &r, err, sizeof err), -1);
        CHECK(strstr(err, "amz_date") != NULL);
        p = base_params();
        p.region = STR_LIT("");
        CHECK_INT(sigv4_sign(S, &req, &p, &r, err, sizeof err), -1);
        CHECK(strstr(err, "region") != NULL && strstr(err, "EXAMPLEKEY") == NULL);
        p = base_params();
        p.mode = SIGV4_QUERY;
        p.expires = 0;
        CHECK_INT(sigv4_sign(S, &req, &p, &r, err, sizeof err), -1);
        CHECK(strstr(err, "expires") != NULL);
        p = base_params();
        req.nheaders = 0;
        CHECK_INT(sigv4_sign(S, &req, &p, &r, err, sizeof err), -1);
        CHECK(strstr(err, "Host") != NULL);
    }
}

/* ---------------------------------------------------------------- the key cache */

static int mem_contains(const void *hay, size_t n, const unsigned char needle[32])
{
    return memmem(hay, n, needle, 32) != NULL;
}

static void test_cache(void)
{
    TEST("signing key derivation matches the AWS documentation example")
    {
        unsigned char key[32];
        char hex[65];
        char err[200];
        CHECK_INT(sigv4_signing_key(S, STR_LIT("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"),
                                    STR_LIT("20120215"), STR_LIT("us-east-1"), STR_LIT("iam"), key,
                                    err, sizeof err),
                  0);
        for (int i = 0; i < 32; i++)
            fmt_into(hex + 2 * i, 3, "%02x", key[i]);
        CHECK_STR(hex, "f4780e2d9f65fa895f9c67b32ce1baf0b0d8a43505a000a1a9e090d414db404d");
    }
    TEST("the key cache reuses keys, evicts the least recently used, and wipes what it drops")
    {
        char err[200];
        struct sigv4_signer *s = sigv4_signer_new(err, sizeof err);
        const struct sigv4_cache *c = sigv4_signer_cache(s);
        const struct sigv4_header h[] = {{STR_LIT("Host"), STR_LIT("h")}};
        struct sigv4_request req = {STR_LIT("GET"), STR_LIT("/"), STR_LIT(""), h, 1, {"", 0}};
        struct sigv4_result r;
        struct sigv4_params p = base_params();
        unsigned char first[32];
        CHECK_INT(sigv4_signing_key(s, p.secret_key, STR_LIT("20150830"), p.region, p.service,
                                    first, err, sizeof err),
                  0);
        CHECK_INT(sigv4_sign(s, &req, &p, &r, err, sizeof err), 0);
        CHECK_INT(sigv4_sign(s, &req, &p, &r, err, sizeof err), 0);
        CHECK_INT(c->misses, 1);
        CHECK_INT(c->hits, 1);
        CHECK(mem_contains(c, sizeof *c, first));
        /* the secret itself is nowhere in the cache */
        CHECK(memmem(c, sizeof *c, p.secret_key.p, p.secret_key.len) == NULL);
        /* same secret, other regions: new keys until the first one is the least recently used */
        static const char *regions[] = {"eu-west-1", "eu-west-2", "eu-west-3", "eu-north-1"};
        for (int i = 0; i < 4; i++) {
            p.region = str_cstr(regions[i]);
            CHECK_INT(sigv4_sign(s, &req, &p, &r, err, sizeof err), 0);
        }
        CHECK_INT(c->misses, 5);
        CHECK(!mem_contains(c, sizeof *c, first));
        /* a signature made with the cached key equals one made with a fresh derivation */
        unsigned char key[32];
        char hex[65];
        CHECK_INT(sigv4_signing_key(s, p.secret_key, STR_LIT("20150830"), p.region, p.service, key,
                                    err, sizeof err),
                  0);
        CHECK_INT(sigv4_signature(s, key, r.string_to_sign, hex), 0);
        CHECK_VIEW(r.signature, hex);
        CHECK(mem_contains(c, sizeof *c, key));
        sigv4_signer_flush_keys(s);
        CHECK(!mem_contains(c, sizeof *c, key));
        int all_empty = 1;
        for (int i = 0; i < SIGV4_CACHE_SLOTS; i++) {
            static const unsigned char zero[32];
            if (c->slot[i].last_used || c->slot[i].mac || memcmp(c->slot[i].key, zero, 32))
                all_empty = 0;
        }
        CHECK(all_empty);
        CHECK_INT(sigv4_sign(s, &req, &p, &r, err, sizeof err), 0);
        CHECK_INT(c->misses, 6);
        sigv4_signer_free(s);
    }
}

/* ---------------------------------------------------------------- the conformance suite */

struct suite_req {
    char *text; /* request.txt; the views below point into it */
    struct str method, target, path, query, header_block, body;
    struct sigv4_header h[MAX_HEADERS];
    size_t nh;
};

/* Raw HTTP: "METHOD target HTTP/1.1", header lines (a line starting with whitespace continues
 * the previous value, kept raw for the signer's trimall), a blank line, the body. The target
 * may hold spaces ("/example space/"), so the version is what follows the last space. */
static int parse_request(struct suite_req *r)
{
    const char *p = r->text, *end = r->text + strlen(r->text);
    const char *eol = memchr(p, '\n', (size_t)(end - p));
    if (!eol)
        return -1;
    const char *sp1 = memchr(p, ' ', (size_t)(eol - p)), *sp2 = eol;
    while (sp2 > p && sp2[-1] != ' ')
        sp2--;
    if (!sp1 || sp2 - 1 <= sp1)
        return -1;
    r->method = (struct str){p, (size_t)(sp1 - p)};
    r->target = (struct str){sp1 + 1, (size_t)(sp2 - 1 - (sp1 + 1))};
    const char *qm = memchr(r->target.p, '?', r->target.len);
    r->path = (struct str){r->target.p, qm ? (size_t)(qm - r->target.p) : r->target.len};
    r->query = qm ? (struct str){qm + 1, (size_t)(r->target.p + r->target.len - qm - 1)}
                  : (struct str){"", 0};
    p = eol + 1;
    const char *block = p;
    r->nh = 0;
    while (p < end && *p != '\n') {
        eol = memchr(p, '\n', (size_t)(end - p));
        if (!eol)
            eol = end;
        if ((*p == ' ' || *p == '\t') && r->nh) {
            struct sigv4_header *last = &r->h[r->nh - 1];
            last->value.len = (size_t)(eol - last->value.p);
        } else {
            const char *colon = memchr(p, ':', (size_t)(eol - p));
            if (!colon || r->nh == MAX_HEADERS)
                return -1;
            r->h[r->nh].name = (struct str){p, (size_t)(colon - p)};
            r->h[r->nh].value = (struct str){colon + 1, (size_t)(eol - colon - 1)};
            r->nh++;
        }
        p = eol < end ? eol + 1 : end;
    }
    r->header_block = (struct str){block, (size_t)(p - block)};
    r->body = p < end ? (struct str){p + 1, (size_t)(end - p - 1)} : (struct str){"", 0};
    return 0;
}

struct suite_ctx {
    char *ak, *sk, *token, *region, *service;
    char amz_date[17];
    long expires;
    int normalize, sign_body, omit;
};

static char *field_string(lua_State *L, int idx, const char *name)
{
    lua_getfield(L, idx, name);
    size_t n = 0;
    const char *s = lua_type(L, -1) == LUA_TSTRING ? lua_tolstring(L, -1, &n) : NULL;
    char *r = s ? xstrndup(s, n) : NULL;
    lua_pop(L, 1);
    return r;
}

static int field_bool(lua_State *L, int idx, const char *name)
{
    lua_getfield(L, idx, name);
    int b = lua_toboolean(L, -1);
    lua_pop(L, 1);
    return b;
}

/* context.json through cjson.decode, protected: a malformed file is a test failure, not a
 * crash. */
static int parse_context(lua_State *L, const char *json, struct suite_ctx *c)
{
    memset(c, 0, sizeof *c);
    lua_getglobal(L, "cjson");
    lua_getfield(L, -1, "decode");
    lua_remove(L, -2);
    lua_pushstring(L, json);
    if (lua_pcall(L, 1, 1, 0) != LUA_OK || !lua_istable(L, -1)) {
        fprintf(stderr, "context.json: %s\n", lua_tostring(L, -1));
        lua_pop(L, 1);
        return -1;
    }
    int t = lua_gettop(L);
    lua_getfield(L, t, "credentials");
    if (lua_istable(L, -1)) {
        int ct = lua_gettop(L);
        c->ak = field_string(L, ct, "access_key_id");
        c->sk = field_string(L, ct, "secret_access_key");
        c->token = field_string(L, ct, "token");
    }
    lua_pop(L, 1);
    c->region = field_string(L, t, "region");
    c->service = field_string(L, t, "service");
    c->normalize = field_bool(L, t, "normalize");
    c->sign_body = field_bool(L, t, "sign_body");
    c->omit = field_bool(L, t, "omit_session_token");
    lua_getfield(L, t, "expiration_in_seconds");
    c->expires = lua_isinteger(L, -1) ? (long)lua_tointeger(L, -1) : 3600;
    lua_pop(L, 1);
    char *ts = field_string(L, t, "timestamp"); /* 2015-08-30T12:36:00Z */
    lua_pop(L, 1);
    int ok = ts && strlen(ts) == 20;
    if (ok) {
        const int pick[] = {0, 1, 2, 3, 5, 6, 8, 9, 10, 11, 12, 14, 15, 17, 18, 19};
        for (int i = 0; i < 16; i++)
            c->amz_date[i] = ts[pick[i]];
        c->amz_date[16] = '\0';
    }
    free(ts);
    return ok && c->ak && c->sk && c->region && c->service ? 0 : -1;
}

static void free_context(struct suite_ctx *c)
{
    free(c->ak);
    free(c->sk);
    free(c->token);
    free(c->region);
    free(c->service);
}

/* Compare got with the expected file dir/name when it exists; count the comparison. */
static void compare_file(const char *dir, const char *name, struct str got)
{
    char path[1024];
    fmt_into(path, sizeof path, "%s/%s", dir, name);
    size_t n = 0;
    char *want = slurp(path, &n);
    if (!want)
        return;
    comparisons++;
    char *g = as_cstr(got);
    th_current = path;
    CHECK_STR(g, want);
    free(g);
    free(want);
}

static void run_mode(const char *dir, struct suite_req *r, struct suite_ctx *c,
                     enum sigv4_mode mode)
{
    const char *pfx = mode == SIGV4_HEADER ? "header" : "query";
    struct sigv4_params p = {0};
    p.access_key = str_cstr(c->ak);
    p.secret_key = str_cstr(c->sk);
    p.session_token = str_cstr(c->token);
    p.region = str_cstr(c->region);
    p.service = str_cstr(c->service);
    p.amz_date = c->amz_date;
    p.normalize_path = p.double_encode = c->normalize;
    p.sign_body = c->sign_body;
    p.omit_session_token = c->omit;
    p.expires = c->expires;
    p.mode = mode;
    struct sigv4_request req = {r->method, r->path, r->query, r->h, r->nh, r->body};
    struct sigv4_result res;
    char err[256], name[64];
    th_current = dir;
    int rc = sigv4_sign(S, &req, &p, &res, err, sizeof err);
    CHECK_INT(rc, 0);
    if (rc) {
        fprintf(stderr, "%s: %s\n", dir, err);
        return;
    }
    fmt_into(name, sizeof name, "%s-canonical-request.txt", pfx);
    compare_file(dir, name, res.canonical_request);
    fmt_into(name, sizeof name, "%s-string-to-sign.txt", pfx);
    compare_file(dir, name, res.string_to_sign);
    fmt_into(name, sizeof name, "%s-signature.txt", pfx);
    compare_file(dir, name, res.signature);

    /* the signed request as the suite writes it: request line, the original header lines,
     * the added headers, a blank line, the body */
    struct buf b = BUF_INIT(0);
    buf_append(&b, r->method.p, r->method.len);
    buf_putc(&b, ' ');
    buf_append(&b, r->path.p, r->path.len);
    if (res.query.len) {
        buf_putc(&b, '?');
        buf_append(&b, res.query.p, res.query.len);
    }
    buf_puts(&b, " HTTP/1.1\n");
    buf_append(&b, r->header_block.p, r->header_block.len);
    for (size_t i = 0; i < res.nadd; i++) {
        buf_append(&b, res.add[i].name.p, res.add[i].name.len);
        buf_putc(&b, ':');
        buf_append(&b, res.add[i].value.p, res.add[i].value.len);
        buf_putc(&b, '\n');
    }
    buf_putc(&b, '\n');
    buf_append(&b, r->body.p, r->body.len);
    fmt_into(name, sizeof name, "%s-signed-request.txt", pfx);
    compare_file(dir, name, (struct str){b.p, b.len});
    buf_free(&b);
}

static int name_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void test_suite(void)
{
    const char *root = getenv("SIGV4_SUITE");
    if (!root || !*root)
        root = "../shared/sigv4-test-suite/v4";
    DIR *d = opendir(root);
    if (!d) {
        TEST("the SigV4 conformance suite")
        {
            SKIP("not found (set SIGV4_SUITE to its v4 folder, or put shared/sigv4-test-suite "
                 "beside the clone)");
        }
        return;
    }
    char *names[256];
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d)) && n < 256)
        if (e->d_name[0] != '.')
            names[n++] = xstrdup(e->d_name);
    closedir(d);
    qsort(names, n, sizeof names[0], name_cmp);

    lua_State *L = luaL_newstate();
    luaL_requiref(L, "cjson", luaopen_cjson, 1);
    lua_pop(L, 1);
    for (size_t i = 0; i < n; i++) {
        char dir[1024], path[1100];
        fmt_into(dir, sizeof dir, "%s/%s", root, names[i]);
        fmt_into(path, sizeof path, "%s/context.json", dir);
        char *json = slurp(path, NULL);
        fmt_into(path, sizeof path, "%s/request.txt", dir);
        struct suite_req r = {0};
        r.text = slurp(path, NULL);
        struct suite_ctx c = {0};
        th_current = dir;
        int ok = json && r.text && parse_request(&r) == 0 && parse_context(L, json, &c) == 0;
        CHECK(ok);
        if (ok) {
            cases++;
            run_mode(dir, &r, &c, SIGV4_HEADER);
            run_mode(dir, &r, &c, SIGV4_QUERY);
        }
        free_context(&c);
        free(json);
        free(r.text);
        free(names[i]);
    }
    lua_close(L);
    printf("sigv4 suite: %d cases, %d expected files compared\n", cases, comparisons);
    TEST("every suite case ran and every expected file was compared")
    {
        CHECK_INT(cases, 38);
        CHECK_INT(comparisons, 304);
    }
}

int main(void)
{
    char err[200];
    S = sigv4_signer_new(err, sizeof err);
    if (!S) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    test_uri_encode();
    test_normalize();
    test_query();
    test_headers();
    test_stages();
    test_errors();
    test_cache();
    test_suite();
    sigv4_signer_free(S);
    return test_report("sigv4");
}
