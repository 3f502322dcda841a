/* Tests for lhost.c: the sandbox, the limits and the outcome of every way a script can end. */
#include "clock.h"
#include "lhost.h"
#include "log.h"
#include "testhelp.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

static char dir[] = "/tmp/hookhost-test-lhost-XXXXXX";

/* Write a script into the temp folder; returns its path (static buffer, one at a time). */
static const char *script(const char *name, const char *text)
{
    static char path[256];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    if (!f)
        abort();
    fputs(text, f);
    fclose(f);
    return path;
}

static const char *controller; /* ctx.controller for run(); NULL: "local" */
static const char *task_root;  /* the job's task root for run() */

static int run(const char *path, const char *event, int64_t timeout_ms, size_t mem,
               struct lhost_outcome *out)
{
    struct lhost_job job = {
        .controller = controller,
        .task_root = task_root,
        .script_path = path,
        .event_json = event,
        .event_len = event ? strlen(event) : 0,
        .hook = "AfterAllowTraffic",
        .deployment_id = "d-ABCDEFGH1",
        .execution_id = "exec-1",
        .request_id = "req-1",
        .deadline_ms = clock_ms() + timeout_ms,
        .mem_max = mem,
        .lua_dir = dir,
    };
    return lhost_run(&job, out);
}

#define MiB ((size_t)1 << 20)

int main(void)
{
    if (!mkdtemp(dir))
        return 1;
    log_set_level(LOG_FATAL); /* keep the scripts' log lines out of the test output */
    struct lhost_outcome o;

    TEST("a script that returns succeeds, its result encoded as JSON, ctx filled in")
    {
        const char *p = script("ok.lua", "return function(event, ctx)\n"
                                         "  assert(ctx.hook == 'AfterAllowTraffic')\n"
                                         "  assert(ctx.deployment_id == 'd-ABCDEFGH1')\n"
                                         "  assert(ctx.execution_id == 'exec-1')\n"
                                         "  assert(ctx.request_id == 'req-1')\n"
                                         "  assert(ctx.remaining_ms() > 0)\n"
                                         "  ctx.log.info('x', {a = 1})\n"
                                         "  return {sum = event.a + event.b}\n"
                                         "end\n");
        CHECK_INT(run(p, "{\"a\": 1, \"b\": 2}", 5000, 64 * MiB, &o), 0);
        CHECK_INT(o.reason, LHOST_OK);
        CHECK_STR(o.result_json, "{\"sum\":3}");
        lhost_outcome_free(&o);
    }
    TEST("an error fails with the message and a traceback")
    {
        const char *p = script("boom.lua", "return function() error('boom') end\n");
        CHECK_INT(run(p, NULL, 5000, 64 * MiB, &o), -1);
        CHECK_INT(o.reason, LHOST_ERROR);
        CHECK(strstr(o.message, "boom.lua:1: boom") != NULL);
        CHECK(o.traceback && strstr(o.traceback, "stack traceback:") == o.traceback);
        lhost_outcome_free(&o);
    }
    TEST("an error object that is a table is still reported")
    {
        const char *p = script("tbl.lua", "return function() error({code = 1}) end\n");
        run(p, NULL, 5000, 64 * MiB, &o);
        CHECK_INT(o.reason, LHOST_ERROR);
        CHECK(strstr(o.message, "error object is a table value") != NULL);
        lhost_outcome_free(&o);
    }
    TEST("returning false fails with the second value as the message")
    {
        const char *p = script("false.lua", "return function() return false, 'not ready' end\n");
        CHECK_INT(run(p, NULL, 5000, 64 * MiB, &o), -1);
        CHECK_INT(o.reason, LHOST_RETURNED_FALSE);
        CHECK_STR(o.message, "not ready");
        lhost_outcome_free(&o);
    }
    TEST("a syntax error names file and line")
    {
        const char *p = script("syntax.lua", "return function()\n  local = 1\nend\n");
        run(p, NULL, 5000, 64 * MiB, &o);
        CHECK_INT(o.reason, LHOST_SYNTAX);
        CHECK(strstr(o.message, "syntax.lua:2:") != NULL);
        lhost_outcome_free(&o);
        char err[512];
        CHECK_INT(lhost_check(p, err, sizeof err), -1);
        CHECK(strstr(err, "syntax.lua:2:") != NULL);
    }
    TEST("a missing script and a script that returns no function")
    {
        run("/nonexistent/hook.lua", NULL, 5000, 64 * MiB, &o);
        CHECK_INT(o.reason, LHOST_MISSING);
        CHECK(strstr(o.message, "cannot open /nonexistent/hook.lua") != NULL);
        lhost_outcome_free(&o);
        const char *p = script("nofn.lua", "return 42\n");
        run(p, NULL, 5000, 64 * MiB, &o);
        CHECK_INT(o.reason, LHOST_BAD_SCRIPT);
        CHECK(strstr(o.message, "must return a function") != NULL);
        lhost_outcome_free(&o);
    }
    TEST("a malformed event fails before the script runs")
    {
        const char *p = script("ok2.lua", "return function() end\n");
        run(p, "{\"a\":", 5000, 64 * MiB, &o);
        CHECK_INT(o.reason, LHOST_BAD_EVENT);
        CHECK(strstr(o.message, "not valid JSON") != NULL);
        lhost_outcome_free(&o);
    }
    TEST("an infinite loop is stopped at the deadline")
    {
        const char *p = script("loop.lua", "return function() while true do end end\n");
        int64_t t0 = clock_ms();
        run(p, NULL, 200, 64 * MiB, &o);
        int64_t took = clock_ms() - t0;
        CHECK_INT(o.reason, LHOST_TIMEOUT);
        CHECK(took >= 200 && took < 700);
        lhost_outcome_free(&o);
    }
    TEST("pcall, xpcall, coroutines and __close cannot swallow the deadline")
    {
        const char *p = script(
            "ploop.lua",
            "return function()\n"
            "  while true do\n"
            "    pcall(function() while true do end end)\n"
            "    xpcall(function() while true do end end, function() while true do end end)\n"
            "    local co = coroutine.wrap(function() while true do end end)\n"
            "    pcall(co)\n"
            "    do local x <close> = setmetatable({}, {__close = function() end}) end\n"
            "  end\n"
            "end\n");
        int64_t t0 = clock_ms();
        run(p, NULL, 200, 64 * MiB, &o);
        CHECK_INT(o.reason, LHOST_TIMEOUT);
        CHECK(clock_ms() - t0 < 700);
        lhost_outcome_free(&o);
    }
    TEST("__gc finalizers (which Lua runs with hooks off) are refused")
    {
        const char *p =
            script("gc.lua", "return function()\n"
                             "  setmetatable({}, {__gc = function() while true do end end})\n"
                             "end\n");
        run(p, NULL, 200, 64 * MiB, &o);
        CHECK_INT(o.reason, LHOST_ERROR);
        CHECK(strstr(o.message, "__gc metamethods are not available") != NULL);
        lhost_outcome_free(&o);
        p = script("mt.lua", "return function()\n"
                             "  local t = setmetatable({}, {__index = function() return 7 end})\n"
                             "  return t.x\n"
                             "end\n");
        run(p, NULL, 2000, 64 * MiB, &o);
        CHECK_STR(o.result_json, "7");
        lhost_outcome_free(&o);
    }
    TEST("a memory bomb is stopped by the cap with a memory error")
    {
        const char *p =
            script("bomb.lua", "return function()\n"
                               "  local t = {}\n"
                               "  for i = 1, 1e9 do t[i] = string.rep('x', 4096) .. i end\n"
                               "end\n");
        run(p, NULL, 20000, 16 * MiB, &o);
        CHECK_INT(o.reason, LHOST_MEMORY);
        CHECK(strstr(o.message, "not enough memory") != NULL);
        CHECK(o.mem_peak <= 16 * MiB);
        lhost_outcome_free(&o);
    }
    TEST("a script may catch a memory error and succeed")
    {
        const char *p =
            script("catch.lua", "return function()\n"
                                "  local ok = pcall(string.rep, 'x', 64 * 1024 * 1024)\n"
                                "  assert(not ok)\n"
                                "  return 'recovered'\n"
                                "end\n");
        CHECK_INT(run(p, NULL, 5000, 16 * MiB, &o), 0);
        CHECK_STR(o.result_json, "\"recovered\"");
        lhost_outcome_free(&o);
    }
    TEST("JSON encoding is bounded by the memory the hook has left, not just by Lua's cap")
    {
        /* The same subtable twice per level: 2^23 leaves, ~50 MB of JSON from a tiny table. */
        const char *tree = "  local t = {'x'}\n"
                           "  for i = 1, 23 do t = {t, t} end\n";
        char text[1024];
        static const struct {
            const char *name, *use;
            enum lhost_reason reason;
        } cases[] = {
            {"enc_raise.lua", "  require('cjson').encode(t)\n", LHOST_MEMORY},
            {"enc_log.lua", "  ctx.log.info('tree', {tree = t})\n", LHOST_MEMORY},
            {"enc_safe.lua",
             "  local s, err = require('cjson.safe').encode(t)\n"
             "  assert(s == nil and err:find('not enough memory'), err)\n",
             LHOST_OK},
            {"enc_result.lua", "  do return t end\n", LHOST_OK},
        };
        for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
            snprintf(text, sizeof text, "return function(event, ctx)\n%s%s  return true\nend\n",
                     tree, cases[i].use);
            const char *p = script(cases[i].name, text);
            run(p, NULL, 5000, 16 * MiB, &o);
            if (o.reason != cases[i].reason)
                fprintf(stderr, "  %s: %s\n", cases[i].name, o.message);
            CHECK_INT(o.reason, cases[i].reason);
            CHECK(o.result_json == NULL || strcmp(o.result_json, "true") == 0);
            lhost_outcome_free(&o);
        }
        /* What fits is encoded as before, escapes and all. */
        const char *p =
            script("enc_fits.lua", "return function(event, ctx)\n"
                                   "  local big = {}\n"
                                   "  for i = 1, 500 do big[i] = string.rep('a/\\1', 1000) end\n"
                                   "  local s = require('cjson').encode(big)\n"
                                   "  ctx.log.info('big', {big = big})\n"
                                   "  return #s\n"
                                   "end\n");
        CHECK_INT(run(p, NULL, 5000, 16 * MiB, &o), 0);
        if (o.reason != LHOST_OK)
            fprintf(stderr, "  enc_fits: %s\n", o.message);
        CHECK_STR(o.result_json,
                  "4501501"); /* 500 x (3000 chars -> 9000: \\/ and \\u0001), quoted */
        lhost_outcome_free(&o);
    }
    TEST("the sandbox: no processes, no binary chunks, no C modules, no debug hooks")
    {
        const char *p = script(
            "sandbox.lua",
            "local function refused(name, why, ...)\n"
            "  local lib, fn = name:match('(%w+)%.(%w+)')\n"
            "  local ok, err = pcall(function(...) local r = _G[lib][fn](...) return r end, ...)\n"
            "  assert(not ok, name)\n"
            "  local want = name .. ' is not available to hook scripts: they run sandboxed; '\n"
            "  assert(err:find(want, 1, true) and err:find(why, 1, true), err)\n"
            "  assert(err:find('^.-sandbox%.lua:%d+: '), err) -- the script's line, one line\n"
            "  assert(not err:find('\\n'), err)\n"
            "end\n"
            "return function()\n"
            "  refused('io.popen', 'cannot start processes', 'ls')\n"
            "  refused('os.execute', 'cannot start processes', 'ls')\n"
            "  refused('os.exit', 'cannot stop the runtime', 1)\n"
            "  refused('os.setlocale', 'locale', 'C')\n"
            "  refused('package.loadlib', 'native code', 'x.so', 'f')\n"
            "  refused('debug.sethook', 'only debug.traceback and debug.getinfo')\n"
            "  refused('debug.getregistry', 'only debug.traceback and debug.getinfo')\n"
            "  refused('debug.getlocal', 'only debug.traceback and debug.getinfo', 1, 1)\n"
            "  assert(require('debug').sethook == debug.sethook)\n"
            "  assert(debug.traceback ~= nil)\n"
            "  assert(package.cpath == '')\n"
            "  local f, err = load(string.dump(function() end))\n"
            "  assert(f == nil and err:find('binary'), err)\n"
            "  local ok = pcall(require, 'socket.core')\n"
            "  assert(not ok)\n"
            "  assert(require('cjson').encode({1}) == '[1]')\n"
            "  assert(require('cjson.safe').decode('{') == nil)\n"
            "  assert(load('return 1 + 1')() == 2)\n"
            "  return true\n"
            "end\n");
        CHECK_INT(run(p, NULL, 5000, 64 * MiB, &o), 0);
        if (o.reason != LHOST_OK)
            fprintf(stderr, "  %s\n", o.message);
        lhost_outcome_free(&o);
    }
    TEST("load(chunk) sees the globals; only an env given explicitly replaces them")
    {
        const char *p =
            script("load.lua",
                   "return function()\n"
                   "  assert(load('return math.pi')() == math.pi)\n"
                   "  assert(load('return math.pi', 'named')() == math.pi)\n"
                   "  assert(load('return x', 'env', 't', {x = 7})() == 7)\n"
                   "  assert(load('return x', 'env', 'b', {x = 8})() == 8) -- text, whatever mode\n"
                   "  local f, err = load(string.dump(function() end), 'bin', 'b')\n"
                   "  assert(f == nil and err:find('binary'), err)\n"
                   "  local ok = pcall(load('return math.pi', 'nil env', 't', nil))\n"
                   "  assert(not ok)\n"
                   "  local parts = {'return ', 'tostring(', '1)'}\n"
                   "  local i = 0\n"
                   "  assert(load(function() i = i + 1 return parts[i] end)() == '1')\n"
                   "  return true\n"
                   "end\n");
        CHECK_INT(run(p, NULL, 5000, 64 * MiB, &o), 0);
        if (o.reason != LHOST_OK)
            fprintf(stderr, "  %s\n", o.message);
        lhost_outcome_free(&o);
    }
    TEST("debug.getinfo never hands a script the host's C functions")
    {
        const char *p = script("getinfo.lua",
                               "return function()\n"
                               "  local lua_funcs = 0\n"
                               "  for level = 1, 50 do\n"
                               "    local i = debug.getinfo(level, 'fS')\n"
                               "    if not i then break end\n"
                               "    if i.func then\n"
                               "      assert(i.what ~= 'C', 'a C function at level ' .. level)\n"
                               "      lua_funcs = lua_funcs + 1\n"
                               "    end\n"
                               "  end\n"
                               "  local me = debug.getinfo(1, 'fl')\n"
                               "  assert(me.func ~= nil and me.currentline == 11, me.currentline)\n"
                               "  assert(debug.getinfo(print).what == 'C')\n"
                               "  return lua_funcs\n"
                               "end\n");
        CHECK_INT(run(p, NULL, 5000, 64 * MiB, &o), 0);
        if (o.reason != LHOST_OK)
            fprintf(stderr, "  %s\n", o.message);
        CHECK_STR(o.result_json, "1"); /* the hook function; below it, pmain */
        lhost_outcome_free(&o);
    }
    TEST("require finds modules on the Lua path, as text only")
    {
        script("mymod.lua", "return {answer = 42}\n");
        const char *p = script("req.lua", "local m = require('mymod')\n"
                                          "return function() return m.answer end\n");
        CHECK_INT(run(p, NULL, 5000, 64 * MiB, &o), 0);
        CHECK_STR(o.result_json, "42");
        lhost_outcome_free(&o);
    }
    TEST("library modules are compiled once per process, and again when their file changes")
    {
        script("libmod.lua", "return {v = 1, f = function() error('in lib') end}\n");
        const char *p = script("uselib.lua", "local m = require('libmod')\n"
                                             "return function() return m.v end\n");
        char use[300];
        snprintf(use, sizeof use, "%s", p);
        for (int i = 0; i < 2; i++) { /* the second load comes from the cached bytecode */
            CHECK_INT(run(use, NULL, 5000, 64 * MiB, &o), 0);
            CHECK_STR(o.result_json, "1");
            lhost_outcome_free(&o);
        }
        /* A changed file (size and mtime differ) is compiled again. */
        script("libmod.lua", "return {v = 22, f = function() error('in lib') end}\n");
        CHECK_INT(run(use, NULL, 5000, 64 * MiB, &o), 0);
        CHECK_STR(o.result_json, "22");
        lhost_outcome_free(&o);
        /* Errors raised in cached code still name the library file and line. */
        p = script("libfail.lua", "local m = require('libmod')\n"
                                  "return function() m.f() end\n");
        run(p, NULL, 5000, 64 * MiB, &o);
        CHECK(strstr(o.message, "libmod.lua:1: in lib") != NULL);
        lhost_outcome_free(&o);
    }
    TEST("a script replacing package.searchpath cannot steer require")
    {
        const char *p =
            script("steer.lua", "package.searchpath = function() return '/etc/passwd' end\n"
                                "local m = require('mymod')\n"
                                "return function() return m.answer end\n");
        CHECK_INT(run(p, NULL, 5000, 64 * MiB, &o), 0);
        CHECK_STR(o.result_json, "42");
        lhost_outcome_free(&o);
    }
    TEST("every execution starts from a fresh state")
    {
        const char *p = script("state.lua", "return function()\n"
                                            "  local seen = LEFTOVER\n"
                                            "  LEFTOVER = true\n"
                                            "  string.leftover = true\n"
                                            "  return seen == nil\n"
                                            "end\n");
        run(p, NULL, 5000, 64 * MiB, &o);
        CHECK_STR(o.result_json, "true");
        lhost_outcome_free(&o);
        run(p, NULL, 5000, 64 * MiB, &o);
        CHECK_STR(o.result_json, "true");
        lhost_outcome_free(&o);
    }
    TEST("ctx.in_progress answers IN_PROGRESS only when the function returns its value")
    {
        controller = "ecs";
        const char *p =
            script("ip.lua", "return function(event, ctx)\n"
                             "  local v = ctx.in_progress{delay = 7, details = {n = 2}}\n"
                             "  assert(v.hookStatus == 'IN_PROGRESS' and v.callBackDelay == 7)\n"
                             "  assert(v.hookDetails.n == 2)\n"
                             "  assert(getmetatable(v) == 'ctx.in_progress')\n"
                             "  assert(not pcall(function() v.callBackDelay = 1 end))\n"
                             "  rawset(v, 'callBackDelay', 9999) -- changes nothing\n"
                             "  return v\n"
                             "end\n");
        CHECK_INT(run(p, NULL, 5000, 64 * MiB, &o), 0);
        CHECK_INT(o.in_progress, 1);
        CHECK_INT(o.callback_delay, 7);
        CHECK_STR(o.details_json, "{\"n\":2}");
        CHECK(o.result_json == NULL);
        lhost_outcome_free(&o);

        p = script("ip_default.lua", "return function(event, ctx) return ctx.in_progress() end\n");
        CHECK_INT(run(p, NULL, 5000, 64 * MiB, &o), 0);
        CHECK_INT(o.in_progress, 1);
        CHECK_INT(o.callback_delay, -1);
        CHECK(o.details_json == NULL);
        lhost_outcome_free(&o);

        p = script("ip_list.lua", "return function(event, ctx)\n"
                                  "  return ctx.in_progress{details = {'a', 'b'}}\n"
                                  "end\n");
        CHECK_INT(run(p, NULL, 5000, 64 * MiB, &o), 0);
        CHECK_STR(o.details_json, "[\"a\",\"b\"]");
        lhost_outcome_free(&o);

        /* called, then something else returned: the hook fails, saying what to write */
        p = script("ip_lost.lua", "return function(event, ctx)\n"
                                  "  ctx.in_progress{delay = 5}\n"
                                  "  return {done = false}\n"
                                  "end\n");
        CHECK_INT(run(p, NULL, 5000, 64 * MiB, &o), -1);
        CHECK_INT(o.reason, LHOST_ERROR);
        CHECK_INT(o.in_progress, 0);
        CHECK(strstr(o.message, "ctx.in_progress was called, but the function returned table "
                                "instead of its value") != NULL);
        CHECK(strstr(o.message, "return ctx.in_progress{...}") != NULL);
        lhost_outcome_free(&o);

        p = script("ip_nothing.lua", "return function(event, ctx) ctx.in_progress() end\n");
        CHECK_INT(run(p, NULL, 5000, 64 * MiB, &o), -1);
        CHECK(strstr(o.message, "returned nothing instead of its value") != NULL);
        lhost_outcome_free(&o);

        /* a table that looks like the answer is only a result */
        p = script("ip_forged.lua", "return function(event, ctx)\n"
                                    "  return {hookStatus = 'IN_PROGRESS', callBackDelay = 1}\n"
                                    "end\n");
        CHECK_INT(run(p, NULL, 5000, 64 * MiB, &o), 0);
        CHECK_INT(o.in_progress, 0);
        lhost_outcome_free(&o);

        /* returning false after calling it is the failure it says */
        p = script("ip_false.lua", "return function(event, ctx)\n"
                                   "  ctx.in_progress()\n"
                                   "  return false, 'gave up'\n"
                                   "end\n");
        CHECK_INT(run(p, NULL, 5000, 64 * MiB, &o), -1);
        CHECK_INT(o.reason, LHOST_RETURNED_FALSE);
        CHECK_STR(o.message, "gave up");
        lhost_outcome_free(&o);
        controller = NULL;
    }
    TEST("process memory and writes into /proc are refused, however the path is spelled")
    {
        const char *p = script(
            "procmem.lua",
            "local function refused(f, path, mode, why)\n"
            "  local ok, err = pcall(f, path, mode)\n"
            "  if f == io.open then -- it fails as for a file without permission\n"
            "    local g, msg, code = f(path, mode)\n"
            "    assert(ok and err == nil and g == nil and code == 13, path)\n"
            "    assert(msg:find(path .. ': not available', 1, true) == 1, msg)\n"
            "    ok, err = false, msg\n"
            "  end\n"
            "  assert(not ok, path)\n"
            "  assert(err:find('available to hook scripts: they run sandboxed', 1, true), err)\n"
            "  assert(err:find(why, 1, true), err)\n"
            "end\n"
            "return function(event)\n"
            "  local pid = io.open('/proc/self/stat'):read('l'):match('^(%d+)')\n"
            "  local mem = 'cannot read or write process memory'\n"
            "  for _, m in ipairs{'r', 'r+', 'w', 'a', 'rb'} do\n"
            "    refused(io.open, '/proc/self/mem', m, mem)\n"
            "  end\n"
            "  refused(io.open, '/proc/' .. pid .. '/mem', 'r+', mem)\n"
            "  refused(io.open, '/proc/thread-self/mem', 'r+', mem)\n"
            "  refused(io.open, '/proc/self/task/' .. pid .. '/mem', 'r+', mem)\n"
            "  refused(io.open, '/proc/self/root/proc/self/mem', 'r+', mem)\n"
            "  refused(io.open, '/proc/self/fd/../mem', 'r+', mem)\n"
            "  refused(io.open, '/dev/fd/../mem', 'r+', mem)\n"
            "  refused(io.open, '/proc//self/./mem', 'r+', mem)\n"
            "  refused(io.open, string.rep('../', 40) .. 'proc/self/mem', 'r+', mem)\n"
            "  refused(io.open, '/proc/1/mem', 'r', mem)\n"
            "  refused(io.lines, '/proc/self/mem', nil, mem)\n"
            "  refused(io.input, '/proc/self/mem', nil, mem)\n"
            "  refused(io.output, '/proc/self/mem', nil, mem)\n"
            "  local proc = 'a hook cannot write' -- into /proc, or to the runtime's "
            "stdout/stderr\n"
            "  refused(io.open, '/proc/self/comm', 'w', proc)\n"
            "  refused(io.output, '/proc/self/comm', nil, proc)\n"
            "  if not event.null2 then -- writing to /dev/null harms nobody\n"
            "    refused(io.open, '/proc/self/fd/2', 'w', proc)\n"
            "    refused(io.open, '/dev/stderr', 'a', proc)\n"
            "  end\n"
            "  if not event.null1 then refused(io.output, '/proc/self/fd/1', nil, proc) end\n"
            "  -- what stays allowed: reading /proc, files of one's own\n"
            "  assert(io.open('/proc/self/status', 'r'):read('l'))\n"
            "  for l in io.lines('/proc/self/limits') do break end\n"
            "  local f = assert(io.open(os.tmpname(), 'w')); f:write('x'); f:close()\n"
            "  assert(io.open('/nonexistent/dir/file', 'w') == nil)\n"
            "  return true\n"
            "end\n");
        /* stdout and stderr may be /dev/null here, which a script may write to */
        int null[3] = {0, 0, 0};
        for (int fd = 1; fd <= 2; fd++) {
            struct stat st;
            null[fd] = fstat(fd, &st) == 0 && S_ISCHR(st.st_mode) && st.st_rdev == makedev(1, 3);
        }
        char event[64];
        snprintf(event, sizeof event, "{\"null1\": %s, \"null2\": %s}", null[1] ? "true" : "false",
                 null[2] ? "true" : "false");
        CHECK_INT(run(p, event, 5000, 64 * MiB, &o), 0);
        if (o.reason != LHOST_OK)
            fprintf(stderr, "  %s\n", o.message);
        lhost_outcome_free(&o);
    }
    TEST("a module not found is listed with real paths, no empty one")
    {
        char root[300];
        snprintf(root, sizeof root, "%s", dir);
        task_root = root;
        const char *p = script("nomod.lua", "return function() require('no_such_helper') end\n");
        CHECK_INT(run(p, NULL, 5000, 64 * MiB, &o), -1);
        CHECK(strstr(o.message, "no file ''") == NULL);
        char want[400];
        snprintf(want, sizeof want, "no file '%s/no_such_helper.lua'", root);
        CHECK(strstr(o.message, want) != NULL);
        lhost_outcome_free(&o);
        task_root = NULL;
        CHECK_INT(run(p, NULL, 5000, 64 * MiB, &o), -1);
        CHECK(strstr(o.message, "no file ''") == NULL);
        lhost_outcome_free(&o);
    }
    TEST("deeply nested event JSON is refused, not recursed into")
    {
        char deep[4000];
        memset(deep, '[', 2000);
        memset(deep + 2000, ']', 1999);
        deep[3999] = '\0';
        const char *p = script("ok3.lua", "return function() end\n");
        run(p, deep, 5000, 64 * MiB, &o);
        CHECK_INT(o.reason, LHOST_BAD_EVENT);
        lhost_outcome_free(&o);
    }

    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
    return test_report("lhost");
}
