/* main.c: the command line. Parses, checks and dispatches; knows nothing of AWS or Lua. */
#include "aws.h"
#include "buf.h"
#include "config.h"
#include "hook.h"
#include "cli.h"
#include "lhost.h"
#include "log.h"
#include "sign_cli.h"
#include "testrun.h"

#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef HOOKHOST_VERSION
#define HOOKHOST_VERSION "0.0.0"
#endif

static const char usage_main[] =
    "hookhost: run deployment hooks written in Lua, as an AWS Lambda runtime or locally.\n"
    "\n"
    "Usage:\n"
    "  hookhost serve                  the Lambda Runtime API loop (the default as `bootstrap`)\n"
    "  hookhost run [options] SCRIPT   run one hook script locally, as Lambda would\n"
    "  hookhost check SCRIPT...        compile-check hook scripts\n"
    "  hookhost sign [options]         sign an HTTP request with SigV4 and print it\n"
    "  hookhost test [PATH...]         run *_test.lua files: offline tests of hook scripts\n"
    "  hookhost --help | --version\n"
    "\n"
    "`hookhost COMMAND --help` describes a command. Environment: see README.md.\n";

static const char usage_run[] =
    "Usage: hookhost run [options] SCRIPT\n"
    "\n"
    "Run one hook script with the same worker, limits and report as in Lambda. Logs go to\n"
    "stderr; the outcome is printed on stdout as one JSON line, then a one-line summary on\n"
    "stderr.\n"
    "\n"
    "An event with a DeploymentId is a CodeDeploy hook event: unless --dry-run, its status is\n"
    "REPORTED TO THE REAL CodeDeploy of your AWS account (or to AWS_ENDPOINT_URL_CODEDEPLOY),\n"
    "and the deployment moves on. Use --dry-run to try a script on a real deployment's event.\n"
    "\n"
    "  --event FILE|-       the event, a JSON object (default: {}); - reads stdin\n"
    "  --hook NAME          the lifecycle event name (default: the script's base name)\n"
    "  --timeout SECONDS    the hook's time, 1 to 900, the report's reserve included\n"
    "                       (default: 60). The script gets it minus the reserve (10%, 300 ms\n"
    "                       to 10 s) minus a grace of a tenth of the reserve (20 to 200 ms) in\n"
    "                       which a stopped script unwinds before its worker would be killed:\n"
    "                       --timeout 60 gives it 60000 - 6000 - 200 = 53800 ms\n"
    "  --dry-run            nothing is reported and no AWS call is sent: each is logged\n"
    "                       (\"dry run: not sent: ...\") and answers with its canned answer\n"
    "                       (--stub) or a placeholder; needs no region or credentials\n"
    "  -v, --verbose        with --dry-run: log each call's headers (secrets as ***) and\n"
    "                       the first 4 KiB of its body\n"
    "  --stub FILE          canned answers for AWS calls (a JSON list, docs/HOOKS.md): nothing\n"
    "                       is sent or reported; a call with no answer left raises, and\n"
    "                       answers left unused fail the run (\"stubs_unused\"). With\n"
    "                       --dry-run: calls without an answer get the placeholder\n"
    "  --region REGION      the AWS region (sets AWS_REGION, as the AWS CLI's --region)\n"
    "  --profile NAME       the AWS profile for credentials and region (sets AWS_PROFILE)\n"
    "  --task-root DIR      the function package, where require finds its modules (sets\n"
    "                       LAMBDA_TASK_ROOT; default: LAMBDA_TASK_ROOT, else DIR for a script\n"
    "                       at DIR/hooks/X.lua, else the script's own folder)\n"
    "  --follow             an ECS-native event: while the hook answers IN_PROGRESS, call it\n"
    "                       again as ECS would, with the hookDetails it returned, after its\n"
    "                       callBackDelay (30 s when it gives none); one outcome line per call\n"
    "  --max-delay SECONDS  with --follow: wait at most this long between calls, 0 to 3600\n"
    "                       (default: 30)\n"
    "  --max-rounds N       with --follow: stop after N calls, 1 to 1000 (default: 20); a hook\n"
    "                       still IN_PROGRESS then exits 1\n"
    "  -h, --help           this text\n"
    "\n"
    "Exit status: 0 the hook succeeded (and, for a CodeDeploy event, its status was reported or\n"
    "it was a dry or stub run), or an ECS hook answered IN_PROGRESS (without --follow); 1 it\n"
    "failed (error, timeout, memory, crash), its status could not be reported (report not\n"
    "delivered: \"reported\": false), stub answers were left unused, or under --follow it was\n"
    "still IN_PROGRESS after --max-rounds calls; 2 usage error, unreadable event or stub file.\n";

static const char usage_check[] =
    "Usage: hookhost check SCRIPT...\n"
    "\n"
    "Compile each script without running it; errors are printed as file:line: message.\n"
    "Exit status: 0 all compile, 1 at least one does not, 2 usage error.\n";

static const char usage_serve[] =
    "Usage: hookhost serve\n"
    "\n"
    "Serve hook events from the Lambda Runtime API at $AWS_LAMBDA_RUNTIME_API.\n";

/* --help anywhere before "--" wins over every other argument, valid or not. */
static int is_help(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--") == 0)
            return 0;
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0)
            return 1;
    }
    return 0;
}

/* A profile name that can stand in a config file's section header. */
static int is_profile_name(const char *s)
{
    size_t n = strlen(s);
    return n > 0 && n <= 64 &&
           strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-.@+") == n;
}

static int cmd_run(int argc, char **argv)
{
    static const struct option opts[] = {
        {"event", required_argument, 0, 'e'},
        {"hook", required_argument, 0, 'k'},
        {"timeout", required_argument, 0, 't'},
        {"dry-run", no_argument, 0, 'n'},
        {"region", required_argument, 0, 'r'},
        {"profile", required_argument, 0, 'p'},
        {"stub", required_argument, 0, 's'},
        {"verbose", no_argument, 0, 'v'},
        {"help", no_argument, 0, 'h'},
        {"task-root", required_argument, 0, 'T'},
        {"follow", no_argument, 0, 'f'},
        {"max-delay", required_argument, 0, 'D'},
        {"max-rounds", required_argument, 0, 'R'},
        {0, 0, 0, 0},
    };
    if (is_help(argc, argv)) {
        fputs(usage_run, stdout);
        return 0;
    }
    struct hook_local_opts o = {.timeout_ms = 60000, .max_delay_s = -1};
    int c;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "+:hv", opts, NULL)) != -1) {
        long long v;
        switch (c) {
        case 'e':
            o.event_path = optarg;
            break;
        case 'k':
            if (!config_is_hook_name(optarg))
                return cli_usage_error(
                    "run", usage_run,
                    "--hook %s: expected a lifecycle event name (letters, digits, "
                    "_ and -, at most 64)",
                    optarg);
            o.hook = optarg;
            break;
        case 't':
            if (parse_int(optarg, 1, 900, &v) < 0)
                return cli_usage_error("run", usage_run,
                                       "--timeout %s: expected whole seconds, 1 to 900", optarg);
            o.timeout_ms = v * 1000;
            break;
        case 'n':
            o.dry_run = 1;
            break;
        case 's':
            o.stub_path = optarg;
            break;
        case 'v':
            o.verbose = 1;
            break;
        case 'r':
            if (!aws_region_ok(optarg))
                return cli_usage_error("run", usage_run,
                                       "--region %s: expected a region name such as us-east-1",
                                       optarg);
            setenv("AWS_REGION", optarg, 1);
            break;
        case 'p':
            if (!is_profile_name(optarg))
                return cli_usage_error("run", usage_run,
                                       "--profile %s: expected a profile name (letters, digits and "
                                       "_-.@+, at most 64)",
                                       optarg);
            setenv("AWS_PROFILE", optarg, 1);
            break;
        case 'T':
            o.task_root = optarg;
            break;
        case 'f':
            o.follow = 1;
            break;
        case 'D':
            if (parse_int(optarg, 0, 3600, &v) < 0)
                return cli_usage_error("run", usage_run,
                                       "--max-delay %s: expected whole seconds, 0 to 3600", optarg);
            o.max_delay_s = (int)v;
            break;
        case 'R':
            if (parse_int(optarg, 1, 1000, &v) < 0)
                return cli_usage_error("run", usage_run, "--max-rounds %s: expected 1 to 1000",
                                       optarg);
            o.max_rounds = (int)v;
            break;
        case ':':
            return cli_usage_error("run", usage_run, "%s needs a value", argv[optind - 1]);
        default:
            return cli_usage_error("run", usage_run, "unknown option %s", argv[optind - 1]);
        }
    }
    if (optind == argc)
        return cli_usage_error("run", usage_run, "%s", "which script? (SCRIPT is missing)");
    if (optind + 1 < argc)
        return cli_usage_error("run", usage_run, "one script at a time; unexpected %s",
                               argv[optind + 1]);
    if (o.verbose && !o.dry_run)
        return cli_usage_error(
            "run", usage_run, "%s",
            "--verbose shows what a dry run does not send: use it with --dry-run");
    if (!o.follow && (o.max_rounds || o.max_delay_s >= 0))
        return cli_usage_error("run", usage_run, "%s",
                               "--max-delay and --max-rounds go with --follow");
    o.script = argv[optind];
    return hook_run_local(&o);
}

static int cmd_check(int argc, char **argv)
{
    if (is_help(argc, argv)) {
        fputs(usage_check, stdout);
        return 0;
    }
    int first = 1;
    if (first < argc && strcmp(argv[first], "--") == 0)
        first++;
    else if (first < argc && argv[first][0] == '-' && argv[first][1])
        return cli_usage_error("check", usage_check, "unknown option %s", argv[first]);
    if (first == argc)
        return cli_usage_error("check", usage_check, "%s", "which scripts? (SCRIPT is missing)");
    int bad = 0;
    for (int i = first; i < argc; i++) {
        char err[1024];
        if (lhost_check(argv[i], err, sizeof err) < 0) {
            fprintf(stderr, "%s\n", err);
            bad++;
        }
    }
    if (!bad)
        fprintf(stderr, "hookhost check: %d script%s OK\n", argc - first,
                argc - first == 1 ? "" : "s");
    return bad ? 1 : 0;
}

static int cmd_serve(int argc, char **argv)
{
    if (is_help(argc, argv)) {
        fputs(usage_serve, stdout);
        return 0;
    }
    if (argc > 1)
        return cli_usage_error("serve", usage_serve, "unexpected argument %s", argv[1]);
    return hook_serve();
}

static int cmd_sign(int argc, char **argv)
{
    return sign_main(argc, argv);
}

int main(int argc, char **argv)
{
    /* A write to a worker or a peer that is gone must be an error return, not a dead runtime. */
    signal(SIGPIPE, SIG_IGN);
    log_init();
    const char *prog = strrchr(argv[0], '/');
    prog = prog ? prog + 1 : argv[0];
    const char *rapi = getenv("AWS_LAMBDA_RUNTIME_API");
    /* As Lambda's bootstrap (no arguments) it serves; with arguments it is the usual CLI, so
     * `bootstrap run ...` and `bootstrap --version` work inside a package too. */
    if (argc == 1 && (strcmp(prog, "bootstrap") == 0 || (rapi && *rapi)))
        return cmd_serve(1, argv);
    if (argc < 2) {
        fputs(usage_main, stderr);
        return EXIT_USAGE;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
        fputs(usage_main, stdout);
        return 0;
    }
    if (strcmp(cmd, "--version") == 0 || strcmp(cmd, "version") == 0) {
        printf("hookhost %s\n", HOOKHOST_VERSION);
        return 0;
    }
    if (strcmp(cmd, "run") == 0)
        return cmd_run(argc - 1, argv + 1);
    if (strcmp(cmd, "check") == 0)
        return cmd_check(argc - 1, argv + 1);
    if (strcmp(cmd, "serve") == 0)
        return cmd_serve(argc - 1, argv + 1);
    if (strcmp(cmd, "sign") == 0)
        return cmd_sign(argc - 1, argv + 1);
    if (strcmp(cmd, "test") == 0)
        return testrun_main(argc - 1, argv + 1);
    fprintf(stderr, "hookhost: unknown command '%s'\n\n%s", cmd, usage_main);
    return EXIT_USAGE;
}
