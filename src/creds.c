/* creds.c: the AWS credentials chain (see creds.h). */
#include "creds.h"

#include "buf.h"
#include "http.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <lauxlib.h>
#include <lua-cjson.h>
#include <lua.h>
#include <openssl/crypto.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define INI_MAX_FILE         ((size_t)1 << 20)
#define INI_MAX_LINE         4096
#define PROCESS_MAX_OUTPUT   ((size_t)64 << 10)
#define HTTP_MAX_BODY        ((size_t)64 << 10)
#define TOKEN_FILE_MAX       ((size_t)16 << 10)
#define LUA_MAX_MEMORY       ((size_t)4 << 20)
#define ADVISORY_REFRESH_MS  (15 * 60 * 1000LL)
#define MANDATORY_REFRESH_MS (10 * 60 * 1000LL)

struct creds_provider {
    struct creds_opts o;
    struct creds cached;
    int have;
    int64_t deadline_ms; /* monotonic; 0: none (creds_set_deadline) */
};

/* ================================================================ secrets in memory */

/* A fixed-capacity buffer for bytes that may be secret: it never reallocates (a realloc would
 * leave a copy behind in freed memory), and is wiped when freed. */
struct sbuf {
    char *p;
    size_t len, cap;
};

static void sbuf_init(struct sbuf *b, size_t cap)
{
    b->p = xmalloc(cap + 1);
    b->len = 0;
    b->cap = cap;
    b->p[0] = '\0';
}

/* Returns -1 when the bytes do not fit (nothing is appended). */
static int sbuf_append(struct sbuf *b, const void *p, size_t n)
{
    if (n > b->cap - b->len)
        return -1;
    memcpy(b->p + b->len, p, n);
    b->len += n;
    b->p[b->len] = '\0';
    return 0;
}

static void sbuf_wipe(struct sbuf *b)
{
    if (b->p) {
        OPENSSL_cleanse(b->p, b->cap + 1);
        free(b->p);
    }
    b->p = NULL;
    b->len = b->cap = 0;
}

static void free_secret(char *s)
{
    if (s) {
        OPENSSL_cleanse(s, strlen(s));
        free(s);
    }
}

void creds_clear(struct creds *c)
{
    if (!c)
        return;
    free_secret(c->access_key);
    free_secret(c->secret_key);
    free_secret(c->session_token);
    memset(c, 0, sizeof *c);
}

static void creds_copy(struct creds *dst, const struct creds *src)
{
    dst->access_key = xstrdup(src->access_key);
    dst->secret_key = xstrdup(src->secret_key);
    dst->session_token = src->session_token ? xstrdup(src->session_token) : NULL;
    dst->expires_ms = src->expires_ms;
    dst->source = src->source;
}

/* ================================================================ environment and clock */

static const char *env(struct creds_provider *p, const char *name)
{
    const char *v = p->o.getenv_fn ? p->o.getenv_fn(p->o.getenv_ud, name) : getenv(name);
    return v && *v ? v : NULL;
}

static int64_t now_ms(struct creds_provider *p)
{
    if (p->o.now_ms)
        return p->o.now_ms(p->o.now_ud);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

struct creds_provider *creds_provider_new(const struct creds_opts *opts)
{
    struct creds_provider *p = xcalloc(1, sizeof *p);
    if (opts)
        p->o = *opts;
    if (p->o.process_timeout_ms <= 0)
        p->o.process_timeout_ms = 10000;
    if (p->o.http_timeout_ms <= 0)
        p->o.http_timeout_ms = 2000;
    return p;
}

void creds_provider_free(struct creds_provider *p)
{
    if (!p)
        return;
    creds_clear(&p->cached);
    free(p);
}

void creds_invalidate(struct creds_provider *p)
{
    creds_clear(&p->cached);
    p->have = 0;
}

/* ================================================================ files */

/* A path from the environment or a default under $HOME, with "~/" expanded as botocore does.
 * Returns a malloc'd path, or NULL when it needs $HOME and there is none. */
static char *config_path(struct creds_provider *p, const char *var, const char *dflt)
{
    const char *v = env(p, var), *home = env(p, "HOME");
    const char *rel = v ? v : dflt;
    if (rel[0] == '~' && rel[1] == '/') {
        if (!home)
            return NULL;
        struct buf b = BUF_INIT(0);
        if (buf_printf(&b, "%s%s", home, rel + 1) < 0)
            return NULL;
        return buf_take(&b);
    }
    return xstrdup(rel);
}

/* Read a whole (small) file into a wiped buffer. Returns 0, 1 when it does not exist, or -1
 * (too large, unreadable) with a message. */
static int read_secret_file(const char *path, size_t max, struct sbuf *out, char *err,
                            size_t errlen)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT || errno == ENOTDIR)
            return 1;
        fmt_into(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || (size_t)st.st_size > max) {
        fmt_into(err, errlen, "%s: not a regular file of at most %zu bytes", path, max);
        close(fd);
        return -1;
    }
    sbuf_init(out, (size_t)st.st_size);
    while (out->len < out->cap) {
        ssize_t n = read(fd, out->p + out->len, out->cap - out->len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        out->len += (size_t)n;
    }
    out->p[out->len] = '\0';
    close(fd);
    return 0;
}

/* ================================================================ INI profiles */

/* The keys of one profile that the chain uses; values are owned and wiped. */
struct profile {
    int file_found, section_found;
    char *access_key, *secret_key, *token, *process, *region;
};

static void profile_clear(struct profile *pr)
{
    free_secret(pr->access_key);
    free_secret(pr->secret_key);
    free_secret(pr->token);
    free_secret(pr->process);
    free_secret(pr->region);
    memset(pr, 0, sizeof *pr);
}

static struct str trim(struct str s)
{
    while (s.len && (s.p[0] == ' ' || s.p[0] == '\t' || s.p[0] == '\r'))
        s.p++, s.len--;
    while (s.len && (s.p[s.len - 1] == ' ' || s.p[s.len - 1] == '\t' || s.p[s.len - 1] == '\r'))
        s.len--;
    return s;
}

/* Credentials-file sections are bare profile names; config-file sections are "profile NAME",
 * except "default" (and "profile default" works too), as botocore reads them. */
static int section_is(struct str name, const char *want, int config)
{
    struct str w = str_cstr(want);
    if (!config)
        return str_eq(name, w);
    if (str_eq(name, STR_LIT("default")))
        return str_eq(w, STR_LIT("default"));
    if (name.len > 8 && memcmp(name.p, "profile", 7) == 0 &&
        (name.p[7] == ' ' || name.p[7] == '\t'))
        return str_eq(trim((struct str){name.p + 8, name.len - 8}), w);
    return 0;
}

static void set_key(char **slot, struct str v)
{
    free_secret(*slot);
    *slot = xstrndup(v.p, v.len);
}

/* A small INI reader, just what the AWS files need: "[section]" headers, "key = value" (or
 * "key: value", like Python's configparser), full-line comments with '#' or ';', no inline
 * comments, case-insensitive keys, indented continuation lines (nested settings such as
 * "s3 =\n  max_concurrent_requests = 10") skipped. Lines are bounded. */
static int ini_profile(const char *text, size_t len, const char *want, int config, const char *path,
                       struct profile *pr, char *err, size_t errlen)
{
    const char *p = text, *end = text + len;
    int in = 0, after_key = 0;
    size_t lineno = 0;
    while (p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        if (!eol)
            eol = end;
        lineno++;
        size_t n = (size_t)(eol - p);
        if (n > INI_MAX_LINE) {
            fmt_into(err, errlen, "%s: line %zu is longer than %d bytes", path, lineno,
                     INI_MAX_LINE);
            return -1;
        }
        int indented = n && (p[0] == ' ' || p[0] == '\t');
        struct str line = trim((struct str){p, n});
        p = eol < end ? eol + 1 : end;
        if (!line.len || line.p[0] == '#' || line.p[0] == ';')
            continue;
        if (indented && after_key)
            continue;
        if (line.p[0] == '[') {
            if (line.p[line.len - 1] != ']') {
                fmt_into(err, errlen, "%s: line %zu: malformed section header", path, lineno);
                return -1;
            }
            in = section_is(trim((struct str){line.p + 1, line.len - 2}), want, config);
            if (in)
                pr->section_found = 1;
            after_key = 0;
            continue;
        }
        size_t d = 0;
        while (d < line.len && line.p[d] != '=' && line.p[d] != ':')
            d++;
        if (d == line.len) {
            fmt_into(err, errlen, "%s: line %zu: expected 'key = value'", path, lineno);
            return -1;
        }
        after_key = 1;
        if (!in)
            continue;
        struct str key = trim((struct str){line.p, d});
        struct str val = trim((struct str){line.p + d + 1, line.len - d - 1});
        if (str_ieq(key, STR_LIT("aws_access_key_id")))
            set_key(&pr->access_key, val);
        else if (str_ieq(key, STR_LIT("aws_secret_access_key")))
            set_key(&pr->secret_key, val);
        else if (str_ieq(key, STR_LIT("aws_session_token")))
            set_key(&pr->token, val);
        else if (str_ieq(key, STR_LIT("credential_process")))
            set_key(&pr->process, val);
        else if (str_ieq(key, STR_LIT("region")))
            set_key(&pr->region, val);
    }
    return 0;
}

/* Load one profile from one file. Returns 0 (see pr->file_found / section_found) or -1. */
static int load_profile(const char *path, const char *profile, int config, struct profile *pr,
                        char *err, size_t errlen)
{
    struct sbuf text = {0};
    memset(pr, 0, sizeof *pr);
    int rc = read_secret_file(path, INI_MAX_FILE, &text, err, errlen);
    if (rc != 0)
        return rc < 0 ? -1 : 0;
    pr->file_found = 1;
    rc = ini_profile(text.p, text.len, profile, config, path, pr, err, errlen);
    sbuf_wipe(&text);
    if (rc < 0)
        profile_clear(pr);
    return rc;
}

/* ================================================================ JSON credentials */

struct lua_budget {
    size_t used;
};

/* Lua's allocator for decoding credential JSON: every block is wiped before it is freed, so the
 * secret strings cjson created do not linger in the heap; and the state is capped. */
static void *wiping_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
    struct lua_budget *b = ud;
    size_t old = ptr ? osize : 0;
    if (nsize == 0) {
        if (ptr) {
            OPENSSL_cleanse(ptr, osize);
            free(ptr);
            b->used -= old;
        }
        return NULL;
    }
    if (nsize > old && b->used + (nsize - old) > LUA_MAX_MEMORY)
        return NULL;
    void *q = malloc(nsize);
    if (!q)
        return NULL;
    if (ptr) {
        memcpy(q, ptr, old < nsize ? old : nsize);
        OPENSSL_cleanse(ptr, osize);
        free(ptr);
    }
    b->used = b->used - old + nsize;
    return q;
}

static char *field_dup(lua_State *L, int t, const char *name)
{
    lua_getfield(L, t, name);
    size_t n = 0;
    const char *s = lua_type(L, -1) == LUA_TSTRING ? lua_tolstring(L, -1, &n) : NULL;
    char *r = s && n ? xstrndup(s, n) : NULL;
    lua_pop(L, 1);
    return r;
}

/* cjson.decode raises on bad input; run it under lua_pcall so that a bad answer is a message. */
static int decode_protected(lua_State *L)
{
    size_t n = 0;
    const char *s = lua_tolstring(L, 1, &n);
    luaL_requiref(L, "cjson", luaopen_cjson, 0);
    lua_getfield(L, -1, "decode");
    lua_pushlstring(L, s, n);
    lua_call(L, 1, 1);
    return 1;
}

/* Parse the credential JSON of credential_process (version 1, SessionToken) or of a container
 * endpoint (Token) with lua-cjson. `what` names the source in messages. */
static int parse_creds_json(const char *text, size_t len, int process_format, const char *what,
                            struct creds *out, char *err, size_t errlen)
{
    struct lua_budget budget = {0};
    lua_State *L = lua_newstate(wiping_alloc, &budget);
    int rc = -1;
    char *expiration = NULL;
    memset(out, 0, sizeof *out);
    if (!L) {
        fmt_into(err, errlen, "%s: out of memory", what);
        return -1;
    }
    lua_pushcfunction(L, decode_protected);
    lua_pushlstring(L, text, len);
    /* cjson gives tables for arrays too; a non-empty sequence is not an object */
    if (lua_pcall(L, 1, 1, 0) != LUA_OK || !lua_istable(L, -1) || lua_rawlen(L, -1) > 0) {
        fmt_into(err, errlen, "%s: the output is not a JSON object", what);
        goto cleanup;
    }
    int t = lua_gettop(L);
    if (process_format) {
        lua_getfield(L, t, "Version");
        int isnum = 0;
        int ok = lua_type(L, -1) == LUA_TNUMBER && lua_tonumberx(L, -1, &isnum) == 1.0 && isnum;
        lua_pop(L, 1);
        if (!ok) {
            fmt_into(err, errlen, "%s: unsupported Version (must be 1)", what);
            goto cleanup;
        }
    }
    out->access_key = field_dup(L, t, "AccessKeyId");
    out->secret_key = field_dup(L, t, "SecretAccessKey");
    out->session_token = field_dup(L, t, process_format ? "SessionToken" : "Token");
    expiration = field_dup(L, t, "Expiration");
    if (!out->access_key || !out->secret_key) {
        fmt_into(err, errlen, "%s: AccessKeyId or SecretAccessKey missing", what);
        goto cleanup;
    }
    if (expiration && creds_parse_rfc3339(expiration, &out->expires_ms) < 0) {
        fmt_into(err, errlen, "%s: Expiration is not an RFC 3339 time", what);
        goto cleanup;
    }
    rc = 0;
cleanup:
    free(expiration);
    lua_close(L);
    if (rc < 0)
        creds_clear(out);
    return rc;
}

/* ================================================================ RFC 3339 */

static int digits(const char *s, int n, int *v)
{
    *v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        *v = *v * 10 + (s[i] - '0');
    }
    return 0;
}

/* Credential expirations come as RFC 3339 from process helpers and container agents, with or
 * without fractions and offsets; a strict parse here means a typo is an error, not "never
 * expires". */
int creds_parse_rfc3339(const char *s, int64_t *ms)
{
    int Y, M, D, h, m, sec, frac_ms = 0;
    if (!s || strlen(s) < 20 || digits(s, 4, &Y) || s[4] != '-' || digits(s + 5, 2, &M) ||
        s[7] != '-' || digits(s + 8, 2, &D) || (s[10] != 'T' && s[10] != 't' && s[10] != ' ') ||
        digits(s + 11, 2, &h) || s[13] != ':' || digits(s + 14, 2, &m) || s[16] != ':' ||
        digits(s + 17, 2, &sec))
        return -1;
    if (M < 1 || M > 12 || D < 1 || D > 31 || h > 23 || m > 59 || sec > 60)
        return -1;
    const char *p = s + 19;
    if (*p == '.') {
        int scale = 100, any = 0;
        for (p++; *p >= '0' && *p <= '9'; p++, any = 1) {
            frac_ms += (*p - '0') * scale;
            scale /= 10;
        }
        if (!any)
            return -1;
    }
    int offset_min = 0;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int oh, om;
        if (digits(p + 1, 2, &oh) || p[3] != ':' || digits(p + 4, 2, &om) || oh > 23 || om > 59)
            return -1;
        offset_min = (oh * 60 + om) * (*p == '-' ? -1 : 1);
        p += 6;
    } else {
        return -1;
    }
    if (*p)
        return -1;
    struct tm tm = {0};
    tm.tm_year = Y - 1900;
    tm.tm_mon = M - 1;
    tm.tm_mday = D;
    tm.tm_hour = h;
    tm.tm_min = m;
    tm.tm_sec = sec;
    time_t t = timegm(&tm);
    *ms = ((int64_t)t - (int64_t)offset_min * 60) * 1000 + frac_ms;
    return 0;
}

/* ================================================================ credential_process */

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The first line of what the process wrote to stderr, for the error message (bounded). */
static void first_line(const char *s, size_t n, char *out, size_t outlen)
{
    size_t k = 0;
    while (k < n && s[k] != '\n' && k < 200)
        k++;
    fmt_into(out, outlen, "%.*s", (int)k, s);
}

/* Run `sh -c cmd` in its own process group with stdout and stderr on pipes, stdin on
 * /dev/null. Output is bounded; past the deadline the whole group is killed (a shell's
 * children too), so a hanging helper cannot hang the runtime. */
static int run_process(const char *cmd, int timeout_ms, struct sbuf *out, char *err, size_t errlen)
{
    int op[2] = {-1, -1}, ep[2] = {-1, -1}, rc = -1, status = 0;
    pid_t pid = -1;
    char errtext[512] = "", line[256];
    size_t errlen_got = 0;
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t at;
    sigset_t none, dflt;
    char sh[] = "sh", dash_c[] = "-c";
    char *argv[] = {sh, dash_c, xstrdup(cmd), NULL};

    sbuf_init(out, PROCESS_MAX_OUTPUT);
    if (pipe2(op, O_CLOEXEC) < 0 || pipe2(ep, O_CLOEXEC) < 0) {
        fmt_into(err, errlen, "credential_process: pipe: %s", strerror(errno));
        goto cleanup;
    }
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, op[1], 1);
    posix_spawn_file_actions_adddup2(&fa, ep[1], 2);
    posix_spawnattr_init(&at);
    sigemptyset(&none);
    sigemptyset(&dflt);
    sigaddset(&dflt, SIGPIPE);
    sigaddset(&dflt, SIGCHLD);
    posix_spawnattr_setsigmask(&at, &none);
    posix_spawnattr_setsigdefault(&at, &dflt);
    posix_spawnattr_setpgroup(&at, 0);
    posix_spawnattr_setflags(&at, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK |
                                      POSIX_SPAWN_SETSIGDEF);
    int sp = posix_spawn(&pid, "/bin/sh", &fa, &at, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&at);
    close(op[1]);
    close(ep[1]);
    op[1] = ep[1] = -1;
    if (sp != 0) {
        pid = -1;
        fmt_into(err, errlen, "credential_process: cannot start /bin/sh: %s", strerror(sp));
        goto cleanup;
    }

    int64_t deadline = mono_ms() + timeout_ms;
    int open_fds = 2, too_big = 0, timed_out = 0, exited = 0;
    while (open_fds > 0 || !exited) {
        int64_t left = deadline - mono_ms();
        if (left <= 0) {
            timed_out = 1;
            break;
        }
        if (!exited) {
            pid_t w = waitpid(pid, &status, WNOHANG);
            if (w == pid) {
                exited = 1;
            } else if (w < 0 && errno == ECHILD) {
                /* reaped elsewhere (SIGCHLD ignored by the host): judge by the output */
                exited = 1;
                status = 0;
            }
        }
        if (open_fds == 0) {
            /* outputs closed, process still running: poll its exit briefly */
            struct timespec ts = {0, 5 * 1000 * 1000};
            nanosleep(&ts, NULL);
            continue;
        }
        struct pollfd pf[2] = {{op[0], POLLIN, 0}, {ep[0], POLLIN, 0}};
        int pr = poll(pf, 2, (int)(left < 50 ? left : 50));
        if (pr < 0 && errno != EINTR)
            break;
        for (int i = 0; i < 2 && pr > 0; i++) {
            if (!(pf[i].revents & (POLLIN | POLLHUP | POLLERR)) || pf[i].fd < 0)
                continue;
            char chunk[4096];
            ssize_t n = read(pf[i].fd, chunk, sizeof chunk);
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0) {
                close(pf[i].fd);
                if (i == 0)
                    op[0] = -1;
                else
                    ep[0] = -1;
                open_fds--;
                continue;
            }
            if (i == 0) {
                if (sbuf_append(out, chunk, (size_t)n) < 0)
                    too_big = 1;
            } else if (errlen_got < sizeof errtext - 1) {
                size_t k = (size_t)n < sizeof errtext - 1 - errlen_got
                               ? (size_t)n
                               : sizeof errtext - 1 - errlen_got;
                memcpy(errtext + errlen_got, chunk, k);
                errlen_got += k;
            }
            OPENSSL_cleanse(chunk, sizeof chunk);
        }
        if (too_big)
            break;
    }
    if (timed_out || too_big || !exited) {
        kill(-pid, SIGKILL);
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
        pid = -1;
        if (too_big)
            fmt_into(err, errlen, "credential_process: output larger than %zu bytes (killed)",
                     PROCESS_MAX_OUTPUT);
        else
            fmt_into(err, errlen, "credential_process: no answer within %d ms (killed)",
                     timeout_ms);
        goto cleanup;
    }
    pid = -1;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        first_line(errtext, errlen_got, line, sizeof line);
        if (WIFEXITED(status))
            fmt_into(err, errlen, "credential_process: exited with status %d%s%s",
                     WEXITSTATUS(status), line[0] ? ": " : "", line);
        else
            fmt_into(err, errlen, "credential_process: killed by signal %d",
                     WIFSIGNALED(status) ? WTERMSIG(status) : 0);
        goto cleanup;
    }
    rc = 0;
cleanup:
    for (int i = 0; i < 2; i++) {
        if (op[i] >= 0)
            close(op[i]);
        if (ep[i] >= 0)
            close(ep[i]);
    }
    if (pid > 0) {
        kill(-pid, SIGKILL);
        waitpid(pid, &status, 0);
    }
    free_secret(argv[2]);
    if (rc < 0)
        sbuf_wipe(out);
    return rc;
}

void creds_set_deadline(struct creds_provider *p, int64_t deadline_ms)
{
    p->deadline_ms = deadline_ms;
}

/* A source's own timeout, shortened to the time left before the caller's deadline, if any. */
static int bounded_ms(struct creds_provider *p, int timeout_ms)
{
    if (p->deadline_ms <= 0) /* none (HTTP_NO_DEADLINE is -1) */
        return timeout_ms;
    int64_t left = p->deadline_ms - mono_ms();
    return left < 1 ? 1 : left < timeout_ms ? (int)left : timeout_ms;
}

/* credential_process: run it, then read its JSON (Version 1) from the wiped output buffer. */
static int from_process(struct creds_provider *p, const char *cmd, struct creds *out, char *err,
                        size_t errlen)
{
    struct sbuf o = {0};
    if (run_process(cmd, bounded_ms(p, p->o.process_timeout_ms), &o, err, errlen) < 0)
        return -1;
    int rc = parse_creds_json(o.p, o.len, 1, "credential_process", out, err, errlen);
    sbuf_wipe(&o);
    if (rc == 0)
        out->source = "custom-process";
    return rc;
}

/* ================================================================ container credentials */

static size_t on_body(char *data, size_t size, size_t n, void *ud)
{
    struct sbuf *b = ud;
    return sbuf_append(b, data, size * n) < 0 ? 0 : size * n;
}

/* FULL_URI may point anywhere over https, but over plain http only at this machine or at the
 * ECS/EKS agents (169.254.170.2, 169.254.170.23, fd00:ec2::23), as the AWS SDKs allow. */
static int allowed_full_uri(const char *url, char *host_out, size_t hostlen)
{
    CURLU *u = curl_url();
    char *scheme = NULL, *host = NULL;
    int ok = 0;
    if (u && curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK) {
        fmt_into(host_out, hostlen, "%s", host);
        struct in_addr a4;
        if (strcmp(scheme, "https") == 0)
            ok = 1;
        else if (strcmp(scheme, "http") == 0)
            ok = strcmp(host, "localhost") == 0 || strcmp(host, "169.254.170.2") == 0 ||
                 strcmp(host, "169.254.170.23") == 0 || strcmp(host, "[::1]") == 0 ||
                 strcmp(host, "[fd00:ec2::23]") == 0 ||
                 (inet_pton(AF_INET, host, &a4) == 1 && (ntohl(a4.s_addr) >> 24) == 127);
    } else {
        fmt_into(host_out, hostlen, "(unparsable URL)");
    }
    curl_free(scheme);
    curl_free(host);
    curl_url_cleanup(u);
    return ok;
}

/* The Authorization value: the token file (re-read on every fetch: EKS rotates it) wins over
 * the variable. Returns 0 (token may stay NULL), or -1. */
static int container_token(struct creds_provider *p, char **token, char *err, size_t errlen)
{
    const char *file = env(p, "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE");
    const char *var = env(p, "AWS_CONTAINER_AUTHORIZATION_TOKEN");
    *token = NULL;
    if (file) {
        struct sbuf t = {0};
        int rc = read_secret_file(file, TOKEN_FILE_MAX, &t, err, errlen);
        if (rc != 0) {
            if (rc > 0)
                fmt_into(err, errlen, "container credentials: token file %s not found", file);
            return -1;
        }
        struct str s = trim((struct str){t.p, t.len});
        while (s.len && (s.p[s.len - 1] == '\n'))
            s = trim((struct str){s.p, s.len - 1});
        *token = xstrndup(s.p, s.len);
        sbuf_wipe(&t);
    } else if (var) {
        *token = xstrdup(var);
    }
    if (*token && strpbrk(*token, "\r\n")) {
        free_secret(*token);
        *token = NULL;
        fmt_into(err, errlen, "container credentials: the authorization token has a line break");
        return -1;
    }
    return 0;
}

#define CONTAINER_ATTEMPTS 3 /* as botocore's ContainerMetadataFetcher */

/* One GET of the credentials document into body (emptied first). Returns 0 with *status set,
 * 1 for a failure worth another attempt (no connection, a timeout, a 5xx or 429 answer), or -1
 * for one that is not (a 4xx, an oversized answer, TLS or CA bundle problems); err says which. */
static int container_get(const char *url, struct curl_slist *hdrs, const char *ca_bundle,
                         long timeout_ms, struct sbuf *body, long *status, char *err, size_t errlen)
{
    sbuf_wipe(body);
    sbuf_init(body, HTTP_MAX_BODY);
    CURL *c = curl_easy_init();
    if (!c) {
        fmt_into(err, errlen, "container credentials: cannot initialise libcurl");
        return -1;
    }
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
    if (ca_bundle)
        curl_easy_setopt(c, CURLOPT_CAINFO, ca_bundle);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, body);
    CURLcode cc = curl_easy_perform(c);
    *status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
    curl_easy_cleanup(c);
    if (cc == CURLE_WRITE_ERROR) {
        fmt_into(err, errlen, "container credentials: response larger than %zu bytes",
                 HTTP_MAX_BODY);
        return -1;
    }
    if (cc != CURLE_OK) {
        fmt_into(err, errlen, "container credentials: request failed: %s", curl_easy_strerror(cc));
        return cc == CURLE_OPERATION_TIMEDOUT || cc == CURLE_COULDNT_CONNECT ||
                       cc == CURLE_COULDNT_RESOLVE_HOST || cc == CURLE_SEND_ERROR ||
                       cc == CURLE_RECV_ERROR || cc == CURLE_GOT_NOTHING || cc == CURLE_PARTIAL_FILE
                   ? 1
                   : -1;
    }
    if (*status != 200) {
        fmt_into(err, errlen, "container credentials: HTTP status %ld", *status);
        return *status >= 500 || *status == 429 ? 1 : -1;
    }
    return 0;
}

/* A GET with a short timeout, no redirects and no proxy (the endpoint is local or pinned by the
 * URL rules), the body bounded and wiped, then the JSON read with cjson. A transient failure is
 * tried again (CONTAINER_ATTEMPTS in all, 100 then 200 ms apart) while the caller's deadline
 * leaves room: an attempt that may be followed by another gets at most half the time left. */
static int from_container(struct creds_provider *p, const char *rel, const char *full,
                          struct creds *out, char *err, size_t errlen)
{
    char url[4096], host[256];
    char *token = NULL, *auth = NULL, *ca = NULL;
    struct sbuf body = {0};
    struct curl_slist *hdrs = NULL;
    int rc = -1;
    if (rel) {
        if (rel[0] != '/') {
            fmt_into(err, errlen,
                     "container credentials: AWS_CONTAINER_CREDENTIALS_RELATIVE_URI must start "
                     "with '/'");
            return -1;
        }
        fmt_into(url, sizeof url, "http://169.254.170.2%s", rel);
    } else {
        if (!allowed_full_uri(full, host, sizeof host)) {
            fmt_into(err, errlen,
                     "container credentials: AWS_CONTAINER_CREDENTIALS_FULL_URI must be https, "
                     "or http to a loopback address, 169.254.170.2 or 169.254.170.23 (host %s)",
                     host);
            return -1;
        }
        fmt_into(url, sizeof url, "%s", full);
    }
    if (container_token(p, &token, err, errlen) < 0)
        return -1;
    hdrs = curl_slist_append(hdrs, "Accept: application/json");
    if (token) {
        struct buf a = BUF_INIT(0);
        if (buf_printf(&a, "Authorization: %s", token) < 0) {
            buf_free_secret(&a);
            fmt_into(err, errlen, "container credentials: token too long");
            goto cleanup;
        }
        auth = buf_take(&a);
        hdrs = curl_slist_append(hdrs, auth);
    }
    if (!hdrs) {
        fmt_into(err, errlen, "container credentials: cannot initialise libcurl");
        goto cleanup;
    }
    /* AWS_CA_BUNDLE, SSL_CERT_FILE or the system bundle, as for every other https call. */
    if (http_find_ca_bundle(env(p, "AWS_CA_BUNDLE"), &ca, err, errlen) < 0)
        goto cleanup;
    long status = 0;
    int got = -1;
    for (int attempt = 1;; attempt++) {
        int more = attempt < CONTAINER_ATTEMPTS;
        long ms = bounded_ms(p, p->o.http_timeout_ms);
        if (more && p->deadline_ms > 0) {
            int64_t left = p->deadline_ms - mono_ms();
            if (left >= 200 && ms > left / 2)
                ms = (long)(left / 2);
        }
        got = container_get(url, hdrs, ca, ms, &body, &status, err, errlen);
        if (got <= 0 || !more)
            break;
        int64_t pause = attempt == 1 ? 100 : 200;
        if (p->deadline_ms > 0 && p->deadline_ms - mono_ms() < pause + 100)
            break;
        struct timespec ts = {0, (long)pause * 1000000L};
        while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
            ;
    }
    if (got != 0)
        goto cleanup;
    rc = parse_creds_json(body.p, body.len, 0, "container credentials", out, err, errlen);
    if (rc == 0)
        out->source = "container-role";
cleanup:
    for (struct curl_slist *h = hdrs; h; h = h->next)
        OPENSSL_cleanse(h->data, strlen(h->data));
    curl_slist_free_all(hdrs);
    free_secret(auth);
    free_secret(token);
    free(ca);
    sbuf_wipe(&body);
    return rc;
}

/* ================================================================ the chain */

static void set_static(struct creds *out, const char *ak, const char *sk, const char *token,
                       const char *source)
{
    out->access_key = xstrdup(ak);
    out->secret_key = xstrdup(sk);
    out->session_token = token && *token ? xstrdup(token) : NULL;
    out->expires_ms = 0;
    out->source = source;
}

/* Why a profile in a file gave nothing, for the combined message. */
static void explain_profile(struct buf *tried, const char *what, const char *path,
                            const struct profile *pr, const char *profile, int config)
{
    if (!path)
        buf_printf(tried, ", %s (HOME unset)", what);
    else if (!pr->file_found)
        buf_printf(tried, ", %s %s (not found)", what, path);
    else if (!pr->section_found)
        buf_printf(tried, ", %s %s (no profile '%s')", what, path, profile);
    else
        buf_printf(tried, ", %s %s (profile '%s' has no credentials%s)", what, path, profile,
                   config ? " or credential_process" : "");
}

/* Walk the chain once. The first configured source decides. */
static int resolve(struct creds_provider *p, struct creds *out, char *err, size_t errlen)
{
    struct profile cf = {0}, cg = {0};
    struct buf tried = BUF_INIT(4096);
    char *credpath = NULL, *cfgpath = NULL;
    int rc = -1;
    memset(out, 0, sizeof *out);

    /* 1. environment */
    const char *ak = env(p, "AWS_ACCESS_KEY_ID"), *sk = env(p, "AWS_SECRET_ACCESS_KEY");
    if (ak) {
        if (!sk) {
            fmt_into(err, errlen,
                     "environment: AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not");
            goto cleanup;
        }
        set_static(out, ak, sk, env(p, "AWS_SESSION_TOKEN"), "environment");
        rc = 0;
        goto cleanup;
    }
    buf_puts(&tried, "environment (AWS_ACCESS_KEY_ID unset)");

    /* 2. shared credentials file */
    const char *profile = env(p, "AWS_PROFILE");
    if (!profile)
        profile = env(p, "AWS_DEFAULT_PROFILE");
    if (!profile)
        profile = "default";
    credpath = config_path(p, "AWS_SHARED_CREDENTIALS_FILE", "~/.aws/credentials");
    if (credpath && load_profile(credpath, profile, 0, &cf, err, errlen) < 0)
        goto cleanup;
    if (cf.access_key) {
        if (!cf.secret_key) {
            fmt_into(err, errlen,
                     "shared credentials file %s: profile '%s' has aws_access_key_id but no "
                     "aws_secret_access_key",
                     credpath, profile);
            goto cleanup;
        }
        set_static(out, cf.access_key, cf.secret_key, cf.token, "shared-credentials-file");
        rc = 0;
        goto cleanup;
    }
    explain_profile(&tried, "shared credentials file", credpath, &cf, profile, 0);

    /* 3. credential_process, 4. config file */
    cfgpath = config_path(p, "AWS_CONFIG_FILE", "~/.aws/config");
    if (cfgpath && load_profile(cfgpath, profile, 1, &cg, err, errlen) < 0)
        goto cleanup;
    const char *process = cf.process ? cf.process : cg.process;
    if (process) {
        rc = from_process(p, process, out, err, errlen);
        goto cleanup;
    }
    if (cg.access_key) {
        if (!cg.secret_key) {
            fmt_into(err, errlen,
                     "config file %s: profile '%s' has aws_access_key_id but no "
                     "aws_secret_access_key",
                     cfgpath, profile);
            goto cleanup;
        }
        set_static(out, cg.access_key, cg.secret_key, cg.token, "config-file");
        rc = 0;
        goto cleanup;
    }
    explain_profile(&tried, "config file", cfgpath, &cg, profile, 1);

    /* 5. container credentials */
    const char *rel = env(p, "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI");
    const char *full = env(p, "AWS_CONTAINER_CREDENTIALS_FULL_URI");
    if (rel || full) {
        rc = from_container(p, rel, full, out, err, errlen);
        goto cleanup;
    }
    buf_puts(&tried, ", container credentials (AWS_CONTAINER_CREDENTIALS_RELATIVE_URI and "
                     "AWS_CONTAINER_CREDENTIALS_FULL_URI unset)");
    fmt_into(err, errlen, "no AWS credentials: tried %s", tried.p ? tried.p : "every source");
cleanup:
    profile_clear(&cf);
    profile_clear(&cg);
    free(credpath);
    free(cfgpath);
    buf_free(&tried);
    if (rc < 0)
        creds_clear(out);
    return rc;
}

/* botocore's refresh windows: inside 15 minutes of expiry try to refresh but keep the current
 * set if that fails (it is still valid); inside 10 minutes a failed refresh is an error, since
 * the set may expire during the call it would sign. */
int creds_get(struct creds_provider *p, struct creds *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    if (p->have && p->cached.expires_ms) {
        int64_t left = p->cached.expires_ms - now_ms(p);
        if (left < ADVISORY_REFRESH_MS) {
            struct creds fresh;
            char why[512];
            if (resolve(p, &fresh, why, sizeof why) == 0) {
                creds_clear(&p->cached);
                p->cached = fresh;
            } else if (left < MANDATORY_REFRESH_MS) {
                fmt_into(err, errlen, "credentials from %s expire in %lld s and refresh failed: %s",
                         p->cached.source, (long long)(left / 1000), why);
                return -1;
            }
            /* else: the advisory window; keep serving the current set */
        }
    }
    if (!p->have) {
        if (resolve(p, &p->cached, err, errlen) < 0)
            return -1;
        p->have = 1;
    }
    creds_copy(out, &p->cached);
    return 0;
}

/* Region from the same profile the credentials come from: config file first, as botocore reads
 * it, then the credentials file. */
char *creds_profile_region(struct creds_provider *p)
{
    struct profile pr = {0};
    char err[256], *region = NULL;
    const char *profile = env(p, "AWS_PROFILE");
    if (!profile)
        profile = env(p, "AWS_DEFAULT_PROFILE");
    if (!profile)
        profile = "default";
    static const struct {
        const char *var, *dflt;
        int config;
    } files[] = {{"AWS_CONFIG_FILE", "~/.aws/config", 1},
                 {"AWS_SHARED_CREDENTIALS_FILE", "~/.aws/credentials", 0}};
    for (size_t i = 0; i < 2 && !region; i++) {
        char *path = config_path(p, files[i].var, files[i].dflt);
        if (path && load_profile(path, profile, files[i].config, &pr, err, sizeof err) == 0 &&
            pr.region && *pr.region)
            region = xstrdup(pr.region);
        profile_clear(&pr);
        free(path);
    }
    return region;
}
