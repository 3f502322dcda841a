/* Tests for worker.c: whatever happens to the process running a script, the parent gets an
 * outcome, in time. */
#include "clock.h"
#include "log.h"
#include "testhelp.h"
#include "worker.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static char dir[] = "/tmp/hookhost-test-worker-XXXXXX";

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

static size_t run_mem = (size_t)32 << 20; /* the memory cap run() gives its jobs */

static int run(const char *path, int64_t soft_ms, int64_t hard_ms, struct lhost_outcome *out)
{
    int64_t now = clock_ms();
    struct lhost_job job = {.script_path = path,
                            .hook = "AfterAllowTraffic",
                            .deadline_ms = now + soft_ms,
                            .mem_max = run_mem};
    return worker_run(&job, now + hard_ms, out);
}

/* Send sig to the pid the script writes into pidfile, once it appears: a stand-in for a crash
 * inside C, which a sandboxed script cannot cause itself. */
static pid_t signal_when_ready(const char *pidfile, int sig)
{
    pid_t helper = fork();
    if (helper == 0) {
        for (int i = 0; i < 400; i++) {
            FILE *f = fopen(pidfile, "r");
            long pid = 0;
            if (f && fscanf(f, "%ld", &pid) == 1 && pid > 0) {
                fclose(f);
                usleep(20000);
                kill((pid_t)pid, sig);
                _exit(0);
            }
            if (f)
                fclose(f);
            usleep(5000);
        }
        _exit(1);
    }
    return helper;
}

/* A copy, in this process, of the worker's end of its channel to the parent: what a script would
 * need to forge an outcome. pidfd_getfd stands in for whatever way a script might find to write
 * there. Returns the descriptor, or -1. */
static int steal_worker_end(pid_t pid)
{
    char path[64], link[128];
    snprintf(path, sizeof path, "/proc/%d/fd", (int)pid);
    DIR *d = opendir(path);
    int target = -1;
    for (struct dirent *e; d && (e = readdir(d)) != NULL;) {
        char fdpath[400];
        snprintf(fdpath, sizeof fdpath, "%s/%s", path, e->d_name);
        ssize_t n = readlink(fdpath, link, sizeof link - 1);
        if (n > 0 && (link[n] = '\0', strncmp(link, "socket:", 7) == 0))
            target = (int)strtol(e->d_name, NULL, 10);
    }
    if (d)
        closedir(d);
    if (target < 0)
        return -1;
    int pidfd = pidfd_open(pid, 0);
    int fd = pidfd < 0 ? -1 : pidfd_getfd(pidfd, target, 0);
    if (fd < 0)
        fprintf(stderr, "  pidfd_getfd: %s\n", strerror(errno));
    if (pidfd >= 0)
        close(pidfd);
    return fd;
}

/* Write an outcome frame that says "succeeded, result forged", with a job id of its own. */
static void write_forged_outcome(int fd)
{
    const char *json =
        "{\"reason\":0,\"message\":\"\",\"result\":\"\\\"forged\\\"\",\"mem_peak\":1,"
        "\"duration_ms\":1,\"job_id\":\"0123456789abcdef\"}";
    uint32_t len = (uint32_t)strlen(json);
    if (write(fd, &len, sizeof len) != (ssize_t)sizeof len || write(fd, json, len) != (ssize_t)len)
        fprintf(stderr, "  could not write the forged outcome\n");
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN); /* as main.c does: a dead spare is an EPIPE, not a dead parent */
    if (!mkdtemp(dir))
        return 1;
    log_set_level(LOG_FATAL);
    struct lhost_outcome o;
    char fifo[300], pidfile[300], text[1024];
    snprintf(fifo, sizeof fifo, "%s/fifo", dir);
    snprintf(pidfile, sizeof pidfile, "%s/pid", dir);
    if (mkfifo(fifo, 0600) < 0)
        return 1;
    /* Opening a FIFO nobody writes to blocks inside C, where the count hook never fires. */
    snprintf(text, sizeof text,
             "return function()\n"
             "  local s = io.open('/proc/self/stat'):read('l')\n"
             "  local f = io.open('%s', 'w'); f:write(s:match('^(%%d+)')); f:close()\n"
             "  io.open('%s', 'r')\n"
             "end\n",
             pidfile, fifo);
    char blocker[300];
    snprintf(blocker, sizeof blocker, "%s", script("block.lua", text));

    TEST("an outcome crosses the process boundary intact")
    {
        const char *p = script("ok.lua", "return function() return {a = 'b\\n', n = 3} end\n");
        CHECK_INT(run(p, 2000, 3000, &o), 0);
        CHECK_INT(o.reason, LHOST_OK);
        CHECK(o.result_json && strstr(o.result_json, "\"a\":\"b\\n\""));
        CHECK(o.mem_peak > 0);
        lhost_outcome_free(&o);
        p = script("boom.lua", "return function() error('boom') end\n");
        CHECK_INT(run(p, 2000, 3000, &o), -1);
        CHECK_INT(o.reason, LHOST_ERROR);
        CHECK(strstr(o.message, "boom") != NULL);
        CHECK(o.traceback != NULL);
        lhost_outcome_free(&o);
    }
    TEST("a script blocked inside C is killed at the hard deadline")
    {
        unlink(pidfile);
        int64_t t0 = clock_ms();
        run(blocker, 200, 400, &o);
        int64_t took = clock_ms() - t0;
        if (o.reason != LHOST_TIMEOUT)
            fprintf(stderr, "  outcome: %s\n", o.message);
        CHECK_INT(o.reason, LHOST_TIMEOUT);
        CHECK(strstr(o.message, "killed") != NULL);
        CHECK(took >= 400 && took < 1000);
        lhost_outcome_free(&o);
    }
    TEST("a worker that dies of SIGSEGV or SIGKILL becomes a crash outcome")
    {
        int sigs[] = {SIGSEGV, SIGKILL, SIGABRT};
        for (size_t i = 0; i < 3; i++) {
            unlink(pidfile);
            pid_t helper = signal_when_ready(pidfile, sigs[i]);
            int64_t t0 = clock_ms();
            run(blocker, 4000, 5000, &o);
            CHECK_INT(o.reason, LHOST_CRASH);
            CHECK(strstr(o.message, "signal") != NULL);
            CHECK(clock_ms() - t0 < 3000);
            lhost_outcome_free(&o);
            waitpid(helper, NULL, 0);
        }
    }
    TEST("one worker serves execution after execution; one killed from outside is replaced")
    {
        const char *p = script("noop2.lua", "return function() return 1 end\n");
        char noop[300];
        snprintf(noop, sizeof noop, "%s", p);
        worker_prefork();
        int spare = worker_spare_pid();
        CHECK(spare > 0);
        worker_prefork(); /* idempotent: still the same spare */
        CHECK_INT(worker_spare_pid(), spare);
        CHECK_INT(run(noop, 2000, 3000, &o), 0);
        CHECK_INT(worker_spare_pid(), spare); /* the same process serves the next one */
        lhost_outcome_free(&o);
        CHECK_INT(run(noop, 2000, 3000, &o), 0);
        CHECK_INT(worker_spare_pid(), spare);
        lhost_outcome_free(&o);
        worker_prefork();
        spare = worker_spare_pid();
        kill(spare, SIGKILL);
        waitpid(spare, NULL, __WALL | WNOHANG);
        usleep(20000);
        CHECK_INT(run(noop, 2000, 3000, &o), 0);
        CHECK_STR(o.result_json, "1");
        CHECK(worker_spare_pid() != spare);
        lhost_outcome_free(&o);
    }
    TEST("nothing a script sets survives into the next execution in the same worker")
    {
        const char *p = script("leak.lua", "return function()\n"
                                           "  local seen = LEFT\n"
                                           "  LEFT = 1; string.left = 1; package.loaded.x = 1\n"
                                           "  return seen == nil and string.left == 1\n"
                                           "end\n");
        char leak[300];
        snprintf(leak, sizeof leak, "%s", p);
        for (int i = 0; i < 3; i++) {
            CHECK_INT(run(leak, 2000, 3000, &o), 0);
            CHECK_STR(o.result_json, "true");
            lhost_outcome_free(&o);
        }
    }
    TEST("a script calling every C function it can find on its stack cannot crash the worker")
    {
        const char *p =
            script("reenter.lua", "return function()\n"
                                  "  local args = {{}, io.stdout, require('cjson').null}\n"
                                  "  for level = 1, 50 do\n"
                                  "    local i = debug.getinfo(level, 'f')\n"
                                  "    if not i then break end\n"
                                  "    if i.func and debug.getinfo(i.func, 'S').what == 'C' then\n"
                                  "      for _, a in ipairs(args) do pcall(i.func, a) end\n"
                                  "    end\n"
                                  "  end\n"
                                  "  return 'survived'\n"
                                  "end\n");
        CHECK_INT(run(p, 2000, 3000, &o), 0);
        if (o.reason != LHOST_OK)
            fprintf(stderr, "  outcome: %s\n", o.message);
        CHECK_STR(o.result_json, "\"survived\"");
        lhost_outcome_free(&o);
    }
    TEST("a result too large to hand over is dropped; the hook's status stands")
    {
        const char *p =
            script("big.lua", "return function() return string.rep('x', 9 << 20) end\n");
        CHECK_INT(run(p, 5000, 6000, &o), 0);
        CHECK_INT(o.reason, LHOST_OK);
        CHECK(o.result_json == NULL);
        lhost_outcome_free(&o);
        p = script("bigerr.lua", "return function()\n"
                                 "  error('x\\nstack traceback:' .. string.rep('y', 9 << 20))\n"
                                 "end\n");
        run_mem = (size_t)128 << 20; /* room for the message, twice, and its traceback */
        CHECK_INT(run(p, 5000, 6000, &o), -1);
        run_mem = (size_t)32 << 20;
        CHECK_INT(o.reason, LHOST_ERROR);
        CHECK(o.traceback && strlen(o.traceback) <= LHOST_MAX_TRACEBACK);
        lhost_outcome_free(&o);
        p = script("fits.lua", "return function() return string.rep('x', 1000000) end\n");
        CHECK_INT(run(p, 5000, 6000, &o), 0);
        CHECK(o.result_json && strlen(o.result_json) == 1000002);
        lhost_outcome_free(&o);
    }
    TEST("a script cannot write an outcome into the worker's channel through /proc/self/fd")
    {
        const char *p =
            script("forge.lua",
                   "return function()\n"
                   "  local json = '{\"reason\":0,\"message\":\"\",' ..\n"
                   "    '\"result\":\"\\\\\"forged\\\\\"\",\"mem_peak\":1,\"duration_ms\":1}'\n"
                   "  local frame = string.pack('=I4', #json) .. json\n"
                   "  for fd = 3, 64 do\n"
                   "    local f = io.open('/proc/self/fd/' .. fd, 'a')\n"
                   "    if f then f:write(frame); f:close() end\n"
                   "  end\n"
                   "  error('the real outcome')\n"
                   "end\n");
        CHECK_INT(run(p, 2000, 3000, &o), -1);
        CHECK_INT(o.reason, LHOST_ERROR);
        CHECK(strstr(o.message, "the real outcome") != NULL);
        CHECK(o.result_json == NULL);
        lhost_outcome_free(&o);
        p = script("second.lua", "return function() return 'second' end\n");
        CHECK_INT(run(p, 2000, 3000, &o), 0);
        CHECK_STR(o.result_json, "\"second\"");
        lhost_outcome_free(&o);
    }
    TEST("an outcome with another job's id, or bytes nobody asked for, replace the worker")
    {
        char noop[300], marker[300], waiter[1024];
        snprintf(noop, sizeof noop, "%s", script("noop3.lua", "return function() return 3 end\n"));
        snprintf(marker, sizeof marker, "%s/marker", dir);
        /* Stray bytes from an idle worker: the next job goes to a fresh one. */
        worker_prefork();
        pid_t first = worker_spare_pid();
        int stolen = steal_worker_end(first);
        CHECK(stolen >= 0);
        if (stolen >= 0) {
            CHECK_INT(write(stolen, "stray", 5), 5);
            close(stolen);
        }
        CHECK_INT(run(noop, 2000, 3000, &o), 0);
        CHECK_STR(o.result_json, "3");
        CHECK(worker_spare_pid() != first);
        lhost_outcome_free(&o);
        /* A forged outcome arriving while the job runs: refused, the worker replaced. */
        pid_t second = worker_spare_pid();
        stolen = steal_worker_end(second);
        CHECK(stolen >= 0);
        unlink(pidfile);
        unlink(marker);
        snprintf(waiter, sizeof waiter,
                 "return function()\n"
                 "  local f = io.open('%s', 'w'); f:write('1'); f:close()\n"
                 "  for i = 1, 1e9 do\n"
                 "    local m = io.open('%s'); if m then m:close(); break end\n"
                 "  end\n"
                 "  return 'real'\n"
                 "end\n",
                 pidfile, marker);
        const char *w = script("waiter.lua", waiter);
        pid_t helper = fork();
        if (helper == 0) {
            for (int i = 0; i < 400 && access(pidfile, F_OK) != 0; i++)
                usleep(5000);
            write_forged_outcome(stolen);
            usleep(20000);
            FILE *m = fopen(marker, "w");
            if (m)
                fclose(m);
            _exit(0);
        }
        if (stolen >= 0)
            close(stolen);
        run(w, 4000, 5000, &o);
        CHECK_INT(o.reason, LHOST_CRASH);
        CHECK(strstr(o.message, "not this job's") != NULL);
        CHECK(o.result_json == NULL);
        CHECK(worker_spare_pid() != second);
        lhost_outcome_free(&o);
        waitpid(helper, NULL, 0);
        CHECK_INT(run(noop, 2000, 3000, &o), 0);
        CHECK_STR(o.result_json, "3");
        lhost_outcome_free(&o);
    }
    TEST("the worker's memory outside Lua is limited while it runs a job")
    {
        const char *p = script("limits.lua", "return function()\n"
                                             "  for l in io.lines('/proc/self/limits') do\n"
                                             "    local soft = l:match('^Max data size%s+(%S+)')\n"
                                             "    if soft then return soft end\n"
                                             "  end\n"
                                             "end\n");
        CHECK_INT(run(p, 2000, 3000, &o), 0);
#if defined(__SANITIZE_ADDRESS__)
        CHECK_STR(o.result_json, "\"unlimited\""); /* ASan's shadow memory needs it off */
#else
        long long soft = o.result_json ? strtoll(o.result_json + 1, NULL, 10) : 0;
        long long floor = (long long)(WORKER_DATA_FACTOR * run_mem + WORKER_DATA_HEADROOM);
        if (soft < floor || soft > floor + (512LL << 20))
            fprintf(stderr, "  Max data size: %s\n", o.result_json ? o.result_json : "(none)");
        CHECK(soft >= floor && soft <= floor + (512LL << 20));
#endif
        lhost_outcome_free(&o);
    }
    TEST("the parent's overhead per execution is measured")
    {
        const char *p = script("noop.lua", "return function() end\n");
        run(p, 2000, 3000, &o);
        lhost_outcome_free(&o);
        CHECK(worker_last_overhead_us() > 0);
        CHECK(worker_last_overhead_us() < 1000000);
    }

    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
    return test_report("worker");
}
