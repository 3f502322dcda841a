/* fuzz_ini: the shared credentials / config file reader of creds.c on arbitrary bytes.
 *
 * creds.c keeps its INI reader static, so this target includes creds.c itself (no seam needed)
 * and calls ini_profile() for a few profiles in both file flavours, then the whole chain,
 * creds_get() and creds_profile_region(), with AWS_SHARED_CREDENTIALS_FILE or AWS_CONFIG_FILE
 * pointing at a temporary file holding the input. Inputs that mention "process" (any case) skip
 * the chain: a credential_process line would make the fuzzer run shell commands.
 *
 * Invariants: values are trimmed and hold no line feed; a refusal names the file and a line and
 * carries no other input byte; a resolved set has an access key and a secret key. */
#include "../../src/creds.c"

#include "fuzz.h"

#include <strings.h>

static char path[64];
static const char *which_var;

static const char *fake_env(void *ud, const char *name)
{
    (void)ud;
    if (strcmp(name, which_var) == 0)
        return path;
    if (strcmp(name, "AWS_SHARED_CREDENTIALS_FILE") == 0 || strcmp(name, "AWS_CONFIG_FILE") == 0)
        return "/nonexistent/hookhost-fuzz";
    if (strcmp(name, "AWS_PROFILE") == 0)
        return "dev";
    return NULL; /* no HOME, no environment keys, no container variables */
}

static int input_has_nul;

static void check_value(const char *v)
{
    if (!v)
        return;
    FUZZ_CHECK(!strchr(v, '\n'));
    size_t n = strlen(v);
    if (n && !input_has_nul) { /* a NUL inside a value cuts the C string short */
        FUZZ_CHECK(v[0] != ' ' && v[0] != '\t');
        FUZZ_CHECK(v[n - 1] != ' ' && v[n - 1] != '\t' && v[n - 1] != '\r');
    }
}

static int mentions_process(const uint8_t *d, size_t n)
{
    static const char w[] = "process";
    for (size_t i = 0; i + sizeof w - 1 <= n; i++)
        if (strncasecmp((const char *)d + i, w, sizeof w - 1) == 0)
            return 1;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const wants[] = {"default", "dev", "profile dev", ""};
    char err[512];
    input_has_nul = memchr(data, '\0', size) != NULL;
    for (size_t w = 0; w < 4; w++) {
        for (int config = 0; config < 2; config++) {
            struct profile pr = {0};
            err[0] = '\0';
            int rc =
                ini_profile((const char *)data, size, wants[w], config, "F", &pr, err, sizeof err);
            if (rc == 0) {
                check_value(pr.access_key);
                check_value(pr.secret_key);
                check_value(pr.token);
                check_value(pr.process);
                check_value(pr.region);
            } else {
                FUZZ_CHECK(strncmp(err, "F: line ", 8) == 0);
            }
            profile_clear(&pr);
        }
    }

    if (size > INI_MAX_FILE || mentions_process(data, size))
        return 0;
    if (!path[0])
        fmt_into(path, sizeof path, "/tmp/hookhost-fuzz-ini.%d", (int)getpid());
    FILE *f = fopen(path, "wb");
    if (!f)
        abort();
    if (size && fwrite(data, 1, size, f) != size)
        abort();
    fclose(f);
    for (int i = 0; i < 2; i++) {
        which_var = i ? "AWS_CONFIG_FILE" : "AWS_SHARED_CREDENTIALS_FILE";
        struct creds_opts o = {.getenv_fn = fake_env};
        struct creds_provider *p = creds_provider_new(&o);
        struct creds c;
        if (creds_get(p, &c, err, sizeof err) == 0) {
            FUZZ_CHECK(c.access_key && c.secret_key && c.source);
            check_value(c.access_key);
            check_value(c.secret_key);
            check_value(c.session_token);
            creds_clear(&c);
        } else {
            FUZZ_CHECK(!c.access_key && !c.secret_key);
            FUZZ_CHECK(fuzz_terminated(err, sizeof err) && err[0]);
        }
        free(creds_profile_region(p));
        creds_provider_free(p);
    }
    unlink(path);
    return 0;
}
