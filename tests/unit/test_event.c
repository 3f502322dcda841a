/* Tests for event.c: hook events are classified and their ids validated before any use. */
#include "event.h"
#include "buf.h"
#include "testhelp.h"

#include <stdlib.h>
#include <string.h>

static int parse(const char *json, struct event *ev, char *err, size_t errlen)
{
    return event_parse(json, strlen(json), ev, err, errlen);
}

int main(void)
{
    struct event ev;
    char err[256];

    TEST("a CodeDeploy hook event")
    {
        CHECK_INT(parse("{\"DeploymentId\":\"d-ABCDEFGH1\",\"LifecycleEventHookExecutionId\":"
                        "\"eyJlbmNyeXB0ZWREYXRhIjoiY3lQ+/=\"}",
                        &ev, err, sizeof err),
                  0);
        CHECK_INT(ev.kind, EVENT_CODEDEPLOY);
        CHECK_STR(ev.deployment_id, "d-ABCDEFGH1");
        CHECK_STR(ev.execution_id, "eyJlbmNyeXB0ZWREYXRhIjoiY3lQ+/=");
        event_free(&ev);
    }
    TEST("an event without DeploymentId is a plain invocation")
    {
        CHECK_INT(parse("{\"x\": [1, 2]}", &ev, err, sizeof err), 0);
        CHECK_INT(ev.kind, EVENT_PLAIN);
        CHECK(ev.deployment_id == NULL);
        event_free(&ev);
        CHECK_INT(parse("{\"DeploymentId\": null}", &ev, err, sizeof err), 0);
        CHECK_INT(ev.kind, EVENT_PLAIN);
        event_free(&ev);
    }
    TEST("bad deployment ids are refused, and the bad bytes are not echoed")
    {
        const char *bad[] = {
            "{\"DeploymentId\":\"d-abcdefgh1\",\"LifecycleEventHookExecutionId\":\"x\"}",
            "{\"DeploymentId\":\"d-ABCDEFGH12\",\"LifecycleEventHookExecutionId\":\"x\"}",
            "{\"DeploymentId\":\"d-ABCD/FGH1\",\"LifecycleEventHookExecutionId\":\"x\"}",
            "{\"DeploymentId\":\"d-ABCDEFGH1\\r\\n\",\"LifecycleEventHookExecutionId\":\"x\"}",
            "{\"DeploymentId\":\"d-ABCDE\\u0000GH1\",\"LifecycleEventHookExecutionId\":\"x\"}",
            "{\"DeploymentId\":42,\"LifecycleEventHookExecutionId\":\"x\"}",
        };
        for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
            CHECK_INT(parse(bad[i], &ev, err, sizeof err), -1);
            CHECK(strstr(err, "DeploymentId is not a deployment id") != NULL);
        }
    }
    TEST("bad or missing execution ids are refused")
    {
        CHECK_INT(parse("{\"DeploymentId\":\"d-ABCDEFGH1\"}", &ev, err, sizeof err), -1);
        CHECK(strstr(err, "LifecycleEventHookExecutionId is missing") != NULL);
        CHECK_INT(parse("{\"DeploymentId\":\"d-ABCDEFGH1\",\"LifecycleEventHookExecutionId\":"
                        "\"a b\"}",
                        &ev, err, sizeof err),
                  -1);
        CHECK_INT(parse("{\"DeploymentId\":\"d-ABCDEFGH1\",\"LifecycleEventHookExecutionId\":"
                        "\"\\u00e9\"}",
                        &ev, err, sizeof err),
                  -1);
        CHECK_INT(event_valid_execution_id("", 0), -1);
        char big[EVENT_MAX_EXECUTION_ID + 2];
        memset(big, 'a', sizeof big - 1);
        big[sizeof big - 1] = '\0';
        CHECK_INT(event_valid_execution_id(big, EVENT_MAX_EXECUTION_ID), 0);
        CHECK_INT(event_valid_execution_id(big, EVENT_MAX_EXECUTION_ID + 1), -1);
    }
    TEST("not JSON, not an object, too deep")
    {
        CHECK_INT(parse("{", &ev, err, sizeof err), -1);
        CHECK(strstr(err, "invalid JSON") != NULL);
        CHECK_INT(parse("[1]", &ev, err, sizeof err), -1);
        CHECK(strstr(err, "JSON object") != NULL);
        char deep[600];
        memset(deep, '[', 300);
        memset(deep + 300, ']', 299);
        deep[599] = '\0';
        deep[0] = '{';
        CHECK_INT(parse(deep, &ev, err, sizeof err), -1);
    }
    TEST("ECS-native events, nested as ECS sends them or flat as the guide lists the fields")
    {
        CHECK_INT(parse("{\"executionDetails\":{\"serviceArn\":\"arn:aws:ecs:r:1:service/c/s\","
                        "\"targetServiceRevisionArn\":\"arn:rev\",\"lifecycleStage\":"
                        "\"POST_SCALE_UP\"},\"hookDetails\":{\"a\":1}}",
                        &ev, err, sizeof err),
                  0);
        CHECK_INT(ev.kind, EVENT_ECS);
        CHECK_STR(ev.ecs_stage, "POST_SCALE_UP");
        CHECK_STR(ev.ecs_service, "arn:aws:ecs:r:1:service/c/s");
        event_free(&ev);
        CHECK_INT(parse("{\"serviceArn\":\"arn:s\",\"targetServiceRevisionArn\":\"arn:r\"}", &ev,
                        err, sizeof err),
                  0);
        CHECK_INT(ev.kind, EVENT_ECS);
        CHECK(ev.ecs_stage == NULL);
        event_free(&ev);
    }
    TEST("any stage name is accepted: the listed ones, PRE_PRODUCTION_TRAFFIC_SHIFT, and stages "
         "ECS adds later")
    {
        static const char *const ok[] = {"PRE_PRODUCTION_TRAFFIC_SHIFT", "POST_SCALE_UP",
                                         "SCALE_UP", "POST_CANARY_TRAFFIC_SHIFT_2"};
        for (size_t i = 0; i < sizeof ok / sizeof *ok; i++) {
            char json[256];
            fmt_into(json, sizeof json,
                     "{\"executionDetails\":{\"serviceArn\":\"a\",\"targetServiceRevisionArn\":"
                     "\"b\",\"lifecycleStage\":\"%s\"}}",
                     ok[i]);
            CHECK_INT(parse(json, &ev, err, sizeof err), 0);
            CHECK_INT(ev.kind, EVENT_ECS);
            CHECK_STR(ev.ecs_stage, ok[i]);
            event_free(&ev);
        }
        CHECK(event_ecs_stage_known("PRE_PRODUCTION_TRAFFIC_SHIFT"));
        CHECK(event_ecs_stage_known("RECONCILE_SERVICE"));
        CHECK(!event_ecs_stage_known("SCALE_UP"));
    }
    TEST("a malformed ECS stage is refused, and the event is still known as ECS")
    {
        static const char *const bad[] = {
            "\"DROP TABLE\"",
            "\"post_scale_up\"",
            "\"_PRE\"",
            "\"1STAGE\"",
            "\"\"",
            "\"../x\"",
            "\"A\\u0000B\"",
            "42",
            "\""
            "A2345678901234567890123456789012345678901234567890123456789012345"
            "\""};
        for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
            char json[256];
            fmt_into(json, sizeof json,
                     "{\"executionDetails\":{\"serviceArn\":\"a\",\"targetServiceRevisionArn\":"
                     "\"b\",\"lifecycleStage\":%s}}",
                     bad[i]);
            CHECK_INT(parse(json, &ev, err, sizeof err), -1);
            CHECK_INT(ev.kind, EVENT_ECS);
            CHECK(strstr(err, "lifecycleStage") != NULL);
            event_free(&ev);
        }
        CHECK(event_is_ecs_stage("POST_PRODUCTION_TRAFFIC_SHIFT"));
        CHECK(
            event_is_ecs_stage("A234567890123456789012345678901234567890123456789012345678901234"));
        CHECK(!event_is_ecs_stage("post_scale_up"));
        CHECK(!event_is_ecs_stage(""));
    }
    return test_report("event");
}
