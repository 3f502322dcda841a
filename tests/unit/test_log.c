/* Tests for log.c: level parsing, redaction of secrets and signatures. */
#include "log.h"
#include "testhelp.h"

#include <stdlib.h>
#include <string.h>

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
        CHECK(strstr(a, "Signature=***") != NULL);
        char q[] = "GET /?X-Amz-Security-Token=IQoJb3JpZ2luX2VjE&X-Amz-Signature=abcdef0123&x=1";
        CHECK_STR(log_redact(q), "GET /?X-Amz-Security-Token=***&X-Amz-Signature=***&x=1");
    }
    return test_report("log");
}
