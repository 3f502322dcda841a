/* lmod_http.c: see lmod_http.h. Turns a Lua table into an http_request, runs it with a deadline
 * no later than the hook's own, and turns the answer back into Lua values. Everything the request
 * points at is anchored on the Lua stack during http_do(), which makes no Lua call. */
#include "lmod_http.h"

#include "buf.h"
#include "http.h"
#include "lhost.h"
#include "log.h"

#include <lauxlib.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define RESP_META "hookhost.http.response"

static struct http_client *client; /* one per process, made on first use */
static pid_t client_pid;           /* the process that made it */

void lmod_http_shutdown(void)
{
    if (client && client_pid == getpid())
        http_client_free(client);
    client = NULL;
}

/* The process's client. A client inherited through fork() belongs to the parent: its connections
 * are the parent's sockets, so the child forgets it (never frees it: a TLS close_notify would go
 * out on the parent's connection) and makes its own. */
static struct http_client *get_client(char *err, size_t errlen)
{
    if (client && client_pid != getpid())
        client = NULL;
    if (client)
        return client;
    struct http_options opt = {0};
    opt.ca_bundle = getenv("AWS_CA_BUNDLE");
    opt.max_body = HTTP_DEFAULT_MAX_BODY;
    client = http_client_new(&opt, err, errlen);
    client_pid = getpid();
    return client;
}

/* ---- arguments ----------------------------------------------------------------------------- */

const char *lmod_opt_string(lua_State *L, int t, const char *key, size_t *len, const char *fname)
{
    int ty = lua_getfield(L, t, key);
    if (ty == LUA_TNIL) {
        if (len)
            *len = 0;
        return NULL;
    }
    if (ty != LUA_TSTRING)
        luaL_error(L, "%s: '%s' must be a string, not %s", fname, key, luaL_typename(L, -1));
    return lua_tolstring(L, -1, len);
}

static lua_Integer opt_integer(lua_State *L, int t, const char *key, lua_Integer dflt,
                               lua_Integer min, lua_Integer max)
{
    if (lua_getfield(L, t, key) == LUA_TNIL) {
        lua_pop(L, 1);
        return dflt;
    }
    int isint;
    lua_Integer v = lua_tointegerx(L, -1, &isint);
    if (!isint || v < min || v > max)
        luaL_error(L, "hookhost.http.request: '%s' must be an integer from %I to %I", key,
                   (LUAI_UACINT)min, (LUAI_UACINT)max);
    lua_pop(L, 1);
    return v;
}

static int scheme_ok(const char *url)
{
    return strncmp(url, "http://", 7) == 0 || strncmp(url, "https://", 8) == 0;
}

/* The headers table as an array of views in a userdata on the stack top; every string is a key
 * or value of t, which the caller keeps on the stack. Numbers are refused rather than converted
 * in place (lua_tolstring on a table's value would change the table under lua_next). */
static struct http_header *collect_headers(lua_State *L, int t, size_t *n)
{
    size_t count = 0;
    lua_pushnil(L);
    while (lua_next(L, t)) {
        count++;
        lua_pop(L, 1);
    }
    struct http_header *h = lua_newuserdatauv(L, (count ? count : 1) * sizeof *h, 0);
    size_t i = 0;
    lua_pushnil(L);
    while (lua_next(L, t)) {
        if (lua_type(L, -2) != LUA_TSTRING || lua_type(L, -1) != LUA_TSTRING)
            luaL_error(L, "hookhost.http.request: headers must be {Name = \"value\"} strings");
        size_t kl, vl;
        const char *k = lua_tolstring(L, -2, &kl), *v = lua_tolstring(L, -1, &vl);
        if (!http_header_name_ok(k, kl))
            luaL_error(L, "hookhost.http.request: bad header name '%s'", k);
        if (!http_header_value_ok(v, vl))
            luaL_error(L, "hookhost.http.request: header '%s' holds a line break", k);
        h[i++] = (struct http_header){k, v};
        lua_pop(L, 1);
    }
    *n = i;
    return h;
}

/* ---- the response -------------------------------------------------------------------------- */

static int resp_gc(lua_State *L)
{
    http_response_free(luaL_checkudata(L, 1, RESP_META));
    return 0;
}

struct http_response *lmod_http_push_response_holder(lua_State *L)
{
    struct http_response *r = lua_newuserdatauv(L, sizeof *r, 0);
    *r = (struct http_response)HTTP_RESPONSE_INIT;
    if (luaL_newmetatable(L, RESP_META)) {
        lua_pushcfunction(L, resp_gc);
        lua_setfield(L, -2, "__gc");
        lua_pushcfunction(L, resp_gc);
        lua_setfield(L, -2, "__close");
    }
    lua_setmetatable(L, -2);
    return r;
}

void lmod_http_push_headers(lua_State *L, const struct http_response *r)
{
    lua_createtable(L, 0, (int)r->nheaders);
    for (size_t i = 0; i < r->nheaders; i++) {
        char name[128];
        size_t j;
        for (j = 0; r->headers[i].name[j] && j + 1 < sizeof name; j++) {
            char ch = r->headers[i].name[j];
            name[j] = ch >= 'A' && ch <= 'Z' ? (char)(ch - 'A' + 'a') : ch;
        }
        name[j] = '\0';
        if (lua_getfield(L, -1, name) == LUA_TSTRING) {
            lua_pushliteral(L, ", ");
            lua_pushstring(L, r->headers[i].value);
            lua_concat(L, 3);
        } else {
            lua_pop(L, 1);
            lua_pushstring(L, r->headers[i].value);
        }
        lua_setfield(L, -2, name);
    }
}

static const char *error_kind(int rc)
{
    switch (rc) {
    case HTTP_ERR_TIMEOUT:
        return "timeout";
    case HTTP_ERR_CONNECTION:
        return "connection";
    case HTTP_ERR_DNS:
        return "dns";
    case HTTP_ERR_TLS:
        return "tls";
    case HTTP_ERR_TOO_LARGE:
        return "too_large";
    case HTTP_ERR_REQUEST:
        return "request";
    case HTTP_ERR_DEADLINE:
        return "deadline";
    default:
        return "other";
    }
}

/* ---- functions ----------------------------------------------------------------------------- */

/* request{url, method?, headers?, body?, timeout_ms?, max_body?}: one exchange, no retries (the
 * Lua side decides what a failure means and whether time allows another attempt). */
static int l_request(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_settop(L, 1);
    luaL_checkstack(L, 20, "hookhost.http.request");
    struct http_request req = {0};
    size_t url_len = 0, body_len = 0;

    req.url = lmod_opt_string(L, 1, "url", &url_len, "hookhost.http.request");
    if (!req.url)
        return luaL_error(L, "hookhost.http.request: 'url' is required");
    if (url_len > HTTP_LUA_MAX_URL || strlen(req.url) != url_len ||
        !http_header_value_ok(req.url, url_len))
        return luaL_error(L,
                          "hookhost.http.request: 'url' is longer than %d bytes or holds a "
                          "control character",
                          HTTP_LUA_MAX_URL);
    if (!scheme_ok(req.url))
        return luaL_error(L, "hookhost.http.request: 'url' must start with http:// or https://");
    req.method = lmod_opt_string(L, 1, "method", NULL, "hookhost.http.request");
    if (req.method) {
        size_t n = strlen(req.method);
        int ok = n > 0 && n <= 16;
        for (size_t i = 0; i < n; i++)
            ok = ok && req.method[i] >= 'A' && req.method[i] <= 'Z';
        if (!ok)
            return luaL_error(L, "hookhost.http.request: 'method' must be an upper-case HTTP "
                                 "method such as GET or HEAD");
    }
    req.body = lmod_opt_string(L, 1, "body", &body_len, "hookhost.http.request");
    req.body_len = body_len;
    lua_Integer left = (lua_Integer)lhost_remaining_ms(L);
    lua_Integer timeout = opt_integer(L, 1, "timeout_ms", left, 1, (lua_Integer)1 << 40);
    req.max_body = (size_t)opt_integer(L, 1, "max_body", (lua_Integer)HTTP_LUA_DEFAULT_MAX_BODY, 1,
                                       (lua_Integer)HTTP_DEFAULT_MAX_BODY);

    int ty = lua_getfield(L, 1, "headers");
    if (ty == LUA_TTABLE) {
        int t = lua_gettop(L);
        req.headers = collect_headers(L, t, &req.nheaders);
    } else if (ty != LUA_TNIL) {
        return luaL_error(L, "hookhost.http.request: 'headers' must be a table");
    }

    /* Dry run: GET and HEAD change nothing and are sent; anything else is described, not sent. */
    if (lhost_dry_run(L) && req.method && strcmp(req.method, "GET") != 0 &&
        strcmp(req.method, "HEAD") != 0) {
        char shown[1024];
        http_url_for_message(req.url, shown, sizeof shown);
        log_info("dry run: not sent: %s %s (%zu bytes)", req.method, shown, req.body_len);
        lua_pushinteger(L, 200);
        lua_newtable(L);
        lua_pushliteral(L, "");
        lua_pushboolean(L, 1);
        return 4;
    }

    struct http_response *resp = lmod_http_push_response_holder(L);
    char err[512];
    struct http_client *c = get_client(err, sizeof err);
    if (!c) {
        lua_pushnil(L);
        lua_pushstring(L, err);
        lua_pushliteral(L, "other");
        return 3;
    }
    /* The hook's time bounds every call: the deadline hook never fires inside C. */
    req.deadline_ms = http_now_ms() + (timeout < left ? timeout : left);
    int rc = http_do(c, &req, resp, err, sizeof err);
    if (rc < 0) {
        lua_pushnil(L);
        lua_pushstring(L, err);
        lua_pushstring(L, error_kind(rc));
        return 3;
    }
    lua_pushinteger(L, resp->status);
    lmod_http_push_headers(L, resp);
    lua_pushlstring(L, resp->body.p ? resp->body.p : "", resp->body.len);
    http_response_free(resp);
    return 3;
}

static int l_remaining_ms(lua_State *L)
{
    lua_pushinteger(L, (lua_Integer)lhost_remaining_ms(L));
    return 1;
}

static int l_now_ms(lua_State *L)
{
    lua_pushinteger(L, (lua_Integer)http_now_ms());
    return 1;
}

/* sleep_ms(ms): the library's only way to wait (polling, backoff). Capped by the hook's time
 * left, since the deadline hook cannot interrupt C; resumed after a signal. */
static int l_sleep_ms(lua_State *L)
{
    lua_Integer ms = luaL_checkinteger(L, 1);
    lua_Integer left = (lua_Integer)lhost_remaining_ms(L);
    if (ms > left)
        ms = left;
    if (ms <= 0) {
        lua_pushinteger(L, 0);
        return 1;
    }
    int64_t start = http_now_ms();
    int64_t end = start + ms;
    for (int64_t now = start; now < end; now = http_now_ms()) {
        int64_t d = end - now;
        struct timespec ts = {(time_t)(d / 1000), (long)(d % 1000) * 1000000L};
        if (nanosleep(&ts, NULL) < 0 && errno != EINTR)
            break;
    }
    lua_pushinteger(L, (lua_Integer)(http_now_ms() - start));
    return 1;
}

static const luaL_Reg core_funcs[] = {
    {"request", l_request}, {"remaining_ms", l_remaining_ms},
    {"now_ms", l_now_ms},   {"sleep_ms", l_sleep_ms},
    {NULL, NULL},
};

int luaopen_hookhost_http_core(lua_State *L)
{
    luaL_newlib(L, core_funcs);
    return 1;
}
