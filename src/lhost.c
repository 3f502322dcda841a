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
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

int luaopen_cjson_safe(lua_State *L);

#define HOOK_EVERY 1000 /* VM instructions between deadline checks */

/* Per-execution state, reachable from any thread of the state through its extra space. */
struct host {
    const struct lhost_job *job;
    size_t used, peak, cap;
    int mem_refused; /* the allocator said no at least once */
    int timed_out;   /* the deadline hook fired */
    int64_t started_ms;
    int in_progress_called; /* ctx.in_progress was called (its value must be returned) */
    int pmain_entered;      /* pmain runs once per state */
    int stubs_unused;       /* strict stubs left unused (count_unused_stubs) */
};

/* registry: {[value ctx.in_progress returned] = {callBackDelay = n, hookDetails = t}} */
#define IN_PROGRESS_KEY "hookhost.in_progress"

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

int lhost_verbose(lua_State *L)
{
    return host_of(L)->job->verbose;
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

/* ---- json.empty_array where the host encodes ------------------------------------------------

 * ctx.log fields, the result and ctx.in_progress details are encoded by the host, in C (Lua code
 * there could be stopped by the deadline hook just before the answer), with cjson 2.1.0, which
 * writes every empty table as {}. A table hookhost.json marks as a list (json.empty_array,
 * json.array(t)), known by its metatable's __name, is written as [] all the same: the value is
 * copied with each such empty table replaced by a marker string (tables copied only where
 * something below them changed; each table visited once), cjson encodes the copy, and every
 * whole string token equal to the encoded marker becomes []. A value that holds the marker string
 * itself is encoded as it is, as is a value without a marked empty table (no copy). */

#define EMPTY_MARKER                                                                               \
    "\x01"                                                                                         \
    "hookhost.json.empty_array"                                                                    \
    "\x01"
#define EMPTY_MARKER_JSON "\"\\u0001hookhost.json.empty_array\\u0001\""

struct marked_walk {
    lua_State *L;
    int seen;         /* stack index of a table: visited tables -> their copy (or themselves) */
    int found, clash; /* a marked empty table; a string equal to the marker */
    unsigned long steps;
};

static int is_marked_empty(lua_State *L, int idx)
{
    if (!lua_getmetatable(L, idx))
        return 0;
    lua_pushliteral(L, "__name");
    int marked = 0;
    if (lua_rawget(L, -2) == LUA_TSTRING) {
        const char *name = lua_tostring(L, -1);
        marked = strcmp(name, "hookhost.json.array") == 0 ||
                 strcmp(name, "hookhost.json.empty_array") == 0;
    }
    lua_pop(L, 2);
    if (marked) {
        lua_pushnil(L);
        if (lua_next(L, idx)) {
            lua_pop(L, 2);
            marked = 0;
        }
    }
    return marked;
}

static void marked_step(struct marked_walk *w)
{
    if ((++w->steps & 0xFFFF) == 0) {
        struct host *h = host_of(w->L);
        if (clock_ms() >= h->job->deadline_ms) {
            h->timed_out = 1;
            luaL_error(w->L, "hook timed out after %d ms", (int)(clock_ms() - h->started_ms));
        }
    }
}

static int is_marker(lua_State *L, int idx)
{
    size_t n;
    const char *s = lua_tolstring(L, idx, &n);
    return n == sizeof EMPTY_MARKER - 1 && memcmp(s, EMPTY_MARKER, n) == 0;
}

/* Push the value at idx with every marked empty table below it replaced by the marker; returns
 * whether anything changed. Records clashes (the marker string as a key or value). */
static int marked_copy(struct marked_walk *w, int idx, int depth)
{
    lua_State *L = w->L;
    marked_step(w);
    idx = lua_absindex(L, idx);
    int t = lua_type(L, idx);
    if (t == LUA_TSTRING && is_marker(L, idx))
        w->clash = 1;
    if (t != LUA_TTABLE || depth > JSON_MAX_DEPTH) { /* deeper: cjson refuses it anyway */
        lua_pushvalue(L, idx);
        return 0;
    }
    if (is_marked_empty(L, idx)) {
        w->found = 1;
        lua_pushliteral(L, EMPTY_MARKER);
        return 1;
    }
    luaL_checkstack(L, 10, "JSON nesting");
    lua_pushvalue(L, idx);
    if (lua_rawget(L, w->seen) != LUA_TNIL) /* visited (or being visited: a cycle) */
        return !lua_rawequal(L, -1, idx);
    lua_pop(L, 1);
    lua_pushvalue(L, idx);
    lua_pushvalue(L, idx);
    lua_rawset(L, w->seen); /* itself, until something below it changes */
    int copy = 0;           /* stack index of the copy, once made */
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        if (lua_type(L, -2) == LUA_TSTRING && is_marker(L, -2))
            w->clash = 1;
        int changed = marked_copy(w, -1, depth + 1);
        if (changed && !copy) {
            lua_createtable(L, (int)lua_rawlen(L, idx), 0);
            copy = lua_gettop(L);
            lua_pushnil(L);
            while (lua_next(L, idx)) {
                lua_pushvalue(L, -2);
                lua_insert(L, -2);
                lua_rawset(L, copy);
            }
            lua_insert(L, -4); /* under the key, the value and the changed value */
            copy = lua_gettop(L) - 3;
        }
        if (changed) {
            lua_pushvalue(L, -3); /* key */
            lua_insert(L, -2);
            lua_rawset(L, copy);
        } else {
            lua_pop(L, 1);
        }
        lua_pop(L, 1); /* the value; the key stays for lua_next */
    }
    if (!copy)
        lua_pushvalue(L, idx);
    lua_pushvalue(L, idx);
    lua_pushvalue(L, -2);
    lua_rawset(L, w->seen);
    return copy != 0;
}

/* The host's encoder of ctx.log fields, the result and ctx.in_progress details (upvalue 1: the
 * bounded cjson.encode): arg 1 as JSON, marked empty lists as []. Raises as cjson.encode does. */
static int host_json_encode(lua_State *L)
{
    lua_settop(L, 1);
    int converted = 0;
    if (lua_type(L, 1) == LUA_TTABLE) {
        lua_newtable(L);
        struct marked_walk w = {L, lua_gettop(L), 0, 0, 0};
        marked_copy(&w, 1, 1);
        converted = w.found && !w.clash;
        if (converted)
            lua_replace(L, 1);
        lua_settop(L, 1);
    }
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_insert(L, 1);
    lua_call(L, 1, 1);
    if (!converted)
        return 1;
    size_t n, m = sizeof EMPTY_MARKER_JSON - 1;
    const char *s = lua_tolstring(L, -1, &n);
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    size_t start = 0;
    for (size_t i = 0; i + m <= n; i++) {
        if (s[i] != '"' || memcmp(s + i, EMPTY_MARKER_JSON, m) != 0)
            continue;
        /* a whole value token: after [ , : or at the start, before , ] } or at the end (inside
         * a string cjson writes every quote as \") */
        int before = i == 0 || s[i - 1] == '[' || s[i - 1] == ',' || s[i - 1] == ':';
        int after = i + m == n || s[i + m] == ',' || s[i + m] == ']' || s[i + m] == '}';
        if (!before || !after)
            continue;
        luaL_addlstring(&b, s + start, i - start);
        luaL_addlstring(&b, "[]", 2);
        start = i + m;
        i += m - 1;
    }
    luaL_addlstring(&b, s + start, n - start);
    luaL_pushresult(&b);
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
    int first = 1;
    for (size_t i = 0; i < 2; i++) {
        if (!dirs[i] || !*dirs[i])
            continue;
        /* no empty template: it would read "no file ''" in a module-not-found message */
        lua_pushfstring(L, "%s%s/?.lua;%s/?/init.lua", first ? "" : ";", dirs[i], dirs[i]);
        luaL_addvalue(&b);
        first = 0;
    }
    luaL_pushresult(&b);
    lua_setfield(L, -2, "path");
    lua_pushliteral(L, "");
    lua_setfield(L, -2, "cpath");
    lua_pop(L, 1);
}

/* What a removed function becomes: one line saying that hook scripts cannot do this, and why
 * (upvalue 1), instead of "attempt to call a nil value". */
static int not_available(lua_State *L)
{
    return luaL_error(L, "%s", lua_tostring(L, lua_upvalueindex(1)));
}

/* lib.name = a function raising "lib.name is not available to hook scripts: they run
 * sandboxed; <why>". The table lib is on the stack top. */
static void set_unavailable(lua_State *L, const char *lib, const char *name, const char *why)
{
    lua_pushfstring(L, "%s.%s is not available to hook scripts: they run sandboxed; %s", lib, name,
                    why);
    lua_pushcclosure(L, not_available, 1);
    lua_setfield(L, -2, name);
}

/* ---- files a script must not open ------------------------------------------------------------

 * /proc/<pid>/mem (and /proc/<pid>/task/<tid>/mem) reads and writes a process's memory: a script
 * could rewrite its own worker (its limits, its outcome) or, where ptrace rules allow, another
 * process. And a write into /proc (/proc/self/fd/2, /dev/stderr) or to the runtime's own stdout
 * and stderr would put bytes in the log or the outcome line past redaction. So io.open, io.lines,
 * io.input and io.output first resolve the path as the kernel will (realpath, links followed,
 * or the folder's when the file does not exist yet: symbolic links such as /proc/self,
 * /proc/thread-self and /dev/fd, relative paths and ".." change nothing), ask which file system
 * it is on (statfs: procfs wherever it is mounted), and refuse. A script cannot create symbolic
 * links, so what is checked is what is then opened; the descriptor opened is checked again
 * (fstatfs, fstat) for what no path shows, such as a pipe behind /proc/self/fd/2. */

#define WHY_MEM  "a hook cannot read or write process memory (/proc/<pid>/mem)"
#define WHY_PROC "a hook cannot write into /proc (its output goes through print and ctx.log)"
#define WHY_STD  "a hook cannot write to the runtime's own stdout or stderr (use print and ctx.log)"

/* Whether st is the runtime's own stdout or stderr (/dev/null aside). */
static int is_std_output(const struct stat *st)
{
    if (S_ISCHR(st->st_mode) && st->st_rdev == makedev(1, 3))
        return 0;
    for (int fd = 1; fd <= 2; fd++) {
        struct stat out;
        if (fstat(fd, &out) == 0 && out.st_dev == st->st_dev && out.st_ino == st->st_ino)
            return 1;
    }
    return 0;
}

/* path resolved as open() will see it: realpath; else its symbolic links followed one by one (a
 * /proc link such as /proc/self/fd/2, behind /dev/stderr, may name a pipe, which has no path),
 * then the folder of what is left resolved. malloc'd, or NULL when nothing resolves; *exists
 * says whether the file itself was found. */
static char *resolve(const char *path, int *exists)
{
    char cur[PATH_MAX], next[PATH_MAX], link[PATH_MAX];
    fmt_into(cur, sizeof cur, "%s", path);
    *exists = 0;
    for (int hops = 0; hops < 16; hops++) {
        char *real = realpath(cur, NULL);
        if (real) {
            *exists = 1;
            return real;
        }
        ssize_t n = readlink(cur, link, sizeof link - 1);
        if (n <= 0)
            break;
        link[n] = '\0';
        const char *slash = strrchr(cur, '/');
        if (link[0] == '/' || !slash)
            fmt_into(next, sizeof next, "%s", link);
        else
            fmt_into(next, sizeof next, "%.*s%s", (int)(slash - cur + 1), cur, link);
        memcpy(cur, next, sizeof cur);
    }
    char *slash = strrchr(cur, '/');
    if (!slash)
        return realpath(".", NULL);
    slash[slash == cur ? 1 : 0] = '\0'; /* "/x" -> "/", "a/b" -> "a" */
    return realpath(cur, NULL);
}

/* Before the open: NULL when path may be opened (writing: the mode writes), else why not. */
static const char *path_refusal(const char *path, int writing)
{
    int exists;
    char *real = resolve(path, &exists);
    if (!real)
        return NULL; /* the open fails by itself: nothing there */
    const char *why = NULL;
    struct statfs fs;
    struct stat st;
    if (statfs(real, &fs) == 0 && fs.f_type == PROC_SUPER_MAGIC) {
        const char *base = strrchr(real, '/');
        if (exists && base && strcmp(base + 1, "mem") == 0)
            why = WHY_MEM;
        else if (writing)
            why = WHY_PROC;
    } else if (writing && exists && stat(real, &st) == 0 && is_std_output(&st)) {
        why = WHY_STD;
    }
    free(real);
    return why;
}

/* After the open, on what was opened (the backstop for anything no path shows). */
static const char *fd_refusal(int fd, int writing)
{
    struct statfs fs;
    struct stat st;
    if (fstatfs(fd, &fs) == 0 && fs.f_type == PROC_SUPER_MAGIC) {
        char link[64], target[PATH_MAX];
        fmt_into(link, sizeof link, "/proc/self/fd/%d", fd);
        ssize_t n = readlink(link, target, sizeof target - 1);
        target[n > 0 ? n : 0] = '\0';
        const char *base = strrchr(target, '/');
        if (base && strcmp(base + 1, "mem") == 0)
            return WHY_MEM;
        if (writing)
            return WHY_PROC;
    }
    if (writing && fstat(fd, &st) == 0 && is_std_output(&st))
        return WHY_STD;
    return NULL;
}

/* io.open, io.lines, io.input and io.output with the checks above (upvalue 1: the original;
 * upvalue 2: its name; upvalue 3: the default mode, "?" for io.open's argument). A file the
 * original opened and the check refuses is closed first. A refusal is io.open's failure,
 * nil, message, EACCES (as for a file without permission); the others raise it, as they raise
 * when a file cannot be opened. */
static int checked_open(lua_State *L)
{
    const char *path = lua_type(L, 1) == LUA_TSTRING ? lua_tostring(L, 1) : NULL;
    const char *mode = lua_tostring(L, lua_upvalueindex(3));
    if (strcmp(mode, "?") == 0)
        mode = luaL_optstring(L, 2, "r");
    int writing = strpbrk(mode, "wa+") != NULL;
    const char *why = path ? path_refusal(path, writing) : NULL;
    int top = lua_gettop(L);
    if (!why) {
        lua_pushvalue(L, lua_upvalueindex(1));
        lua_insert(L, 1);
        lua_call(L, top, LUA_MULTRET);
        for (int i = 1; path && !why && i <= lua_gettop(L); i++) {
            luaL_Stream *st = luaL_testudata(L, i, LUA_FILEHANDLE);
            if (!st || !st->closef || !st->f || !(why = fd_refusal(fileno(st->f), writing)))
                continue;
            st->closef = NULL; /* closed, as liolib marks it */
            fclose(st->f);
        }
        if (!why)
            return lua_gettop(L);
    }
    const char *name = lua_tostring(L, lua_upvalueindex(2));
    if (strcmp(name, "io.open") != 0)
        return luaL_error(L, "%s(\"%s\") is not available to hook scripts: they run sandboxed; %s",
                          name, path, why);
    luaL_pushfail(L);
    lua_pushfstring(L, "%s: not available to hook scripts: they run sandboxed; %s", path, why);
    lua_pushinteger(L, EACCES);
    return 3;
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

    static const char *const removed[][3] = {
        {"io", "popen", "a hook cannot start processes"},
        {"os", "execute", "a hook cannot start processes"},
        {"os", "exit",
         "a hook ends by returning (or failing: error() or return false) and cannot "
         "stop the runtime"},
        {"os", "setlocale", "the locale is the whole process's and cannot change under it"},
        {"package", "loadlib", "a hook cannot load native code (C libraries)"},
    };
    for (size_t i = 0; i < sizeof removed / sizeof *removed; i++) {
        lua_getglobal(L, removed[i][0]);
        set_unavailable(L, removed[i][0], removed[i][1], removed[i][2]);
        lua_pop(L, 1);
    }
    static const char *const opens[][2] = {
        {"open", "?"}, {"lines", "r"}, {"input", "r"}, {"output", "w"}};
    lua_getglobal(L, "io");
    for (size_t i = 0; i < sizeof opens / sizeof *opens; i++) {
        lua_getfield(L, -1, opens[i][0]);
        lua_pushfstring(L, "io.%s", opens[i][0]);
        lua_pushstring(L, opens[i][1]);
        lua_pushcclosure(L, checked_open, 3);
        lua_setfield(L, -2, opens[i][0]);
    }
    lua_pop(L, 1);

    /* debug: traceback and getinfo; every other function says why it is not there */
    lua_getglobal(L, "debug");
    lua_createtable(L, 0, 16);
    lua_pushnil(L);
    while (lua_next(L, -3)) {
        lua_pop(L, 1);
        if (lua_type(L, -1) != LUA_TSTRING)
            continue;
        lua_pushvalue(L, -2);
        set_unavailable(L, "debug", lua_tostring(L, -2),
                        "only debug.traceback and debug.getinfo are (the rest could remove the "
                        "deadline or reach the runtime's own state)");
        lua_pop(L, 1);
    }
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

static int in_progress_readonly(lua_State *L)
{
    return luaL_error(L, "the value ctx.in_progress returns is read-only: return it as it is");
}

/* ctx.in_progress{delay = seconds, details = {...}}: "not done yet, call me again" under
 * ECS-native deployments. It changes nothing by itself: it returns a value, and the hook answers
 * IN_PROGRESS (with callBackDelay and hookDetails, which ECS hands back on its next call) only
 * when the function returns that value (`return ctx.in_progress{...}`). The value is a read-only
 * table whose fields read hookStatus, callBackDelay and hookDetails; what pmain() reads is kept
 * in the registry, out of the script's reach, so a table made to look like it is not one. */
static int ctx_in_progress(lua_State *L)
{
    struct host *h = host_of(L);
    const char *controller = h->job->controller ? h->job->controller : "local";
    if (strcmp(controller, "ecs") != 0)
        return luaL_error(L,
                          "ctx.in_progress is only for ECS-native deployments (ctx.controller "
                          "is '%s'): under CodeDeploy a hook finishes within one invocation",
                          controller);
    lua_settop(L, 1);
    lua_createtable(L, 0, 3); /* 2: what the hook answers */
    lua_pushliteral(L, "IN_PROGRESS");
    lua_setfield(L, 2, "hookStatus");
    if (!lua_isnoneornil(L, 1)) {
        luaL_checktype(L, 1, LUA_TTABLE);
        if (lua_getfield(L, 1, "delay") != LUA_TNIL) {
            int isint;
            lua_Integer d = lua_tointegerx(L, -1, &isint);
            luaL_argcheck(L, isint && d >= 0 && d <= LHOST_MAX_CALLBACK_DELAY, 1,
                          "delay must be whole seconds from 0 to 3600");
            lua_pushinteger(L, d);
            lua_setfield(L, 2, "callBackDelay");
        }
        lua_pop(L, 1);
        if (lua_getfield(L, 1, "details") != LUA_TNIL) {
            luaL_argcheck(L, lua_istable(L, -1), 1, "details must be a table");
            lua_setfield(L, 2, "hookDetails");
        } else {
            lua_pop(L, 1);
        }
    }
    lua_createtable(L, 0, 0); /* 3: the value returned */
    lua_createtable(L, 0, 3);
    lua_pushvalue(L, 2);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, in_progress_readonly);
    lua_setfield(L, -2, "__newindex");
    lua_pushliteral(L, "ctx.in_progress");
    lua_setfield(L, -2, "__metatable"); /* getmetatable() cannot reach the answer */
    lua_setmetatable(L, 3);
    luaL_getsubtable(L, LUA_REGISTRYINDEX, IN_PROGRESS_KEY);
    lua_pushvalue(L, 3);
    lua_pushvalue(L, 2);
    lua_rawset(L, -3);
    lua_pop(L, 1);
    h->in_progress_called = 1;
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

/* ---- canned answers (hookhost run --stub) ------------------------------------------------ */

#define STUBS_KEY "hookhost.stubs" /* registry: the module the job's stubs were loaded into */

/* require("hookhost.stubs").load(cjson.safe.decode(json), {strict = strict}) under pcall; the
 * module stays in the registry for count_unused_stubs. Returns 1, or 0 with the error in out
 * (for lhost_check_stubs: in err). */
static int stubs_load_into(lua_State *L, const char *json, size_t len, int strict, char *err,
                           size_t errlen)
{
    lua_getglobal(L, "require");
    lua_pushliteral(L, "hookhost.stubs");
    if (lua_pcall(L, 1, 1, 0) != LUA_OK) {
        fmt_into(err, errlen, "%s", lua_tostring(L, -1));
        return 0;
    }
    lua_pushvalue(L, -1);
    lua_setfield(L, LUA_REGISTRYINDEX, STUBS_KEY);
    lua_getfield(L, -1, "load");
    lua_getglobal(L, "require");
    lua_pushliteral(L, "cjson.safe");
    if (lua_pcall(L, 1, 1, 0) != LUA_OK) {
        fmt_into(err, errlen, "%s", lua_tostring(L, -1));
        return 0;
    }
    lua_getfield(L, -1, "decode");
    lua_remove(L, -2);
    lua_pushlstring(L, json, len);
    lua_call(L, 1, 2);
    if (lua_isnil(L, -2)) {
        fmt_into(err, errlen, "not valid JSON: %s", lua_tostring(L, -1));
        return 0;
    }
    lua_pop(L, 1);
    lua_createtable(L, 0, 1);
    lua_pushboolean(L, strict);
    lua_setfield(L, -2, "strict");
    if (lua_pcall(L, 2, 0, 0) != LUA_OK) {
        fmt_into(err, errlen, "%s", lua_tostring(L, -1));
        return 0;
    }
    lua_pop(L, 1);
    return 1;
}

static int load_stubs(lua_State *L, const struct lhost_job *job, struct lhost_outcome *out)
{
    char err[1024];
    if (stubs_load_into(L, job->stubs_json, job->stubs_len, !job->dry_run, err, sizeof err))
        return 1;
    out->reason = LHOST_ERROR;
    fmt_into(out->message, sizeof out->message, "--stub: %s", err);
    return 0;
}

/* After the script (strict stubs): log each entry it never used and count them. Runs under
 * lua_pcall; a state past its deadline or out of memory simply raises. */
static int count_unused_stubs(lua_State *L)
{
    struct host *h = host_of(L);
    if (lua_getfield(L, LUA_REGISTRYINDEX, STUBS_KEY) != LUA_TTABLE)
        return 0;
    lua_getfield(L, -1, "unused");
    lua_call(L, 0, 1);
    if (!lua_istable(L, -1))
        return 0;
    lua_Integer n = luaL_len(L, -1);
    for (lua_Integer i = 1; i <= n; i++) {
        lua_geti(L, -1, i);
        lua_getfield(L, -1, "index");
        lua_getfield(L, -2, "service");
        lua_getfield(L, -3, "operation");
        log_warn("stub entry %lld (%s %s) was not used: the script made fewer calls than the "
                 "stub file expects",
                 (long long)lua_tointeger(L, -3), lua_tostring(L, -2), lua_tostring(L, -1));
        lua_pop(L, 4);
        h->stubs_unused++;
    }
    return 0;
}

struct stubs_check {
    const char *json;
    size_t len;
    char *err;
    size_t errlen;
    int ok;
};

/* lhost_check_stubs's work, under lua_pcall: a memory error while decoding is an error too. */
static int stubs_check_main(lua_State *L)
{
    struct stubs_check *k = lua_touserdata(L, 1);
    luaL_openlibs(L);
    luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_PRELOAD_TABLE);
    lua_pushcfunction(L, open_cjson_safe);
    lua_setfield(L, -2, "cjson.safe");
    lua_pop(L, 1);
    set_package_path(L, host_of(L)->job);
    k->ok = stubs_load_into(L, k->json, k->len, 1, k->err, k->errlen);
    return 0;
}

int lhost_check_stubs(const char *json, size_t len, const char *lua_dir, char *err, size_t errlen)
{
    struct lhost_job job = {
        .lua_dir = lua_dir, .deadline_ms = clock_ms() + 10000, .mem_max = (size_t)256 << 20};
    struct host h = {.job = &job, .cap = job.mem_max, .started_ms = clock_ms()};
    lua_State *L = lua_newstate(capped_alloc, &h);
    if (!L) {
        fmt_into(err, errlen, "cannot create a Lua state");
        return -1;
    }
    *(struct host **)lua_getextraspace(L) = &h;
    struct stubs_check k = {json, len, err, errlen, 0};
    lua_pushcfunction(L, stubs_check_main);
    lua_pushlightuserdata(L, &k);
    if (lua_pcall(L, 1, 0, 0) != LUA_OK)
        fmt_into(err, errlen, "%s", lua_tostring(L, -1));
    lua_close(L);
    return k.ok ? 0 : -1;
}

/* ---- the execution --------------------------------------------------------------------------- */

/* The outcome of a function that returned ctx.in_progress's value: the answer it recorded is on
 * the stack top. hookDetails (any table: a JSON object or list) is encoded here, bounded. */
static int in_progress_outcome(lua_State *L, struct lhost_outcome *out)
{
    int answer = lua_gettop(L);
    out->callback_delay = -1;
    if (lua_getfield(L, answer, "callBackDelay") == LUA_TNUMBER)
        out->callback_delay = (int64_t)lua_tointeger(L, -1);
    lua_pop(L, 1);
    if (lua_getfield(L, answer, "hookDetails") == LUA_TTABLE) {
        lua_getfield(L, LUA_REGISTRYINDEX, "hookhost.json_encode");
        lua_insert(L, -2);
        if (lua_pcall(L, 1, 1, 0) != LUA_OK) {
            out->reason = LHOST_ERROR;
            fmt_into(out->message, sizeof out->message,
                     "ctx.in_progress: details cannot be encoded as JSON: %s", lua_tostring(L, -1));
            return 0;
        }
        size_t n;
        const char *d = lua_tolstring(L, -1, &n);
        if (n > LHOST_MAX_RESULT) {
            out->reason = LHOST_ERROR;
            fmt_into(out->message, sizeof out->message,
                     "ctx.in_progress: details are %zu bytes of JSON, over the %zu-byte limit", n,
                     LHOST_MAX_RESULT);
            return 0;
        }
        out->details_json = xstrndup(d, n); /* the outcome owns it from here */
    }
    lua_pop(L, 1);
    out->in_progress = 1;
    return 0;
}

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
    lua_pushcclosure(L, host_json_encode, 1);
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

    if (job->stubs_json && !load_stubs(L, job, out))
        return 0;

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
    /* IN_PROGRESS only when the function returned what ctx.in_progress produced */
    int answered = 0;
    if (lua_istable(L, -1)) {
        luaL_getsubtable(L, LUA_REGISTRYINDEX, IN_PROGRESS_KEY);
        lua_pushvalue(L, -2);
        answered = lua_rawget(L, -2) == LUA_TTABLE;
        if (!answered)
            lua_pop(L, 2);
    }
    if (answered)
        return in_progress_outcome(L, out);
    if (h->in_progress_called) {
        out->reason = LHOST_ERROR;
        fmt_into(out->message, sizeof out->message,
                 "ctx.in_progress was called, but the function returned %s instead of its value: "
                 "write `return ctx.in_progress{...}` to answer IN_PROGRESS",
                 lua_isnil(L, -1) ? "nothing" : luaL_typename(L, -1));
        return 0;
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
    if (job->stubs_json && !job->dry_run && !h.timed_out) {
        lua_pushcfunction(L, count_unused_stubs);
        lua_pcall(L, 0, 0, 0);
        out->stubs_unused = h.stubs_unused;
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
