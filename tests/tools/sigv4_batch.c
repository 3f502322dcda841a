/* sigv4_batch: sign many requests in one process, for tests that compare hookhost's signer with
 * another (tests/sigv4/test_botocore_compare.py).
 *
 * stdin: one JSON object per line:
 *   {"method", "path", "query", "headers": [[name, value], ...], "body_hex",
 *    "access_key", "secret_key", "token", "region", "service", "amz_date",
 *    "normalize", "double_encode", "sign_body", "omit_session_token",
 *    "expires", "payload_hash", "mode": "header"|"query"}
 * stdout: one JSON object per line, in the same order:
 *   {"canonical_request", "string_to_sign", "signature", "signed_headers", "query",
 *    "headers": [[name, value], ...]}   or   {"error": "..."}
 * Missing fields are empty strings, false or 0 (expires: 3600). Bodies are hex so that they can
 * hold any byte.
 */
#include "buf.h"
#include "sigv4.h"

#include <lauxlib.h>
#include <lua-cjson.h>
#include <lua.h>
#include <lualib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_LINE    ((size_t)16 << 20)
#define MAX_HEADERS 256

/* A string field of the table at idx as a view; the table keeps the string alive. */
static struct str get_str(lua_State *L, int idx, const char *name)
{
    lua_getfield(L, idx, name);
    size_t n = 0;
    const char *s = lua_type(L, -1) == LUA_TSTRING ? lua_tolstring(L, -1, &n) : "";
    lua_pop(L, 1);
    return (struct str){s, n};
}

static long get_int(lua_State *L, int idx, const char *name, long dflt)
{
    lua_getfield(L, idx, name);
    long v = lua_isnumber(L, -1) ? (long)lua_tointeger(L, -1) : dflt;
    lua_pop(L, 1);
    return v;
}

static int get_bool(lua_State *L, int idx, const char *name)
{
    lua_getfield(L, idx, name);
    int b = lua_toboolean(L, -1);
    lua_pop(L, 1);
    return b;
}

static int unhex(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static void set_view(lua_State *L, const char *name, struct str v)
{
    lua_pushlstring(L, v.p ? v.p : "", v.len);
    lua_setfield(L, -2, name);
}

/* Sign the request decoded at stack index 1 and leave the result table on top. */
static void sign_one(lua_State *L, struct sigv4_signer *s, struct buf *body)
{
    static struct sigv4_header h[MAX_HEADERS];
    char err[256];
    size_t nh = 0;
    lua_getfield(L, 1, "headers");
    if (lua_istable(L, -1)) {
        int t = lua_gettop(L);
        for (lua_Integer i = 1; nh < MAX_HEADERS; i++) {
            if (lua_rawgeti(L, t, i) != LUA_TTABLE) {
                lua_pop(L, 1);
                break;
            }
            size_t nl = 0, vl = 0;
            lua_rawgeti(L, -1, 1);
            lua_rawgeti(L, -2, 2);
            const char *n = lua_tolstring(L, -2, &nl), *v = lua_tolstring(L, -1, &vl);
            h[nh++] = (struct sigv4_header){{n ? n : "", nl}, {v ? v : "", vl}};
            lua_pop(L, 3); /* the strings stay alive in the pair, which stays in the table */
        }
    }
    lua_pop(L, 1); /* the headers table stays referenced by the request table */

    struct str hex = get_str(L, 1, "body_hex");
    buf_reset(body);
    int bad = hex.len % 2 != 0;
    for (size_t i = 0; !bad && i < hex.len; i += 2) {
        int hi = unhex(hex.p[i]), lo = unhex(hex.p[i + 1]);
        bad = hi < 0 || lo < 0 || buf_putc(body, (char)(hi * 16 + lo)) < 0;
    }

    struct sigv4_params p = {0};
    p.access_key = get_str(L, 1, "access_key");
    p.secret_key = get_str(L, 1, "secret_key");
    p.session_token = get_str(L, 1, "token");
    p.region = get_str(L, 1, "region");
    p.service = get_str(L, 1, "service");
    lua_getfield(L, 1, "amz_date");
    p.amz_date = lua_isstring(L, -1) ? lua_tostring(L, -1) : "";
    lua_pop(L, 1);
    p.normalize_path = get_bool(L, 1, "normalize");
    p.double_encode = get_bool(L, 1, "double_encode");
    p.sign_body = get_bool(L, 1, "sign_body");
    p.omit_session_token = get_bool(L, 1, "omit_session_token");
    p.expires = get_int(L, 1, "expires", 3600);
    p.payload_hash = get_str(L, 1, "payload_hash");
    struct str mode = get_str(L, 1, "mode");
    p.mode = str_eq(mode, STR_LIT("query")) ? SIGV4_QUERY : SIGV4_HEADER;

    struct sigv4_request req = {get_str(L, 1, "method"),
                                get_str(L, 1, "path"),
                                get_str(L, 1, "query"),
                                h,
                                nh,
                                (struct str){body->p ? body->p : "", body->len}};
    struct sigv4_result r;
    lua_newtable(L);
    if (bad) {
        set_view(L, "error", STR_LIT("body_hex is not hex"));
        return;
    }
    if (sigv4_sign(s, &req, &p, &r, err, sizeof err) < 0) {
        set_view(L, "error", str_cstr(err));
        return;
    }
    set_view(L, "canonical_request", r.canonical_request);
    set_view(L, "string_to_sign", r.string_to_sign);
    set_view(L, "signature", r.signature);
    set_view(L, "signed_headers", r.signed_headers);
    set_view(L, "query", r.query);
    lua_createtable(L, (int)r.nadd, 0);
    for (size_t i = 0; i < r.nadd; i++) {
        lua_createtable(L, 2, 0);
        lua_pushlstring(L, r.add[i].name.p, r.add[i].name.len);
        lua_rawseti(L, -2, 1);
        lua_pushlstring(L, r.add[i].value.p, r.add[i].value.len);
        lua_rawseti(L, -2, 2);
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
    lua_setfield(L, -2, "headers");
}

/* One line in, one line out, so that the caller can pair results with requests by position. */
int main(void)
{
    char err[256];
    struct sigv4_signer *s = sigv4_signer_new(err, sizeof err);
    if (!s) {
        fprintf(stderr, "sigv4_batch: %s\n", err);
        return 1;
    }
    lua_State *L = luaL_newstate();
    luaL_requiref(L, "cjson", luaopen_cjson, 1);
    lua_pop(L, 1);
    struct buf body = BUF_INIT(MAX_LINE);
    char *ln = NULL;
    size_t cap = 0;
    ssize_t n;
    int status = 0;
    while ((n = getline(&ln, &cap, stdin)) > 0) {
        if ((size_t)n > MAX_LINE) {
            fprintf(stderr, "sigv4_batch: line too long\n");
            status = 1;
            break;
        }
        lua_settop(L, 0);
        lua_getglobal(L, "cjson");
        lua_getfield(L, -1, "decode");
        lua_pushlstring(L, ln, (size_t)n);
        if (lua_pcall(L, 1, 1, 0) != LUA_OK || !lua_istable(L, -1)) {
            lua_settop(L, 0);
            lua_newtable(L);
            set_view(L, "error", STR_LIT("input line is not a JSON object"));
        } else {
            lua_replace(L, 1); /* the request table at index 1 */
            lua_settop(L, 1);
            sign_one(L, s, &body);
        }
        lua_getglobal(L, "cjson");
        lua_getfield(L, -1, "encode");
        lua_pushvalue(L, -3);
        if (lua_pcall(L, 1, 1, 0) != LUA_OK) {
            fprintf(stderr, "sigv4_batch: cannot encode a result\n");
            status = 1;
            break;
        }
        size_t len = 0;
        const char *out = lua_tolstring(L, -1, &len);
        fwrite(out, 1, len, stdout);
        fputc('\n', stdout);
    }
    fflush(stdout);
    free(ln);
    buf_free(&body);
    lua_close(L);
    sigv4_signer_free(s);
    return status;
}
