/* log.c: see log.h. */
#include "log.h"

#include "buf.h"
#include "json.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define MAX_SECRETS 16
#define MAX_LINE    (256 * 1024)

static enum log_format fmt_ = LOG_TEXT;
static enum log_level level_ = LOG_INFO;
static char request_id_[128];
static char deployment_id_[64];
static char *secrets_[MAX_SECRETS];

static const char *const level_names[] = {"TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"};

const char *log_level_name(enum log_level l)
{
    return (unsigned)l <= LOG_FATAL ? level_names[l] : "INFO";
}

int log_level_parse(const char *s, enum log_level *out)
{
    for (int i = LOG_TRACE; i <= LOG_FATAL; i++) {
        if (strcasecmp(s, level_names[i]) == 0) {
            *out = (enum log_level)i;
            return 0;
        }
    }
    if (strcasecmp(s, "WARNING") == 0) {
        *out = LOG_WARN;
        return 0;
    }
    return -1;
}

void log_init(void)
{
    const char *f = getenv("AWS_LAMBDA_LOG_FORMAT");
    const char *l = getenv("AWS_LAMBDA_LOG_LEVEL");
    fmt_ = LOG_TEXT;
    level_ = LOG_INFO;
    int bad_format = 0, bad_level = 0;
    if (f && *f) {
        if (strcasecmp(f, "JSON") == 0)
            fmt_ = LOG_JSON;
        else if (strcasecmp(f, "Text") != 0)
            bad_format = 1;
    }
    if (l && *l && log_level_parse(l, &level_) < 0)
        bad_level = 1;
    /* Known before any AWS call registers them: a script could log its environment. */
    log_add_secret(getenv("AWS_SECRET_ACCESS_KEY"));
    log_add_secret(getenv("AWS_SESSION_TOKEN"));
    if (bad_format)
        log_warn("AWS_LAMBDA_LOG_FORMAT=%s is not Text or JSON; using Text", f);
    if (bad_level)
        log_warn("AWS_LAMBDA_LOG_LEVEL=%s is not a log level (TRACE DEBUG INFO WARN ERROR FATAL); "
                 "using INFO",
                 l);
}

void log_set_format(enum log_format f)
{
    fmt_ = f;
}

void log_set_level(enum log_level l)
{
    level_ = l;
}

int log_enabled(enum log_level l)
{
    return l >= level_;
}

void log_set_request_id(const char *id)
{
    fmt_into(request_id_, sizeof request_id_, "%s", id ? id : "");
}

void log_set_deployment_id(const char *id)
{
    fmt_into(deployment_id_, sizeof deployment_id_, "%s", id ? id : "");
}

/* Registered secrets are kept as given; the matcher below also finds them as JSON and URLs write
 * them, so one entry covers every form. */
void log_add_secret(const char *secret)
{
    if (!secret || strlen(secret) < LOG_MIN_SECRET)
        return;
    for (int i = 0; i < MAX_SECRETS; i++)
        if (secrets_[i] && strcmp(secrets_[i], secret) == 0)
            return;
    free(secrets_[MAX_SECRETS - 1]);
    memmove(secrets_ + 1, secrets_, (MAX_SECRETS - 1) * sizeof *secrets_);
    secrets_[0] = xstrdup(secret);
}

static int hexval(char c)
{
    return c >= '0' && c <= '9'   ? c - '0'
           : c >= 'a' && c <= 'f' ? c - 'a' + 10
           : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                  : -1;
}

/* How many bytes of s, from its start, spell a run of secret's first characters, each one
 * written as is, JSON-escaped ('\/', '\"', '\\': cjson escapes '/', and AWS keys and tokens are
 * base64 with '/') or percent-encoded ('%2F', '%2B', '%3D' in a URL). *matched gets how many
 * characters of the secret that run is. */
static size_t match_secret(const char *s, const char *secret, size_t *matched)
{
    size_t i = 0, j = 0;
    while (secret[j]) {
        char c = secret[j];
        int h1, h2;
        if (s[i] == c)
            i++;
        else if (s[i] == '\\' && s[i + 1] == c && (c == '/' || c == '"' || c == '\\'))
            i += 2;
        else if (s[i] == '%' && (h1 = hexval(s[i + 1])) >= 0 && (h2 = hexval(s[i + 2])) >= 0 &&
                 h1 * 16 + h2 == (unsigned char)c)
            i += 3;
        else
            break;
        j++;
    }
    *matched = j;
    return i;
}

/* Replace n bytes at p (n >= 1) with "***", or with as many '*' when shorter. */
static void blank(char *p, size_t n)
{
    memcpy(p, "***", n < 3 ? n : 3);
    if (n > 3)
        memmove(p + 3, p + n, strlen(p + n) + 1);
}

/* Blank every run of LOG_MIN_SECRET or more of a registered secret's first characters: the whole
 * secret, and what is left of it where a message was cut (a fixed-size buffer, a truncated line)
 * before it reached this function. At each place the longest run over all secrets is blanked. */
static void redact_secrets(char *s)
{
    if (!secrets_[0])
        return;
    unsigned char first[256] = {0};
    first['\\'] = first['%'] = 1; /* an escaped or encoded first character */
    for (int k = 0; k < MAX_SECRETS && secrets_[k]; k++)
        first[(unsigned char)secrets_[k][0]] = 1;
    for (char *p = s; *p; p++) {
        if (!first[(unsigned char)*p])
            continue;
        size_t best = 0;
        for (int k = 0; k < MAX_SECRETS && secrets_[k]; k++) {
            size_t matched, len = match_secret(p, secrets_[k], &matched);
            if (matched >= LOG_MIN_SECRET && len > best)
                best = len;
        }
        if (best) { /* best >= LOG_MIN_SECRET: "***" is shorter */
            blank(p, best);
            p += 2;
        }
    }
}

/* The length of a credential value at v: base64 and URL characters, with '\/' as JSON writes
 * '/'. */
static size_t credential_span(const char *v)
{
    size_t n = 0;
    for (;;) {
        unsigned char c = (unsigned char)v[n];
        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
            c == '+' || c == '/' || c == '=' || c == '%' || c == '-' || c == '_' || c == '.' ||
            c == '~')
            n++;
        else if (c == '\\' && v[n + 1] == '/')
            n += 2;
        else
            return n;
    }
}

/* The length of the rest of a header line at v: up to a line end (raw, or as JSON writes it), a
 * quote or a tag. */
static size_t line_span(const char *v)
{
    size_t n = 0;
    for (;;) {
        char c = v[n];
        if (!c || c == '\r' || c == '\n' || c == '"' || c == '\'' || c == '<' || c == '>' ||
            (c == '\\' && v[n + 1] != '/'))
            return n;
        n += c == '\\' ? 2 : 1;
    }
}

/* Blank the value given to `key` wherever it appears, as a header ("X-Amz-Security-Token: v"), a
 * canonical request line ("x-amz-security-token:v"), a query or ini setting ("k=v", "k = v"), a
 * JSON member ("\"SessionToken\":\"v\"") or an XML element: the credential is redacted by where it
 * stands even when nobody registered it (a profile's token the parent never read) and however
 * much of it a cut left. */
static void redact_key(char *s, const char *key, size_t (*span)(const char *))
{
    size_t k = strlen(key);
    for (char *p = s; (p = strcasestr(p, key)) != NULL;) {
        char *v = p + k;
        p = v;
        if (*v == '\\' && v[1] == '"')
            v += 2;
        else if (*v == '"' || *v == '\'')
            v++;
        while (*v == ' ' || *v == '\t') /* "aws_session_token = v" */
            v++;
        if (*v != ':' && *v != '=' && *v != '>')
            continue;
        v++;
        while (*v == ' ' || *v == '\t')
            v++;
        if (*v == '\\' && v[1] == '"')
            v += 2;
        else if (*v == '"' || *v == '\'')
            v++;
        size_t n = span(v);
        if (n == 0 || (n == 3 && strncmp(v, "***", 3) == 0))
            continue;
        blank(v, n);
        p = v;
    }
}

/* Blank the value that follows each `key` up to a delimiter, e.g. "Signature=abcd" ->
 * "Signature=***". This catches signatures even when nobody registered them as secrets. */
static void redact_after(char *s, const char *key)
{
    size_t k = strlen(key);
    char *p = s;
    while ((p = strcasestr(p, key)) != NULL) {
        char *v = p + k;
        size_t vlen = strcspn(v, "&,; \t\r\n\"'<>");
        if (vlen > 3 || (vlen > 0 && strncmp(v, "***", 3) != 0))
            blank(v, vlen);
        p = v;
    }
}

char *log_redact(char *s)
{
    redact_secrets(s);
    redact_key(s, "x-amz-security-token", credential_span);
    redact_key(s, "aws_secret_access_key", credential_span);
    redact_key(s, "aws_session_token", credential_span);
    redact_key(s, "SecretAccessKey", credential_span);
    redact_key(s, "SessionToken", credential_span);
    redact_key(s, "Authorization", line_span);
    redact_after(s, "Signature=");
    redact_after(s, "X-Amz-Credential=");
    return s;
}

/* Past the cut, as much text as the longest secret needs to be recognised whole. */
#define REDACT_SLACK 8192

void log_redact_into(char *dst, size_t dstlen, const char *src, size_t srclen)
{
    size_t n = srclen < dstlen - 1 + REDACT_SLACK ? srclen : dstlen - 1 + REDACT_SLACK;
    char *t = xmalloc(n + 1);
    memcpy(t, src, n);
    t[n] = '\0';
    fmt_into(dst, dstlen, "%s", log_redact(t));
    free(t);
}

/* Length of the valid UTF-8 sequence at p (1..4), or 0 when the bytes are not valid UTF-8. */
static size_t utf8_seq(const unsigned char *p, size_t left)
{
    unsigned c = p[0];
    size_t n;
    unsigned min;
    if (c < 0x80)
        return 1;
    else if ((c & 0xE0) == 0xC0)
        n = 2, min = 0x80;
    else if ((c & 0xF0) == 0xE0)
        n = 3, min = 0x800;
    else if ((c & 0xF8) == 0xF0)
        n = 4, min = 0x10000;
    else
        return 0;
    if (n > left)
        return 0;
    unsigned cp = c & (0x7F >> n);
    for (size_t i = 1; i < n; i++) {
        if ((p[i] & 0xC0) != 0x80)
            return 0;
        cp = (cp << 6) | (p[i] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return n;
}

/* Append s so that it can neither break the line nor the JSON around it: in JSON mode as the
 * inside of a JSON string; in Text mode with control characters escaped. Invalid UTF-8 becomes
 * U+FFFD. (Output-side escaping only: every JSON the runtime parses goes through cjson.) */
static void put_escaped(struct buf *b, const char *s, int json)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t left = strlen(s);
    while (left) {
        size_t n = utf8_seq(p, left);
        if (n == 0) {
            buf_puts(b, "\xEF\xBF\xBD");
            n = 1;
        } else if (n > 1) {
            buf_append(b, p, n);
        } else if (*p == '"' && json) {
            buf_puts(b, "\\\"");
        } else if (*p == '\\' && json) {
            buf_puts(b, "\\\\");
        } else if (*p == '\n') {
            buf_puts(b, "\\n");
        } else if (*p == '\r') {
            buf_puts(b, "\\r");
        } else if (*p == '\t') {
            buf_puts(b, json ? "\\t" : "\t");
        } else if (*p < 0x20 || *p == 0x7F) {
            buf_printf(b, "\\u%04x", *p);
        } else {
            buf_putc(b, (char)*p);
        }
        p += n;
        left -= n;
    }
}

static void put_timestamp(struct buf *b)
{
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    buf_printf(b, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", tm.tm_year + 1900, tm.tm_mon + 1,
               tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000);
}

void log_line(enum log_level l, const char *fields_json, const char *fmt, ...)
{
    if (l < level_)
        return;
    struct buf msg = BUF_INIT(MAX_LINE);
    va_list ap;
    va_start(ap, fmt);
    buf_vprintf(&msg, fmt, ap);
    va_end(ap);
    if (!msg.p)
        buf_puts(&msg, "(log message too long)");
    log_redact(msg.p);

    struct buf line = BUF_INIT(MAX_LINE * 2);
    if (fmt_ == LOG_JSON) {
        buf_puts(&line, "{\"timestamp\":\"");
        put_timestamp(&line);
        buf_printf(&line, "\",\"level\":\"%s\",\"message\":\"", log_level_name(l));
        put_escaped(&line, msg.p, 1);
        buf_putc(&line, '"');
        if (request_id_[0]) {
            buf_puts(&line, ",\"requestId\":\"");
            put_escaped(&line, request_id_, 1);
            buf_putc(&line, '"');
        }
        if (deployment_id_[0]) {
            buf_puts(&line, ",\"deploymentId\":\"");
            put_escaped(&line, deployment_id_, 1);
            buf_putc(&line, '"');
        }
        /* Merge the members of a non-empty object: drop its braces, keep the rest verbatim. */
        size_t flen = fields_json ? strlen(fields_json) : 0;
        if (flen > 2 && fields_json[0] == '{' && fields_json[flen - 1] == '}') {
            buf_putc(&line, ',');
            size_t at = line.len;
            buf_append(&line, fields_json + 1, flen - 2);
            if (line.p) /* cjson's "\/" back to '/': URLs stay readable and greppable */
                line.len = at + strlen(json_unslash(line.p + at));
        }
        buf_puts(&line, "}\n");
    } else {
        put_timestamp(&line);
        buf_printf(&line, " %-5s ", log_level_name(l));
        if (request_id_[0]) {
            buf_putc(&line, '[');
            put_escaped(&line, request_id_, 0);
            buf_puts(&line, "] ");
        }
        put_escaped(&line, msg.p, 0);
        if (fields_json && strcmp(fields_json, "{}") != 0 && strcmp(fields_json, "[]") != 0) {
            struct buf f = BUF_INIT(MAX_LINE * 2);
            buf_puts(&f, fields_json);
            if (f.p) /* cjson's "\/" back to '/' */
                f.len = strlen(json_unslash(f.p));
            buf_putc(&line, ' ');
            put_escaped(&line, f.p ? f.p : "{\"fields_error\":\"too long\"}", 0);
            buf_free(&f);
        }
        buf_putc(&line, '\n');
    }
    if (line.p) {
        log_redact(line.p);
        size_t off = 0, len = strlen(line.p);
        while (off < len) {
            ssize_t w = write(STDERR_FILENO, line.p + off, len - off);
            if (w <= 0)
                break;
            off += (size_t)w;
        }
    }
    buf_free(&line);
    buf_free(&msg);
}
