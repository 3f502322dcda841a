/* event.c: see event.h. */
#include "event.h"

#include "buf.h"
#include "json.h"

#include <stdlib.h>
#include <string.h>

int event_valid_deployment_id(const char *s, size_t len)
{
    if (len != 11 || s[0] != 'd' || s[1] != '-')
        return -1;
    for (size_t i = 2; i < len; i++)
        if (!((s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= '0' && s[i] <= '9')))
            return -1;
    return 0;
}

int event_valid_execution_id(const char *s, size_t len)
{
    if (len == 0 || len > EVENT_MAX_EXECUTION_ID)
        return -1;
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)s[i] < 0x21 || (unsigned char)s[i] > 0x7E)
            return -1;
    return 0;
}

int event_parse(const char *json, size_t len, struct event *ev, char *err, size_t errlen)
{
    memset(ev, 0, sizeof *ev);
    struct json_field f[] = {{.key = "DeploymentId"}, {.key = "LifecycleEventHookExecutionId"}};
    if (json_get_fields(json, len, f, 2, err, errlen) < 0)
        return -1;
    int rc = -1;
    if (f[0].kind == JSON_ABSENT) {
        ev->kind = EVENT_PLAIN;
        rc = 0;
        goto cleanup;
    }
    if (f[0].kind != JSON_STRING || event_valid_deployment_id(f[0].value, f[0].len) < 0) {
        fmt_into(err, errlen,
                 "DeploymentId is not a deployment id (\"d-\" and 9 upper-case letters or digits)");
        goto cleanup;
    }
    if (f[1].kind == JSON_ABSENT) {
        fmt_into(err, errlen, "LifecycleEventHookExecutionId is missing (DeploymentId is set)");
        goto cleanup;
    }
    if (f[1].kind != JSON_STRING || event_valid_execution_id(f[1].value, f[1].len) < 0) {
        fmt_into(err, errlen,
                 "LifecycleEventHookExecutionId is not 1 to %d printable ASCII characters",
                 EVENT_MAX_EXECUTION_ID);
        goto cleanup;
    }
    ev->kind = EVENT_CODEDEPLOY;
    ev->deployment_id = f[0].value;
    ev->execution_id = f[1].value;
    f[0].value = f[1].value = NULL;
    rc = 0;
cleanup:
    json_fields_free(f, 2);
    return rc;
}

void event_free(struct event *ev)
{
    free(ev->deployment_id);
    free(ev->execution_id);
    memset(ev, 0, sizeof *ev);
}
