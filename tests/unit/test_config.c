/* Tests for config.c: settings from the environment, the reserve policy, integer parsing. */
#include "config.h"
#include "testhelp.h"

#include <stdlib.h>
#include <string.h>

int main(void)
{
    struct config c;
    char err[256];
    unsetenv("HOOKHOST_MEMORY_MB");
    unsetenv("AWS_LAMBDA_FUNCTION_MEMORY_SIZE");
    unsetenv("HOOKHOST_RESERVE_MS");
    unsetenv("HOOKHOST_ON_ERROR");

    TEST("defaults")
    {
        CHECK_INT(config_load(&c, err, sizeof err), 0);
        CHECK_INT(c.mem_max, (size_t)128 << 20);
        CHECK_INT(c.on_error_succeeded, 0);
        CHECK_INT(c.reserve_ms, -1);
    }
    TEST("memory: half the function's memory, or HOOKHOST_MEMORY_MB")
    {
        setenv("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "512", 1);
        config_load(&c, err, sizeof err);
        CHECK_INT(c.mem_max, (size_t)256 << 20);
        setenv("HOOKHOST_MEMORY_MB", "100", 1);
        config_load(&c, err, sizeof err);
        CHECK_INT(c.mem_max, (size_t)100 << 20);
        setenv("HOOKHOST_MEMORY_MB", "lots", 1);
        CHECK_INT(config_load(&c, err, sizeof err), -1);
        CHECK(strstr(err, "HOOKHOST_MEMORY_MB=lots") != NULL);
        unsetenv("HOOKHOST_MEMORY_MB");
    }
    TEST("the reserve: 10% of the time left, within 300 ms and 10 s, unless set")
    {
        config_load(&c, err, sizeof err);
        CHECK_INT(config_reserve_ms(&c, 1000), 300);
        CHECK_INT(config_reserve_ms(&c, 60000), 6000);
        CHECK_INT(config_reserve_ms(&c, 900000), 10000);
        setenv("HOOKHOST_RESERVE_MS", "1500", 1);
        config_load(&c, err, sizeof err);
        CHECK_INT(config_reserve_ms(&c, 900000), 1500);
        CHECK_STR(c.warning, "");
        /* below the floor: raised to it (a report attempt must always fit), with a warning */
        setenv("HOOKHOST_RESERVE_MS", "0", 1);
        CHECK_INT(config_load(&c, err, sizeof err), 0);
        CHECK_INT(config_reserve_ms(&c, 900000), CONFIG_MIN_RESERVE_MS);
        CHECK(strstr(c.warning, "HOOKHOST_RESERVE_MS=0") != NULL);
        setenv("HOOKHOST_RESERVE_MS", "299", 1);
        config_load(&c, err, sizeof err);
        CHECK_INT(config_reserve_ms(&c, 900000), 300);
        setenv("HOOKHOST_RESERVE_MS", "300", 1);
        config_load(&c, err, sizeof err);
        CHECK_INT(config_reserve_ms(&c, 900000), 300);
        CHECK_STR(c.warning, "");
        setenv("HOOKHOST_RESERVE_MS", "-5", 1);
        CHECK_INT(config_load(&c, err, sizeof err), -1);
        unsetenv("HOOKHOST_RESERVE_MS");
    }
    TEST("HOOKHOST_ON_ERROR")
    {
        setenv("HOOKHOST_ON_ERROR", "succeeded", 1);
        config_load(&c, err, sizeof err);
        CHECK_INT(c.on_error_succeeded, 1);
        setenv("HOOKHOST_ON_ERROR", "Ignore", 1);
        CHECK_INT(config_load(&c, err, sizeof err), -1);
        CHECK(strstr(err, "expected Failed or Succeeded") != NULL);
        unsetenv("HOOKHOST_ON_ERROR");
    }
    TEST("HOOKHOST_ECS_STAGE_MAP maps stages to hook names, and is checked")
    {
        setenv("HOOKHOST_ECS_STAGE_MAP",
               "POST_PRODUCTION_TRAFFIC_SHIFT=AfterAllowTraffic,POST_TEST_TRAFFIC_SHIFT=Smoke", 1);
        CHECK_INT(config_load(&c, err, sizeof err), 0);
        char name[80];
        CHECK_INT(config_ecs_map(&c, "POST_TEST_TRAFFIC_SHIFT", name, sizeof name), 0);
        CHECK_STR(name, "Smoke");
        CHECK_INT(config_ecs_map(&c, "PRE_SCALE_UP", name, sizeof name), -1);
        setenv("HOOKHOST_ECS_STAGE_MAP", "POST_SCALE_UP=../etc", 1);
        CHECK_INT(config_load(&c, err, sizeof err), -1);
        CHECK(strstr(err, "HOOKHOST_ECS_STAGE_MAP") != NULL);
        unsetenv("HOOKHOST_ECS_STAGE_MAP");
    }
    TEST("parse_int takes whole numbers in range only")
    {
        long long v;
        CHECK_INT(parse_int("42", 0, 100, &v), 0);
        CHECK_INT(v, 42);
        CHECK_INT(parse_int("", 0, 100, &v), -1);
        CHECK_INT(parse_int("4x", 0, 100, &v), -1);
        CHECK_INT(parse_int("101", 0, 100, &v), -1);
        CHECK_INT(parse_int("99999999999999999999999", 0, 100, &v), -1);
    }
    return test_report("config");
}
