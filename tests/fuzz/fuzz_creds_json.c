/* fuzz_creds_json: the credential JSON of credential_process (Version 1, SessionToken) and of
 * the container endpoint (Token), and the RFC 3339 expiration parser, on arbitrary bytes.
 *
 * parse_creds_json() is static in creds.c, so this target includes creds.c (no seam needed;
 * running a shell per input through credential_process would cost ~1 ms each and test /bin/sh).
 * Invariants: success means an access key and a secret key (non-empty); a refusal's message is
 * one of the fixed texts prefixed by the source name, so it never carries input bytes (secrets
 * included); creds_parse_rfc3339 never reads past the string's NUL. */
#include "../../src/creds.c"

#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[512];
    for (int process_format = 0; process_format < 2; process_format++) {
        struct creds c;
        err[0] = '\0';
        int rc =
            parse_creds_json((const char *)data, size, process_format, "SRC", &c, err, sizeof err);
        if (rc == 0) {
            FUZZ_CHECK(c.access_key && *c.access_key && c.secret_key && *c.secret_key);
            creds_clear(&c);
            FUZZ_CHECK(!c.access_key && !c.secret_key && !c.session_token);
        } else {
            FUZZ_CHECK(!c.access_key && !c.secret_key && !c.session_token);
            FUZZ_CHECK(strncmp(err, "SRC: ", 5) == 0);
            for (const char *p = err; *p; p++)
                FUZZ_CHECK(*p >= 0x20 && *p < 0x7f);
        }
    }
    /* the expiration parser on the input as a C string (an exact-length copy, so ASan sees any
     * read past the NUL) */
    char *s = malloc(size + 1);
    if (!s)
        abort();
    memcpy(s, data, size);
    s[size] = '\0';
    int64_t ms = 0;
    if (creds_parse_rfc3339(s, &ms) == 0)
        FUZZ_CHECK(strlen(s) >= 20);
    free(s);
    return 0;
}
