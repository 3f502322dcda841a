/* buf.c: see buf.h. */
#include "buf.h"

#include <openssl/crypto.h>
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct str str_cstr(const char *s)
{
    return (struct str){s, s ? strlen(s) : 0};
}

int str_eq(struct str a, struct str b)
{
    return a.len == b.len && (a.len == 0 || memcmp(a.p, b.p, a.len) == 0);
}

int str_ieq(struct str a, struct str b)
{
    return a.len == b.len && (a.len == 0 || strncasecmp(a.p, b.p, a.len) == 0);
}

/* Grow so that `need` more bytes plus the NUL fit; doubling keeps appends amortised O(1). */
static int buf_reserve(struct buf *b, size_t need)
{
    size_t max = b->max ? b->max : BUF_DEFAULT_MAX;
    if (need > max || b->len > max - need) {
        buf_free(b);
        return -1;
    }
    size_t want = b->len + need + 1;
    if (want <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < want)
        cap = cap > ((size_t)-1) / 2 ? want : cap * 2;
    if (cap > max + 1)
        cap = max + 1;
    char *p = realloc(b->p, cap);
    if (!p) {
        buf_free(b);
        return -1;
    }
    b->p = p;
    b->cap = cap;
    return 0;
}

int buf_append(struct buf *b, const void *p, size_t n)
{
    if (buf_reserve(b, n) < 0)
        return -1;
    if (n)
        memcpy(b->p + b->len, p, n);
    b->len += n;
    b->p[b->len] = '\0';
    return 0;
}

int buf_puts(struct buf *b, const char *s)
{
    return buf_append(b, s, strlen(s));
}

int buf_putc(struct buf *b, char c)
{
    return buf_append(b, &c, 1);
}

int buf_vprintf(struct buf *b, const char *fmt, va_list ap)
{
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap2);
    va_end(ap2);
    if (n < 0 || buf_reserve(b, (size_t)n) < 0)
        return -1;
    vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
    b->len += (size_t)n;
    return 0;
}

int buf_printf(struct buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = buf_vprintf(b, fmt, ap);
    va_end(ap);
    return rc;
}

void buf_reset(struct buf *b)
{
    b->len = 0;
    if (b->p)
        b->p[0] = '\0';
}

void buf_free(struct buf *b)
{
    free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
}

void buf_free_secret(struct buf *b)
{
    if (b->p)
        OPENSSL_cleanse(b->p, b->cap);
    buf_free(b);
}

char *buf_take(struct buf *b)
{
    char *p = b->p ? b->p : xstrdup("");
    b->p = NULL;
    b->len = b->cap = 0;
    return p;
}

int buf_read_file(struct buf *b, const char *path, char *err, size_t errlen)
{
    buf_reset(b);
    int fd = strcmp(path, "-") == 0 ? STDIN_FILENO : open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        fmt_into(err, errlen, "%s", strerror(errno));
        return -1;
    }
    char chunk[65536];
    int rc = 0;
    for (;;) {
        ssize_t n = read(fd, chunk, sizeof chunk);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            fmt_into(err, errlen, "%s", strerror(errno));
            rc = -1;
            break;
        }
        if (n == 0)
            break;
        if (buf_append(b, chunk, (size_t)n) < 0) {
            fmt_into(err, errlen, "larger than %zu bytes", b->max ? b->max : BUF_DEFAULT_MAX);
            rc = -2;
            break;
        }
    }
    if (fd != STDIN_FILENO)
        close(fd);
    return rc;
}

static void oom(size_t n)
{
    fprintf(stderr, "hookhost: out of memory (%zu bytes)\n", n);
    exit(70);
}

void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p)
        oom(n);
    return p;
}

void *xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p)
        oom(n * size);
    return p;
}

void *xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (!q)
        oom(n);
    return q;
}

char *xstrdup(const char *s)
{
    return xstrndup(s, strlen(s));
}

char *xstrndup(const char *s, size_t n)
{
    char *p = xmalloc(n + 1);
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

void fmt_into(char *dst, size_t dstlen, const char *fmt, ...)
{
    if (!dstlen)
        return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(dst, dstlen, fmt, ap);
    va_end(ap);
    if (n < 0)
        dst[0] = '\0';
}
