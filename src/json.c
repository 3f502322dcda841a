/* json.c: see json.h. */
#include "json.h"

#include "buf.h"

#include <lauxlib.h>
#include <lua-cjson.h>
#include <lua.h>
#include <lualib.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int luaopen_cjson_safe(lua_State *L);

static lua_State *J; /* the private state */
static int encode_ref, decode_ref;

struct json {
    int ref;          /* registry reference of the table being built */
    struct buf empty; /* members json_finish() adds to cjson's text as they are, comma-separated:
                       * "\"key\":[]" (cjson 2.1 encodes an empty table as {}) and raw JSON */
};

/* Create the private state: cjson.safe, with nesting bounded both ways. Failure to create it is
 * out of memory, which this process treats as fatal (buf.h). */
static lua_State *state(void)
{
    if (J)
        return J;
    J = luaL_newstate();
    if (!J) {
        fprintf(stderr, "hookhost: out of memory (JSON state)\n");
        exit(70);
    }
    luaL_requiref(J, "cjson.safe", luaopen_cjson_safe, 0);
    lua_getfield(J, -1, "decode_max_depth");
    lua_pushinteger(J, JSON_MAX_DEPTH);
    lua_call(J, 1, 0);
    lua_getfield(J, -1, "encode_max_depth");
    lua_pushinteger(J, JSON_MAX_DEPTH);
    lua_call(J, 1, 0);
    lua_getfield(J, -1, "encode_sparse_array");
    lua_pushboolean(J, 1);
    lua_call(J, 1, 0);
    lua_getfield(J, -1, "encode");
    encode_ref = luaL_ref(J, LUA_REGISTRYINDEX);
    lua_getfield(J, -1, "decode");
    decode_ref = luaL_ref(J, LUA_REGISTRYINDEX);
    lua_pop(J, 1);
    return J;
}

struct json *json_new(void)
{
    lua_State *L = state();
    struct json *j = xmalloc(sizeof *j);
    lua_newtable(L);
    j->ref = luaL_ref(L, LUA_REGISTRYINDEX);
    j->empty = (struct buf)BUF_INIT(0);
    return j;
}

/* Set the value on top of the private stack under key in the builder's table. */
static void set_top(struct json *j, const char *key)
{
    lua_State *L = J;
    lua_rawgeti(L, LUA_REGISTRYINDEX, j->ref);
    lua_insert(L, -2);
    lua_setfield(L, -2, key);
    lua_pop(L, 1);
}

void json_set_strn(struct json *j, const char *key, const char *value, size_t len)
{
    if (!value)
        return;
    lua_pushlstring(J, value, len);
    set_top(j, key);
}

void json_set_str(struct json *j, const char *key, const char *value)
{
    if (value)
        json_set_strn(j, key, value, strlen(value));
}

void json_set_int(struct json *j, const char *key, int64_t value)
{
    lua_pushinteger(J, (lua_Integer)value);
    set_top(j, key);
}

void json_set_bool(struct json *j, const char *key, int value)
{
    lua_pushboolean(J, value);
    set_top(j, key);
}

/* Add "<key as JSON>:<value>" to the members json_finish() appends; the key itself is removed
 * from the table so that it appears once. */
static void add_member(struct json *j, const char *key, const char *value, size_t len)
{
    lua_State *L = J;
    lua_rawgeti(L, LUA_REGISTRYINDEX, encode_ref);
    lua_pushstring(L, key);
    lua_call(L, 1, 2);
    const char *k = lua_tostring(L, -2);
    if (k) {
        if (j->empty.len)
            buf_putc(&j->empty, ',');
        buf_puts(&j->empty, k);
        buf_putc(&j->empty, ':');
        buf_append(&j->empty, value, len);
    }
    lua_pop(L, 2);
    lua_pushnil(L);
    set_top(j, key);
}

void json_set_raw(struct json *j, const char *key, const char *text, size_t len)
{
    lua_State *L = J;
    lua_rawgeti(L, LUA_REGISTRYINDEX, decode_ref);
    lua_pushlstring(L, text, len);
    lua_call(L, 1, 2); /* cjson.safe: value or nil, message */
    lua_pop(L, 1);
    if (lua_isnil(L, -1)) {
        lua_pop(L, 1);
        lua_pushlstring(L, text, len);
        set_top(j, key);
        return;
    }
    /* Valid JSON is kept as it is (a decode and encode would turn [] into {}), unless it holds a
     * control character (cjson never writes one; a line break would split a JSON line). */
    int plain = len > 0;
    for (size_t i = 0; i < len && plain; i++)
        plain = (unsigned char)text[i] >= 0x20;
    if (plain) {
        lua_pop(L, 1);
        add_member(j, key, text, len);
        return;
    }
    set_top(j, key);
}

void json_set_str_array(struct json *j, const char *key, const char *const *values, size_t n)
{
    if (n == 0) {
        add_member(j, key, "[]", 2); /* the key, encoded by cjson like every other string */
        return;
    }
    lua_createtable(J, (int)n, 0);
    for (size_t i = 0; i < n; i++) {
        lua_pushstring(J, values[i]);
        lua_rawseti(J, -2, (lua_Integer)i + 1);
    }
    set_top(j, key);
}

void json_discard(struct json *j)
{
    if (!j)
        return;
    luaL_unref(J, LUA_REGISTRYINDEX, j->ref);
    buf_free(&j->empty);
    free(j);
}

char *json_unslash(char *text)
{
    if (!text)
        return NULL;
    char *w = text;
    for (const char *r = text; *r; r++) {
        if (*r == '\\' && r[1] == '/')
            continue; /* drop the backslash; the '/' is copied next */
        *w++ = *r;
        if (*r == '\\' && r[1])
            *w++ = *++r; /* any other escape: both characters as they are */
    }
    *w = '\0';
    return text;
}

char *json_finish(struct json *j)
{
    lua_State *L = J;
    lua_rawgeti(L, LUA_REGISTRYINDEX, encode_ref);
    lua_rawgeti(L, LUA_REGISTRYINDEX, j->ref);
    lua_call(L, 1, 2);
    size_t n;
    const char *s = lua_tolstring(L, -2, &n);
    char *out;
    if (s && j->empty.len && n >= 2 && s[n - 1] == '}') {
        struct buf b = BUF_INIT(0); /* "{...}" -> "{...,<empty arrays>}" */
        buf_append(&b, s, n - 1);
        if (n > 2)
            buf_putc(&b, ',');
        buf_append(&b, j->empty.p, j->empty.len);
        buf_putc(&b, '}');
        out = buf_take(&b);
    } else {
        out = s ? xstrndup(s, n) : xstrdup("{}");
    }
    lua_pop(L, 2);
    json_discard(j);
    return out;
}

int json_get_fields(const char *text, size_t len, struct json_field *fields, size_t n, char *err,
                    size_t errlen)
{
    lua_State *L = state();
    for (size_t i = 0; i < n; i++) {
        fields[i].kind = JSON_ABSENT;
        fields[i].value = NULL;
        fields[i].len = 0;
        fields[i].num = 0;
        fields[i].json = NULL;
    }
    lua_rawgeti(L, LUA_REGISTRYINDEX, decode_ref);
    lua_pushlstring(L, text, len);
    lua_call(L, 1, 2);
    if (lua_isnil(L, -2)) {
        fmt_into(err, errlen, "invalid JSON: %s", lua_tostring(L, -1));
        lua_pop(L, 2);
        return -1;
    }
    lua_pop(L, 1);
    if (!lua_istable(L, -1) || text[strspn(text, " \t\r\n")] != '{') {
        fmt_into(err, errlen, "the event must be a JSON object");
        lua_pop(L, 1);
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        int t;
        if (fields[i].parent) {
            if (lua_getfield(L, -1, fields[i].parent) == LUA_TTABLE) {
                t = lua_getfield(L, -1, fields[i].key);
                lua_remove(L, -2);
            } else {
                lua_pop(L, 1);
                t = LUA_TNIL;
                lua_pushnil(L);
            }
        } else {
            t = lua_getfield(L, -1, fields[i].key);
        }
        if (t == LUA_TSTRING) {
            size_t vlen;
            const char *v = lua_tolstring(L, -1, &vlen);
            fields[i].kind = JSON_STRING;
            fields[i].value = xstrndup(v, vlen);
            fields[i].len = vlen;
        } else if (t == LUA_TNUMBER) {
            fields[i].kind = JSON_NUMBER;
            fields[i].num = lua_tonumber(L, -1);
        } else if (t == LUA_TBOOLEAN) {
            fields[i].kind = JSON_BOOL;
            fields[i].num = lua_toboolean(L, -1);
        } else if (t != LUA_TNIL && !(t == LUA_TLIGHTUSERDATA)) {
            fields[i].kind = JSON_OTHER; /* cjson.null is a light userdata: counts as absent */
            if (fields[i].want_json) {
                lua_rawgeti(L, LUA_REGISTRYINDEX, encode_ref);
                lua_pushvalue(L, -2);
                lua_call(L, 1, 2);
                size_t elen;
                const char *e = lua_tolstring(L, -2, &elen);
                if (e)
                    fields[i].json = xstrndup(e, elen);
                lua_pop(L, 2);
            }
        }
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
    lua_gc(L, LUA_GCCOLLECT);
    return 0;
}

void json_fields_free(struct json_field *fields, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(fields[i].value);
        free(fields[i].json);
        fields[i].value = fields[i].json = NULL;
    }
}

char *json_object_with(const char *text, size_t len, const char *key, const char *value,
                       size_t vlen, char *err, size_t errlen)
{
    lua_State *L = state();
    char *out = NULL;
    int top = lua_gettop(L);
    lua_rawgeti(L, LUA_REGISTRYINDEX, decode_ref);
    lua_pushlstring(L, text, len);
    lua_call(L, 1, 2);
    if (!lua_istable(L, -2) || text[strspn(text, " \t\r\n")] != '{') {
        fmt_into(err, errlen, "not a JSON object");
        goto cleanup;
    }
    lua_pop(L, 1);
    lua_rawgeti(L, LUA_REGISTRYINDEX, decode_ref);
    lua_pushlstring(L, value, vlen);
    lua_call(L, 1, 2);
    if (lua_isnil(L, -2)) {
        fmt_into(err, errlen, "invalid JSON for %s: %s", key, lua_tostring(L, -1));
        goto cleanup;
    }
    lua_pop(L, 1);
    lua_setfield(L, -2, key);
    lua_rawgeti(L, LUA_REGISTRYINDEX, encode_ref);
    lua_insert(L, -2);
    lua_call(L, 1, 2);
    size_t n;
    const char *s = lua_tolstring(L, -2, &n);
    if (s)
        out = xstrndup(s, n);
    else
        fmt_into(err, errlen, "cannot encode: %s", lua_tostring(L, -1));
cleanup:
    lua_settop(L, top);
    lua_gc(L, LUA_GCCOLLECT);
    return out;
}
