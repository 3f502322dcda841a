/* config.c: see config.h. */
#include "config.h"

#include "buf.h"
#include "event.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

int parse_int(const char *s, long long min, long long max, long long *out)
{
    if (!s || !*s)
        return -1;
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || *end || v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

static int is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* Where the hookhost Lua library is: HOOKHOST_LUA_DIR, else next to the executable, as laid out
 * in the repository (build/hookhost -> lua/), in a function package or a layer (bootstrap at the
 * root beside hookhost/, or beside lua/hookhost/). The first folder holding hookhost/ wins. */
static void find_lua_dir(char *out, size_t outlen)
{
    const char *env = getenv("HOOKHOST_LUA_DIR");
    if (env && *env) {
        fmt_into(out, outlen, "%s", env);
        return;
    }
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    out[0] = '\0';
    if (n <= 0)
        return;
    exe[n] = '\0';
    char *slash = strrchr(exe, '/');
    if (!slash)
        return;
    *slash = '\0';
    static const char *const rel[] = {"/lua", "/../lua", "/../../lua", ""};
    for (size_t i = 0; i < sizeof rel / sizeof *rel; i++) {
        char dir[PATH_MAX], probe[PATH_MAX];
        fmt_into(dir, sizeof dir, "%s%s", exe, rel[i]);
        fmt_into(probe, sizeof probe, "%s/hookhost", dir);
        if (is_dir(probe)) {
            char *real = realpath(dir, NULL);
            fmt_into(out, outlen, "%s", real ? real : dir);
            free(real);
            return;
        }
    }
}

int config_is_hook_name(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 64)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= 'a' && s[i] <= 'z') ||
              (s[i] >= '0' && s[i] <= '9') || s[i] == '_' || s[i] == '-'))
            return 0;
    return 1;
}

/* Walk "STAGE=Name,STAGE=Name": with want == NULL, check every pair (0 or -1 with the bad pair
 * named in err); with want set, find its name (0) or say it is absent (-1). */
static int ecs_map_walk(const char *map, const char *want, char *out, size_t outlen, char *err,
                        size_t errlen)
{
    const char *p = map;
    while (*p) {
        size_t len = strcspn(p, ",");
        char pair[160], *eq;
        if (len >= sizeof pair) {
            fmt_into(err, errlen, "HOOKHOST_ECS_STAGE_MAP: an entry is too long");
            return -1;
        }
        fmt_into(pair, sizeof pair, "%.*s", (int)len, p);
        eq = strchr(pair, '=');
        if (eq)
            *eq = '\0';
        if (!eq || !event_is_ecs_stage(pair) || !config_is_hook_name(eq + 1)) {
            if (!want)
                fmt_into(err, errlen,
                         "HOOKHOST_ECS_STAGE_MAP: '%.64s' is not STAGE=HookName with an ECS "
                         "lifecycle stage and a hook script name",
                         pair);
            return -1;
        }
        if (want && strcmp(pair, want) == 0) {
            fmt_into(out, outlen, "%s", eq + 1);
            return 0;
        }
        p += len;
        if (*p == ',')
            p++;
    }
    return want ? -1 : 0;
}

int config_ecs_map(const struct config *c, const char *stage, char *out, size_t outlen)
{
    if (!c->ecs_map || !stage)
        return -1;
    return ecs_map_walk(c->ecs_map, stage, out, outlen, NULL, 0);
}

int config_ecs_map_single(const struct config *c, char *stage, size_t stagelen, char *name,
                          size_t namelen)
{
    if (!c->ecs_map || strchr(c->ecs_map, ','))
        return -1;
    const char *eq = strchr(c->ecs_map, '=');
    if (!eq)
        return -1;
    fmt_into(stage, stagelen, "%.*s", (int)(eq - c->ecs_map), c->ecs_map);
    fmt_into(name, namelen, "%s", eq + 1);
    return 0;
}

void config_load_defaults(struct config *c)
{
    memset(c, 0, sizeof *c);
    c->mem_max = (size_t)128 << 20;
    c->reserve_ms = -1;
    find_lua_dir(c->lua_dir, sizeof c->lua_dir);
    c->task_root = getenv("LAMBDA_TASK_ROOT");
    c->handler = getenv("_HANDLER");
}

static int load_ecs_map(struct config *c, char *err, size_t errlen)
{
    const char *m = getenv("HOOKHOST_ECS_STAGE_MAP");
    if (!m || !*m)
        return 0;
    if (ecs_map_walk(m, NULL, NULL, 0, err, errlen) < 0)
        return -1;
    c->ecs_map = m;
    return 0;
}

int config_load(struct config *c, char *err, size_t errlen)
{
    config_load_defaults(c);
    long long v;
    const char *s = getenv("HOOKHOST_MEMORY_MB");
    const char *fn = getenv("AWS_LAMBDA_FUNCTION_MEMORY_SIZE");
    if (s && *s) {
        if (parse_int(s, 1, 10240, &v) < 0) {
            fmt_into(err, errlen,
                     "HOOKHOST_MEMORY_MB=%.32s: expected a whole number of MiB, 1 to 10240", s);
            return -1;
        }
        c->mem_max = (size_t)v << 20;
    } else if (fn && *fn && parse_int(fn, 1, 10240, &v) == 0) {
        c->mem_max = ((size_t)v << 20) / 2;
    }

    s = getenv("HOOKHOST_RESERVE_MS");
    if (s && *s) {
        if (parse_int(s, 0, 600000, &v) < 0) {
            fmt_into(err, errlen, "HOOKHOST_RESERVE_MS=%.32s: expected milliseconds, 0 to 600000",
                     s);
            return -1;
        }
        if (v < CONFIG_MIN_RESERVE_MS) {
            /* Raised, not refused: a refusal would fail every hook (and roll deployments back)
             * over a setting that only asked for more script time; raised, the hooks run and
             * their reports still fit. */
            fmt_into(c->warning, sizeof c->warning,
                     "HOOKHOST_RESERVE_MS=%lld is below the %d ms a report needs; using %d ms", v,
                     CONFIG_MIN_RESERVE_MS, CONFIG_MIN_RESERVE_MS);
            v = CONFIG_MIN_RESERVE_MS;
        }
        c->reserve_ms = v;
    }

    s = getenv("HOOKHOST_ON_ERROR");
    if (s && *s) {
        if (strcasecmp(s, "Succeeded") == 0)
            c->on_error_succeeded = 1;
        else if (strcasecmp(s, "Failed") != 0) {
            fmt_into(err, errlen, "HOOKHOST_ON_ERROR=%.32s: expected Failed or Succeeded", s);
            return -1;
        }
    }
    if (load_ecs_map(c, err, errlen) < 0)
        return -1;
    return 0;
}

int64_t config_reserve_ms(const struct config *c, int64_t time_left_ms)
{
    if (c->reserve_ms >= 0)
        return c->reserve_ms;
    int64_t r = time_left_ms / 10;
    if (r < 300)
        r = 300;
    if (r > 10000)
        r = 10000;
    return r;
}
