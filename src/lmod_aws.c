/* lmod_aws.c: see lmod_aws.h. Turns a Lua table into an aws_request, runs it, and turns the
 * answer back into Lua values. Everything the request points at is anchored on the Lua stack
 * for the duration of aws_call(), which makes no Lua call; the response is owned by a userdata
 * so that a memory error while copying it into Lua frees it. */
#include "lmod_aws.h"
#include "lmod_http.h"

#include "aws.h"
#include "buf.h"
#include "http.h"
#include "lhost.h"
#include "log.h"

#include <lauxlib.h>
#include <openssl/evp.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define ERROR_META "hookhost.aws.error"

static struct aws_client *client; /* one per process, made on first use */

void lmod_aws_shutdown(void)
{
    aws_client_free(client);
    client = NULL;
}

/* ---- error objects ------------------------------------------------------------------------- */

/* "Code: message (HTTP 404, request id X, 3 attempts)" */
static int error_tostring(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_getfield(L, 1, "code");
    lua_getfield(L, 1, "message");
    lua_getfield(L, 1, "status");
    lua_getfield(L, 1, "request_id");
    lua_getfield(L, 1, "attempts");
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    const char *code = lua_tostring(L, 2), *msg = lua_tostring(L, 3);
    lua_Integer status = lua_tointeger(L, 4), attempts = lua_tointeger(L, 6);
    const char *rid = lua_tostring(L, 5);
    luaL_addstring(&b, code ? code : "Error");
    luaL_addstring(&b, ": ");
    luaL_addstring(&b, msg ? msg : "");
    char extra[256];
    size_t n = 0;
    extra[0] = '\0';
    if (status > 0)
        n += (size_t)snprintf(extra + n, sizeof extra - n, "HTTP %lld", (long long)status);
    if (rid && *rid && n < sizeof extra)
        n += (size_t)snprintf(extra + n, sizeof extra - n, "%srequest id %.100s", n ? ", " : "",
                              rid);
    if (attempts > 1 && n < sizeof extra)
        n += (size_t)snprintf(extra + n, sizeof extra - n, "%s%lld attempts", n ? ", " : "",
                              (long long)attempts);
    if (extra[0]) {
        luaL_addstring(&b, " (");
        luaL_addstring(&b, extra);
        luaL_addchar(&b, ')');
    }
    luaL_pushresult(&b);
    return 1;
}

static void push_error_meta(lua_State *L)
{
    if (luaL_newmetatable(L, ERROR_META)) {
        lua_pushcfunction(L, error_tostring);
        lua_setfield(L, -2, "__tostring");
        lua_pushliteral(L, "hookhost.aws.error");
        lua_setfield(L, -2, "__name");
    }
}

static void push_error(lua_State *L, const struct aws_error *e, int attempts)
{
    lua_createtable(L, 0, 6);
    lua_pushstring(L, e->code);
    lua_setfield(L, -2, "code");
    lua_pushstring(L, e->message);
    lua_setfield(L, -2, "message");
    lua_pushinteger(L, e->status);
    lua_setfield(L, -2, "status");
    if (e->request_id[0]) {
        lua_pushstring(L, e->request_id);
        lua_setfield(L, -2, "request_id");
    }
    lua_pushboolean(L, e->retryable);
    lua_setfield(L, -2, "retryable");
    lua_pushinteger(L, attempts);
    lua_setfield(L, -2, "attempts");
    push_error_meta(L);
    lua_setmetatable(L, -2);
}

/* error{code, message, ...}: an error object made in Lua (by aws.lua for a response it cannot
 * decode), with the same shape and __tostring as the ones made here. */
static int l_error(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_createtable(L, 0, 6);
    static const char *const keys[] = {"code",       "message",   "status",
                                       "request_id", "retryable", "attempts"};
    for (size_t i = 0; i < sizeof keys / sizeof *keys; i++) {
        lua_getfield(L, 1, keys[i]);
        lua_setfield(L, -2, keys[i]);
    }
    lua_getfield(L, -1, "code");
    if (lua_type(L, -1) != LUA_TSTRING)
        return luaL_error(L, "hookhost.aws.error: code must be a string");
    lua_pop(L, 1);
    lua_getfield(L, -1, "status");
    if (lua_isnil(L, -1)) {
        lua_pushinteger(L, 0);
        lua_setfield(L, -3, "status");
    }
    lua_pop(L, 1);
    lua_getfield(L, -1, "retryable");
    if (lua_isnil(L, -1)) {
        lua_pushboolean(L, 0);
        lua_setfield(L, -3, "retryable");
    }
    lua_pop(L, 1);
    push_error_meta(L);
    lua_setmetatable(L, -2);
    return 1;
}

/* ---- arguments ----------------------------------------------------------------------------- */

/* An optional string field of request{...}; see lmod_opt_string. */
#define opt_string_field(L, t, key, len) lmod_opt_string(L, t, key, len, "hookhost.aws.request")

/* A scalar query or header value as a string on the stack top (converted from a number or a
 * boolean when needed); raises for anything else. */
static const char *push_scalar(lua_State *L, int idx, const char *what, const char *name,
                               size_t *len)
{
    switch (lua_type(L, idx)) {
    case LUA_TSTRING:
    case LUA_TNUMBER:
        lua_pushvalue(L, idx);
        lua_tolstring(L, -1, NULL); /* converts the copy, never the table's key or value */
        break;
    case LUA_TBOOLEAN:
        lua_pushstring(L, lua_toboolean(L, idx) ? "true" : "false");
        break;
    default:
        luaL_error(L, "hookhost.aws.request: %s '%s' must be a string, number or boolean, not %s",
                   what, name, luaL_typename(L, idx));
    }
    return lua_tolstring(L, -1, len);
}

struct kv {
    const char *k, *v;
    size_t kl, vl;
};

static int kv_cmp(const void *a, const void *b)
{
    const struct kv *x = a, *y = b;
    size_t n = x->kl < y->kl ? x->kl : y->kl;
    int c = memcmp(x->k, y->k, n);
    if (c == 0)
        c = x->kl < y->kl ? -1 : x->kl > y->kl;
    if (c == 0) {
        n = x->vl < y->vl ? x->vl : y->vl;
        c = memcmp(x->v, y->v, n);
        if (c == 0)
            c = x->vl < y->vl ? -1 : x->vl > y->vl;
    }
    return c;
}

/* Collect t's string keys and scalar values (a list value gives one pair per element) into a
 * userdata array of views, pushed with an anchor table that keeps every string alive. Pushes
 * anchor, array; returns the number of pairs. */
static size_t collect_pairs(lua_State *L, int t, const char *what, int allow_lists)
{
    t = lua_absindex(L, t);
    lua_newtable(L); /* anchor */
    int anchor = lua_gettop(L);
    lua_Integer na = 0;
    lua_pushnil(L);
    while (lua_next(L, t)) {
        if (lua_type(L, -2) != LUA_TSTRING)
            luaL_error(L, "hookhost.aws.request: %s names must be strings", what);
        const char *name = lua_tostring(L, -2);
        if (lua_istable(L, -1) && allow_lists) {
            lua_Integer len = (lua_Integer)lua_rawlen(L, -1);
            for (lua_Integer i = 1; i <= len; i++) {
                lua_pushvalue(L, -2);
                lua_rawseti(L, anchor, ++na);
                lua_rawgeti(L, -1, i);
                push_scalar(L, -1, what, name, NULL);
                lua_rawseti(L, anchor, ++na);
                lua_pop(L, 1);
            }
        } else {
            lua_pushvalue(L, -2);
            lua_rawseti(L, anchor, ++na);
            push_scalar(L, -1, what, name, NULL);
            lua_rawseti(L, anchor, ++na);
        }
        lua_pop(L, 1);
    }
    size_t n = (size_t)(na / 2);
    struct kv *kv = lua_newuserdatauv(L, (n ? n : 1) * sizeof *kv, 0);
    for (size_t i = 0; i < n; i++) {
        lua_rawgeti(L, anchor, (lua_Integer)(2 * i + 1));
        kv[i].k = lua_tolstring(L, -1, &kv[i].kl);
        lua_rawgeti(L, anchor, (lua_Integer)(2 * i + 2));
        kv[i].v = lua_tolstring(L, -1, &kv[i].vl);
        lua_pop(L, 2); /* still referenced by the anchor table */
    }
    return n;
}

static const char hexdigits[] = "0123456789ABCDEF";

static int unreserved(unsigned char ch, int keep_slash)
{
    return (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
           ch == '-' || ch == '_' || ch == '.' || ch == '~' || (keep_slash && ch == '/');
}

static size_t encoded_len(const char *s, size_t n, int keep_slash)
{
    size_t len = 0;
    for (size_t i = 0; i < n; i++)
        len += unreserved((unsigned char)s[i], keep_slash) ? 1 : 3;
    return len;
}

static char *encode_into(char *out, const char *s, size_t n, int keep_slash)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (unreserved(ch, keep_slash)) {
            *out++ = (char)ch;
        } else {
            *out++ = '%';
            *out++ = hexdigits[ch >> 4];
            *out++ = hexdigits[ch & 15];
        }
    }
    return out;
}

/* uri_encode(s [, keep_slash]) */
static int l_uri_encode(lua_State *L)
{
    size_t n;
    const char *s = luaL_checklstring(L, 1, &n);
    int keep = lua_toboolean(L, 2);
    size_t len = encoded_len(s, n, keep);
    luaL_Buffer b;
    char *p = luaL_buffinitsize(L, &b, len);
    encode_into(p, s, n, keep);
    luaL_pushresultsize(&b, len);
    return 1;
}

/* A query table as "a=1&b=x%20y", sorted by name then value, like the canonical query. */
static const char *push_query(lua_State *L, int t)
{
    size_t n = collect_pairs(L, t, "query", 1);
    struct kv *kv = lua_touserdata(L, -1);
    qsort(kv, n, sizeof *kv, kv_cmp);
    size_t len = 0;
    for (size_t i = 0; i < n; i++)
        len +=
            (i ? 1 : 0) + encoded_len(kv[i].k, kv[i].kl, 0) + 1 + encoded_len(kv[i].v, kv[i].vl, 0);
    luaL_Buffer b;
    char *p = luaL_buffinitsize(L, &b, len);
    for (size_t i = 0; i < n; i++) {
        if (i)
            *p++ = '&';
        p = encode_into(p, kv[i].k, kv[i].kl, 0);
        *p++ = '=';
        p = encode_into(p, kv[i].v, kv[i].vl, 0);
    }
    luaL_pushresultsize(&b, len);
    return lua_tostring(L, -1);
}

/* ---- request ------------------------------------------------------------------------------- */

static int ensure_client(lua_State *L, struct aws_error *e)
{
    if (client)
        return 0;
    char why[512];
    client = aws_client_new(NULL, why, sizeof why);
    if (!client) {
        memset(e, 0, sizeof *e);
        fmt_into(e->code, sizeof e->code, "InvalidConfiguration");
        fmt_into(e->message, sizeof e->message, "%s", why);
        return -1;
    }
    return 0;
}

/* A dry run's answer: 0, {}, "", {dry_run = true, service, operation, message}. aws.lua's
 * aws.send turns it into the placeholder; the description was logged by aws_call. */
static void push_dry_run(lua_State *L, const struct aws_request *req, const struct aws_error *e)
{
    lua_pushinteger(L, 0);
    lua_newtable(L);
    lua_pushliteral(L, "");
    lua_createtable(L, 0, 4);
    lua_pushboolean(L, 1);
    lua_setfield(L, -2, "dry_run");
    lua_pushstring(L, req->service);
    lua_setfield(L, -2, "service");
    if (req->operation) {
        lua_pushstring(L, req->operation);
        lua_setfield(L, -2, "operation");
    }
    lua_pushstring(L, e->message);
    lua_setfield(L, -2, "message");
}

static int l_request(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_settop(L, 1);
    luaL_checkstack(L, 40, "hookhost.aws.request");
    struct aws_request req = {0};
    size_t blen = 0;

    req.service = opt_string_field(L, 1, "service", NULL);
    if (!req.service || !*req.service)
        return luaL_error(L, "hookhost.aws.request: 'service' is required (e.g. \"codedeploy\")");
    req.region = opt_string_field(L, 1, "region", NULL);
    req.endpoint_prefix = opt_string_field(L, 1, "endpoint_prefix", NULL);
    req.signing_name = opt_string_field(L, 1, "signing_name", NULL);
    if (req.signing_name) {
        size_t n = strlen(req.signing_name);
        int ok = n > 0 && n < 64;
        for (size_t i = 0; i < n; i++) {
            char ch = req.signing_name[i];
            ok = ok && ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                        (ch >= '0' && ch <= '9') || ch == '-' || ch == '_' || ch == '.');
        }
        if (!ok)
            return luaL_error(L, "hookhost.aws.request: 'signing_name' must be 1 to 63 letters, "
                                 "digits, '-', '_' or '.'");
    }
    req.method = opt_string_field(L, 1, "method", NULL);
    if (req.method) {
        size_t n = strlen(req.method);
        int ok = n > 0 && n <= 16;
        for (size_t i = 0; i < n; i++)
            ok = ok && req.method[i] >= 'A' && req.method[i] <= 'Z';
        if (!ok)
            return luaL_error(L, "hookhost.aws.request: 'method' must be an upper-case HTTP "
                                 "method such as GET or POST");
    }
    req.path = opt_string_field(L, 1, "path", NULL);
    if (req.path && req.path[0] != '/')
        return luaL_error(L, "hookhost.aws.request: 'path' must start with '/'");
    req.content_type = opt_string_field(L, 1, "content_type", NULL);
    if (req.content_type && !http_header_value_ok(req.content_type, strlen(req.content_type)))
        return luaL_error(L, "hookhost.aws.request: 'content_type' holds a line break");
    req.operation = opt_string_field(L, 1, "operation", NULL);
    req.host_prefix = opt_string_field(L, 1, "host_prefix", NULL);
    const char *auth = opt_string_field(L, 1, "auth", NULL);
    if (auth && strcmp(auth, "none") == 0)
        req.auth = AWS_AUTH_NONE;
    else if (auth && strcmp(auth, "v4-unsigned-body") == 0)
        req.auth = AWS_AUTH_UNSIGNED_BODY;
    else if (auth && strcmp(auth, "v4") != 0)
        return luaL_error(L, "hookhost.aws.request: 'auth' must be \"v4\", \"none\" or "
                             "\"v4-unsigned-body\"");
    req.body = opt_string_field(L, 1, "body", &blen);
    req.body_len = blen;

    int ty = lua_getfield(L, 1, "max_attempts");
    if (ty != LUA_TNIL) {
        int isint;
        lua_Integer m = lua_tointegerx(L, -1, &isint);
        if (!isint || m < 1 || m > AWS_MAX_MAX_ATTEMPTS)
            return luaL_error(L,
                              "hookhost.aws.request: 'max_attempts' must be an integer from 1 "
                              "to %d",
                              AWS_MAX_MAX_ATTEMPTS);
        req.max_attempts = (int)m;
    }

    ty = lua_getfield(L, 1, "query");
    if (ty == LUA_TSTRING)
        req.query = lua_tostring(L, -1);
    else if (ty == LUA_TTABLE)
        req.query = push_query(L, -1);
    else if (ty != LUA_TNIL)
        return luaL_error(L, "hookhost.aws.request: 'query' must be a string or a table");

    ty = lua_getfield(L, 1, "headers");
    if (ty == LUA_TTABLE) {
        size_t n = collect_pairs(L, -1, "header", 0);
        struct kv *kv = lua_touserdata(L, -1);
        struct http_header *h = lua_newuserdatauv(L, (n ? n : 1) * sizeof *h, 0);
        for (size_t i = 0; i < n; i++) {
            if (!http_header_name_ok(kv[i].k, kv[i].kl))
                return luaL_error(L, "hookhost.aws.request: bad header name '%s'", kv[i].k);
            if (!http_header_value_ok(kv[i].v, kv[i].vl))
                return luaL_error(L, "hookhost.aws.request: header '%s' holds a line break",
                                  kv[i].k);
            h[i] = (struct http_header){kv[i].k, kv[i].v};
        }
        req.headers = h;
        req.nheaders = n;
    } else if (ty != LUA_TNIL) {
        return luaL_error(L, "hookhost.aws.request: 'headers' must be a table");
    }

    req.dry_run = lhost_dry_run(L);
    req.verbose = lhost_verbose(L);
    struct http_response *resp = lmod_http_push_response_holder(L);
    struct aws_error e;
    int attempts = 0;
    if (ensure_client(L, &e) < 0) {
        lua_pushnil(L);
        push_error(L, &e, 0);
        return 2;
    }
    req.deadline_ms = http_now_ms() + lhost_remaining_ms(L);
    /* No Lua call from here to the end of aws_call: nothing can raise while C owns memory. */
    int rc = aws_call(client, &req, resp, &e, &attempts);
    if (rc < 0) {
        http_response_free(resp);
        if (strcmp(e.code, "DryRun") == 0) {
            push_dry_run(L, &req, &e);
            return 4;
        }
        lua_pushnil(L);
        push_error(L, &e, attempts);
        return 2;
    }
    lua_pushinteger(L, resp->status);
    lmod_http_push_headers(L, resp);
    lua_pushlstring(L, resp->body.p ? resp->body.p : "", resp->body.len);
    http_response_free(resp);
    return 3;
}

/* decode_error(status, headers, body): the error object a real answer with this status,
 * headers ({name = value}) and body would give (aws_decode_error), for canned answers. */
static int l_decode_error(lua_State *L)
{
    lua_Integer status = luaL_checkinteger(L, 1);
    luaL_checktype(L, 2, LUA_TTABLE);
    size_t blen;
    const char *body = luaL_checklstring(L, 3, &blen);
    size_t n = collect_pairs(L, 2, "header", 0);
    struct kv *kv = lua_touserdata(L, -1);
    struct http_header *h = lua_newuserdatauv(L, (n ? n : 1) * sizeof *h, 0);
    for (size_t i = 0; i < n; i++)
        h[i] = (struct http_header){kv[i].k, kv[i].v};
    struct http_response resp = HTTP_RESPONSE_INIT;
    resp.status = (long)status;
    resp.headers = h;
    resp.nheaders = n;
    resp.body.p = (char *)(uintptr_t)body; /* read only: aws_decode_error never writes */
    resp.body.len = blen;
    struct aws_error e;
    aws_decode_error(&resp, &e);
    push_error(L, &e, 1);
    return 1;
}

/* connections(): new connections the process's client has opened (0 before the first call). */
static int l_connections(lua_State *L)
{
    lua_pushinteger(L, client ? aws_client_connects(client) : 0);
    return 1;
}

/* sha256_hex(s): lower-case hex SHA-256 of s, from OpenSSL (the library derives idempotency
 * references from it; it is never re-implemented in Lua). */
static int l_sha256_hex(lua_State *L)
{
    size_t n;
    const char *s = luaL_checklstring(L, 1, &n);
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    if (!EVP_Digest(s, n, md, &mdlen, EVP_sha256(), NULL))
        return luaL_error(L, "sha256_hex: OpenSSL failed");
    static const char hex[] = "0123456789abcdef";
    char out[2 * EVP_MAX_MD_SIZE];
    for (unsigned int i = 0; i < mdlen; i++) {
        out[2 * i] = hex[md[i] >> 4];
        out[2 * i + 1] = hex[md[i] & 15];
    }
    lua_pushlstring(L, out, 2 * (size_t)mdlen);
    return 1;
}

/* The raw digest of the string argument by OpenSSL's md; raises naming fname on failure. */
static int push_digest(lua_State *L, const EVP_MD *md_type, const char *fname)
{
    size_t n;
    const char *s = luaL_checklstring(L, 1, &n);
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    if (!md_type || !EVP_Digest(s, n, md, &mdlen, md_type, NULL))
        return luaL_error(L, "%s: OpenSSL failed", fname);
    lua_pushlstring(L, (const char *)md, mdlen);
    return 1;
}

/* md5(s): the 16 raw bytes of MD5(s), from OpenSSL: the Content-MD5 of S3 requests whose
 * model requires a checksum (DeleteObjects, PutBucketLifecycleConfiguration, ...). */
static int l_md5(lua_State *L)
{
    return push_digest(L, EVP_md5(), "md5");
}

/* sha1(s), sha256(s): the raw digests, from OpenSSL: the x-amz-checksum-sha1/-sha256 headers
 * of operations whose caller asks for a flexible checksum (ChecksumAlgorithm). */
static int l_sha1(lua_State *L)
{
    return push_digest(L, EVP_sha1(), "sha1");
}

static int l_sha256(lua_State *L)
{
    return push_digest(L, EVP_sha256(), "sha256");
}

static const luaL_Reg core_funcs[] = {
    {"request", l_request},
    {"uri_encode", l_uri_encode},
    {"error", l_error},
    {"connections", l_connections},
    {"sha256_hex", l_sha256_hex},
    {"decode_error", l_decode_error},
    {"md5", l_md5},
    {"sha1", l_sha1},
    {"sha256", l_sha256},
    {NULL, NULL},
};

int luaopen_hookhost_aws_core(lua_State *L)
{
    luaL_newlib(L, core_funcs);
    return 1;
}
