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

enum event_kind {
    EVENT_PLAIN,      /* no DeploymentId: run the script, return its result, report nothing */
    EVENT_CODEDEPLOY, /* a CodeDeploy lifecycle hook: report the status */
};

struct event {
    enum event_kind kind;
    char *deployment_id; /* malloc'd, validated; NULL for EVENT_PLAIN */
    char *execution_id;  /* malloc'd, validated; NULL for EVENT_PLAIN */
};

/* Decode and classify an event. Returns 0, or -1 with a message naming the bad field (no
 * untrusted bytes are copied into the message). The caller frees with event_free(). */
int event_parse(const char *json, size_t len, struct event *ev, char *err, size_t errlen);
void event_free(struct event *ev);

/* The checks on their own (0 valid, -1 not). */
int event_valid_deployment_id(const char *s, size_t len);
int event_valid_execution_id(const char *s, size_t len);

#endif
