/* fuzz_xml: xml_push() (expat into a Lua table tree) and the path walkers on arbitrary bytes.
 *
 * Input: an optional first line "#path" used with find/find_all/text, then the document.
 * The state runs under a capped allocator (like a hook's), so memory errors are exercised too.
 * Invariants: xml_push pushes exactly one table (0) or nothing (-1) with a terminated message
 * starting "XML: "; a document with a DOCTYPE is never accepted; the walkers never raise on a
 * decoded tree and leave the stack balanced. */
#include "fuzz.h"
#include "xml.h"

#include <lauxlib.h>
#include <lualib.h>

#define MEM_CAP ((size_t)64 << 20)

struct budget {
    size_t used;
};

static void *capped_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
    struct budget *b = ud;
    size_t old = ptr ? osize : 0;
    if (nsize == 0) {
        free(ptr);
        b->used -= old;
        return NULL;
    }
    if (nsize > old && b->used + (nsize - old) > MEM_CAP)
        return NULL;
    void *q = realloc(ptr, nsize);
    if (q)
        b->used = b->used - old + nsize;
    return q;
}

struct args {
    const char *doc, *path;
    size_t len, plen;
    int rc;
    char err[256];
};

/* Runs under lua_pcall: xml_push may raise a memory error, and so may the walkers. */
static int body(lua_State *L)
{
    struct args *a = lua_touserdata(L, 1);
    int top = lua_gettop(L);
    a->rc = xml_push(L, a->doc, a->len, a->err, sizeof a->err);
    if (a->rc < 0) {
        FUZZ_CHECK(lua_gettop(L) == top);
        FUZZ_CHECK(fuzz_terminated(a->err, sizeof a->err));
        FUZZ_CHECK(strncmp(a->err, "XML: ", 5) == 0);
        return 0;
    }
    FUZZ_CHECK(lua_gettop(L) == top + 1 && lua_istable(L, -1));
    lua_getfield(L, -1, "name");
    FUZZ_CHECK(lua_type(L, -1) == LUA_TSTRING);
    lua_pop(L, 1);
    int doc = lua_gettop(L);
    if (a->path) {
        lua_CFunction fns[] = {xml_find, xml_find_all, xml_text};
        for (int i = 0; i < 3; i++) {
            lua_pushcfunction(L, fns[i]);
            lua_pushvalue(L, doc);
            lua_pushlstring(L, a->path, a->plen);
            lua_call(L, 2, 1);
            lua_pop(L, 1);
        }
    }
    FUZZ_CHECK(lua_gettop(L) == doc);
    return 0;
}

/* A prolog with a DOCTYPE: optional blanks and XML declaration, then "<!DOCTYPE". */
static int has_doctype(const char *d, size_t n)
{
    size_t i = 0;
    while (i < n && (d[i] == ' ' || d[i] == '\t' || d[i] == '\r' || d[i] == '\n'))
        i++;
    if (n - i >= 5 && memcmp(d + i, "<?xml", 5) == 0) {
        const char *e = memmem(d + i, n - i, "?>", 2);
        if (!e)
            return 0;
        i = (size_t)(e - d) + 2;
        while (i < n && (d[i] == ' ' || d[i] == '\t' || d[i] == '\r' || d[i] == '\n'))
            i++;
    }
    return n - i >= 9 && memcmp(d + i, "<!DOCTYPE", 9) == 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct args a = {0};
    a.doc = (const char *)data;
    a.len = size;
    if (size && data[0] == '#') {
        const char *nl = memchr(data, '\n', size);
        if (nl) {
            a.path = (const char *)data + 1;
            a.plen = (size_t)(nl - a.path);
            a.doc = nl + 1;
            a.len = size - (size_t)(a.doc - (const char *)data);
        }
    }
    struct budget b = {0};
    lua_State *L = lua_newstate(capped_alloc, &b);
    if (!L)
        return 0;
    lua_pushcfunction(L, body);
    lua_pushlightuserdata(L, &a);
    int st = lua_pcall(L, 1, 0, 0);
    /* A raise is only acceptable as a memory error (xml_push documents that) or a bad path
     * argument from the walkers (luaL_check*: an over-long path). */
    if (st != LUA_OK)
        FUZZ_CHECK(st == LUA_ERRMEM || (a.rc == 0 && a.path));
    if (st == LUA_OK && a.rc == 0)
        FUZZ_CHECK(!has_doctype(a.doc, a.len));
    lua_close(L);
    FUZZ_CHECK(b.used == 0);
    return 0;
}
