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

/* The stages ECS's API reference lists for lifecycle hooks (DeploymentLifecycleHookStage). */
static const char *const ecs_stages[] = {
    "RECONCILE_SERVICE",
    "PRE_SCALE_UP",
    "POST_SCALE_UP",
    "TEST_TRAFFIC_SHIFT",
    "POST_TEST_TRAFFIC_SHIFT",
    "PRE_PRODUCTION_TRAFFIC_SHIFT",
    "PRODUCTION_TRAFFIC_SHIFT",
    "POST_PRODUCTION_TRAFFIC_SHIFT",
};

int event_ecs_stage_known(const char *s)
{
    for (size_t i = 0; i < sizeof ecs_stages / sizeof *ecs_stages; i++)
        if (strcmp(s, ecs_stages[i]) == 0)
            return 1;
    return 0;
}

int event_is_ecs_stage(const char *s)
{
    size_t n = 0;
    if (!(s[0] >= 'A' && s[0] <= 'Z'))
        return 0;
    for (; s[n]; n++)
        if (!((s[n] >= 'A' && s[n] <= 'Z') || (s[n] >= '0' && s[n] <= '9') || s[n] == '_'))
            return 0;
    return n <= EVENT_MAX_ECS_STAGE;
}

static int printable(const char *s, size_t len, size_t max)
{
    if (len == 0 || len > max)
        return 0;
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7E)
            return 0;
    return 1;
}

/* An ECS-native hook event: serviceArn and targetServiceRevisionArn, under executionDetails or
 * at the top level; lifecycleStage optional (in either place), checked when present. */
static int parse_ecs(const struct json_field *f, struct event *ev, char *err, size_t errlen)
{
    ev->kind = EVENT_ECS;
    const struct json_field *svc = f[2].kind == JSON_STRING ? &f[2] : &f[5];
    const struct json_field *stage = f[4].kind != JSON_ABSENT ? &f[4] : &f[7];
    if (svc->kind != JSON_STRING || !printable(svc->value, svc->len, 2048)) {
        fmt_into(err, errlen, "serviceArn is not an ARN of printable characters");
        return -1;
    }
    if (stage->kind != JSON_ABSENT) {
        if (stage->kind != JSON_STRING || strlen(stage->value) != stage->len ||
            !event_is_ecs_stage(stage->value)) {
            fmt_into(
                err, errlen,
                "lifecycleStage is not an ECS lifecycle stage name (an upper-case letter, then "
                "upper-case letters, digits and '_', at most %d)",
                EVENT_MAX_ECS_STAGE);
            return -1;
        }
        ev->ecs_stage = xstrdup(stage->value);
    }
    ev->kind = EVENT_ECS;
    ev->ecs_service = xstrndup(svc->value, svc->len);
    return 0;
}

int event_parse(const char *json, size_t len, struct event *ev, char *err, size_t errlen)
{
    memset(ev, 0, sizeof *ev);
    struct json_field f[] = {
        {.key = "DeploymentId"},
        {.key = "LifecycleEventHookExecutionId"},
        {.key = "serviceArn", .parent = "executionDetails"},
        {.key = "targetServiceRevisionArn", .parent = "executionDetails"},
        {.key = "lifecycleStage", .parent = "executionDetails"},
        {.key = "serviceArn"},
        {.key = "targetServiceRevisionArn"},
        {.key = "lifecycleStage"},
    };
    size_t nf = sizeof f / sizeof *f;
    if (json_get_fields(json, len, f, nf, err, errlen) < 0)
        return -1;
    int rc = -1;
    if (f[0].kind == JSON_ABSENT) {
        int ecs = (f[2].kind != JSON_ABSENT && f[3].kind != JSON_ABSENT) ||
                  (f[5].kind != JSON_ABSENT && f[6].kind != JSON_ABSENT);
        if (ecs)
            rc = parse_ecs(f, ev, err, errlen);
        else {
            ev->kind = EVENT_PLAIN;
            rc = 0;
        }
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
    json_fields_free(f, nf);
    if (rc < 0) {
        enum event_kind kind = ev->kind; /* an invalid ECS event is still answered as one */
        event_free(ev);
        ev->kind = kind;
    }
    return rc;
}

void event_free(struct event *ev)
{
    free(ev->deployment_id);
    free(ev->execution_id);
    free(ev->ecs_stage);
    free(ev->ecs_service);
    memset(ev, 0, sizeof *ev);
}
