/* Tests for log.c: level parsing, redaction of secrets and signatures. */
#include "log.h"
#include "testhelp.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* One log_line() with these fields, as written to stderr (into out, NUL-terminated). */
static void logged(enum log_format f, const char *fields, char *out, size_t outlen)
{
    FILE *tmp = tmpfile();
    int saved = dup(STDERR_FILENO);
    if (!tmp || saved < 0) {
        out[0] = '\0';
        return;
    }
    dup2(fileno(tmp), STDERR_FILENO);
    log_set_format(f);
    log_line(LOG_INFO, fields, "m");
    log_set_format(LOG_TEXT);
    dup2(saved, STDERR_FILENO);
    close(saved);
    rewind(tmp);
    size_t n = fread(out, 1, outlen - 1, tmp);
    out[n] = '\0';
    fclose(tmp);
}

int main(void)
{
    TEST("levels parse case-insensitively; unknown ones are refused")
    {
        enum log_level l;
        CHECK_INT(log_level_parse("warn", &l), 0);
        CHECK_INT(l, LOG_WARN);
        CHECK_INT(log_level_parse("WARNING", &l), 0);
        CHECK_INT(log_level_parse("DEBUG", &l), 0);
        CHECK_INT(l, LOG_DEBUG);
        CHECK_INT(log_level_parse("loud", &l), -1);
        CHECK_STR(log_level_name(LOG_ERROR), "ERROR");
    }
    TEST("the threshold filters lower levels")
    {
        log_set_level(LOG_WARN);
        CHECK(!log_enabled(LOG_INFO));
        CHECK(log_enabled(LOG_WARN));
        CHECK(log_enabled(LOG_ERROR));
        log_set_level(LOG_INFO);
    }
    TEST("registered secrets are replaced wherever they appear")
    {
        log_add_secret("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY");
        log_add_secret("short"); /* ignored: too short to redact safely */
        char s[] = "key=wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY and "
                   "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY; short";
        CHECK_STR(log_redact(s), "key=*** and ***; short");
    }
    TEST("a registered secret is also redacted as JSON writes it ('/' as '\\/')")
    {
        log_add_secret("hhSecret/Key/+0123456789");
        char s[] = "{\"secret\":\"hhSecret\\/Key\\/+0123456789\"} hhSecret/Key/+0123456789";
        CHECK_STR(log_redact(s), "{\"secret\":\"***\"} ***");
    }
    TEST("log_init registers the environment's secret key and session token")
    {
        setenv("AWS_SECRET_ACCESS_KEY", "envSecretKey/0123456789", 1);
        setenv("AWS_SESSION_TOKEN", "envSessionToken//ABCDEFGH==", 1);
        log_init();
        char s[] = "sk envSecretKey/0123456789 tok envSessionToken\\/\\/ABCDEFGH==";
        CHECK_STR(log_redact(s), "sk *** tok ***");
        unsetenv("AWS_SECRET_ACCESS_KEY");
        unsetenv("AWS_SESSION_TOKEN");
    }
    TEST("signatures and tokens are redacted even when nobody registered them")
    {
        char a[] =
            "Authorization: AWS4-HMAC-SHA256 Credential=AKID/20150830/us-east-1/s/aws4_request, "
            "SignedHeaders=host, "
            "Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31";
        log_redact(a);
        CHECK(strstr(a, "5fa00fa3") == NULL);
        CHECK_STR(a, "Authorization: ***");
        char sig[] = "credential=AKID/x, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a";
        CHECK_STR(log_redact(sig), "credential=AKID/x, Signature=***");
        char q[] = "GET /?X-Amz-Security-Token=IQoJb3JpZ2luX2VjE&X-Amz-Signature=abcdef0123&x=1";
        CHECK_STR(log_redact(q), "GET /?X-Amz-Security-Token=***&X-Amz-Signature=***&x=1");
    }
    TEST("a secret cut short is redacted down to its first LOG_MIN_SECRET characters")
    {
        log_add_secret("cutSecret/Key+Abcdefghijklmnopqrstuvwxyz0123");
        /* what a 1024-byte message buffer left of it, then text appended after the cut */
        char a[] = "echo 'cutSecret/Key+Abcdefg (retries exhausted)";
        CHECK_STR(log_redact(a), "echo '*** (retries exhausted)");
        char b[] = "{\"m\":\"cutSecret\\/Key+Abc\"} cutSecr";
        CHECK_STR(log_redact(b), "{\"m\":\"***\"} cutSecr"); /* 7 characters: not a piece */
    }
    TEST("a secret is found raw, JSON-escaped and percent-encoded, the longest run at each place")
    {
        log_add_secret("formSecret/With+Slash=");
        char a[] = "q=formSecret%2FWith%2BSlash%3D&raw=formSecret/With+Slash= "
                   "json=formSecret\\/With+Slash=";
        CHECK_STR(log_redact(a), "q=***&raw=*** json=***");
        /* "formSecret" alone is a run of 10: the escaped rest must go with it, not stay behind */
        char b[] = "formSecret\\/With+Sl";
        CHECK_STR(log_redact(b), "***");
    }
    TEST("the session token in an echoed canonical request is redacted by its key, registered "
         "or not, whole or cut")
    {
        char a[] = "The Canonical String for this request should have been\n'POST\n/\n\n"
                   "host:codedeploy.us-east-1.amazonaws.com\nx-amz-date:20261204T000000Z\n"
                   "x-amz-security-token:IQoJb3JpZ2luX2VjEFAKE/unregistered+token==\n"
                   "x-amz-target:CodeDeploy_20141006.GetDeployment\n\n"
                   "host;x-amz-date;x-amz-security-token;x-amz-target\nabc'";
        log_redact(a);
        CHECK(strstr(a, "IQoJ") == NULL);
        CHECK(strstr(a, "\nx-amz-security-token:***\nx-amz-target:") != NULL);
        CHECK(strstr(a, "host;x-amz-date;x-amz-security-token;x-amz-target") != NULL);
        char cut[] = "SignatureDoesNotMatch: ...\\nx-amz-security-token:IQoJb3JpZ2luX2Vj\\/cut";
        CHECK_STR(log_redact(cut), "SignatureDoesNotMatch: ...\\nx-amz-security-token:***");
        char json[] = "{\"error\":\"x-amz-security-token:IQoJb3\\/Jp\\nnext\"}";
        CHECK_STR(log_redact(json), "{\"error\":\"x-amz-security-token:***\\nnext\"}");
    }
    TEST("credential keys: headers, ini settings, JSON members, Authorization lines")
    {
        char h[] = "X-Amz-Security-Token: FQoGZXIvYXdz/abc+def\r\nHost: x";
        CHECK_STR(log_redact(h), "X-Amz-Security-Token: ***\r\nHost: x");
        char ini[] = "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG\naws_session_token=FwoG/zz\n";
        CHECK_STR(log_redact(ini), "aws_secret_access_key = ***\naws_session_token=***\n");
        char js[] = "{\"AccessKeyId\":\"ASIA1\",\"SecretAccessKey\":\"abc\\/def\","
                    "\"SessionToken\":\"tok+en==\"}";
        CHECK_STR(
            log_redact(js),
            "{\"AccessKeyId\":\"ASIA1\",\"SecretAccessKey\":\"***\",\"SessionToken\":\"***\"}");
        char nested[] = "{\"body\":\"{\\\"SessionToken\\\":\\\"tok\\/en\\\"}\"}";
        CHECK_STR(log_redact(nested), "{\"body\":\"{\\\"SessionToken\\\":\\\"***\\\"}\"}");
        char auth[] = "Authorization: AWS4-HMAC-SHA256 Credential=AKID/20261204/us-east-1/s/"
                      "aws4_request, SignedHeaders=host, Signature=0123abcd\nHost: x";
        CHECK_STR(log_redact(auth), "Authorization: ***\nHost: x");
        char prose[] = "AccessKeyId or SecretAccessKey missing; Authorization header requires "
                       "X-Amz-Date; SignedHeaders=host;x-amz-security-token";
        char copy[sizeof prose];
        memcpy(copy, prose, sizeof prose);
        CHECK_STR(log_redact(prose), copy); /* names without values are left alone */
        char twice[] = "X-Amz-Security-Token=***&x-amz-security-token:*";
        CHECK_STR(log_redact(twice), "X-Amz-Security-Token=***&x-amz-security-token:*");
    }
    TEST("log_redact_into redacts before it cuts: a secret across the cut leaves nothing")
    {
        log_add_secret("acrossTheCut/Secret+0123456789");
        const char src[] = "0123456789acrossTheCut/Secret+0123456789 tail";
        char dst[16];
        log_redact_into(dst, sizeof dst, src, strlen(src)); /* cut first: "0123456789acros" */
        CHECK_STR(dst, "0123456789*** t");
        log_redact_into(dst, sizeof dst, src, 12); /* only srclen bytes are read */
        CHECK_STR(dst, "0123456789ac");
        char one[1];
        log_redact_into(one, sizeof one, src, strlen(src));
        CHECK_STR(one, "");
    }
    TEST("log fields show '/' as is: cjson's \\/ escapes are undone, a backslash kept")
    {
        /* {"url":"https://x/y","path":"a\\/b"} as cjson writes it: the second holds a backslash */
        const char *fields = "{\"url\":\"https:\\/\\/x\\/y\",\"path\":\"a\\\\\\/b\"}";
        char out[512];
        logged(LOG_JSON, fields, out, sizeof out);
        CHECK(strstr(out, ",\"url\":\"https://x/y\",\"path\":\"a\\\\/b\"}\n") != NULL);
        logged(LOG_TEXT, fields, out, sizeof out);
        CHECK(strstr(out, " m {\"url\":\"https://x/y\",\"path\":\"a\\\\/b\"}\n") != NULL);
        logged(LOG_TEXT, "{\"end\":\"\\\\\"}", out, sizeof out); /* a trailing \\ */
        CHECK(strstr(out, " m {\"end\":\"\\\\\"}\n") != NULL);
    }
    return test_report("log");
}
