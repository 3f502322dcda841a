/* json.h: JSON for the C side, through lua-cjson on a private Lua state.
 *
 * The runtime never parses or builds JSON by hand: everything goes through cjson, on one
 * process-wide Lua state that only this module touches (created on first use; a forked worker
 * inherits its own copy). Calls are not reentrant and not thread-safe; hookhost has one thread.
 *
 * Building:   struct json *j = json_new();
 *             json_set_str(j, "status", "Succeeded"); json_set_int(j, "ms", 12);
 *             char *text = json_finish(j);     // malloc'd, caller frees; j is gone
 * Reading:    json_get_fields(text, len, keys, n, values, err, errlen)
 */
#ifndef HOOKHOST_JSON_H
#define HOOKHOST_JSON_H

#include <stddef.h>
#include <stdint.h>

/* ---- building an object ---- */
struct json;
struct json *json_new(void);
void json_set_str(struct json *j, const char *key, const char *value); /* NULL value: skipped */
void json_set_strn(struct json *j, const char *key, const char *value, size_t len);
void json_set_int(struct json *j, const char *key, int64_t value);
void json_set_bool(struct json *j, const char *key, int value);
/* Set key to the JSON value `text` (kept byte for byte when it is valid JSON without control
 * characters, so an empty list stays []; else its decoded value); invalid text is stored as a
 * string. Set each key once. */
void json_set_raw(struct json *j, const char *key, const char *text, size_t len);
/* Set key to an array of strings (n == 0: an empty array, encoded as [], not {}). */
void json_set_str_array(struct json *j, const char *key, const char *const *values, size_t n);
/* Encode, free the builder, return malloc'd text (never NULL). */
char *json_finish(struct json *j);
/* Free without encoding. */
void json_discard(struct json *j);
/* Turn every "\/" escape of JSON text (cjson writes '/' so: legal, but URLs and paths in what
 * people read become hard to read and to grep) back into '/', in place; returns text. Escapes
 * are read in pairs, so "\\\/" (the text \/) keeps its backslash. NULL: nothing. */
char *json_unslash(char *text);

/* ---- reading ---- */
/* The kinds of value json_get_fields() reports. */
enum json_kind { JSON_ABSENT, JSON_STRING, JSON_NUMBER, JSON_BOOL, JSON_OTHER };

struct json_field {
    const char *key;     /* in: a key of the top-level object, or of `parent` when set */
    const char *parent;  /* in: NULL, or a top-level key whose object holds `key` */
    enum json_kind kind; /* out */
    char *value;   /* out: malloc'd copy when kind == JSON_STRING (may contain NULs), else NULL */
    size_t len;    /* out: length of value */
    double num;    /* out: the number (JSON_NUMBER), or 1/0 (JSON_BOOL) */
    char *json;    /* out: malloc'd re-encoded JSON when want_json and kind is JSON_OTHER */
    int want_json; /* in: encode objects and arrays into `json` */
};

/* Decode text (which must be a JSON object) and read the given keys (top-level, or one level
 * down under `parent`). Returns 0, or -1
 * with a message ("invalid JSON: ...", "not a JSON object") in err. On success the caller frees
 * each field's value with json_fields_free(). */
int json_get_fields(const char *text, size_t len, struct json_field *fields, size_t n, char *err,
                    size_t errlen);
void json_fields_free(struct json_field *fields, size_t n);

/* The JSON object text with key set to the value value_json decodes to (added or replaced); the
 * rest is decoded and encoded again by cjson. Returns malloc'd text (caller frees), or NULL with
 * a message in err when text is not a JSON object or value is not JSON. */
char *json_object_with(const char *text, size_t len, const char *key, const char *value_json,
                       size_t vlen, char *err, size_t errlen);

/* The maximum nesting depth accepted when decoding (deeper input is an error, not a crash). */
#define JSON_MAX_DEPTH 128

#endif
