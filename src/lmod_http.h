/* lmod_http.h: the C core of the Lua module `hookhost.http` (lua/hookhost/http.lua wraps it),
 * plain HTTP(S) requests for smoke tests, plus the clock the Lua library waits with.
 *
 * Registered in package.preload as "hookhost.http.core" (luaopen_hookhost_http_core):
 *
 *   request{url, method?, headers?, body?, timeout_ms?, max_body?}
 *       -> status, headers, body              any HTTP answer, whatever its status
 *       -> nil, message, kind                 no answer: kind is "timeout", "connection",
 *                                             "dns", "tls", "too_large", "request", "deadline"
 *                                             or "other"; message names the method and the URL
 *                                             without its query, never a header value
 *     url: http:// or https:// only (at most HTTP_LUA_MAX_URL bytes); method "GET" by default
 *     (upper-case letters); headers {Name = "value"} (no line breaks); timeout_ms: this request's
 *     whole time, capped by the hook's time left (lhost_remaining_ms), default the time left;
 *     max_body: 1 .. HTTP_DEFAULT_MAX_BODY bytes, default HTTP_LUA_DEFAULT_MAX_BODY.
 *     Response headers come back with lower-case names (repeated ones joined with ", ").
 *     Redirects are never followed (a 3xx is an answer like any other). TLS verification is
 *     always on; AWS_CA_BUNDLE names the trusted CAs when set.
 *       -> 200, {}, "", true                  dry run (hookhost run --dry-run), any method but
 *                                             GET and HEAD: not sent; logged (INFO) as "dry run:
 *                                             not sent: POST <URL without query> (N bytes)"
 *   remaining_ms()  -> the running hook's time left in ms (what ctx.remaining_ms() returns)
 *   now_ms()        -> a monotonic clock in ms (http_now_ms)
 *   sleep_ms(ms)    -> sleeps min(ms, time left) ms; returns the ms actually slept
 *
 * Bad arguments raise; failures of the world return nil, message, kind. The process has one
 * http_client, made on first use in the worker process that runs scripts, so connections stay
 * warm between requests and between executions. A response lives in a userdata with __gc until
 * it has been copied into Lua: nothing leaks on a memory error.
 */
#ifndef HOOKHOST_LMOD_HTTP_H
#define HOOKHOST_LMOD_HTTP_H

#include <lua.h>

#define HTTP_LUA_MAX_URL          8192
#define HTTP_LUA_DEFAULT_MAX_BODY ((size_t)1 << 20)

int luaopen_hookhost_http_core(lua_State *L);

/* ---- shared with lmod_aws.c: HTTP responses in Lua ---- */

struct http_response;

/* Push a userdata holding an empty response (freed by its __gc/__close, so a Lua error after
 * http_do cannot leak it) and return the response inside it. */
struct http_response *lmod_http_push_response_holder(lua_State *L);

/* Push the response's headers as a table with lower-case names; repeated names are joined with
 * ", ". */
void lmod_http_push_headers(lua_State *L, const struct http_response *r);

/* Push t[key] of a C core's argument table and return it as a string: nil gives NULL (the nil
 * stays on the stack), a string its bytes (valid while it stays on the stack), anything else
 * raises "<fname>: '<key>' must be a string". */
const char *lmod_opt_string(lua_State *L, int t, const char *key, size_t *len, const char *fname);

/* Free the process's client (tests). Safe at any time outside a call. */
void lmod_http_shutdown(void);

#endif
