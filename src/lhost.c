/* lhost.c: see lhost.h. The shape follows lua.c: a protected entry point (pmain) under
 * lua_pcall with a message handler that adds a traceback, and one report() turning any error
 * object into a string. */
#include "clock.h"
#include "lhost.h"

#include "buf.h"
#include "config.h"
#include "json.h"
#include "lmod_aws.h"
#include "lmod_http.h"
#include "log.h"
#include "xml.h"

#include <lauxlib.h>
#include <lua-cjson.h>
#include <lua.h>
#include <lualib.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

int luaopen_cjson_safe(lua_State *L);

#define HOOK_EVERY 1000 /* VM instructions between deadline checks */

/* Per-execution state, reachable from any thread of the state through its extra space. */
struct host {
    const struct lhost_job *job;
    size_t used, peak, cap;
    int mem_refused; /* the allocator said no at least once */
    int timed_out;   /* the deadline hook fired */
    int64_t started_ms;
    int in_progress;        /* ctx.in_progress was called */
    int64_t callback_delay; /* its delay, -1 for ECS's default */
    int pmain_entered;      /* pmain runs once per state */
};

#define DETAILS_KEY "hookhost.in_progress_details" /* registry: the details table */

static struct host *host_of(lua_State *L)
{
    return *(struct host **)lua_getextraspace(L);
}

const char *lhost_reason_name(enum lhost_reason r)
{
    static const char *const names[] = {
        "ok",     "error",          "returned false", "timeout", "memory", "script missing",
        "syntax", "not a function", "bad event",      "crash"};
    return (unsigned)r < sizeof names / sizeof *names ? names[r] : "error";
}

/* ---- limits ------------------------------------------------------------------------------ */

/* The capped allocator. Refusing (returning NULL) makes Lua run an emergency collection and
 * retry, then raise "not enough memory", which a script may catch: exhaustion is an ordinary,
 * recoverable error, never an abort. */
static void *capped_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
    struct host *h = ud;
    if (ptr == NULL)
        osize = 0; /* osize then encodes the object's type, not a size */
    if (nsize == 0) {
        free(ptr);
        h->used -= osize;
        return NULL;
    }
    if (nsize > osize && nsize - osize > h->cap - h->used) {
        h->mem_refused = 1;
        return NULL;
    }
    void *p = realloc(ptr, nsize);
    if (!p) { /* the process's own limit (worker.c) said no before the cap did */
        h->mem_refused = 1;
        return NULL;
    }
    h->used = h->used - osize + nsize;
    if (h->used > h->peak)
        h->peak = h->used;
    return p;
}

/* The deadline. Runs every HOOK_EVERY instructions; once the deadline has passed it raises, and
 * re-arms itself on every line and every instruction of whatever thread runs next, so a pcall in
 * the script only delays the error by one instruction. The error also reaches coroutines: each
 * inherits the count hook and re-arms itself the same way. */
static void deadline_hook(lua_State *L, lua_Debug *ar)
{
    (void)ar;
    struct host *h = host_of(L);
    if (!h->timed_out) {
        if (clock_ms() < h->job->deadline_ms)
            return;
        h->timed_out = 1;
    }
    lua_sethook(L, deadline_hook, LUA_MASKLINE | LUA_MASKCOUNT, 1);
    luaL_error(L, "hook timed out after %d ms", (int)(clock_ms() - h->started_ms));
}

int64_t lhost_remaining_ms(lua_State *L)
{
    int64_t left = host_of(L)->job->deadline_ms - clock_ms();
    return left > 0 ? left : 0;
}

int lhost_dry_run(lua_State *L)
{
    return host_of(L)->job->dry_run;
}

/* ---- errors (after lua.c) ------------------------------------------------------------------ */

/* Message handler: turn any error object into a string and append a traceback. */
static int msghandler(lua_State *L)
{
    const char *msg = lua_tostring(L, 1);
    if (msg == NULL) {
        if (luaL_callmeta(L, 1, "__tostring") && lua_type(L, -1) == LUA_TSTRING)
            return 1;
        msg = lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
    }
    luaL_traceback(L, L, msg, 1);
    return 1;
}

/* Lua shortens long chunk names to "...<tail>" in messages; put the whole path back, so that
 * errors read "path:line: message" whatever the path's length. */
static void full_chunkname(const char *path, const char *msg, char *out, size_t outlen)
{
    if (path && strncmp(msg, "...", 3) == 0) {
        size_t plen = strlen(path);
        for (const char *c = strchr(msg, ':'); c; c = strchr(c + 1, ':')) {
            size_t tail = (size_t)(c - msg) - 3;
            if (tail <= plen && memcmp(path + plen - tail, msg + 3, tail) == 0) {
                fmt_into(out, outlen, "%s%s", path, c);
                return;
            }
        }
    }
    fmt_into(out, outlen, "%s", msg);
}

/* Split "message\nstack traceback:..." into the outcome's message and traceback. */
static void report(struct lhost_outcome *out, lua_State *L, const char *script)
{
    const char *s = lua_tostring(L, -1);
    if (!s)
        s = "(error object is not a string)";
    const char *tb = strstr(s, "\nstack traceback:");
    size_t mlen = tb ? (size_t)(tb - s) : strlen(s);
    char first[sizeof out->message];
    log_redact_into(first, sizeof first, s, mlen); /* before the cut: no piece of a secret stays */
    full_chunkname(script, first, out->message, sizeof out->message);
    if (tb) /* bounded: the error message before it was any string a script raised */
        out->traceback = xstrndup(tb + 1, strnlen(tb + 1, LHOST_MAX_TRACEBACK));
}

/* ---- the sandbox ------------------------------------------------------------------------- */

/* load(chunk [, chunkname [, mode [, env]]]) with the mode forced to text: binary chunks could
 * break the VM's invariants. Only the arguments given are passed on: an env passed as nil
 * explicitly means _ENV = nil, but an absent one must leave the chunk the global table. */
static int safe_load(lua_State *L)
{
    int top = lua_gettop(L);
    lua_pushvalue(L, lua_upvalueindex(1));
    if (top >= 1)
        lua_pushvalue(L, 1);
    else
        lua_pushnil(L);
    if (top >= 2)
        lua_pushvalue(L, 2);
    else
        lua_pushnil(L);
    lua_pushliteral(L, "t");
    int nargs = 3;
    if (top >= 4) {
        lua_pushvalue(L, 4);
        nargs = 4;
    }
    lua_call(L, nargs, LUA_MULTRET);
    return lua_gettop(L) - top;
}

/* debug.getinfo without the C functions: with "f" (or no options) it hands out the function
 * running at a level, and the host's own C functions run at the bottom of every stack (pmain,
 * which takes a light userdata it trusts). Calling one would re-enter the host with arguments
 * it never expected. Lua functions (the script's own, the library's) stay visible. */
static int safe_getinfo(lua_State *L)
{
    int top = lua_gettop(L);
    /* A level counts from the caller's frame: this wrapper is one more frame in between, when
     * the level is of the running thread (no thread argument, or this one). */
    int lvl = lua_isthread(L, 1) ? (lua_tothread(L, 1) == L ? 2 : 0) : 1;
    int isnum = 0;
    lua_Integer n = lvl && !lua_isfunction(L, lvl) ? lua_tointegerx(L, lvl, &isnum) : 0;
    if (isnum && n >= 0 && n < LUA_MAXINTEGER) {
        lua_pushinteger(L, n + 1);
        lua_replace(L, lvl);
    }
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_insert(L, 1);
    lua_call(L, top, 1);
    if (lua_istable(L, -1)) {
        lua_getfield(L, -1, "func");
        int cfunc = lua_iscfunction(L, -1);
        lua_pop(L, 1);
        if (cfunc) {
            lua_pushnil(L);
            lua_setfield(L, -2, "func");
        }
    }
    return 1;
}

/* loadfile(path [, mode, env]) and dofile(path), text only. */
static int safe_loadfile(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    int env = !lua_isnone(L, 3) ? 3 : 0;
    if (luaL_loadfilex(L, path, "t") != LUA_OK) {
        lua_pushnil(L);
        lua_insert(L, -2);
        return 2;
    }
    if (env) {
        lua_pushvalue(L, env);
        if (!lua_setupvalue(L, -2, 1))
            lua_pop(L, 1);
    }
    return 1;
}

static int safe_dofile(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    lua_settop(L, 1);
    if (luaL_loadfilex(L, path, "t") != LUA_OK)
        return lua_error(L);
    lua_call(L, 0, LUA_MULTRET);
    return lua_gettop(L) - 1;
}

/* ---- the library's compiled modules, kept per worker process --------------------------------

 * A worker serves many executions, each in a fresh state, and every hook requires the same
 * library modules (hookhost.cloudfront, aws, util, ...): compiling them again for each event
 * cost 1.2 to 1.5 ms (make bench). So a module under the library folder is compiled from its
 * text once per process, kept as this process's own lua_dump (debug info kept: tracebacks are
 * unchanged), and loaded from that by later states. Only bytecode this process produced is ever
 * loaded; hook scripts and anything outside the library are always compiled from text. An entry
 * is used only while the file's size and modification time are unchanged. */

#define BC_ENTRIES   64
#define BC_MAX_TOTAL ((size_t)8 << 20)

struct bc_entry {
    char *path;
    struct timespec mtime;
    off_t size;
    struct buf code;
};
static struct bc_entry bc_cache[BC_ENTRIES];
static size_t bc_total;

static int bc_writer(lua_State *L, const void *p, size_t n, void *ud)
{
    (void)L;
    return buf_append(ud, p, n) < 0; /* the buffer's max bounds one module */
}

/* Load a library file: from its compiled form when it is cached and unchanged, else from its
 * text (then cached). Returns a lua_load status, the chunk or an error message pushed. */
static int load_module_file(lua_State *L, const char *file)
{
    const char *dir = host_of(L)->job->lua_dir;
    size_t dlen = dir ? strlen(dir) : 0;
    struct stat st;
    int cacheable = dlen && strncmp(file, dir, dlen) == 0 && file[dlen] == '/' &&
                    stat(file, &st) == 0 && S_ISREG(st.st_mode);
    struct bc_entry *slot = NULL;
    for (int i = 0; cacheable && i < BC_ENTRIES; i++) {
        struct bc_entry *e = &bc_cache[i];
        if (!e->path) {
            slot = slot ? slot : e;
            continue;
        }
        if (strcmp(e->path, file) != 0)
            continue;
        if (e->size == st.st_size && e->mtime.tv_sec == st.st_mtim.tv_sec &&
            e->mtime.tv_nsec == st.st_mtim.tv_nsec)
            return luaL_loadbufferx(L, e->code.p, e->code.len, file, "b");
        bc_total -= e->code.len; /* changed on disk: compile it again into this slot */
        buf_free(&e->code);
        free(e->path);
        e->path = NULL;
        slot = e;
        break;
    }
    int rc = luaL_loadfilex(L, file, "t");
    if (rc != LUA_OK || !slot)
        return rc;
    struct buf code = BUF_INIT((size_t)1 << 20);
    if (lua_dump(L, bc_writer, &code, 0) != 0 || !code.p || bc_total + code.len > BC_MAX_TOTAL) {
        buf_free(&code);
        return rc;
    }
    *slot = (struct bc_entry){xstrdup(file), st.st_mtim, st.st_size, code};
    bc_total += code.len;
    return rc;
}

/* package.searchers[2] replacement: the Lua-file searcher, loading text chunks only (or this
 * process's own compiled form of a library module). package.searchpath is the one saved when
 * the state was built, so a script replacing it cannot steer what the library loads. */
static int searcher_text(lua_State *L)
{
    const char *name = luaL_checkstring(L, 1);
    lua_getfield(L, LUA_REGISTRYINDEX, "hookhost.searchpath");
    lua_pushstring(L, name);
    lua_getglobal(L, "package");
    lua_getfield(L, -1, "path");
    lua_remove(L, -2);
    lua_call(L, 2, 2);
    if (lua_isnil(L, -2))
        return 1; /* the "no file ..." message */
    const char *file = lua_tostring(L, -2);
    if (load_module_file(L, file) != LUA_OK)
        return luaL_error(L, "error loading module '%s' from file '%s':\n\t%s", name, file,
                          lua_tostring(L, -1));
    lua_pushstring(L, file);
    return 2;
}

/* setmetatable() refusing __gc: Lua runs finalizers with debug hooks off, so a finalizer that
 * loops could never be stopped by the deadline. Objects are marked for finalization only when
 * their metatable has __gc at setmetatable time, so checking here is enough. */
static int safe_setmetatable(lua_State *L)
{
    if (lua_istable(L, 2) && lua_getfield(L, 2, "__gc") != LUA_TNIL)
        return luaL_error(L, "__gc metamethods are not available to hook scripts "
                             "(use <close> variables for clean-up)");
    lua_settop(L, 2);
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_insert(L, 1);
    lua_call(L, 2, 1);
    return 1;
}

/* print() goes to the log (INFO), so it can neither corrupt a response nor lose its request id. */
static int lua_print_to_log(lua_State *L)
{
    int n = lua_gettop(L);
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    for (int i = 1; i <= n; i++) {
        if (i > 1)
            luaL_addchar(&b, '\t');
        luaL_tolstring(L, i, NULL);
        luaL_addvalue(&b);
    }
    luaL_pushresult(&b);
    log_line(LOG_INFO, NULL, "%s", lua_tostring(L, -1));
    return 0;
}

/* io.stdout and io.stderr (and so io.write, print's cousin) go to the log as well, line by line:
 * written straight to the process's descriptors they would skip redaction and the JSON format,
 * glue bytes to `hookhost run`'s outcome line, and, buffered, surface in a later event. The
 * script's handles are stdio streams of their own (fopencookie) that cut what they receive into
 * lines and log each one: stdout at INFO, stderr at WARN. lhost_run() flushes them when the
 * execution ends, so a line without its newline is logged with its own request id. */
#define SINK_LINE_MAX 16384 /* a longer line is logged in pieces */

struct sink {
    enum log_level level;
    size_t len;
    char line[SINK_LINE_MAX];
};
static struct sink sink_out = {LOG_INFO, 0, ""}, sink_err = {LOG_WARN, 0, ""};
static FILE *script_out, *script_err;

static void sink_emit(struct sink *k)
{
    size_t n = k->len;
    if (n && k->line[n - 1] == '\r')
        n--;
    log_line(k->level, NULL, "%.*s", (int)n, k->line);
    k->len = 0;
}

static ssize_t sink_write(void *cookie, const char *p, size_t n)
{
    struct sink *k = cookie;
    for (size_t i = 0; i < n; i++) {
        if (p[i] == '\n') {
            sink_emit(k);
            continue;
        }
        if (k->len == SINK_LINE_MAX)
            sink_emit(k);
        k->line[k->len++] = p[i];
    }
    return (ssize_t)n;
}

/* Log what is left of a line without its newline: the end of an execution ends it. */
static void sinks_flush(void)
{
    struct sink *sinks[] = {&sink_out, &sink_err};
    FILE *files[] = {script_out, script_err};
    for (int i = 0; i < 2; i++) {
        if (files[i])
            fflush(files[i]);
        if (sinks[i]->len)
            sink_emit(sinks[i]);
    }
}

/* The stream under io.<name> becomes f: the handle stays a Lua file (methods, io.output(),
 * io.type()), only its bytes go elsewhere. */
static void redirect_std_handle(lua_State *L, const char *name, struct sink *k, FILE **f)
{
    if (!*f) {
        cookie_io_functions_t io = {.write = sink_write};
        *f = fopencookie(k, "w", io);
        if (*f)
            setvbuf(*f, NULL, _IOLBF, 0);
    }
    lua_getglobal(L, "io");
    lua_getfield(L, -1, name);
    luaL_Stream *st = luaL_testudata(L, -1, LUA_FILEHANDLE);
    if (st && *f)
        st->f = *f;
    else if (st) /* no stream to log through: the handle acts as closed */
        st->closef = NULL;
    lua_pop(L, 2);
}

static void remove_fields(lua_State *L, const char *lib, const char *const *names)
{
    lua_getglobal(L, lib);
    for (; *names; names++) {
        lua_pushnil(L);
        lua_setfield(L, -2, *names);
    }
    lua_pop(L, 1);
}

/* Configure a freshly opened cjson module table (on top of the stack) the same way everywhere:
 * bounded nesting both ways, sparse arrays encoded as objects instead of raising. */
static void cjson_configure(lua_State *L)
{
    static const char *const calls[][2] = {
        {"decode_max_depth", NULL}, {"encode_max_depth", NULL}, {"encode_sparse_array", "true"}};
    for (size_t i = 0; i < sizeof calls / sizeof *calls; i++) {
        lua_getfield(L, -1, calls[i][0]);
        if (calls[i][1])
            lua_pushboolean(L, 1);
        else
            lua_pushinteger(L, JSON_MAX_DEPTH);
        lua_call(L, 1, 0);
    }
}

/* ---- cjson's output, bounded ----------------------------------------------------------------

 * cjson encodes into a buffer of its own, malloc'd outside the Lua allocator and its cap, and a
 * table that holds the same subtable twice, nested 30 deep, encodes to 2^30 copies: one small
 * table could take the whole machine's memory before Lua sees a byte. So before cjson runs, the
 * value is walked the way cjson will walk it, adding up the fewest bytes its JSON can take, and
 * stopping as soon as that passes the limit: the memory the state has left (the text must become
 * a Lua string inside the cap anyway), or LHOST_MAX_RESULT for a result. The walk costs at most
 * one step per byte of the limit, and checks the deadline as it goes. */

struct json_size {
    size_t total, limit;
    unsigned long steps;
    lua_State *L;
};

/* The fewest bytes cjson writes for the string s, quotes included. */
static size_t json_string_size(const char *s, size_t n)
{
    size_t total = n + 2;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\' || c == '/' || c == '\b' || c == '\t' || c == '\n' || c == '\f' ||
            c == '\r')
            total += 1; /* \" \\ \/ \b \t \n \f \r */
        else if (c < 0x20)
            total += 5; /* \u00XX */
    }
    return total;
}

static void json_size_of(struct json_size *z, int idx, int depth)
{
    lua_State *L = z->L;
    if (z->total > z->limit)
        return;
    if ((++z->steps & 0xFFFF) == 0) {
        struct host *h = host_of(L);
        if (clock_ms() >= h->job->deadline_ms) {
            h->timed_out = 1;
            luaL_error(L, "hook timed out after %d ms", (int)(clock_ms() - h->started_ms));
        }
    }
    size_t n;
    const char *s;
    switch (lua_type(L, idx)) {
    case LUA_TSTRING:
        s = lua_tolstring(L, idx, &n);
        z->total += json_string_size(s, n);
        break;
    case LUA_TNUMBER:
        z->total += 1;
        break;
    case LUA_TBOOLEAN:
    case LUA_TLIGHTUSERDATA: /* cjson.null */
        z->total += 4;
        break;
    case LUA_TTABLE:
        if (depth > JSON_MAX_DEPTH)
            return; /* cjson refuses it before writing much */
        luaL_checkstack(L, 3, "JSON nesting");
        idx = lua_absindex(L, idx);
        z->total += 2; /* [] or {} */
        int first = 1;
        lua_pushnil(L);
        while (lua_next(L, idx)) {
            z->total += first ? 0 : 1; /* , */
            first = 0;
            if (lua_type(L, -2) == LUA_TSTRING) {
                s = lua_tolstring(L, -2, &n);
                z->total += json_string_size(s, n) + 1; /* "key": */
            }
            json_size_of(z, -1, depth + 1);
            lua_pop(L, 1);
            if (z->total > z->limit) {
                lua_pop(L, 1);
                break;
            }
        }
        break;
    default: /* functions and the like: cjson refuses them */
        break;
    }
}

/* Whether the value at idx encodes to more than limit bytes of JSON. */
static int json_exceeds(lua_State *L, int idx, size_t limit)
{
    struct json_size z = {0, limit, 0, L};
    json_size_of(&z, idx, 1);
    return z.total > limit;
}

/* The bytes the state may still allocate. */
static size_t mem_left(lua_State *L)
{
    struct host *h = host_of(L);
    return h->used < h->cap ? h->cap - h->used : 0;
}

/* cjson.encode and cjson.safe.encode (upvalue 1: cjson's own; upvalue 2: true for the safe one,
 * which returns nil, message instead of raising). A value too large for the memory left is the
 * hook's memory limit at work, and is reported as such. */
static int bounded_encode(lua_State *L)
{
    if (lua_gettop(L) >= 1 && json_exceeds(L, 1, mem_left(L))) {
        struct host *h = host_of(L);
        h->mem_refused = 1;
        lua_pushfstring(L,
                        "not enough memory: this value's JSON would not fit in the %d MiB the hook "
                        "may use",
                        (int)(h->cap >> 20));
        if (!lua_toboolean(L, lua_upvalueindex(2)))
            return lua_error(L);
        lua_pushnil(L);
        lua_insert(L, -2);
        return 2;
    }
    int top = lua_gettop(L);
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_insert(L, 1);
    lua_call(L, top, LUA_MULTRET);
    return lua_gettop(L);
}

/* Replace the encode of the cjson module table on the stack top with bounded_encode. */
static void bound_encoder(lua_State *L, int safe)
{
    lua_getfield(L, -1, "encode");
    lua_pushboolean(L, safe);
    lua_pushcclosure(L, bounded_encode, 2);
    lua_setfield(L, -2, "encode");
}

static int open_cjson(lua_State *L)
{
    luaopen_cjson(L);
    cjson_configure(L);
    bound_encoder(L, 0);
    return 1;
}

static int open_cjson_safe(lua_State *L)
{
    luaopen_cjson_safe(L);
    cjson_configure(L);
    bound_encoder(L, 1);
    return 1;
}

/* C modules a script may require; registered in package.preload, never as globals. */
static const luaL_Reg preloads[] = {
    {"cjson", open_cjson},
    {"cjson.safe", open_cjson_safe},
    {"hookhost.xml", luaopen_hookhost_xml},
    {"hookhost.aws.core", luaopen_hookhost_aws_core},
    {"hookhost.http.core", luaopen_hookhost_http_core},
    {NULL, NULL},
};

static void set_package_path(lua_State *L, const struct lhost_job *job)
{
    luaL_Buffer b;
    lua_getglobal(L, "package");
    luaL_buffinit(L, &b);
    const char *dirs[] = {job->lua_dir, job->task_root};
    for (size_t i = 0; i < 2; i++) {
        if (!dirs[i] || !*dirs[i])
            continue;
        lua_pushfstring(L, "%s/?.lua;%s/?/init.lua;", dirs[i], dirs[i]);
        luaL_addvalue(&b);
    }
    luaL_pushresult(&b);
    lua_setfield(L, -2, "path");
    lua_pushliteral(L, "");
    lua_setfield(L, -2, "cpath");
    lua_pop(L, 1);
}

/* Open the standard libraries, then take away what a hook must not have: processes (popen,
 * execute, exit), process-wide state (setlocale), binary chunks, native modules, and the debug
 * library except traceback and getinfo (sethook would remove the deadline, getregistry would
 * reach the host's state). */
static void open_sandbox(lua_State *L, const struct lhost_job *job)
{
    luaL_openlibs(L);

    lua_getglobal(L, "load");
    lua_pushcclosure(L, safe_load, 1);
    lua_setglobal(L, "load");
    lua_register(L, "loadfile", safe_loadfile);
    lua_register(L, "dofile", safe_dofile);
    lua_register(L, "print", lua_print_to_log);
    redirect_std_handle(L, "stdout", &sink_out, &script_out); /* also io.write's default */
    redirect_std_handle(L, "stderr", &sink_err, &script_err);
    lua_getglobal(L, "setmetatable");
    lua_pushcclosure(L, safe_setmetatable, 1);
    lua_setglobal(L, "setmetatable");

    static const char *const io_drop[] = {"popen", NULL};
    static const char *const os_drop[] = {"execute", "exit", "setlocale", NULL};
    static const char *const pkg_drop[] = {"loadlib", NULL};
    remove_fields(L, "io", io_drop);
    remove_fields(L, "os", os_drop);
    remove_fields(L, "package", pkg_drop);

    lua_getglobal(L, "debug");
    lua_createtable(L, 0, 2);
    lua_getfield(L, -2, "traceback");
    lua_setfield(L, -2, "traceback");
    lua_getfield(L, -2, "getinfo");
    lua_pushcclosure(L, safe_getinfo, 1);
    lua_setfield(L, -2, "getinfo");
    lua_setglobal(L, "debug");
    lua_pop(L, 1);
    lua_pushnil(L);
    lua_setfield(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE "debug"); /* never reachable by require */

    /* searchers: preload, then Lua files as text; no C searchers. */
    lua_getglobal(L, "package");
    lua_getfield(L, -1, "searchpath");
    lua_setfield(L, LUA_REGISTRYINDEX, "hookhost.searchpath");
    lua_createtable(L, 2, 0);
    lua_getfield(L, -2, "searchers");
    lua_rawgeti(L, -1, 1);
    lua_rawseti(L, -3, 1);
    lua_pop(L, 1);
    lua_pushcfunction(L, searcher_text);
    lua_rawseti(L, -2, 2);
    lua_setfield(L, -2, "searchers");
    lua_getfield(L, -1, "preload");
    luaL_setfuncs(L, preloads, 0);
    lua_pop(L, 2);

    /* require "debug" would find the original table in package.loaded */
    luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
    lua_getglobal(L, "debug");
    lua_setfield(L, -2, "debug");
    lua_pop(L, 1);

    set_package_path(L, job);
}

/* ---- ctx ----------------------------------------------------------------------------------- */

static int ctx_remaining_ms(lua_State *L)
{
    lua_pushinteger(L, (lua_Integer)lhost_remaining_ms(L));
    return 1;
}

/* ctx.log.<level>(message [, fields]): fields are encoded with cjson; a table cjson cannot
 * encode is logged as a field error rather than failing the hook, but one too large for the
 * memory left is the memory limit at work and raises like any allocation. */
static int ctx_log(lua_State *L)
{
    enum log_level level = (enum log_level)lua_tointeger(L, lua_upvalueindex(1));
    lua_settop(L, 2);
    const char *msg = luaL_tolstring(L, 1, NULL);
    const char *fields = NULL;
    if (!lua_isnoneornil(L, 2)) {
        luaL_checktype(L, 2, LUA_TTABLE);
        lua_getfield(L, LUA_REGISTRYINDEX, "hookhost.json_encode");
        lua_pushvalue(L, 2);
        if (lua_pcall(L, 1, 1, 0) == LUA_OK) {
            fields = lua_tostring(L, -1);
        } else {
            const char *e = lua_tostring(L, -1);
            if (e && strncmp(e, "not enough memory", 17) == 0)
                return lua_error(L);
            lua_pop(L, 1);
            lua_pushliteral(L, "{\"fields_error\":\"fields could not be encoded as JSON\"}");
            fields = lua_tostring(L, -1);
        }
    }
    log_line(level, fields, "%s", msg);
    return 0;
}

/* ctx.in_progress{delay = seconds, details = {...}}: "not done yet, call me again" under
 * ECS-native deployments. The script still returns normally; the runtime then answers
 * IN_PROGRESS with callBackDelay and hookDetails, which ECS hands back on its next call. */
static int ctx_in_progress(lua_State *L)
{
    struct host *h = host_of(L);
    const char *controller = h->job->controller ? h->job->controller : "local";
    if (strcmp(controller, "ecs") != 0)
        return luaL_error(L,
                          "ctx.in_progress is only for ECS-native deployments (ctx.controller "
                          "is '%s'): under CodeDeploy a hook finishes within one invocation",
                          controller);
    int64_t delay = -1;
    if (!lua_isnoneornil(L, 1)) {
        luaL_checktype(L, 1, LUA_TTABLE);
        if (lua_getfield(L, 1, "delay") != LUA_TNIL) {
            int isint;
            lua_Integer d = lua_tointegerx(L, -1, &isint);
            luaL_argcheck(L, isint && d >= 0 && d <= LHOST_MAX_CALLBACK_DELAY, 1,
                          "delay must be whole seconds from 0 to 3600");
            delay = d;
        }
        if (lua_getfield(L, 1, "details") != LUA_TNIL) {
            luaL_argcheck(L, lua_istable(L, -1), 1, "details must be a table");
            lua_pushvalue(L, -1);
            lua_setfield(L, LUA_REGISTRYINDEX, DETAILS_KEY);
        }
    }
    h->in_progress = 1;
    h->callback_delay = delay;
    lua_pushboolean(L, 1);
    return 1;
}

static void set_string_field(lua_State *L, const char *key, const char *value)
{
    if (value) {
        lua_pushstring(L, value);
        lua_setfield(L, -2, key);
    }
}

static void push_ctx(lua_State *L, const struct lhost_job *job, const char *hook)
{
    lua_createtable(L, 0, 10);
    set_string_field(L, "hook", hook);
    set_string_field(L, "deployment_id", job->deployment_id);
    set_string_field(L, "execution_id", job->execution_id);
    set_string_field(L, "request_id", job->request_id);
    set_string_field(L, "controller", job->controller ? job->controller : "local");
    set_string_field(L, "stage", job->stage);
    lua_pushboolean(L, job->dry_run);
    lua_setfield(L, -2, "dry_run");
    lua_pushcfunction(L, ctx_remaining_ms);
    lua_setfield(L, -2, "remaining_ms");
    lua_pushcfunction(L, ctx_in_progress);
    lua_setfield(L, -2, "in_progress");

    static const struct {
        const char *name;
        enum log_level level;
    } levels[] = {{"trace", LOG_TRACE},
                  {"debug", LOG_DEBUG},
                  {"info", LOG_INFO},
                  {"warn", LOG_WARN},
                  {"error", LOG_ERROR}};
    lua_createtable(L, 0, 5);
    for (size_t i = 0; i < sizeof levels / sizeof *levels; i++) {
        lua_pushinteger(L, levels[i].level);
        lua_pushcclosure(L, ctx_log, 1);
        lua_setfield(L, -2, levels[i].name);
    }
    lua_setfield(L, -2, "log");
}

/* ---- _HANDLER=auto ----------------------------------------------------------------------- */

/* Ask CodeDeploy which hook-able lifecycle event of the deployment is InProgress (through the
 * Lua library, under the same limits as the script), then point the execution at its script.
 * Returns 1 with the script path pushed, or 0 with the outcome filled. */
static int discover(lua_State *L, const struct lhost_job *job, struct lhost_outcome *out, int msgh)
{
    lua_getglobal(L, "require");
    lua_pushliteral(L, "hookhost.codedeploy");
    if (lua_pcall(L, 1, 1, msgh) != LUA_OK) {
        out->reason = LHOST_UNKNOWN_HOOK;
        fmt_into(out->message, sizeof out->message, "_HANDLER=auto: %s", lua_tostring(L, -1));
        return 0;
    }
    lua_getfield(L, -1, "current_lifecycle_event");
    lua_pushstring(L, job->deployment_id);
    if (lua_pcall(L, 1, 2, msgh) != LUA_OK || !lua_isstring(L, -2)) {
        const char *why = lua_isstring(L, -1) ? lua_tostring(L, -1) : luaL_tolstring(L, -1, NULL);
        out->reason = LHOST_UNKNOWN_HOOK;
        fmt_into(out->message, sizeof out->message,
                 "_HANDLER=auto: cannot tell which lifecycle event is running: %s", why);
        return 0;
    }
    const char *name = lua_tostring(L, -2);
    if (!config_is_hook_name(name)) {
        out->reason = LHOST_UNKNOWN_HOOK;
        fmt_into(out->message, sizeof out->message,
                 "_HANDLER=auto: CodeDeploy named an unusable lifecycle event");
        return 0;
    }
    fmt_into(out->hook, sizeof out->hook, "%s", name);
    lua_pushfstring(L, "%s/%s.lua", job->hooks_dir ? job->hooks_dir : "hooks", name);
    return 1;
}

/* ---- the execution --------------------------------------------------------------------------- */

/* Everything that can raise runs in here, under lua_pcall: the whole path from the empty state
 * to the function's return. Fills the outcome; lhost_run() then tells timeouts and memory
 * exhaustion apart from other errors by what the limits recorded. */
static int pmain(lua_State *L)
{
    struct host *h = host_of(L);
    /* Entered once per state, from lhost_run(): never by a script that got hold of it. */
    if (h->pmain_entered || !lua_islightuserdata(L, 1))
        return luaL_error(L, "the host's entry point cannot be called from a script");
    h->pmain_entered = 1;
    struct lhost_outcome *out = lua_touserdata(L, 1);
    const struct lhost_job *job = h->job;

    open_sandbox(L, job);
    lua_pushcfunction(L, msghandler);
    int msgh = lua_gettop(L);

    /* cjson for the event, the result and ctx.log's fields */
    luaL_requiref(L, "cjson", open_cjson, 0);
    lua_getfield(L, -1, "encode");
    lua_setfield(L, LUA_REGISTRYINDEX, "hookhost.json_encode");
    lua_pop(L, 1);
    luaL_requiref(L, "cjson.safe", open_cjson_safe, 0);
    lua_getfield(L, -1, "decode");
    if (job->event_json)
        lua_pushlstring(L, job->event_json, job->event_len);
    else
        lua_pushliteral(L, "{}");
    lua_call(L, 1, 2);
    if (lua_isnil(L, -2)) {
        out->reason = LHOST_BAD_EVENT;
        fmt_into(out->message, sizeof out->message, "event is not valid JSON: %s",
                 lua_tostring(L, -1));
        return 0;
    }
    lua_pop(L, 1);
    int event = lua_gettop(L);

    const char *script = job->script_path;
    if (job->discover_hook) {
        if (!discover(L, job, out, msgh))
            return 0;
        script = lua_tostring(L, -1);
        log_info("_HANDLER=auto: CodeDeploy says %s is running; script %s", out->hook, script);
    }
    int rc = luaL_loadfilex(L, script, "t");
    if (rc != LUA_OK) {
        out->reason = rc == LUA_ERRFILE ? LHOST_MISSING : LHOST_SYNTAX;
        report(out, L, script);
        return 0;
    }
    if (lua_pcall(L, 0, 1, msgh) != LUA_OK) {
        out->reason = LHOST_ERROR; /* lhost_run() tells timeouts and memory apart */
        report(out, L, script);
        return 0;
    }
    if (!lua_isfunction(L, -1)) {
        out->reason = LHOST_BAD_SCRIPT;
        fmt_into(out->message, sizeof out->message,
                 "%s must return a function(event, ctx), but returned %s", script,
                 luaL_typename(L, -1));
        return 0;
    }
    lua_pushvalue(L, event);
    push_ctx(L, job, out->hook[0] ? out->hook : job->hook);
    /* Library modules find the running hook's ctx and event here when a script does not pass
     * them (require "hookhost.context"), so idempotency keys and deadlines need no plumbing. */
    luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
    lua_pushvalue(L, -2);
    lua_setfield(L, -2, "hookhost.context");
    lua_pushvalue(L, event);
    lua_setfield(L, -2, "hookhost.event");
    lua_pop(L, 1);
    if (lua_pcall(L, 2, 2, msgh) != LUA_OK) {
        out->reason = LHOST_ERROR;
        report(out, L, script);
        return 0;
    }

    if (lua_isboolean(L, -2) && !lua_toboolean(L, -2)) {
        out->reason = LHOST_RETURNED_FALSE;
        const char *why = lua_isnil(L, -1) ? "the hook returned false" : luaL_tolstring(L, -1, 0);
        log_redact_into(out->message, sizeof out->message, why, strlen(why));
        return 0;
    }
    lua_pop(L, 1);
    out->reason = LHOST_OK;
    if (h->in_progress) {
        if (lua_getfield(L, LUA_REGISTRYINDEX, DETAILS_KEY) != LUA_TNIL) {
            lua_getfield(L, LUA_REGISTRYINDEX, "hookhost.json_encode");
            lua_insert(L, -2);
            if (lua_pcall(L, 1, 1, 0) != LUA_OK) {
                out->reason = LHOST_ERROR;
                fmt_into(out->message, sizeof out->message,
                         "ctx.in_progress: details cannot be encoded as JSON: %s",
                         lua_tostring(L, -1));
                return 0;
            }
            size_t n;
            const char *d = lua_tolstring(L, -1, &n);
            if (n > LHOST_MAX_RESULT) {
                out->reason = LHOST_ERROR;
                fmt_into(out->message, sizeof out->message,
                         "ctx.in_progress: details are %zu bytes of JSON, over the %zu-byte limit",
                         n, LHOST_MAX_RESULT);
                return 0;
            }
            out->details_json = xstrndup(d, n); /* the outcome owns it from here */
        }
        lua_pop(L, 1);
        out->in_progress = 1;
        out->callback_delay = h->callback_delay;
    }
    if (!lua_isnil(L, -1) && json_exceeds(L, -1, LHOST_MAX_RESULT)) {
        log_warn("the hook's return value is over the %zu-byte limit as JSON; it is dropped (the "
                 "hook's status stands)",
                 LHOST_MAX_RESULT);
    } else if (!lua_isnil(L, -1)) {
        lua_getfield(L, LUA_REGISTRYINDEX, "hookhost.json_encode");
        lua_insert(L, -2);
        if (lua_pcall(L, 1, 1, 0) == LUA_OK) {
            size_t n;
            const char *s = lua_tolstring(L, -1, &n);
            if (n <= LHOST_MAX_RESULT)
                out->result_json = xstrndup(s, n); /* no Lua call can raise after this */
            else
                log_warn("the hook's return value is %zu bytes of JSON, over the %zu-byte "
                         "limit; it is dropped (the hook's status stands)",
                         n, LHOST_MAX_RESULT);
        } else {
            log_warn("the hook's return value cannot be encoded as JSON (%s); it is dropped",
                     lua_tostring(L, -1));
        }
    }
    return 0;
}

int lhost_run(const struct lhost_job *job, struct lhost_outcome *out)
{
    memset(out, 0, sizeof *out);
    struct host h = {.job = job, .cap = job->mem_max, .started_ms = clock_ms()};
    lua_State *L = lua_newstate(capped_alloc, &h);
    if (!L) {
        out->reason = LHOST_MEMORY;
        fmt_into(out->message, sizeof out->message, "cannot create a Lua state");
        return -1;
    }
    *(struct host **)lua_getextraspace(L) = &h;
    lua_sethook(L, deadline_hook, LUA_MASKCOUNT, HOOK_EVERY);

    lua_pushcfunction(L, msghandler);
    lua_pushcfunction(L, pmain);
    lua_pushlightuserdata(L, out);
    int rc = lua_pcall(L, 1, 0, 1);
    if (rc != LUA_OK) {
        report(out, L, job->script_path);
        out->reason = LHOST_ERROR;
    }
    if (out->reason == LHOST_ERROR || out->reason == LHOST_SYNTAX) {
        if (h.timed_out) {
            out->reason = LHOST_TIMEOUT;
            fmt_into(out->message, sizeof out->message, "hook timed out after %d ms",
                     (int)(clock_ms() - h.started_ms));
        } else if (rc == LUA_ERRMEM ||
                   (h.mem_refused && strstr(out->message, "not enough memory"))) {
            out->reason = LHOST_MEMORY;
            fmt_into(out->message, sizeof out->message,
                     "not enough memory: the hook exceeded its limit of %zu MiB", h.cap >> 20);
        }
    }
    /* __gc and __close handlers run inside lua_close; the deadline hook stays armed for them. */
    lua_close(L);
    sinks_flush();
    out->mem_peak = h.peak;
    out->duration_ms = clock_ms() - h.started_ms;
    return out->reason == LHOST_OK ? 0 : -1;
}

void lhost_outcome_free(struct lhost_outcome *out)
{
    free(out->traceback);
    free(out->result_json);
    free(out->details_json);
    out->traceback = out->result_json = out->details_json = NULL;
}

void lhost_outcome_redact(struct lhost_outcome *out)
{
    log_redact(out->message);
    char *texts[] = {out->traceback, out->result_json, out->details_json};
    for (size_t i = 0; i < sizeof texts / sizeof *texts; i++)
        if (texts[i])
            log_redact(texts[i]);
}

int lhost_check(const char *path, char *err, size_t errlen)
{
    struct lhost_job job = {
        .script_path = path, .deadline_ms = clock_ms() + 10000, .mem_max = (size_t)64 << 20};
    struct host h = {.job = &job, .cap = job.mem_max, .started_ms = clock_ms()};
    lua_State *L = lua_newstate(capped_alloc, &h);
    if (!L) {
        fmt_into(err, errlen, "%s: cannot create a Lua state", path);
        return -1;
    }
    *(struct host **)lua_getextraspace(L) = &h;
    int rc = luaL_loadfilex(L, path, "t");
    if (rc != LUA_OK)
        full_chunkname(path, lua_tostring(L, -1), err, errlen);
    lua_close(L);
    return rc == LUA_OK ? 0 : -1;
}
