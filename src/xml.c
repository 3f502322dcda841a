/* xml.c: see xml.h.
 *
 * Why two passes (expat into a C tree, then the tree into Lua) rather than building Lua tables
 * inside expat's callbacks: any lua_push* or lua_setfield may raise a memory error, and a longjmp
 * out of a callback would leave expat's parser and its buffers behind. So expat runs with no Lua
 * call at all, into a tree bounded by the limits in xml.h; the parser is freed; then the tree is
 * converted while a userdata with __gc owns it, so an error raised during the conversion frees
 * it too.
 */
#include "xml.h"

#include "buf.h"

/* libexpat is built with DTD support (Debian, Amazon Linux); its header only declares the
 * amplification limits when the user says so. */
#ifndef XML_DTD
#define XML_DTD 1
#endif
#include <expat.h>
#include <limits.h>
#include <lauxlib.h>
#include <stdlib.h>
#include <string.h>

#define TREE_META     "hookhost.xml.tree"
#define STRINGIFY_(x) #x
#define STRINGIFY(x)  STRINGIFY_(x)

struct xnode {
    char *name;
    char **attrs; /* name, value, name, value, ... */
    size_t nattrs;
    struct buf text;
    struct xnode **kids;
    size_t nkids, kcap;
    struct xnode *parent;
};

/* What the expat callbacks share. `failed` holds our own reason to stop (a limit, a DTD); once
 * set, callbacks that expat still delivers are ignored. */
struct xparse {
    XML_Parser p;
    struct xnode *root, *cur;
    int depth;
    size_t elements;
    const char *failed;
};

/* The userdata that owns a C tree while it is converted into Lua. */
struct xholder {
    struct xnode *root;
};

/* ======================================================================== the C tree */

/* Free a node and its subtree. Depth is bounded by XML_DOC_MAX_DEPTH, so recursion is safe. */
static void node_free(struct xnode *n)
{
    if (!n)
        return;
    for (size_t i = 0; i < n->nkids; i++)
        node_free(n->kids[i]);
    for (size_t i = 0; i < 2 * n->nattrs; i++)
        free(n->attrs[i]);
    free(n->attrs);
    free(n->kids);
    free(n->name);
    buf_free(&n->text);
    free(n);
}

/* The local part of a qualified name: AWS documents put everything in one default namespace,
 * and callers want "Invalidation", not "{uri}Invalidation" or "cf:Invalidation". */
static const char *local_name(const char *qname)
{
    const char *colon = strrchr(qname, ':');
    return colon ? colon + 1 : qname;
}

/* Whitespace between child elements is layout, not content. */
static int only_space(const struct buf *b)
{
    for (size_t i = 0; i < b->len; i++)
        if (b->p[i] != ' ' && b->p[i] != '\t' && b->p[i] != '\n' && b->p[i] != '\r')
            return 0;
    return 1;
}

/* ======================================================================== expat callbacks */

/* Keep the first reason: expat may still deliver a callback or two after XML_StopParser. */
static void stop(struct xparse *x, const char *why)
{
    if (!x->failed) {
        x->failed = why;
        XML_StopParser(x->p, XML_FALSE);
    }
}

/* A new element: the limits are checked before anything is allocated, so a hostile document
 * stops at the first element over a limit; the node is then linked under the current one. */
static void XMLCALL on_start(void *ud, const XML_Char *name, const XML_Char **atts)
{
    struct xparse *x = ud;
    if (x->failed)
        return;
    if (x->depth >= XML_DOC_MAX_DEPTH) {
        stop(x, "nesting deeper than " STRINGIFY(XML_DOC_MAX_DEPTH) " elements");
        return;
    }
    if (x->elements >= XML_DOC_MAX_ELEMENTS) {
        stop(x, "more than " STRINGIFY(XML_DOC_MAX_ELEMENTS) " elements");
        return;
    }
    struct xnode *n = xcalloc(1, sizeof *n);
    n->name = xstrdup(local_name(name));
    n->text = (struct buf)BUF_INIT(XML_DOC_MAX_BYTES);
    size_t na = 0;
    while (atts[2 * na])
        na++;
    if (na) {
        n->attrs = xcalloc(2 * na, sizeof *n->attrs);
        for (size_t i = 0; i < 2 * na; i++)
            n->attrs[i] = xstrdup(atts[i]);
        n->nattrs = na;
    }
    n->parent = x->cur;
    if (x->cur) {
        struct xnode *p = x->cur;
        if (p->nkids == p->kcap) {
            p->kcap = p->kcap ? p->kcap * 2 : 4;
            p->kids = xrealloc(p->kids, p->kcap * sizeof *p->kids);
        }
        p->kids[p->nkids++] = n;
    } else {
        x->root = n;
    }
    x->cur = n;
    x->depth++;
    x->elements++;
}

static void XMLCALL on_end(void *ud, const XML_Char *name)
{
    struct xparse *x = ud;
    if (x->failed || !x->cur)
        return;
    struct xnode *n = x->cur;
    if (n->nkids && only_space(&n->text))
        buf_free(&n->text);
    x->cur = n->parent;
    x->depth--;
}

static void XMLCALL on_text(void *ud, const XML_Char *s, int len)
{
    struct xparse *x = ud;
    if (x->failed || !x->cur || len <= 0)
        return;
    if (buf_append(&x->cur->text, s, (size_t)len) < 0)
        stop(x, "element text larger than the document limit");
}

/* A DOCTYPE is where entity declarations live; AWS never sends one, so refusing it outright
 * closes off entity expansion ("billion laughs") and external entities at once. */
static void XMLCALL on_doctype(void *ud, const XML_Char *name, const XML_Char *sysid,
                               const XML_Char *pubid, int has_internal_subset)
{
    stop(ud, "DTD not allowed");
}

static void XMLCALL on_entity_decl(void *ud, const XML_Char *name, int is_param,
                                   const XML_Char *value, int value_len, const XML_Char *base,
                                   const XML_Char *sysid, const XML_Char *pubid,
                                   const XML_Char *notation)
{
    stop(ud, "entity declarations not allowed");
}

/* ======================================================================== parsing */

/* Run expat over the whole document into a C tree. Returns the root (caller frees with
 * node_free) or NULL with the message in err. No Lua call happens here. */
static struct xnode *parse_tree(const char *xml, size_t len, char *err, size_t errlen)
{
    if (len > XML_DOC_MAX_BYTES) {
        fmt_into(err, errlen, "XML: document larger than %zu bytes", XML_DOC_MAX_BYTES);
        return NULL;
    }
    struct xparse x = {0};
    x.p = XML_ParserCreate(NULL);
    if (!x.p) {
        fmt_into(err, errlen, "XML: out of memory creating the parser");
        return NULL;
    }
    XML_SetUserData(x.p, &x);
    XML_SetElementHandler(x.p, on_start, on_end);
    XML_SetCharacterDataHandler(x.p, on_text);
    XML_SetStartDoctypeDeclHandler(x.p, on_doctype);
    XML_SetEntityDeclHandler(x.p, on_entity_decl);
    XML_SetParamEntityParsing(x.p, XML_PARAM_ENTITY_PARSING_NEVER);
#if XML_MAJOR_VERSION > 2 || (XML_MAJOR_VERSION == 2 && XML_MINOR_VERSION >= 4)
    /* Belt and braces: expat's own amplification limit, should a DTD ever get through. */
    XML_SetBillionLaughsAttackProtectionMaximumAmplification(x.p, 10.0f);
    XML_SetBillionLaughsAttackProtectionActivationThreshold(x.p, 1024 * 1024);
#endif
    enum XML_Status st = XML_Parse(x.p, xml, (int)len, XML_TRUE);
    if (st != XML_STATUS_OK || x.failed || !x.root) {
        const char *what = x.failed              ? x.failed
                           : st != XML_STATUS_OK ? XML_ErrorString(XML_GetErrorCode(x.p))
                                                 : "no root element";
        fmt_into(err, errlen, "XML: %s at line %lu", what,
                 (unsigned long)XML_GetCurrentLineNumber(x.p));
        node_free(x.root);
        x.root = NULL;
    }
    XML_ParserFree(x.p);
    return x.root;
}

/* ======================================================================== into Lua */

static int holder_gc(lua_State *L)
{
    struct xholder *h = luaL_checkudata(L, 1, TREE_META);
    node_free(h->root);
    h->root = NULL;
    return 0;
}

/* Push one element table. Recursion depth is bounded by XML_DOC_MAX_DEPTH; each level checks
 * for Lua stack room (which may raise: the holder then frees the tree). */
static void push_node(lua_State *L, const struct xnode *n)
{
    luaL_checkstack(L, 4, "XML nesting");
    lua_createtable(L, n->nkids > (size_t)INT_MAX ? 0 : (int)n->nkids, 3);
    lua_pushstring(L, n->name);
    lua_setfield(L, -2, "name");
    lua_pushlstring(L, n->text.p ? n->text.p : "", n->text.len);
    lua_setfield(L, -2, "text");
    if (n->nattrs) {
        lua_createtable(L, 0, (int)n->nattrs);
        for (size_t i = 0; i < n->nattrs; i++) {
            lua_pushstring(L, n->attrs[2 * i + 1]);
            lua_setfield(L, -2, n->attrs[2 * i]);
        }
        lua_setfield(L, -2, "attrs");
    }
    for (size_t i = 0; i < n->nkids; i++) {
        push_node(L, n->kids[i]);
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
}

/* The holder userdata is pushed before anything is allocated: from then on, whatever raises,
 * the tree is owned by something that Lua's collector will free. */
int xml_push(lua_State *L, const char *xml, size_t len, char *err, size_t errlen)
{
    luaL_checkstack(L, 8, "XML decode");
    struct xholder *h = lua_newuserdatauv(L, sizeof *h, 0);
    h->root = NULL;
    if (luaL_newmetatable(L, TREE_META)) {
        lua_pushcfunction(L, holder_gc);
        lua_setfield(L, -2, "__gc");
    }
    lua_setmetatable(L, -2);
    h->root = parse_tree(xml, len, err, errlen);
    if (!h->root) {
        lua_pop(L, 1);
        return -1;
    }
    push_node(L, h->root);
    node_free(h->root);
    h->root = NULL;
    lua_remove(L, -2);
    return 0;
}

/* ======================================================================== Lua functions */

int xml_decode(lua_State *L)
{
    size_t len;
    const char *s = luaL_checklstring(L, 1, &len);
    char err[256];
    if (xml_push(L, s, len, err, sizeof err) < 0) {
        luaL_pushfail(L);
        lua_pushstring(L, err);
        return 2;
    }
    return 1;
}

/* A parsed path: pointers into the Lua string argument, which stays on the stack meanwhile. */
struct xpath {
    struct str seg[XML_DOC_MAX_PATH];
    int n;
};

static void path_parse(lua_State *L, int arg, struct xpath *xp)
{
    size_t len;
    const char *s = luaL_checklstring(L, arg, &len);
    xp->n = 0;
    size_t i = 0;
    while (i < len) {
        size_t j = i;
        while (j < len && s[j] != '/')
            j++;
        if (j > i) {
            if (xp->n == XML_DOC_MAX_PATH)
                luaL_argerror(L, arg, "path has too many components");
            xp->seg[xp->n++] = (struct str){s + i, j - i};
        }
        i = j + 1;
    }
}

/* Is the table at `idx` an element named `want`? */
static int named(lua_State *L, int idx, struct str want)
{
    int ok = 0;
    if (lua_getfield(L, idx, "name") == LUA_TSTRING) {
        size_t len;
        const char *name = lua_tolstring(L, -1, &len);
        ok = str_eq((struct str){name, len}, want);
    }
    lua_pop(L, 1);
    return ok;
}

/* Walk path segments from the node at `node` (absolute index), depth-first in document order.
 * With `all` == 0, push the first match and return 1 (or return 0, nothing pushed). With
 * `all` != 0, append every match to the array at `out` and return 0. Recursion depth is at most
 * XML_DOC_MAX_PATH. */
static int walk(lua_State *L, int node, const struct xpath *xp, int k, int all, int out)
{
    if (k == xp->n) {
        lua_pushvalue(L, node);
        if (!all)
            return 1;
        lua_rawseti(L, out, (lua_Integer)lua_rawlen(L, out) + 1);
        return 0;
    }
    luaL_checkstack(L, 4, "XML path");
    for (lua_Integer i = 1;; i++) {
        if (lua_rawgeti(L, node, i) != LUA_TTABLE) {
            lua_pop(L, 1);
            break;
        }
        int kid = lua_gettop(L);
        if (named(L, kid, xp->seg[k]) && walk(L, kid, xp, k + 1, all, out)) {
            lua_remove(L, kid);
            return 1;
        }
        lua_pop(L, 1);
    }
    return 0;
}

int xml_find(lua_State *L)
{
    struct xpath xp;
    luaL_checktype(L, 1, LUA_TTABLE);
    path_parse(L, 2, &xp);
    if (!walk(L, 1, &xp, 0, 0, 0))
        lua_pushnil(L);
    return 1;
}

int xml_find_all(lua_State *L)
{
    struct xpath xp;
    luaL_checktype(L, 1, LUA_TTABLE);
    path_parse(L, 2, &xp);
    lua_newtable(L);
    walk(L, 1, &xp, 0, 1, lua_gettop(L));
    return 1;
}

int xml_text(lua_State *L)
{
    struct xpath xp;
    luaL_checktype(L, 1, LUA_TTABLE);
    path_parse(L, 2, &xp);
    if (!walk(L, 1, &xp, 0, 0, 0)) {
        lua_pushnil(L);
        return 1;
    }
    lua_getfield(L, -1, "text");
    return 1;
}

static const luaL_Reg xml_funcs[] = {
    {"decode", xml_decode}, {"find", xml_find}, {"find_all", xml_find_all},
    {"text", xml_text},     {NULL, NULL},
};

int luaopen_hookhost_xml(lua_State *L)
{
    luaL_newlib(L, xml_funcs);
    return 1;
}
