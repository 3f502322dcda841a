/* event.h: what an invocation's event says, validated before any of it is used.
 *
 * A CodeDeploy hook event is {"DeploymentId": "d-XXXXXXXXX", "LifecycleEventHookExecutionId":
 * "..."}. Both values end up in a signed request body and in log lines, never in a URL or a
 * header, and are still checked strictly: a deployment id is "d-" and 9 upper-case letters or
 * digits; an execution id is 1 to EVENT_MAX_EXECUTION_ID printable ASCII characters.
 */
#ifndef HOOKHOST_EVENT_H
#define HOOKHOST_EVENT_H

#include <stddef.h>

#define EVENT_MAX_EXECUTION_ID 2048
#define EVENT_MAX_ECS_STAGE    64

enum event_kind {
    EVENT_PLAIN,      /* no DeploymentId: run the script, return its result, report nothing */
    EVENT_CODEDEPLOY, /* a CodeDeploy lifecycle hook: report the status */
    EVENT_ECS,        /* an ECS-native blue/green lifecycle hook: return {"hookStatus": ...} */
};

/* An ECS-native lifecycle hook event carries the service and revision under `executionDetails`
 * (as ECS sends it) or at the top level (as the developer guide's payload list reads), and may
 * name its lifecycle stage (`lifecycleStage`, in either place). Either shape is accepted. */
struct event {
    enum event_kind kind;
    char *deployment_id; /* malloc'd, validated; CodeDeploy only */
    char *execution_id;  /* malloc'd, validated; CodeDeploy only */
    char *ecs_stage;     /* malloc'd, an ECS lifecycle stage name (event_is_ecs_stage), or NULL */
    char *ecs_service;   /* malloc'd serviceArn (ECS only), at most 2048 printable characters */
};

/* 1 when s has the form of an ECS lifecycle stage name: an upper-case letter, then upper-case
 * letters, digits and '_', at most EVENT_MAX_ECS_STAGE. ECS adds stages (and deployment strategies
 * that use them), so any such name is accepted: a hook configured for a stage newer than this
 * runtime still runs its script. Safe in a file name. */
int event_is_ecs_stage(const char *s);
/* 1 when s is one of the stages ECS's API reference lists today (RECONCILE_SERVICE,
 * PRE_SCALE_UP, POST_SCALE_UP, TEST_TRAFFIC_SHIFT, POST_TEST_TRAFFIC_SHIFT,
 * PRE_PRODUCTION_TRAFFIC_SHIFT, PRODUCTION_TRAFFIC_SHIFT, POST_PRODUCTION_TRAFFIC_SHIFT). */
int event_ecs_stage_known(const char *s);

/* Decode and classify an event. Returns 0, or -1 with a message naming the bad field (no
 * untrusted bytes are copied into the message); on failure ev->kind still says EVENT_ECS when
 * the event had the ECS shape (ECS must get a hookStatus answer). The caller frees with
 * event_free() either way. */
int event_parse(const char *json, size_t len, struct event *ev, char *err, size_t errlen);
void event_free(struct event *ev);

/* The checks on their own (0 valid, -1 not). */
int event_valid_deployment_id(const char *s, size_t len);
int event_valid_execution_id(const char *s, size_t len);

#endif
