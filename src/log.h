/* log.h: log lines for Lambda (CloudWatch) and for a terminal.
 *
 * Format and threshold follow Lambda's advanced logging controls: AWS_LAMBDA_LOG_FORMAT (Text or
 * JSON) and AWS_LAMBDA_LOG_LEVEL (TRACE, DEBUG, INFO, WARN, ERROR, FATAL; INFO by default).
 * Lines go to stderr, one per call, written with a single write(2) so that lines from a parent
 * and its worker never interleave.
 *
 * JSON:  {"timestamp":"2026-11-26T05:35:17.123Z","level":"INFO","message":"...",
 *         "requestId":"...", <fields>}
 * Text:  2026-11-26T05:35:17.123Z INFO [requestId] message {"field":...}
 *
 * Nothing secret is ever logged: values registered with log_add_secret() and anything that looks
 * like a SigV4 signature or credential are replaced with "***" before a line is written.
 */
#ifndef HOOKHOST_LOG_H
#define HOOKHOST_LOG_H

#include <stddef.h>

enum log_level { LOG_TRACE, LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR, LOG_FATAL };
enum log_format { LOG_TEXT, LOG_JSON };

/* Read AWS_LAMBDA_LOG_FORMAT and AWS_LAMBDA_LOG_LEVEL. Unknown values fall back to Text and INFO
 * with a warning line. Safe to call again (tests). */
void log_init(void);
void log_set_format(enum log_format f);
void log_set_level(enum log_level l);
int log_enabled(enum log_level l);

/* Parse "INFO", "warn", ... Returns 0 and sets *out, or -1. */
int log_level_parse(const char *s, enum log_level *out);
const char *log_level_name(enum log_level l);

/* The request id and deployment id stamped on every line until changed; NULL clears. Copied. */
void log_set_request_id(const char *id);
void log_set_deployment_id(const char *id);

/* Register a secret (copied); every later line has it replaced with "***": whole, or any run of
 * LOG_MIN_SECRET or more of its first characters (what a cut message leaves of it), written as
 * is, JSON-escaped ('/' as '\/') or percent-encoded. Values shorter than LOG_MIN_SECRET bytes are
 * ignored (too likely to occur by chance). At most 16 secrets; the oldest is dropped. */
#define LOG_MIN_SECRET 8
void log_add_secret(const char *secret);

/* Write one line. `fields_json` is NULL or a JSON object text ("{...}") produced by cjson; its
 * members are merged into a JSON line, or appended to a Text line, with cjson's "\/" written as
 * '/' (URLs stay readable; an escaped backslash before it is kept). */
void log_line(enum log_level l, const char *fields_json, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define log_debug(...) log_line(LOG_DEBUG, NULL, __VA_ARGS__)
#define log_info(...)  log_line(LOG_INFO, NULL, __VA_ARGS__)
#define log_warn(...)  log_line(LOG_WARN, NULL, __VA_ARGS__)
#define log_error(...) log_line(LOG_ERROR, NULL, __VA_ARGS__)

/* The redaction step on its own, for tests and for text that leaves the process by other ways
 * (Lambda answers, error messages, `hookhost run`'s outcome): the registered secrets, and the
 * values of credential keys whoever registered them (X-Amz-Security-Token, Authorization,
 * aws_secret_access_key, aws_session_token, SecretAccessKey, SessionToken, as a header, a
 * canonical request line, a query or ini setting, a JSON member), and SigV4 signatures.
 * Rewrites s in place (it only shrinks, and JSON stays JSON); returns s. */
char *log_redact(char *s);

/* Redact first, then cut: copy src (srclen bytes, or up to a NUL) into dst (dstlen > 0 bytes,
 * always NUL-terminated) redacted, so that a secret across the cut goes whole instead of leaving
 * a piece too short to recognise. For every fixed-size buffer that takes script or service text. */
void log_redact_into(char *dst, size_t dstlen, const char *src, size_t srclen);

#endif
