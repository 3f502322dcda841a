/* lmod_aws.h: the C core of the Lua module `hookhost.aws` (lua/hookhost/aws.lua wraps it).
 *
 * Registered in package.preload as "hookhost.aws.core" (luaopen_hookhost_aws_core):
 *
 *   request{service, region?, method?, path?, query?, headers?, body?, endpoint_prefix?,
 *           content_type?, max_attempts?, operation?, signing_name?, host_prefix?, auth?}
 *       -> status, headers, body                       a 2xx answer
 *       -> nil, err                                    anything else, after retries
 *       -> 0, {}, "", dry                              in a dry run (nothing sent; aws.send
 *                                                      makes it the placeholder)
 *     service: "codedeploy", "cloudfront", "cloudwatch"/"monitoring", "sns", ... (aws.h)
 *     method: "GET" by default; path: "/" by default, already URI-encoded
 *     query: an encoded string, or a table {name = value | {value, ...}} (values string,
 *            number or boolean; encoded RFC 3986, sorted by name)
 *     headers: {Name = "value"} (signed; Host, Authorization, X-Amz-Date, X-Amz-Security-Token,
 *              X-Amz-Content-SHA256 are the signer's and ignored)
 *     max_attempts: 1..20, overriding AWS_MAX_ATTEMPTS for this call
 *     signing_name: the SigV4 service name when it is not the service's own (a model's
 *                   signingName: "ecr" for the endpoint prefix "api.ecr")
 *     host_prefix: "label." put in front of the endpoint's host, any endpoint (S3's virtual-
 *                  hosted buckets); not host labels ending in '.': nil, InvalidEndpoint err
 *     auth: the model's authtype: "v4" (default), "none" (sent unsigned: no credentials
 *           needed, none sent) or "v4-unsigned-body" (x-amz-content-sha256: UNSIGNED-PAYLOAD)
 *     Response headers come back with lower-case names (repeated ones joined with ", ").
 *     err: {code, message, status (0: no response), request_id (or nil), retryable, attempts}
 *          with a __tostring: "Code: message (HTTP 404, request id X, 3 attempts)".
 *     dry: {dry_run = true, service, operation, message}; the description ("dry run: not
 *          sent: ...", aws.h) is logged, with headers and body when the job is verbose.
 *   uri_encode(s [, keep_slash])  -> s percent-encoded, RFC 3986 unreserved bytes kept
 *   error{code, message, status?, request_id?, retryable?, attempts?} -> an err object (above)
 *   connections()                 -> new connections opened by the process's client so far
 *   decode_error(status, headers, body) -> the err a real answer like this would give
 *   md5(s)                        -> the 16 raw bytes of MD5(s) (S3's Content-MD5)
 *   sha1(s), sha256(s)            -> the raw SHA-1 / SHA-256 digests (x-amz-checksum-*)
 *
 * Each call's deadline is the running hook's time left (lhost_remaining_ms): a call blocked in C
 * cannot outlive the hook, since the deadline hook never fires inside C. Bad arguments raise;
 * failures of the world (network, AWS, configuration) return nil, err.
 *
 * The process has one aws_client, made on the first call and reused by every later call and
 * every later hook state, so connections stay warm. No malloc'd memory is held across a Lua call
 * that can raise: the response lives in a userdata with __gc until it has been copied into Lua.
 */
#ifndef HOOKHOST_LMOD_AWS_H
#define HOOKHOST_LMOD_AWS_H

#include <lua.h>

int luaopen_hookhost_aws_core(lua_State *L);

/* Free the process's client (tests, and a worker about to exit). Safe to call at any time
 * outside a call; the next call makes a new client. */
void lmod_aws_shutdown(void);

#endif
