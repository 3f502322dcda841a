/* fuzz_event: event_parse() (json_get_fields through lua-cjson) on arbitrary bytes.
 *
 * Invariants: a CodeDeploy event's ids passed their checks (so no CR, LF, NUL or space can reach
 * a request body or a log line, and a deployment id has no '/' or '%'); a refused event's message
 * is printable ASCII (a few fixed texts, or cjson's own message on invalid JSON). */
#include "event.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct event ev;
    char err[512];
    err[0] = '\0';
    int rc = event_parse((const char *)data, size, &ev, err, sizeof err);
    if (rc == 0) {
        if (ev.kind == EVENT_CODEDEPLOY) {
            FUZZ_CHECK(ev.deployment_id && ev.execution_id);
            size_t dl = strlen(ev.deployment_id), el = strlen(ev.execution_id);
            FUZZ_CHECK(event_valid_deployment_id(ev.deployment_id, dl) == 0);
            FUZZ_CHECK(event_valid_execution_id(ev.execution_id, el) == 0);
            FUZZ_CHECK(!strpbrk(ev.execution_id, "\r\n "));
            FUZZ_CHECK(!strpbrk(ev.deployment_id, "\r\n /%"));
        } else {
            FUZZ_CHECK(ev.kind == EVENT_PLAIN && !ev.deployment_id && !ev.execution_id);
        }
        event_free(&ev);
    } else {
        FUZZ_CHECK(!ev.deployment_id && !ev.execution_id);
        FUZZ_CHECK(fuzz_terminated(err, sizeof err) && err[0]);
        for (const char *p = err; *p; p++)
            FUZZ_CHECK(*p >= 0x20 && *p < 0x7f);
    }
    return 0;
}
