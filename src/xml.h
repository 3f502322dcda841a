/* xml.h: XML responses (AWS REST-XML and query protocol) into Lua tables, parsed with expat.
 *
 * The shape: every element becomes a table
 *
 *     { name = "Invalidation",        -- local name: any "prefix:" is dropped, namespaces ignored
 *       text = "...",                 -- the element's own character data, entities and CDATA
 *                                     -- decoded; "" when it is only whitespace around children
 *       attrs = { Name = "value" },   -- only when the element has attributes (names verbatim)
 *       [1] = <child element>, ... }  -- child elements in document order
 *
 * and decoding returns the root element. Paths are '/'-separated child names walked from a node
 * (the node's own name is not part of the path), e.g. for a CloudFront response whose root is
 * <Invalidation>: xml.text(doc, "Id"); for DescribeAlarms:
 * xml.find_all(doc, "DescribeAlarmsResult/MetricAlarms/member"); for an error document:
 * xml.text(doc, "Error/Code"), xml.text(doc, "RequestId").
 *
 * Safety: documents with a DOCTYPE are rejected (so no entity declarations, hence no "billion
 * laughs" and no external entities); depth, element count and size are capped (below).
 *
 * Lua module `hookhost.xml` (luaopen_hookhost_xml):
 *   decode(s)              -> root table | nil, "XML: <what> at line L"
 *   find(node, path)       -> first element at path (document order) | nil
 *   find_all(node, path)   -> array of every element at path (possibly empty)
 *   text(node, path)       -> text of find(node, path) | nil
 * Bad argument types raise, as luaL_check* does; an invalid document is a returned error.
 */
#ifndef HOOKHOST_XML_H
#define HOOKHOST_XML_H

#include <stddef.h>

#include <lua.h>

/* ---- limits ---- */
#define XML_DOC_MAX_BYTES    ((size_t)16 << 20) /* input document size */
#define XML_DOC_MAX_DEPTH    64                 /* element nesting, root = 1 */
#define XML_DOC_MAX_ELEMENTS 200000             /* elements in one document */
#define XML_DOC_MAX_PATH     32                 /* components in a find() path */

/* ---- C API ---- */
/* Parse `len` bytes of `xml` and push the root element table (shape above). Returns 0 with one
 * value pushed, or -1 with nothing pushed and "XML: <expat message> at line L" (or which limit was
 * passed) written to err. Like any lua_push*, it may raise a Lua memory error; nothing leaks then:
 * the parse runs into a C tree owned by a userdata with __gc, and no Lua call happens while expat
 * runs. `xml` is only read during the call. */
int xml_push(lua_State *L, const char *xml, size_t len, char *err, size_t errlen);

/* ---- Lua functions (also in the module table) ---- */
int xml_decode(lua_State *L);
int xml_find(lua_State *L);
int xml_find_all(lua_State *L);
int xml_text(lua_State *L);

/* Push the module table {decode, find, find_all, text}; for package.preload["hookhost.xml"]. */
int luaopen_hookhost_xml(lua_State *L);

#endif
