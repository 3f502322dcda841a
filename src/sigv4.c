/* sigv4.c: AWS Signature Version 4 (see sigv4.h).
 *
 * Hot path (a signed CodeDeploy call with a cached key): one SHA-256 of the body, one of the
 * cache id, one of the canonical request and one HMAC, all on contexts and buffers the signer
 * keeps, so this file allocates nothing once the buffers have grown. (OpenSSL 3.0 itself still
 * makes a small allocation per digest re-initialisation, and two per HMAC; 3.0 has no cheaper
 * EVP path that keeps the algorithm fetched.)
 */
#include "sigv4.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <stdlib.h>
#include <string.h>

#define ALGORITHM     "AWS4-HMAC-SHA256"
#define MAX_HEADERS   512
#define MAX_PARAMS    4096
#define MAX_SECRET    1024
#define MAX_CANONICAL ((size_t)8 << 20)

struct hent {
    struct str name, value;
    struct str lname; /* the name in lowercase, in the signer's lnames buffer */
    size_t idx, loff;
};

struct qent {
    size_t koff, klen, voff, vlen;
    const char *k, *v;
};

struct sigv4_signer {
    EVP_MD *md;
    EVP_MAC *hmac;
    EVP_MD_CTX *mdctx;
    EVP_MAC_CTX *kdf; /* re-keyed for each derivation step */
    struct buf creq, sts, auth, query, scratch, canon, names, path, lnames;
    struct hent *h;
    size_t hcap;
    struct qent *q;
    size_t qcap;
    struct sigv4_header *list; /* the headers to sign, request's and added */
    size_t lcap;
    struct str payload; /* the payload hash of the last canonical request */
    char payload_hex[65];
    char sig[65];
    struct sigv4_cache cache;
};

static char digest_name[] = "SHA256";

static void seterr(char *err, size_t errlen, const char *msg)
{
    if (err && errlen)
        fmt_into(err, errlen, "sigv4: %s", msg);
}

/* ================================================================ small helpers */

static const char HEX_UPPER[] = "0123456789ABCDEF";

/* "000102...ff": two hex digits per byte value, so hex output is one 2-byte copy per byte. */
static const char HEX_PAIRS[513] =
    "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
    "202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f"
    "404142434445464748494a4b4c4d4e4f505152535455565758595a5b5c5d5e5f"
    "606162636465666768696a6b6c6d6e6f707172737475767778797a7b7c7d7e7f"
    "808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f"
    "a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebf"
    "c0c1c2c3c4c5c6c7c8c9cacbcccdcecfd0d1d2d3d4d5d6d7d8d9dadbdcdddedf"
    "e0e1e2e3e4e5e6e7e8e9eaebecedeeeff0f1f2f3f4f5f6f7f8f9fafbfcfdfeff";

static void hex_lower(char *dst, const unsigned char *src, size_t n)
{
    for (size_t i = 0; i < n; i++)
        memcpy(dst + 2 * i, HEX_PAIRS + 2 * src[i], 2);
    dst[2 * n] = '\0';
}

/* Byte classes, by table (the encoders and trimall look at every byte of a request):
 * 1 = RFC 3986 unreserved (A-Z a-z 0-9 - . _ ~), 2 = whitespace (SP HT LF VT FF CR). */
static const unsigned char cclass[256] = {
    0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 2, 2, 2, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0,
    0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 1,
    0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 1, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
};

static int is_unreserved(unsigned char c)
{
    return cclass[c] & 1;
}

static int is_space(unsigned char c)
{
    return cclass[c] & 2;
}

/* ASCII lowercase by table (header names are folded byte by byte). */
static const unsigned char LOWER[256] = {
    0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f,
    0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1d, 0x1e, 0x1f,
    0x20, 0x21, 0x22, 0x23, 0x24, 0x25, 0x26, 0x27, 0x28, 0x29, 0x2a, 0x2b, 0x2c, 0x2d, 0x2e, 0x2f,
    0x30, 0x31, 0x32, 0x33, 0x34, 0x35, 0x36, 0x37, 0x38, 0x39, 0x3a, 0x3b, 0x3c, 0x3d, 0x3e, 0x3f,
    0x40, 0x61, 0x62, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68, 0x69, 0x6a, 0x6b, 0x6c, 0x6d, 0x6e, 0x6f,
    0x70, 0x71, 0x72, 0x73, 0x74, 0x75, 0x76, 0x77, 0x78, 0x79, 0x7a, 0x5b, 0x5c, 0x5d, 0x5e, 0x5f,
    0x60, 0x61, 0x62, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68, 0x69, 0x6a, 0x6b, 0x6c, 0x6d, 0x6e, 0x6f,
    0x70, 0x71, 0x72, 0x73, 0x74, 0x75, 0x76, 0x77, 0x78, 0x79, 0x7a, 0x7b, 0x7c, 0x7d, 0x7e, 0x7f,
    0x80, 0x81, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89, 0x8a, 0x8b, 0x8c, 0x8d, 0x8e, 0x8f,
    0x90, 0x91, 0x92, 0x93, 0x94, 0x95, 0x96, 0x97, 0x98, 0x99, 0x9a, 0x9b, 0x9c, 0x9d, 0x9e, 0x9f,
    0xa0, 0xa1, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7, 0xa8, 0xa9, 0xaa, 0xab, 0xac, 0xad, 0xae, 0xaf,
    0xb0, 0xb1, 0xb2, 0xb3, 0xb4, 0xb5, 0xb6, 0xb7, 0xb8, 0xb9, 0xba, 0xbb, 0xbc, 0xbd, 0xbe, 0xbf,
    0xc0, 0xc1, 0xc2, 0xc3, 0xc4, 0xc5, 0xc6, 0xc7, 0xc8, 0xc9, 0xca, 0xcb, 0xcc, 0xcd, 0xce, 0xcf,
    0xd0, 0xd1, 0xd2, 0xd3, 0xd4, 0xd5, 0xd6, 0xd7, 0xd8, 0xd9, 0xda, 0xdb, 0xdc, 0xdd, 0xde, 0xdf,
    0xe0, 0xe1, 0xe2, 0xe3, 0xe4, 0xe5, 0xe6, 0xe7, 0xe8, 0xe9, 0xea, 0xeb, 0xec, 0xed, 0xee, 0xef,
    0xf0, 0xf1, 0xf2, 0xf3, 0xf4, 0xf5, 0xf6, 0xf7, 0xf8, 0xf9, 0xfa, 0xfb, 0xfc, 0xfd, 0xfe, 0xff,
};

static unsigned char lower(unsigned char c)
{
    return LOWER[c];
}

static int hexval(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* A staging writer: encoders produce one byte at a time, and a buf_append per byte would cost
 * a bounds check and a call each; this batches them into chunks. */
struct wr {
    struct buf *b;
    size_t n;
    int failed;
    char tmp[256];
};

static void wr_flush(struct wr *w)
{
    if (w->n && !w->failed && buf_append(w->b, w->tmp, w->n) < 0)
        w->failed = 1;
    w->n = 0;
}

static void wr_put(struct wr *w, char c)
{
    if (w->n == sizeof w->tmp)
        wr_flush(w);
    w->tmp[w->n++] = c;
}

static void wr_pct(struct wr *w, unsigned char c)
{
    wr_put(w, '%');
    wr_put(w, HEX_UPPER[c >> 4]);
    wr_put(w, HEX_UPPER[c & 15]);
}

static int wr_done(struct wr *w)
{
    wr_flush(w);
    return w->failed ? -1 : 0;
}

static int put_str(struct buf *b, struct str s)
{
    return buf_append(b, s.p, s.len);
}

/* ================================================================ encoding and paths */

int sigv4_uri_encode(struct buf *out, struct str in, unsigned flags)
{
    struct wr w = {.b = out};
    for (size_t i = 0; i < in.len; i++) {
        unsigned char c = (unsigned char)in.p[i];
        if (is_unreserved(c) || (c == '/' && (flags & SIGV4_KEEP_SLASH)) ||
            (c == '%' && (flags & SIGV4_KEEP_PERCENT)))
            wr_put(&w, (char)c);
        else
            wr_pct(&w, c);
    }
    return wr_done(&w);
}

/* Query keys and values arrive as sent, encoded or not; decoding first and encoding again gives
 * one canonical form for both (and is the identity on what botocore sends). A '%' not followed
 * by two hex digits is taken literally. '+' stays a plus sign (encoded %2B), not a space. */
static int reencode(struct buf *out, struct str in)
{
    struct wr w = {.b = out};
    for (size_t i = 0; i < in.len; i++) {
        unsigned char c = (unsigned char)in.p[i];
        if (c == '%' && in.len - i >= 3) {
            int hi = hexval((unsigned char)in.p[i + 1]), lo = hexval((unsigned char)in.p[i + 2]);
            if (hi >= 0 && lo >= 0) {
                c = (unsigned char)(hi * 16 + lo);
                i += 2;
            }
        }
        if (is_unreserved(c))
            wr_put(&w, (char)c);
        else
            wr_pct(&w, c);
    }
    return wr_done(&w);
}

/* botocore's remove_dot_segments, not RFC 3986's: empty segments go too ("//" is "/"), and a
 * trailing "/." or "/.." leaves no trailing slash. Segments are appended as they come; ".."
 * truncates back to the previous separator, so no segment list is kept. */
int sigv4_normalize_path(struct buf *out, struct str path)
{
    if (path.len == 0)
        return buf_putc(out, '/');
    if (path.p[0] == '/' && buf_putc(out, '/') < 0)
        return -1;
    size_t start = out->len, nseg = 0;
    const char *p = path.p, *end = path.p + path.len;
    for (;;) {
        const char *q = memchr(p, '/', (size_t)(end - p));
        if (!q)
            q = end;
        size_t n = (size_t)(q - p);
        if (n == 0 || (n == 1 && p[0] == '.')) {
            /* empty or "." segment: dropped */
        } else if (n == 2 && p[0] == '.' && p[1] == '.') {
            if (nseg) {
                size_t cut = start;
                if (nseg > 1) {
                    cut = out->len;
                    while (cut > start && out->p[cut - 1] != '/')
                        cut--;
                    cut--; /* the separator before the last segment */
                }
                out->len = cut;
                out->p[cut] = '\0';
                nseg--;
            }
        } else {
            if (nseg && buf_putc(out, '/') < 0)
                return -1;
            if (buf_append(out, p, n) < 0)
                return -1;
            nseg++;
        }
        if (q == end)
            break;
        p = q + 1;
    }
    if (path.p[path.len - 1] == '/' && nseg)
        return buf_putc(out, '/');
    return 0;
}

/* The canonical URI: normalise (not S3), then encode the request-line path again (not S3), or
 * keep its existing escapes (S3). tmp is scratch so that the hot path does not allocate. */
static int canonical_uri(struct buf *out, struct buf *tmp, struct str path, int normalize,
                         int double_encode)
{
    unsigned flags = SIGV4_KEEP_SLASH | (double_encode ? 0u : SIGV4_KEEP_PERCENT);
    if (path.len == 0 || (path.len == 1 && path.p[0] == '/'))
        return buf_putc(out, '/');
    if (!normalize)
        return sigv4_uri_encode(out, path, flags);
    buf_reset(tmp);
    if (sigv4_normalize_path(tmp, path) < 0)
        return -1;
    return sigv4_uri_encode(out, (struct str){tmp->p, tmp->len}, flags);
}

int sigv4_canonical_uri(struct buf *out, struct str path, int normalize, int double_encode)
{
    struct buf tmp = BUF_INIT(0);
    int rc = canonical_uri(out, &tmp, path, normalize, double_encode);
    buf_free(&tmp);
    return rc;
}

/* ================================================================ query string */

static int qent_cmp(const void *a, const void *b)
{
    const struct qent *x = a, *y = b;
    size_t n = x->klen < y->klen ? x->klen : y->klen;
    int c = n ? memcmp(x->k, y->k, n) : 0;
    if (c || x->klen != y->klen)
        return c ? c : (x->klen < y->klen ? -1 : 1);
    n = x->vlen < y->vlen ? x->vlen : y->vlen;
    c = n ? memcmp(x->v, y->v, n) : 0;
    if (c || x->vlen != y->vlen)
        return c ? c : (x->vlen < y->vlen ? -1 : 1);
    return 0;
}

/* Split on '&' (empty pieces are skipped), split each piece at its first '=', re-encode both
 * halves into scratch, then sort by key and value: the order AWS and botocore both use. */
int sigv4_canonical_query(struct sigv4_signer *s, struct str query, struct buf *out, char *err,
                          size_t errlen)
{
    size_t n = 0;
    buf_reset(&s->scratch);
    const char *p = query.p, *end = query.p + query.len;
    while (query.len) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        if (!amp)
            amp = end;
        if (amp > p) {
            if (n == MAX_PARAMS) {
                seterr(err, errlen, "too many query parameters");
                return -1;
            }
            if (n == s->qcap) {
                s->qcap = s->qcap ? s->qcap * 2 : 16;
                s->q = xrealloc(s->q, s->qcap * sizeof *s->q);
            }
            const char *eq = memchr(p, '=', (size_t)(amp - p));
            struct str k = {p, (size_t)((eq ? eq : amp) - p)};
            struct str v = eq ? (struct str){eq + 1, (size_t)(amp - eq - 1)} : (struct str){"", 0};
            struct qent *e = &s->q[n++];
            e->koff = s->scratch.len;
            if (reencode(&s->scratch, k) < 0)
                goto toolong;
            e->klen = s->scratch.len - e->koff;
            e->voff = s->scratch.len;
            if (reencode(&s->scratch, v) < 0)
                goto toolong;
            e->vlen = s->scratch.len - e->voff;
        }
        if (amp == end)
            break;
        p = amp + 1;
    }
    for (size_t i = 0; i < n; i++) {
        s->q[i].k = s->scratch.p + s->q[i].koff;
        s->q[i].v = s->scratch.p + s->q[i].voff;
    }
    if (n > 1)
        qsort(s->q, n, sizeof *s->q, qent_cmp);
    for (size_t i = 0; i < n; i++) {
        if ((i && buf_putc(out, '&') < 0) || buf_append(out, s->q[i].k, s->q[i].klen) < 0 ||
            buf_putc(out, '=') < 0 || buf_append(out, s->q[i].v, s->q[i].vlen) < 0)
            goto toolong;
    }
    return 0;
toolong:
    seterr(err, errlen, "query string too long");
    return -1;
}

/* ================================================================ headers */

int sigv4_header_unsigned(struct str name)
{
    static const struct str never[] = {
        {"user-agent", 10}, {"expect", 6},         {"x-amzn-trace-id", 15},   {"connection", 10},
        {"upgrade", 7},     {"authorization", 13}, {"transfer-encoding", 17},
    };
    /* most names have none of these lengths: one switch, no string compare */
    switch (name.len) {
    case 6:
    case 7:
    case 10:
    case 13:
    case 15:
    case 17:
        break;
    default:
        return 0;
    }
    for (size_t i = 0; i < sizeof never / sizeof never[0]; i++)
        if (str_ieq(name, never[i]))
            return 1;
    return 0;
}

static int lname_cmp(const struct hent *x, const struct hent *y)
{
    size_t n = x->lname.len < y->lname.len ? x->lname.len : y->lname.len;
    int c = n ? memcmp(x->lname.p, y->lname.p, n) : 0;
    if (c)
        return c;
    return x->lname.len == y->lname.len ? 0 : (x->lname.len < y->lname.len ? -1 : 1);
}

static int hent_cmp(const void *a, const void *b)
{
    const struct hent *x = a, *y = b;
    int c = lname_cmp(x, y);
    if (c)
        return c;
    return x->idx < y->idx ? -1 : (x->idx > y->idx);
}

/* 1 when trimall would change the value: the common case (no stray whitespace) is then one
 * copy instead of a byte-by-byte rewrite. */
static int needs_trim(struct str v)
{
    /* no byte <= ' ' (checked eight at a time: a byte below 0x21 borrows into its top bit)
     * means there is nothing to trim */
    const uint64_t ones = 0x0101010101010101ull, highs = 0x8080808080808080ull;
    size_t i = 0;
    int low = 0;
    for (; i + 8 <= v.len && !low; i += 8) {
        uint64_t x;
        memcpy(&x, v.p + i, 8);
        low = ((x - ones * 0x21) & ~x & highs) != 0;
    }
    for (; i < v.len && !low; i++)
        low = (unsigned char)v.p[i] <= ' ';
    if (!low)
        return 0;
    if (is_space((unsigned char)v.p[0]) || is_space((unsigned char)v.p[v.len - 1]))
        return 1;
    for (size_t j = 1; j + 1 < v.len; j++) {
        unsigned char c = (unsigned char)v.p[j];
        if (is_space(c) && (c != ' ' || is_space((unsigned char)v.p[j + 1])))
            return 1;
    }
    return 0;
}

/* Trimall into dst (room for v.len bytes): drop leading and trailing whitespace and turn each
 * inner run (folded lines included) into one space. Returns the bytes written. */
static size_t write_value(char *dst, struct str v)
{
    if (!needs_trim(v)) {
        if (v.len)
            memcpy(dst, v.p, v.len);
        return v.len;
    }
    size_t n = 0;
    int pending = 0, any = 0;
    for (size_t i = 0; i < v.len; i++) {
        unsigned char c = (unsigned char)v.p[i];
        if (is_space(c)) {
            pending = any;
            continue;
        }
        if (pending)
            dst[n++] = ' ';
        pending = 0;
        any = 1;
        dst[n++] = (char)c;
    }
    return n;
}

/* Room for n more bytes (and the NUL) to be written in place, then committed with buf_commit:
 * one bounds check for a whole header line instead of one per piece. Growth (rare: buffers
 * keep their size between signatures) goes through buf_append, so the limit still applies;
 * NULL when it is reached (the buffer is then freed, as buf.h says). */
static char *buf_room(struct buf *b, size_t n)
{
    static const char zeros[256];
    if (b->p && b->cap - b->len > n)
        return b->p + b->len;
    size_t len = b->len;
    for (size_t left = n; left;) {
        size_t k = left < sizeof zeros ? left : sizeof zeros;
        if (buf_append(b, zeros, k) < 0)
            return NULL;
        left -= k;
    }
    b->len = len;
    b->p[len] = '\0';
    return b->p + len;
}

static void buf_commit(struct buf *b, size_t n)
{
    b->len += n;
    b->p[b->len] = '\0';
}

/* Append a header name in lowercase: copy, then fold in place. */
static int put_lower(struct buf *b, struct str name)
{
    size_t at = b->len;
    if (put_str(b, name) < 0)
        return -1;
    for (char *p = b->p + at; p < b->p + b->len; p++)
        *p = (char)lower((unsigned char)*p);
    return 0;
}

/* Stable sort by lowercase name: few headers, so insertion sort, which needs no memory and keeps
 * repeated names in request order; the index tie-break keeps qsort stable for long lists. */
static void sort_headers(struct hent *h, size_t m)
{
    if (m > 32) {
        qsort(h, m, sizeof *h, hent_cmp);
        return;
    }
    for (size_t i = 1; i < m; i++) {
        struct hent x = h[i];
        size_t j = i;
        while (j > 0 && lname_cmp(&h[j - 1], &x) > 0) {
            h[j] = h[j - 1];
            j--;
        }
        h[j] = x;
    }
}

/* Sort by lowercase name, ties in request order, so that repeated headers join in the order they
 * were given; write lines and names straight into the caller's buffers. */
int sigv4_canonical_headers(struct sigv4_signer *s, const struct sigv4_header *h, size_t n,
                            struct buf *canon, struct buf *signed_names, char *err, size_t errlen)
{
    size_t m = 0;
    if (n > MAX_HEADERS) {
        seterr(err, errlen, "too many headers");
        return -1;
    }
    if (n > s->hcap) {
        s->hcap = n < 16 ? 16 : n;
        s->h = xrealloc(s->h, s->hcap * sizeof *s->h);
    }
    /* fold each name once; sorting and grouping then compare bytes */
    buf_reset(&s->lnames);
    for (size_t i = 0; i < n; i++) {
        if (sigv4_header_unsigned(h[i].name))
            continue;
        struct hent *e = &s->h[m++];
        e->name = h[i].name;
        e->value = h[i].value;
        e->idx = i;
        e->loff = s->lnames.len;
        if (put_lower(&s->lnames, h[i].name) < 0)
            goto toolong;
        e->lname.len = h[i].name.len;
    }
    for (size_t i = 0; i < m; i++)
        s->h[i].lname.p = s->lnames.p + s->h[i].loff;
    sort_headers(s->h, m);
    for (size_t i = 0; i < m;) {
        struct str ln = s->h[i].lname;
        size_t j = i, need = ln.len + 2;
        for (; j < m && lname_cmp(&s->h[j], &s->h[i]) == 0; j++)
            need += s->h[j].value.len + 1;
        char *w = buf_room(canon, need);
        char *nw = buf_room(signed_names, ln.len + 1);
        if (!w || !nw)
            goto toolong;
        size_t k = 0, nk = 0;
        if (i)
            nw[nk++] = ';';
        memcpy(nw + nk, ln.p, ln.len);
        buf_commit(signed_names, nk + ln.len);
        memcpy(w, ln.p, ln.len);
        k = ln.len;
        w[k++] = ':';
        for (size_t g = i; g < j; g++) {
            if (g > i)
                w[k++] = ',';
            k += write_value(w + k, s->h[g].value);
        }
        w[k++] = '\n';
        buf_commit(canon, k);
        i = j;
    }
    return 0;
toolong:
    seterr(err, errlen, "headers too long");
    return -1;
}

/* ================================================================ hashing */

static int sha256(struct sigv4_signer *s, const void *p, size_t n, unsigned char md[32])
{
    unsigned int len = 0;
    return EVP_DigestInit_ex2(s->mdctx, s->md, NULL) == 1 &&
                   EVP_DigestUpdate(s->mdctx, p, n) == 1 &&
                   EVP_DigestFinal_ex(s->mdctx, md, &len) == 1 && len == 32
               ? 0
               : -1;
}

static int sha256_hex(struct sigv4_signer *s, const void *p, size_t n, char hex[65])
{
    unsigned char md[32];
    if (sha256(s, p, n, md) < 0)
        return -1;
    hex_lower(hex, md, 32);
    return 0;
}

/* One HMAC-SHA256 with a fresh key on the derivation context. */
static int hmac_keyed(struct sigv4_signer *s, const unsigned char *key, size_t keylen,
                      const void *msg, size_t n, unsigned char out[32])
{
    size_t outl = 0;
    return EVP_MAC_init(s->kdf, key, keylen, NULL) == 1 && EVP_MAC_update(s->kdf, msg, n) == 1 &&
                   EVP_MAC_final(s->kdf, out, &outl, 32) == 1 && outl == 32
               ? 0
               : -1;
}

/* An HMAC context with the digest set; the key comes with the first EVP_MAC_init. */
static EVP_MAC_CTX *new_mac_ctx(EVP_MAC *mac)
{
    EVP_MAC_CTX *ctx = EVP_MAC_CTX_new(mac);
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest_name, 0),
        OSSL_PARAM_construct_end(),
    };
    if (ctx && EVP_MAC_CTX_set_params(ctx, params) != 1) {
        EVP_MAC_CTX_free(ctx);
        ctx = NULL;
    }
    return ctx;
}

/* ================================================================ the signer */

struct sigv4_signer *sigv4_signer_new(char *err, size_t errlen)
{
    struct sigv4_signer *s = xcalloc(1, sizeof *s);
    s->md = EVP_MD_fetch(NULL, "SHA256", NULL);
    s->hmac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    s->mdctx = EVP_MD_CTX_new();
    s->kdf = s->hmac ? new_mac_ctx(s->hmac) : NULL;
    if (!s->md || !s->hmac || !s->mdctx || !s->kdf) {
        seterr(err, errlen, "OpenSSL has no SHA-256 or HMAC");
        sigv4_signer_free(s);
        return NULL;
    }
    struct buf init = BUF_INIT(MAX_CANONICAL);
    s->creq = s->sts = s->auth = s->query = s->scratch = s->canon = s->names = s->path = s->lnames =
        init;
    return s;
}

static void slot_drop(struct sigv4_cache_slot *sl)
{
    EVP_MAC_CTX_free(sl->mac); /* OpenSSL wipes its copy of the key */
    OPENSSL_cleanse(sl, sizeof *sl);
}

void sigv4_signer_flush_keys(struct sigv4_signer *s)
{
    for (size_t i = 0; i < SIGV4_CACHE_SLOTS; i++)
        slot_drop(&s->cache.slot[i]);
}

void sigv4_signer_free(struct sigv4_signer *s)
{
    if (!s)
        return;
    sigv4_signer_flush_keys(s);
    EVP_MAC_CTX_free(s->kdf);
    EVP_MD_CTX_free(s->mdctx);
    EVP_MAC_free(s->hmac);
    EVP_MD_free(s->md);
    /* the canonical request, header lines, presigned query and its scratch copy can hold the
     * session token */
    buf_free_secret(&s->creq);
    buf_free(&s->sts);
    buf_free_secret(&s->auth);
    buf_free_secret(&s->query);
    buf_free_secret(&s->scratch);
    buf_free_secret(&s->canon);
    buf_free(&s->names);
    buf_free(&s->path);
    buf_free(&s->lnames);
    free(s->h);
    free(s->q);
    free(s->list);
    OPENSSL_cleanse(s->sig, sizeof s->sig);
    free(s);
}

const struct sigv4_cache *sigv4_signer_cache(const struct sigv4_signer *s)
{
    return &s->cache;
}

void sigv4_params_service_defaults(struct sigv4_params *p)
{
    int s3 = str_eq(p->service, STR_LIT("s3")) || str_eq(p->service, STR_LIT("s3-outposts")) ||
             str_eq(p->service, STR_LIT("s3-object-lambda"));
    p->normalize_path = !s3;
    p->double_encode = !s3;
    p->sign_body = s3;
}

/* ================================================================ stages */

static int valid_amz_date(const char *d)
{
    if (!d || strlen(d) != 16 || d[8] != 'T' || d[15] != 'Z')
        return 0;
    for (int i = 0; i < 15; i++)
        if (i != 8 && (d[i] < '0' || d[i] > '9'))
            return 0;
    return 1;
}

/* Everything a signature needs, so that later stages can trust params. */
static int check_params(const struct sigv4_params *p, char *err, size_t errlen)
{
    if (!valid_amz_date(p->amz_date))
        seterr(err, errlen, "amz_date must look like YYYYMMDDTHHMMSSZ");
    else if (!p->access_key.len || !p->secret_key.len)
        seterr(err, errlen, "missing access key or secret key");
    else if (!p->region.len || !p->service.len)
        seterr(err, errlen, "missing region or service");
    else if (p->mode == SIGV4_QUERY && (p->expires < 1 || p->expires > 604800))
        seterr(err, errlen, "expires must be 1..604800 seconds for a presigned URL");
    else if (p->mode != SIGV4_QUERY && p->mode != SIGV4_HEADER)
        seterr(err, errlen, "unknown signing mode");
    else
        return 0;
    return -1;
}

static int put_scope(struct buf *b, const struct sigv4_params *p)
{
    return buf_append(b, p->amz_date, 8) < 0 || buf_putc(b, '/') < 0 || put_str(b, p->region) < 0 ||
                   buf_putc(b, '/') < 0 || put_str(b, p->service) < 0 ||
                   buf_puts(b, "/aws4_request") < 0
               ? -1
               : 0;
}

/* The X-Amz-* parameters of a presigned URL, already encoded, in the order the URL carries them
 * (the canonical query sorts them anyway). The token goes here only when it is signed. */
static int build_presign_query(struct sigv4_signer *s, const struct sigv4_request *req,
                               const struct sigv4_params *p, struct str signed_names)
{
    struct buf *q = &s->query;
    buf_reset(q);
    if (req->query.len && (put_str(q, req->query) < 0 || buf_putc(q, '&') < 0))
        return -1;
    if (buf_puts(q, "X-Amz-Algorithm=" ALGORITHM "&X-Amz-Credential=") < 0 ||
        sigv4_uri_encode(q, p->access_key, 0) < 0 || buf_puts(q, "%2F") < 0)
        return -1;
    /* the scope's only reserved characters are its slashes */
    size_t at = q->len;
    if (put_scope(q, p) < 0)
        return -1;
    buf_reset(&s->scratch);
    if (buf_append(&s->scratch, q->p + at, q->len - at) < 0)
        return -1;
    q->len = at;
    q->p[at] = '\0';
    if (sigv4_uri_encode(q, (struct str){s->scratch.p, s->scratch.len}, 0) < 0 ||
        buf_printf(q, "&X-Amz-Date=%s&X-Amz-SignedHeaders=", p->amz_date) < 0 ||
        sigv4_uri_encode(q, signed_names, 0) < 0 ||
        buf_printf(q, "&X-Amz-Expires=%ld", p->expires) < 0)
        return -1;
    if (p->session_token.len && !p->omit_session_token &&
        (buf_puts(q, "&X-Amz-Security-Token=") < 0 || sigv4_uri_encode(q, p->session_token, 0) < 0))
        return -1;
    return 0;
}

/* Which headers are signed: the request's, less those sigv4_sign replaces, plus the ones it
 * adds. Also settles the payload hash: params override, else a caller's x-amz-content-sha256
 * (botocore's way to sign UNSIGNED-PAYLOAD), else SHA-256 of the body. */
static int collect_headers(struct sigv4_signer *s, const struct sigv4_request *req,
                           const struct sigv4_params *p, struct sigv4_header **out, size_t *nout,
                           char *err, size_t errlen)
{
    static const struct str k_date = {"x-amz-date", 10}, k_token = {"x-amz-security-token", 20},
                            k_sha = {"x-amz-content-sha256", 20}, k_host = {"host", 4};
    int header_mode = p->mode == SIGV4_HEADER, have_host = 0;
    struct str caller_sha = {NULL, 0};
    int have_caller_sha = 0;
    if (req->nheaders > MAX_HEADERS) {
        seterr(err, errlen, "too many headers");
        return -1;
    }
    if (req->nheaders + 3 > s->lcap) {
        s->lcap = req->nheaders + 3 < 16 ? 16 : req->nheaders + 3;
        s->list = xrealloc(s->list, s->lcap * sizeof *s->list);
    }
    struct sigv4_header *list = s->list;
    size_t n = 0;
    for (size_t i = 0; i < req->nheaders; i++) {
        struct str name = req->headers[i].name;
        if (str_ieq(name, k_host))
            have_host = 1;
        if (str_ieq(name, k_sha) && !have_caller_sha) {
            caller_sha = req->headers[i].value;
            have_caller_sha = 1;
        }
        if (header_mode &&
            (str_ieq(name, k_date) || (p->session_token.len && str_ieq(name, k_token)) ||
             (p->sign_body && str_ieq(name, k_sha))))
            continue;
        list[n++] = req->headers[i];
    }
    if (!have_host) {
        seterr(err, errlen, "the request has no Host header");
        return -1;
    }
    if (p->payload_hash.len) {
        s->payload = p->payload_hash;
    } else if (have_caller_sha && !(header_mode && p->sign_body)) {
        s->payload = caller_sha;
    } else {
        if (sha256_hex(s, req->body.p, req->body.len, s->payload_hex) < 0) {
            seterr(err, errlen, "SHA-256 failed");
            return -1;
        }
        s->payload = (struct str){s->payload_hex, 64};
    }
    if (header_mode) {
        list[n++] = (struct sigv4_header){k_date, str_cstr(p->amz_date)};
        if (p->session_token.len && !p->omit_session_token)
            list[n++] = (struct sigv4_header){k_token, p->session_token};
        if (p->sign_body)
            list[n++] = (struct sigv4_header){k_sha, s->payload};
    }
    *out = list;
    *nout = n;
    return 0;
}

/* The canonical request for params already checked. */
static int canonical_request(struct sigv4_signer *s, const struct sigv4_request *req,
                             const struct sigv4_params *p, struct buf *out,
                             struct str *signed_headers, char *err, size_t errlen)
{
    struct sigv4_header *list = NULL;
    size_t n = 0;
    int rc = -1;
    buf_reset(out);
    if (collect_headers(s, req, p, &list, &n, err, errlen) < 0)
        goto cleanup;
    buf_reset(&s->names);
    if (put_str(out, req->method) < 0 || buf_putc(out, '\n') < 0 ||
        canonical_uri(out, &s->path, req->path, p->normalize_path, p->double_encode) < 0 ||
        buf_putc(out, '\n') < 0)
        goto toolong;
    if (p->mode == SIGV4_QUERY) {
        /* the presigned query carries the signed names, so the headers come first, into a
         * scratch buffer that is copied into place after the query */
        buf_reset(&s->canon);
        if (sigv4_canonical_headers(s, list, n, &s->canon, &s->names, err, errlen) < 0)
            goto cleanup;
        if (build_presign_query(s, req, p, (struct str){s->names.p, s->names.len}) < 0)
            goto toolong;
        if (sigv4_canonical_query(s, (struct str){s->query.p, s->query.len}, out, err, errlen) < 0)
            goto cleanup;
        if (buf_putc(out, '\n') < 0 || buf_append(out, s->canon.p, s->canon.len) < 0)
            goto toolong;
    } else {
        if (sigv4_canonical_query(s, req->query, out, err, errlen) < 0)
            goto cleanup;
        if (buf_putc(out, '\n') < 0)
            goto toolong;
        if (sigv4_canonical_headers(s, list, n, out, &s->names, err, errlen) < 0)
            goto cleanup;
    }
    struct str names = {s->names.p ? s->names.p : "", s->names.len};
    if (buf_putc(out, '\n') < 0)
        goto toolong;
    size_t at = out->len;
    if (put_str(out, names) < 0 || buf_putc(out, '\n') < 0 || put_str(out, s->payload) < 0)
        goto toolong;
    if (signed_headers)
        *signed_headers = (struct str){out->p + at, names.len};
    rc = 0;
    goto cleanup;
toolong:
    seterr(err, errlen, "request too large to sign");
cleanup:
    if (rc < 0)
        buf_reset(out);
    return rc;
}

int sigv4_canonical_request(struct sigv4_signer *s, const struct sigv4_request *req,
                            const struct sigv4_params *p, struct buf *out,
                            struct str *signed_headers, char *err, size_t errlen)
{
    if (check_params(p, err, errlen) < 0) {
        buf_reset(out);
        return -1;
    }
    return canonical_request(s, req, p, out, signed_headers, err, errlen);
}

/* The string to sign for params already checked. */
static int string_to_sign(struct sigv4_signer *s, const struct sigv4_params *p, struct str creq,
                          struct buf *out, char *err, size_t errlen)
{
    unsigned char md[32];
    char hex[65];
    buf_reset(out);
    if (sha256(s, creq.p, creq.len, md) < 0) {
        seterr(err, errlen, "SHA-256 failed");
        return -1;
    }
    hex_lower(hex, md, 32);
    if (buf_puts(out, ALGORITHM "\n") < 0 || buf_puts(out, p->amz_date) < 0 ||
        buf_putc(out, '\n') < 0 || put_scope(out, p) < 0 || buf_putc(out, '\n') < 0 ||
        buf_append(out, hex, 64) < 0) {
        seterr(err, errlen, "string to sign too long");
        return -1;
    }
    return 0;
}

int sigv4_string_to_sign(struct sigv4_signer *s, const struct sigv4_params *p, struct str creq,
                         struct buf *out, char *err, size_t errlen)
{
    if (check_params(p, err, errlen) < 0) {
        buf_reset(out);
        return -1;
    }
    return string_to_sign(s, p, creq, out, err, errlen);
}

/* The four-step derivation on the one re-keyable context; the "AWS4"+secret key lives on the
 * stack only for the first step and is wiped with the intermediate keys. */
int sigv4_signing_key(struct sigv4_signer *s, struct str secret, struct str date8,
                      struct str region, struct str service, unsigned char key[32], char *err,
                      size_t errlen)
{
    unsigned char k[4 + MAX_SECRET], a[32], b[32];
    int rc = -1;
    if (secret.len > MAX_SECRET) {
        seterr(err, errlen, "secret key too long");
        return -1;
    }
    memcpy(k, "AWS4", 4);
    if (secret.len)
        memcpy(k + 4, secret.p, secret.len);
    if (hmac_keyed(s, k, 4 + secret.len, date8.p, date8.len, a) < 0 ||
        hmac_keyed(s, a, 32, region.p, region.len, b) < 0 ||
        hmac_keyed(s, b, 32, service.p, service.len, a) < 0 ||
        hmac_keyed(s, a, 32, "aws4_request", 12, key) < 0) {
        seterr(err, errlen, "HMAC failed");
        goto cleanup;
    }
    rc = 0;
cleanup:
    OPENSSL_cleanse(k, 4 + secret.len);
    OPENSSL_cleanse(a, sizeof a);
    OPENSSL_cleanse(b, sizeof b);
    return rc;
}

int sigv4_signature(struct sigv4_signer *s, const unsigned char key[32], struct str sts,
                    char hex[65])
{
    unsigned char mac[32];
    if (hmac_keyed(s, key, 32, sts.p, sts.len, mac) < 0)
        return -1;
    hex_lower(hex, mac, 32);
    OPENSSL_cleanse(mac, sizeof mac);
    return 0;
}

int sigv4_authorization(const struct sigv4_params *p, struct str signed_headers,
                        struct str signature, struct buf *out)
{
    buf_reset(out);
    return buf_puts(out, ALGORITHM " Credential=") < 0 || put_str(out, p->access_key) < 0 ||
                   buf_putc(out, '/') < 0 || put_scope(out, p) < 0 ||
                   buf_puts(out, ", SignedHeaders=") < 0 || put_str(out, signed_headers) < 0 ||
                   buf_puts(out, ", Signature=") < 0 || put_str(out, signature) < 0
               ? -1
               : 0;
}

/* ================================================================ the key cache */

/* The cache id hashes the secret with the scope, length-prefixed so that no two tuples collide:
 * the cache can tell credentials apart without keeping the secret. */
static int cache_id(struct sigv4_signer *s, const struct sigv4_params *p, unsigned char id[32])
{
    const struct str parts[] = {p->secret_key, {p->amz_date, 8}, p->region, p->service};
    unsigned char tmp[512];
    size_t at = 0, need = 18;
    unsigned int len = 0;
    int ok;
    for (size_t i = 0; i < 4; i++)
        need += 8 + parts[i].len;
    /* usually one contiguous update (a stack copy, wiped: it holds the secret); incremental
     * updates when the parts are unusually long */
    int flat = need <= sizeof tmp;
    ok = EVP_DigestInit_ex2(s->mdctx, s->md, NULL) == 1;
    if (flat)
        memcpy(tmp, "hookhost-sigv4-key", 18), at = 18;
    else
        ok = ok && EVP_DigestUpdate(s->mdctx, "hookhost-sigv4-key", 18) == 1;
    for (size_t i = 0; i < 4 && ok; i++) {
        uint64_t n = parts[i].len;
        unsigned char le[8];
        for (int j = 0; j < 8; j++)
            le[j] = (unsigned char)(n >> (8 * j));
        if (flat) {
            memcpy(tmp + at, le, 8);
            if (n)
                memcpy(tmp + at + 8, parts[i].p, n);
            at += 8 + n;
        } else {
            ok = EVP_DigestUpdate(s->mdctx, le, 8) == 1 &&
                 (!n || EVP_DigestUpdate(s->mdctx, parts[i].p, n) == 1);
        }
    }
    if (flat) {
        ok = ok && EVP_DigestUpdate(s->mdctx, tmp, at) == 1;
        OPENSSL_cleanse(tmp, at);
    }
    return ok && EVP_DigestFinal_ex(s->mdctx, id, &len) == 1 && len == 32 ? 0 : -1;
}

/* A keyed HMAC context for (secret, date, region, service): from the cache, or derived into the
 * least recently used slot, whose old key is wiped first. */
static struct sigv4_cache_slot *cache_get(struct sigv4_signer *s, const struct sigv4_params *p,
                                          char *err, size_t errlen)
{
    struct sigv4_cache *c = &s->cache;
    unsigned char id[32];
    if (cache_id(s, p, id) < 0) {
        seterr(err, errlen, "SHA-256 failed");
        return NULL;
    }
    struct sigv4_cache_slot *victim = &c->slot[0];
    for (size_t i = 0; i < SIGV4_CACHE_SLOTS; i++) {
        struct sigv4_cache_slot *sl = &c->slot[i];
        if (sl->last_used && memcmp(sl->id, id, 32) == 0) {
            sl->last_used = ++c->clock;
            c->hits++;
            return sl;
        }
        if (sl->last_used < victim->last_used)
            victim = sl;
    }
    slot_drop(victim);
    c->misses++;
    victim->mac = new_mac_ctx(s->hmac);
    if (!victim->mac ||
        sigv4_signing_key(s, p->secret_key, (struct str){p->amz_date, 8}, p->region, p->service,
                          victim->key, err, errlen) < 0 ||
        EVP_MAC_init(victim->mac, victim->key, 32, NULL) != 1) {
        slot_drop(victim);
        seterr(err, errlen, "signing key derivation failed");
        return NULL;
    }
    memcpy(victim->id, id, 32);
    victim->last_used = ++c->clock;
    return victim;
}

/* ================================================================ all stages */

int sigv4_sign(struct sigv4_signer *s, const struct sigv4_request *req,
               const struct sigv4_params *p, struct sigv4_result *out, char *err, size_t errlen)
{
    struct str sh;
    unsigned char mac[32];
    size_t macl = 0;
    memset(out, 0, sizeof *out);
    if (check_params(p, err, errlen) < 0 ||
        canonical_request(s, req, p, &s->creq, &sh, err, errlen) < 0 ||
        string_to_sign(s, p, (struct str){s->creq.p, s->creq.len}, &s->sts, err, errlen) < 0)
        return -1;
    struct sigv4_cache_slot *sl = cache_get(s, p, err, errlen);
    if (!sl)
        return -1;
    /* a NULL key re-initialises the context with the key it already holds */
    if (EVP_MAC_init(sl->mac, NULL, 0, NULL) != 1 ||
        EVP_MAC_update(sl->mac, (const unsigned char *)s->sts.p, s->sts.len) != 1 ||
        EVP_MAC_final(sl->mac, mac, &macl, sizeof mac) != 1 || macl != 32) {
        seterr(err, errlen, "HMAC failed");
        return -1;
    }
    hex_lower(s->sig, mac, 32);
    struct str sig = {s->sig, 64};
    out->canonical_request = (struct str){s->creq.p, s->creq.len};
    out->string_to_sign = (struct str){s->sts.p, s->sts.len};
    out->signed_headers = sh;
    out->signature = sig;
    if (p->mode == SIGV4_QUERY) {
        if ((p->session_token.len && p->omit_session_token &&
             (buf_puts(&s->query, "&X-Amz-Security-Token=") < 0 ||
              sigv4_uri_encode(&s->query, p->session_token, 0) < 0)) ||
            buf_puts(&s->query, "&X-Amz-Signature=") < 0 || put_str(&s->query, sig) < 0) {
            seterr(err, errlen, "query string too long");
            return -1;
        }
        out->query = (struct str){s->query.p, s->query.len};
        return 0;
    }
    if (sigv4_authorization(p, sh, sig, &s->auth) < 0) {
        seterr(err, errlen, "authorization too long");
        return -1;
    }
    out->query = req->query;
    if (p->session_token.len)
        out->add[out->nadd++] =
            (struct sigv4_header){STR_LIT("X-Amz-Security-Token"), p->session_token};
    out->add[out->nadd++] = (struct sigv4_header){STR_LIT("X-Amz-Date"), {p->amz_date, 16}};
    if (p->sign_body)
        out->add[out->nadd++] = (struct sigv4_header){STR_LIT("x-amz-content-sha256"), s->payload};
    out->add[out->nadd++] =
        (struct sigv4_header){STR_LIT("Authorization"), {s->auth.p, s->auth.len}};
    return 0;
}
