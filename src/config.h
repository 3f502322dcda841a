/* config.h: the runtime's settings, read once from the environment and checked.
 *
 * HOOKHOST_MEMORY_MB   Lua memory cap (default: half of AWS_LAMBDA_FUNCTION_MEMORY_SIZE, else 128)
 * HOOKHOST_RESERVE_MS  time kept before the deadline to stop the script and report (default: 10%
 *                      of the time left when the event arrived, at least 300 ms, at most 10 s);
 *                      a value below CONFIG_MIN_RESERVE_MS is raised to it, with a warning
 * HOOKHOST_ON_ERROR    Failed (default) or Succeeded: the status reported when a script fails
 * HOOKHOST_LUA_DIR     the hookhost Lua library (default: found next to the executable)
 * LAMBDA_TASK_ROOT     the function package (hooks/ and modules)
 * _HANDLER             the lifecycle event name or a script path under LAMBDA_TASK_ROOT, or
 *                      "auto" (the lifecycle event from CodeDeploy, or the ECS stage)
 * HOOKHOST_ECS_STAGE_MAP  ECS lifecycle stage -> hook script name, for stages without their own
 *                      script: "POST_PRODUCTION_TRAFFIC_SHIFT=AfterAllowTraffic,..."
 */
#ifndef HOOKHOST_CONFIG_H
#define HOOKHOST_CONFIG_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>

/* The least reserve: after the 30 ms kept to answer Lambda it leaves 270 ms for the report, two
 * attempts of at least AWS_MIN_ATTEMPT_MS (100 ms) each, so that even a looping script's report
 * survives one hung attempt. */
#define CONFIG_MIN_RESERVE_MS 300

struct config {
    size_t mem_max;
    int64_t reserve_ms; /* < 0: the default policy */
    int on_error_succeeded;
    char lua_dir[PATH_MAX]; /* "" when no library was found */
    const char *task_root;  /* borrowed from the environment; may be NULL */
    const char *handler;    /* borrowed from the environment; may be NULL */
    const char *ecs_map;    /* HOOKHOST_ECS_STAGE_MAP, checked; may be NULL */
    char warning[200];      /* "" or a setting config_load() changed, for the caller to log */
};

/* Read and check the environment. Returns 0, or -1 with a message naming the variable. */
int config_load(struct config *c, char *err, size_t errlen);

/* The defaults alone (every HOOKHOST_* setting ignored), for when config_load failed. */
void config_load_defaults(struct config *c);

/* The script name HOOKHOST_ECS_STAGE_MAP gives an ECS stage. Returns 0 with the name in out, or
 * -1 when the stage is not mapped. */
int config_ecs_map(const struct config *c, const char *stage, char *out, size_t outlen);

/* When HOOKHOST_ECS_STAGE_MAP has exactly one entry (a function configured for one stage),
 * its stage and name, and 0; else -1. For ECS events that do not name their stage. */
int config_ecs_map_single(const struct config *c, char *stage, size_t stagelen, char *name,
                          size_t namelen);

/* 1 when s can name a hook script: letters, digits, '_' and '-', 1 to 64 of them. */
int config_is_hook_name(const char *s);

/* The reserve for an event that arrived with `time_left_ms` before its deadline. */
int64_t config_reserve_ms(const struct config *c, int64_t time_left_ms);

/* Parse a whole decimal integer in [min, max]. Returns 0, or -1 (empty, junk, out of range). */
int parse_int(const char *s, long long min, long long max, long long *out);

#endif
