/* testrun.c: `hookhost test`, see testrun.h. Collects the test files, runs each test as a worker
 * job (hookhost/testing_runner.lua in a fresh Lua state) and prints what happened; the tests
 * themselves and every fake they use live in Lua (lua/hookhost/testing.lua). */
#include "testrun.h"

#include "cli.h"
#include "buf.h"
#include "clock.h"
#include "config.h"
#include "json.h"
#include "lhost.h"
#include "log.h"
#include "worker.h"

#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_DEPTH  16  /* folder nesting searched for test files (also stops symlink loops) */
#define KILL_GRACE 500 /* ms between a test's deadline and the worker's kill */

static const char usage_test[] =
    "Usage: hookhost test [--task-root DIR] [--timeout SECONDS] [PATH...]\n"
    "\n"
    "Run the *_test.lua files under each PATH (a test file, or a folder searched recursively;\n"
    "default: tests/ under the task root) with the same Lua 5.4, library and sandbox as hooks.\n"
    "Test files use require(\"hookhost.testing\") (docs/HOOKS.md, \"Testing hooks offline\").\n"
    "Each test runs alone in a fresh Lua state, with a fake environment, clock, AWS and HTTP:\n"
    "nothing is sent. Prints a line per test, then \"N passed, N failed\"; logs go to stderr.\n"
    "\n"
    "  --task-root DIR      the function package: relative paths in t.run_hook and require()\n"
    "                       start there (default: $LAMBDA_TASK_ROOT, else the current folder)\n"
    "  --timeout SECONDS    each test's real time, 1 to 900 (default: 60)\n"
    "  -h, --help           this text\n"
    "\n"
    "Exit status: 0 every test passed; 1 a test failed, a test file does not load or no test\n"
    "was found; 2 usage error.\n";

#define usage_error(...) cli_usage_error("test", usage_test, __VA_ARGS__)

/* ---- collecting test files ------------------------------------------------------------------ */

struct files {
    char **v;
    size_t n, cap;
};

static int files_add(struct files *f, const char *path)
{
    if (f->n == TESTRUN_MAX_FILES)
        return -1;
    if (f->n == f->cap) {
        f->cap = f->cap ? f->cap * 2 : 16;
        f->v = xrealloc(f->v, f->cap * sizeof *f->v);
    }
    f->v[f->n++] = xstrdup(path);
    return 0;
}

static void files_free(struct files *f)
{
    for (size_t i = 0; i < f->n; i++)
        free(f->v[i]);
    free(f->v);
    f->v = NULL;
    f->n = f->cap = 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int is_test_name(const char *name)
{
    size_t n = strlen(name);
    return n > 9 && strcmp(name + n - 9, "_test.lua") == 0;
}

/* Add the *_test.lua files under dir (recursively, dot-entries skipped). Returns 0, or -1 with
 * err set (too many files, or too deep). Unreadable folders are skipped with a warning. */
static int walk(struct files *f, const char *dir, int depth, char *err, size_t errlen)
{
    if (depth > MAX_DEPTH) {
        fmt_into(err, errlen, "%s: folders nest deeper than %d levels", dir, MAX_DEPTH);
        return -1;
    }
    DIR *d = opendir(dir);
    if (!d) {
        log_warn("hookhost test: cannot read %s: %s", dir, strerror(errno));
        return 0;
    }
    struct files sub = {0};
    int rc = 0;
    struct dirent *e;
    while (rc == 0 && (e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        char path[PATH_MAX];
        fmt_into(path, sizeof path, "%s/%s", dir, e->d_name);
        struct stat st;
        if (stat(path, &st) < 0)
            continue;
        if (S_ISDIR(st.st_mode) || (S_ISREG(st.st_mode) && is_test_name(e->d_name)))
            rc = files_add(&sub, path);
        if (rc < 0)
            fmt_into(err, errlen, "more than %d entries under %s", TESTRUN_MAX_FILES, dir);
    }
    closedir(d);
    if (sub.n > 1) /* an empty folder has no array at all */
        qsort(sub.v, sub.n, sizeof *sub.v, cmp_str);
    for (size_t i = 0; rc == 0 && i < sub.n; i++) {
        struct stat st;
        if (stat(sub.v[i], &st) == 0 && S_ISDIR(st.st_mode))
            rc = walk(f, sub.v[i], depth + 1, err, errlen);
        else if (files_add(f, sub.v[i]) < 0) {
            fmt_into(err, errlen, "more than %d test files", TESTRUN_MAX_FILES);
            rc = -1;
        }
    }
    files_free(&sub);
    return rc;
}

/* ---- running tests ----------------------------------------------------------------------------
 */

struct run {
    const struct config *cfg;
    const char *runner;    /* <lua_dir>/hookhost/testing_runner.lua */
    const char *task_root; /* as given: messages show paths the user typed */
    int64_t timeout_ms;
    int passed, failed;
};

/* Run test `index` of `file` (0: list the file's tests) as one worker job. Fills *out. */
static void run_job(const struct run *r, const char *file, int index, struct lhost_outcome *out)
{
    struct json *j = json_new();
    json_set_str(j, "file", file);
    json_set_int(j, "index", index);
    json_set_str(j, "task_root", r->task_root);
    char *event = json_finish(j);
    struct lhost_job job = {
        .script_path = r->runner,
        .event_json = event,
        .event_len = strlen(event),
        .hook = "test",
        .request_id = "test",
        .controller = "local",
        .deadline_ms = clock_ms() + r->timeout_ms,
        .mem_max = r->cfg->mem_max,
        .lua_dir = r->cfg->lua_dir,
        .task_root = r->task_root,
    };
    worker_run(&job, job.deadline_ms + KILL_GRACE, out);
    lhost_outcome_redact(out);
    free(event);
}

/* One line per test: control characters in a name would break it. */
static void print_name(const char *s)
{
    for (; *s; s++)
        putchar((unsigned char)*s < 0x20 ? ' ' : *s);
}

/* The failure's message, each line indented under the test's line. */
static void print_failure(const struct lhost_outcome *out)
{
    const char *m = out->message[0] ? out->message : lhost_reason_name(out->reason);
    fputs("      ", stdout);
    if (out->reason == LHOST_TIMEOUT)
        fputs("(timeout: the test ran past its --timeout) ", stdout);
    else if (out->reason != LHOST_ERROR && out->reason != LHOST_OK)
        printf("(%s) ", lhost_reason_name(out->reason));
    for (; *m; m++) {
        putchar(*m);
        if (*m == '\n')
            fputs("      ", stdout);
    }
    putchar('\n');
}

static void say(struct run *r, int ok, const char *file, const char *name,
                const struct lhost_outcome *out)
{
    printf("%s  %s: ", ok ? "ok  " : "FAIL", file);
    print_name(name);
    putchar('\n');
    if (ok)
        r->passed++;
    else {
        r->failed++;
        print_failure(out);
    }
    fflush(stdout);
}

/* The names a file's listing job returned ({"count": N, "names": {"1": ..., ...}}); *count is
 * -1 when the answer is unusable. The caller frees the fields with json_fields_free. */
static struct json_field *read_listing(const struct lhost_outcome *out, long *count)
{
    *count = -1;
    if (!out->result_json)
        return NULL;
    char err[200];
    struct json_field c = {.key = "count"};
    size_t len = strlen(out->result_json);
    if (json_get_fields(out->result_json, len, &c, 1, err, sizeof err) < 0 ||
        c.kind != JSON_NUMBER || c.num < 0 || c.num > TESTRUN_MAX_TESTS) {
        json_fields_free(&c, 1);
        return NULL;
    }
    json_fields_free(&c, 1);
    long n = (long)c.num;
    struct json_field *names = xcalloc((size_t)n + 1, sizeof *names);
    char(*keys)[24] = xcalloc((size_t)n + 1, sizeof *keys);
    for (long i = 0; i < n; i++) {
        fmt_into(keys[i], sizeof keys[i], "%ld", i + 1);
        names[i].key = keys[i];
        names[i].parent = "names";
    }
    if (json_get_fields(out->result_json, len, names, (size_t)n, err, sizeof err) < 0) {
        free(names);
        free(keys);
        return NULL;
    }
    /* the keys are only needed during the call: point them at one static string */
    for (long i = 0; i < n; i++)
        names[i].key = "";
    free(keys);
    *count = n;
    return names;
}

static void run_file(struct run *r, const char *file)
{
    struct lhost_outcome out;
    run_job(r, file, 0, &out);
    if (out.reason != LHOST_OK) {
        say(r, 0, file, "(loading the file)", &out);
        lhost_outcome_free(&out);
        return;
    }
    long n;
    struct json_field *names = read_listing(&out, &n);
    lhost_outcome_free(&out);
    if (n < 0) {
        memset(&out, 0, sizeof out);
        out.reason = LHOST_ERROR;
        fmt_into(out.message, sizeof out.message, "the test runner gave no list of tests");
        say(r, 0, file, "(loading the file)", &out);
        return;
    }
    if (n == 0) {
        memset(&out, 0, sizeof out);
        out.reason = LHOST_ERROR;
        fmt_into(out.message, sizeof out.message,
                 "no tests: register them at the top level with t.test(name, function() ... end)");
        say(r, 0, file, "(no tests)", &out);
    }
    for (long i = 0; i < n; i++) {
        const char *name = names[i].kind == JSON_STRING ? names[i].value : "(unnamed)";
        run_job(r, file, (int)i + 1, &out);
        say(r, out.reason == LHOST_OK, file, name, &out);
        lhost_outcome_free(&out);
    }
    json_fields_free(names, (size_t)n);
    free(names);
}

static int is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

int testrun_main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"task-root", required_argument, 0, 'r'},
        {"timeout", required_argument, 0, 't'},
        {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0},
    };
    for (int i = 1; i < argc && strcmp(argv[i], "--") != 0; i++)
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            fputs(usage_test, stdout);
            return 0;
        }
    const char *task_root = getenv("LAMBDA_TASK_ROOT");
    int64_t timeout_ms = 60000;
    int c;
    opterr = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, "+:h", opts, NULL)) != -1) {
        long long v;
        switch (c) {
        case 'r':
            task_root = optarg;
            break;
        case 't':
            if (parse_int(optarg, 1, 900, &v) < 0)
                return usage_error("--timeout %s: expected whole seconds, 1 to 900", optarg);
            timeout_ms = v * 1000;
            break;
        case ':':
            return usage_error("%s needs a value", argv[optind - 1]);
        default:
            return usage_error("unknown option %s", argv[optind - 1]);
        }
    }
    if (!task_root || !*task_root)
        task_root = ".";
    if (!is_dir(task_root))
        return usage_error("the task root %s is not a folder", task_root);

    char err[512];
    struct config cfg;
    if (config_load(&cfg, err, sizeof err) < 0) {
        fprintf(stderr, "hookhost test: %s\n", err);
        return EXIT_USAGE;
    }
    char runner[PATH_MAX + 32];
    fmt_into(runner, sizeof runner, "%s/hookhost/testing_runner.lua", cfg.lua_dir);
    if (!cfg.lua_dir[0] || access(runner, R_OK) != 0) {
        fprintf(stderr,
                "hookhost test: the hookhost Lua library (with hookhost/testing_runner.lua) was "
                "not found%s%s; set HOOKHOST_LUA_DIR to the folder that holds hookhost/\n",
                cfg.lua_dir[0] ? " in " : "", cfg.lua_dir);
        return EXIT_USAGE;
    }

    struct files files = {0};
    int rc = 0;
    if (optind == argc) {
        char dir[PATH_MAX];
        fmt_into(dir, sizeof dir, "%s/tests", task_root);
        if (!is_dir(dir)) {
            fprintf(stderr,
                    "hookhost test: %s is not a folder: give the test files or folders to run, or "
                    "--task-root the function package whose tests/ holds them\n",
                    dir);
            return EXIT_USAGE;
        }
        rc = walk(&files, dir, 0, err, sizeof err);
    }
    for (int i = optind; rc == 0 && i < argc; i++) {
        struct stat st;
        if (stat(argv[i], &st) < 0) {
            files_free(&files);
            return usage_error("%s: no such file or folder", argv[i]);
        }
        if (S_ISDIR(st.st_mode))
            rc = walk(&files, argv[i], 0, err, sizeof err);
        else if (files_add(&files, argv[i]) < 0) {
            fmt_into(err, sizeof err, "more than %d test files", TESTRUN_MAX_FILES);
            rc = -1;
        }
    }
    if (rc < 0) {
        fprintf(stderr, "hookhost test: %s\n", err);
        files_free(&files);
        return EXIT_USAGE;
    }

    log_set_request_id("test");
    struct run r = {
        .cfg = &cfg, .runner = runner, .task_root = task_root, .timeout_ms = timeout_ms};
    for (size_t i = 0; i < files.n; i++)
        run_file(&r, files.v[i]);
    worker_shutdown();
    if (files.n == 0)
        fprintf(stderr, "hookhost test: no *_test.lua files found\n");
    printf("%d passed, %d failed\n", r.passed, r.failed);
    fflush(stdout);
    files_free(&files);
    return r.failed || r.passed == 0 ? 1 : 0;
}
