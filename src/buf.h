/* buf.h: borrowed string views, bounded growable buffers, and the process's out-of-memory policy.
 *
 * A `struct str` borrows: it never owns or frees its bytes. A `struct buf` owns its bytes, keeps
 * them NUL-terminated, and never grows past `max`; an append that would pass `max` (or fails to
 * allocate) frees the buffer, leaves it empty and returns -1, so a half-built value is never used.
 */
#ifndef HOOKHOST_BUF_H
#define HOOKHOST_BUF_H

#include <stdarg.h>
#include <stddef.h>

/* ---- borrowed views ---- */
struct str {
    const char *p;
    size_t len;
};

#define STR_LIT(s) ((struct str){(s), sizeof(s) - 1})
struct str str_cstr(const char *s);
int str_eq(struct str a, struct str b);
/* Case-insensitive ASCII comparison, for header names. */
int str_ieq(struct str a, struct str b);

/* ---- owned, bounded buffers ---- */
struct buf {
    char *p;    /* NUL-terminated when non-NULL */
    size_t len; /* bytes used, excluding the NUL */
    size_t cap; /* bytes allocated */
    size_t max; /* largest len ever allowed; 0 means BUF_DEFAULT_MAX */
};

#define BUF_DEFAULT_MAX  ((size_t)64 << 20)
#define BUF_INIT(maxlen) ((struct buf){NULL, 0, 0, (maxlen)})

/* Append n bytes. Returns 0, or -1 when len would pass max: the buffer is then freed and empty. */
int buf_append(struct buf *b, const void *p, size_t n);
int buf_puts(struct buf *b, const char *s);
int buf_putc(struct buf *b, char c);
int buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int buf_vprintf(struct buf *b, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));
/* Forget the contents, keep the allocation. */
void buf_reset(struct buf *b);
/* Free the bytes; the buffer stays usable (empty, same max). */
void buf_free(struct buf *b);
/* Hand the bytes to the caller (who frees them); the buffer becomes empty. Never NULL. */
char *buf_take(struct buf *b);
/* Like buf_free, but overwrites the bytes first (for secrets). */
void buf_free_secret(struct buf *b);

/* Read a whole file, or standard input for "-", into b (reset first), up to b->max bytes.
 * Returns 0; -1 with errno's message in err when it cannot be read; -2 when it is larger than
 * b->max (b is then empty). */
int buf_read_file(struct buf *b, const char *path, char *err, size_t errlen);

/* ---- out of memory: log and exit (this is a process, not a library; Lambda restarts it) ---- */
void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);

/* snprintf into a fixed buffer that always ends NUL-terminated; truncates silently. */
void fmt_into(char *dst, size_t dstlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif
