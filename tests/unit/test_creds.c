/* Tests for creds.c: each source of the chain, profile selection, precedence, config-file naming,
 * INI limits, credential_process (success, bad output, hang, refresh), container credentials
 * against a small HTTP responder forked on 127.0.0.1, and the combined "nothing found" message.
 * Files live in a temporary HOME; the environment is reset before each test. */
#include "buf.h"
#include "creds.h"
#include "testhelp.h"

#include <arpa/inet.h>
#include <errno.h>
#include <ftw.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static char home[256];
static char err[1024];

static const char *const VARS[] = {
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_SHARED_CREDENTIALS_FILE",
    "AWS_CONFIG_FILE",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_CONTAINER_AUTHORIZATION_TOKEN",
    "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
};

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

/* A fresh HOME with an empty .aws, and none of the AWS variables set. */
static void reset(void)
{
    for (size_t i = 0; i < sizeof VARS / sizeof VARS[0]; i++)
        unsetenv(VARS[i]);
    char aws[300];
    nftw(home, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    mkdir(home, 0700);
    fmt_into(aws, sizeof aws, "%s/.aws", home);
    mkdir(aws, 0700);
    setenv("HOME", home, 1);
    err[0] = '\0';
}

static char *path_in_home(const char *rel)
{
    static char p[4][512];
    static int k;
    k = (k + 1) % 4;
    fmt_into(p[k], sizeof p[k], "%s/%s", home, rel);
    return p[k];
}

static void write_file(const char *rel, const char *text)
{
    FILE *f = fopen(path_in_home(rel), "w");
    if (!f) {
        perror(rel);
        exit(2);
    }
    fputs(text, f);
    fclose(f);
}

/* One creds_get on a new provider with the given options; returns its status. */
static int get_once(const struct creds_opts *o, struct creds *c)
{
    struct creds_provider *p = creds_provider_new(o);
    int rc = creds_get(p, c, err, sizeof err);
    creds_provider_free(p);
    return rc;
}

static int64_t mono_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int no_secret_in(const char *msg)
{
    static const char *const secrets[] = {"SECRETKEY", "TOKENVALUE", "sk-proc", "tk-proc"};
    for (size_t i = 0; i < sizeof secrets / sizeof secrets[0]; i++)
        if (strstr(msg, secrets[i]))
            return 0;
    return 1;
}

/* ---------------------------------------------------------------- environment and files */

static void test_environment(void)
{
    struct creds c;
    TEST("environment credentials, with and without a session token")
    {
        reset();
        setenv("AWS_ACCESS_KEY_ID", "AKENV", 1);
        setenv("AWS_SECRET_ACCESS_KEY", "SECRETKEY-env", 1);
        setenv("AWS_SESSION_TOKEN", "TOKENVALUE-env", 1);
        CHECK_INT(get_once(NULL, &c), 0);
        CHECK_STR(c.access_key, "AKENV");
        CHECK_STR(c.secret_key, "SECRETKEY-env");
        CHECK_STR(c.session_token, "TOKENVALUE-env");
        CHECK_STR(c.source, "environment");
        CHECK_INT(c.expires_ms, 0);
        creds_clear(&c);
        CHECK(c.access_key == NULL && c.secret_key == NULL);
        unsetenv("AWS_SESSION_TOKEN");
        CHECK_INT(get_once(NULL, &c), 0);
        CHECK(c.session_token == NULL);
        creds_clear(&c);
    }
    TEST("a partial environment is an error that names the missing variable")
    {
        reset();
        setenv("AWS_ACCESS_KEY_ID", "AKENV", 1);
        write_file(".aws/credentials", "[default]\naws_access_key_id=AKF\n"
                                       "aws_secret_access_key=SECRETKEY-f\n");
        CHECK_INT(get_once(NULL, &c), -1);
        CHECK(strstr(err, "AWS_SECRET_ACCESS_KEY") != NULL);
    }
}

static const char *fake_env(void *ud, const char *name)
{
    const char *const *kv = ud;
    for (; kv[0]; kv += 2)
        if (strcmp(kv[0], name) == 0)
            return kv[1];
    return NULL;
}

static void test_injected_env(void)
{
    TEST("an injected environment replaces getenv")
    {
        reset();
        setenv("AWS_ACCESS_KEY_ID", "AKREAL", 1);
        setenv("AWS_SECRET_ACCESS_KEY", "SECRETKEY-real", 1);
        const char *kv[] = {"AWS_ACCESS_KEY_ID",
                            "AKFAKE",
                            "AWS_SECRET_ACCESS_KEY",
                            "SECRETKEY-fake",
                            "HOME",
                            home,
                            NULL};
        struct creds_opts o = {0};
        o.getenv_fn = fake_env;
        o.getenv_ud = kv;
        struct creds c;
        CHECK_INT(get_once(&o, &c), 0);
        CHECK_STR(c.access_key, "AKFAKE");
        creds_clear(&c);
    }
}

static void test_files(void)
{
    struct creds c;
    /* An indented line after a key continues that key's value, as in Python's configparser,
     * which botocore uses: section headers start at the margin. */
    TEST("shared credentials file: default profile, comments, spacing, key case, ':' form")
    {
        reset();
        write_file(".aws/credentials", "# a comment\n"
                                       "; another\n"
                                       "\n"
                                       "[other]\n"
                                       "aws_access_key_id = AKOTHER\n"
                                       "aws_secret_access_key = SECRETKEY-other\n"
                                       "[default]  \n"
                                       "  AWS_Access_Key_ID   =   AKDEF  \n"
                                       "aws_secret_access_key: SECRETKEY-def#not-a-comment\r\n"
                                       "aws_session_token=TOKENVALUE-def\n");
        CHECK_INT(get_once(NULL, &c), 0);
        CHECK_STR(c.access_key, "AKDEF");
        CHECK_STR(c.secret_key, "SECRETKEY-def#not-a-comment");
        CHECK_STR(c.session_token, "TOKENVALUE-def");
        CHECK_STR(c.source, "shared-credentials-file");
        creds_clear(&c);
    }
    TEST("AWS_PROFILE selects the profile; AWS_DEFAULT_PROFILE is the fallback")
    {
        reset();
        write_file(".aws/credentials", "[default]\naws_access_key_id=AKDEF\n"
                                       "aws_secret_access_key=SECRETKEY-d\n"
                                       "[dev]\naws_access_key_id=AKDEV\n"
                                       "aws_secret_access_key=SECRETKEY-dev\n"
                                       "[ops]\naws_access_key_id=AKOPS\n"
                                       "aws_secret_access_key=SECRETKEY-ops\n");
        setenv("AWS_PROFILE", "dev", 1);
        CHECK_INT(get_once(NULL, &c), 0);
        CHECK_STR(c.access_key, "AKDEV");
        creds_clear(&c);
        unsetenv("AWS_PROFILE");
        setenv("AWS_DEFAULT_PROFILE", "ops", 1);
        CHECK_INT(get_once(NULL, &c), 0);
        CHECK_STR(c.access_key, "AKOPS");
        creds_clear(&c);
        setenv("AWS_PROFILE", "dev", 1);
        CHECK_INT(get_once(NULL, &c), 0);
        CHECK_STR(c.access_key, "AKDEV");
        creds_clear(&c);
    }
    TEST("config file: [profile x] names profile x, [x] does not, [default] is default")
    {
        reset();
        write_file(".aws/config", "[x]\naws_access_key_id=AKWRONG\n"
                                  "aws_secret_access_key=SECRETKEY-w\n"
                                  "[profile x]\naws_access_key_id=AKX\n"
                                  "aws_secret_access_key=SECRETKEY-x\nregion = eu-west-3\n"
                                  "[default]\naws_access_key_id=AKCD\n"
                                  "aws_secret_access_key=SECRETKEY-cd\n"
                                  "[profile y]\ns3 =\n  aws_access_key_id = AKNESTED\n"
                                  "region=us-west-2\n");
        CHECK_INT(get_once(NULL, &c), 0);
        CHECK_STR(c.access_key, "AKCD");
        CHECK_STR(c.source, "config-file");
        creds_clear(&c);
        setenv("AWS_PROFILE", "x", 1);
        CHECK_INT(get_once(NULL, &c), 0);
        CHECK_STR(c.access_key, "AKX");
        creds_clear(&c);
        struct creds_provider *p = creds_provider_new(NULL);
        char *region = creds_profile_region(p);
        CHECK_STR(region, "eu-west-3");
        free(region);
        setenv("AWS_PROFILE", "y", 1);
        region = creds_profile_region(p);
        CHECK_STR(region, "us-west-2");
        free(region);
        /* nested settings are not the profile's keys */
        CHECK_INT(creds_get(p, &c, err, sizeof err), -1);
        CHECK(strstr(err, "profile 'y' has no credentials") != NULL);
        creds_provider_free(p);
    }
    TEST("precedence: environment, credentials file, credential_process, config file")
    {
        reset();
        write_file(".aws/credentials", "[default]\naws_access_key_id=AKFILE\n"
                                       "aws_secret_access_key=SECRETKEY-f\n");
        write_file(".aws/config",
                   "[default]\naws_access_key_id=AKCONF\naws_secret_access_key=SECRETKEY-c\n"
                   "credential_process = printf '{\"Version\": 1, \"AccessKeyId\": \"AKPROC\", "
                   "\"SecretAccessKey\": \"sk-proc\"}'\n");
        setenv("AWS_ACCESS_KEY_ID", "AKENV", 1);
        setenv("AWS_SECRET_ACCESS_KEY", "SECRETKEY-e", 1);
        CHECK_INT(get_once(NULL, &c), 0);
        CHECK_STR(c.access_key, "AKENV");
        creds_clear(&c);
        unsetenv("AWS_ACCESS_KEY_ID");
        CHECK_INT(get_once(NULL, &c), 0);
        CHECK_STR(c.access_key, "AKFILE");
        creds_clear(&c);
        write_file(".aws/credentials", "[default]\nregion=eu-west-1\n");
        CHECK_INT(get_once(NULL, &c), 0);
        CHECK_STR(c.access_key, "AKPROC");
        CHECK_STR(c.source, "custom-process");
        creds_clear(&c);
    }
    TEST("AWS_SHARED_CREDENTIALS_FILE and AWS_CONFIG_FILE move the files; ~/ is expanded")
    {
        reset();
        write_file("creds.ini", "[default]\naws_access_key_id=AKMOVED\n"
                                "aws_secret_access_key=SECRETKEY-m\n");
        write_file("conf.ini", "[profile p]\naws_access_key_id=AKCONFMOVED\n"
                               "aws_secret_access_key=SECRETKEY-cm\n");
        setenv("AWS_SHARED_CREDENTIALS_FILE", "~/creds.ini", 1);
        CHECK_INT(get_once(NULL, &c), 0);
        CHECK_STR(c.access_key, "AKMOVED");
        creds_clear(&c);
        setenv("AWS_PROFILE", "p", 1);
        setenv("AWS_CONFIG_FILE", path_in_home("conf.ini"), 1);
        CHECK_INT(get_once(NULL, &c), 0);
        CHECK_STR(c.access_key, "AKCONFMOVED");
        creds_clear(&c);
    }
    TEST("partial profiles and malformed or oversized files are errors")
    {
        reset();
        write_file(".aws/credentials", "[default]\naws_access_key_id=AKHALF\n");
        CHECK_INT(get_once(NULL, &c), -1);
        CHECK(strstr(err, "no aws_secret_access_key") != NULL);
        write_file(".aws/credentials", "[default\naws_access_key_id=A\n");
        CHECK_INT(get_once(NULL, &c), -1);
        CHECK(strstr(err, "line 1: malformed section header") != NULL);
        write_file(".aws/credentials", "[default]\njust words\n");
        CHECK_INT(get_once(NULL, &c), -1);
        CHECK(strstr(err, "line 2: expected 'key = value'") != NULL);
        struct buf b = BUF_INIT(0);
        buf_puts(&b, "[default]\naws_access_key_id=");
        for (int i = 0; i < 5000; i++)
            buf_putc(&b, 'A');
        write_file(".aws/credentials", b.p);
        CHECK_INT(get_once(NULL, &c), -1);
        CHECK(strstr(err, "line 2 is longer than") != NULL);
        buf_reset(&b);
        for (int i = 0; i < 20000; i++)
            buf_puts(&b, "# padding padding padding padding padding padding padding pad\n");
        write_file(".aws/credentials", b.p);
        CHECK_INT(get_once(NULL, &c), -1);
        CHECK(strstr(err, "at most") != NULL);
        buf_free(&b);
    }
}

/* ---------------------------------------------------------------- credential_process */

static void write_process(const char *script)
{
    char conf[1024];
    write_file("proc.sh", script);
    fmt_into(conf, sizeof conf, "[default]\ncredential_process = /bin/sh %s\n",
             path_in_home("proc.sh"));
    write_file(".aws/config", conf);
}

static int64_t fake_now;
static int64_t fake_clock(void *ud)
{
    (void)ud;
    return fake_now;
}

/* Dead, or a zombie nobody reaped: either way no longer running. */
static int process_gone(pid_t pid)
{
    char path[64], buf[256];
    fmt_into(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return 1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *rp = strrchr(buf, ')');
    return rp && (rp[2] == 'Z' || rp[2] == 'X');
}

static void test_process(void)
{
    struct creds c;
    TEST("credential_process: success, with session token and expiration")
    {
        reset();
        write_process("printf '{\"Version\": 1, \"AccessKeyId\": \"AKP\", \"SecretAccessKey\": "
                      "\"sk-proc\", \"SessionToken\": \"tk-proc\", "
                      "\"Expiration\": \"2030-01-01T00:00:00Z\"}'\n");
        CHECK_INT(get_once(NULL, &c), 0);
        CHECK_STR(c.access_key, "AKP");
        CHECK_STR(c.secret_key, "sk-proc");
        CHECK_STR(c.session_token, "tk-proc");
        CHECK_INT(c.expires_ms, 1893456000000LL);
        CHECK_STR(c.source, "custom-process");
        creds_clear(&c);
    }
    TEST("credential_process: works when the host ignores SIGCHLD (children reaped for it)")
    {
        reset();
        write_process("printf '{\"Version\": 1, \"AccessKeyId\": \"AKIGN\", "
                      "\"SecretAccessKey\": \"sk-proc\"}'\n");
        void (*old)(int) = signal(SIGCHLD, SIG_IGN);
        CHECK_INT(get_once(NULL, &c), 0);
        CHECK_STR(c.access_key, "AKIGN");
        creds_clear(&c);
        signal(SIGCHLD, old);
    }
    static const struct {
        const char *script, *want;
    } bad[] = {
        {"echo 'not json'\n", "not a JSON object"},
        {"echo '[1,2]'\n", "not a JSON object"},
        {"echo '{\"Version\": 2, \"AccessKeyId\": \"A\", \"SecretAccessKey\": \"sk-proc\"}'\n",
         "Version"},
        {"echo '{\"AccessKeyId\": \"A\", \"SecretAccessKey\": \"sk-proc\"}'\n", "Version"},
        {"echo '{\"Version\": 1, \"AccessKeyId\": \"A\"}'\n", "SecretAccessKey missing"},
        {"echo '{\"Version\": 1, \"AccessKeyId\": \"A\", \"SecretAccessKey\": \"sk-proc\", "
         "\"Expiration\": \"tomorrow\"}'\n",
         "RFC 3339"},
        {"echo 'denied: sk-proc is not yours' >&2; exit 3\n", "exited with status 3: denied"},
        {"head -c 100000 /dev/zero\n", "larger than"},
    };
    TEST("credential_process: bad output, wrong Version, failures are errors without secrets")
    {
        for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
            reset();
            write_process(bad[i].script);
            CHECK_INT(get_once(NULL, &c), -1);
            if (!strstr(err, bad[i].want))
                fprintf(stderr, "  case %zu: %s\n", i, err);
            CHECK(strstr(err, bad[i].want) != NULL);
            CHECK(strstr(err, "credential_process") != NULL);
        }
    }
    TEST("credential_process: a hanging process (and its children) is killed at the timeout")
    {
        reset();
        char script[1024];
        fmt_into(script, sizeof script, "sleep 30 & echo $! > %s\nwait\n",
                 path_in_home("child.pid"));
        write_process(script);
        struct creds_opts o = {0};
        o.process_timeout_ms = 300;
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        CHECK_INT(get_once(&o, &c), -1);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        double took = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
        CHECK(strstr(err, "no answer within 300 ms (killed)") != NULL);
        CHECK(took < 3.0);
        FILE *f = fopen(path_in_home("child.pid"), "r");
        int child = 0;
        CHECK(f != NULL);
        if (f) {
            CHECK_INT(fscanf(f, "%d", &child), 1);
            fclose(f);
        }
        struct timespec ts = {0, 100 * 1000 * 1000};
        nanosleep(&ts, NULL);
        CHECK(child > 0 && process_gone(child));
    }
    TEST("credential_process: a caller's deadline cuts a hanging process short")
    {
        reset();
        write_process("sleep 30\n");
        struct creds_provider *p = creds_provider_new(NULL); /* the 10 s default timeout */
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        creds_set_deadline(p, (int64_t)t0.tv_sec * 1000 + t0.tv_nsec / 1000000 + 300);
        CHECK_INT(creds_get(p, &c, err, sizeof err), -1);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        double took = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
        CHECK(strstr(err, "no answer within") != NULL);
        CHECK(took < 2.0);
        creds_set_deadline(p, 0);
        creds_provider_free(p);
    }
    TEST("credential_process: credentials near expiry are refreshed on the next get")
    {
        reset();
        char script[1024];
        fmt_into(script, sizeof script,
                 "n=$(cat %s 2>/dev/null || echo 0); n=$((n+1)); echo $n > %s\n"
                 "printf '{\"Version\": 1, \"AccessKeyId\": \"AK%%s\", \"SecretAccessKey\": "
                 "\"sk-proc\", \"Expiration\": \"2030-01-01T00:00:00Z\"}' $n\n",
                 path_in_home("counter"), path_in_home("counter"));
        write_process(script);
        struct creds_opts o = {0};
        o.now_ms = fake_clock;
        int64_t expiry = 1893456000000LL;
        fake_now = expiry - 60 * 60 * 1000; /* an hour left */
        struct creds_provider *p = creds_provider_new(&o);
        CHECK_INT(creds_get(p, &c, err, sizeof err), 0);
        CHECK_STR(c.access_key, "AK1");
        creds_clear(&c);
        CHECK_INT(creds_get(p, &c, err, sizeof err), 0);
        CHECK_STR(c.access_key, "AK1"); /* cached: the process did not run again */
        creds_clear(&c);
        fake_now = expiry - 14 * 60 * 1000; /* inside the 15-minute advisory window */
        CHECK_INT(creds_get(p, &c, err, sizeof err), 0);
        CHECK_STR(c.access_key, "AK2");
        creds_clear(&c);
        /* a failing refresh in the advisory window keeps the current set */
        write_process("exit 1\n");
        fake_now = expiry - 12 * 60 * 1000;
        CHECK_INT(creds_get(p, &c, err, sizeof err), 0);
        CHECK_STR(c.access_key, "AK2");
        creds_clear(&c);
        /* ... and is an error inside the 10-minute mandatory window */
        fake_now = expiry - 5 * 60 * 1000;
        CHECK_INT(creds_get(p, &c, err, sizeof err), -1);
        CHECK(strstr(err, "refresh failed") != NULL && strstr(err, "custom-process") != NULL);
        CHECK(c.access_key == NULL);
        creds_provider_free(p);
    }
    TEST("credential_process: already-expired output is fetched again on every get")
    {
        reset();
        char script[1024];
        fmt_into(script, sizeof script,
                 "n=$(cat %s 2>/dev/null || echo 0); n=$((n+1)); echo $n > %s\n"
                 "printf '{\"Version\": 1, \"AccessKeyId\": \"AK%%s\", \"SecretAccessKey\": "
                 "\"sk-proc\", \"Expiration\": \"2020-01-01T00:00:00.5+01:00\"}' $n\n",
                 path_in_home("counter"), path_in_home("counter"));
        write_process(script);
        struct creds_provider *p = creds_provider_new(NULL);
        CHECK_INT(creds_get(p, &c, err, sizeof err), 0);
        CHECK_STR(c.access_key, "AK1");
        CHECK_INT(c.expires_ms, 1577833200500LL);
        creds_clear(&c);
        CHECK_INT(creds_get(p, &c, err, sizeof err), 0);
        CHECK_STR(c.access_key, "AK2");
        creds_clear(&c);
        creds_invalidate(p);
        CHECK_INT(creds_get(p, &c, err, sizeof err), 0);
        CHECK_STR(c.access_key, "AK3");
        creds_clear(&c);
        creds_provider_free(p);
    }
}

/* ---------------------------------------------------------------- container credentials */

/* A one-process HTTP responder on 127.0.0.1: serves `count` connections, answering by path,
 * and writes each request's Authorization value to auth.txt. */
static pid_t serve(int *port, int count)
{
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (s < 0 || bind(s, (struct sockaddr *)&a, sizeof a) < 0 || listen(s, 8) < 0 ||
        getsockname(s, (struct sockaddr *)&a, &len) < 0) {
        perror("responder");
        exit(2);
    }
    *port = ntohs(a.sin_port);
    fflush(NULL);
    pid_t pid = fork();
    if (pid != 0) {
        close(s);
        return pid;
    }
    for (int i = 0; i < count; i++) {
        int c = accept(s, NULL, NULL);
        if (c < 0)
            _exit(1);
        char req[8192];
        size_t n = 0;
        while (n < sizeof req - 1) {
            ssize_t r = read(c, req + n, sizeof req - 1 - n);
            if (r <= 0)
                break;
            n += (size_t)r;
            req[n] = '\0';
            if (strstr(req, "\r\n\r\n"))
                break;
        }
        req[n] = '\0';
        const char *auth = strstr(req, "\r\nAuthorization: ");
        FILE *f = fopen(path_in_home("auth.txt"), "w");
        if (f) {
            if (auth) {
                auth += 17;
                fprintf(f, "%.*s", (int)strcspn(auth, "\r"), auth);
            }
            fclose(f);
        }
        const char *body = "", *status = "200 OK";
        static char big[70000];
        if (strncmp(req, "GET /ok ", 8) == 0) {
            body = "{\"AccessKeyId\": \"AKC\", \"SecretAccessKey\": \"SECRETKEY-c\", "
                   "\"Token\": \"TOKENVALUE-c\", \"Expiration\": \"2030-01-01T00:00:00Z\"}";
        } else if (strncmp(req, "GET /flaky ", 11) == 0) {
            /* the agent restarting: the first answer is a 503, the next ones are good */
            status = i == 0 ? "503 Service Unavailable" : "200 OK";
            body = i == 0
                       ? "{}"
                       : "{\"AccessKeyId\": \"AKF\", \"SecretAccessKey\": \"SECRETKEY-f\", "
                         "\"Token\": \"TOKENVALUE-f\", \"Expiration\": \"2030-01-01T00:00:00Z\"}";
        } else if (strncmp(req, "GET /denied ", 12) == 0) {
            status = "403 Forbidden";
            body = "{}";
        } else if (strncmp(req, "GET /bad ", 9) == 0) {
            status = "500 Internal Server Error";
            body = "{}";
        } else if (strncmp(req, "GET /json ", 10) == 0) {
            body = "{\"AccessKeyId\": ";
        } else if (strncmp(req, "GET /big ", 9) == 0) {
            memset(big, ' ', sizeof big - 1);
            body = big;
        } else if (strncmp(req, "GET /slow ", 10) == 0) {
            sleep(3);
        }
        char head[256];
        int hn = snprintf(head, sizeof head,
                          "HTTP/1.1 %s\r\nContent-Type: application/json\r\n"
                          "Content-Length: %zu\r\nConnection: close\r\n\r\n",
                          status, strlen(body));
        if (write(c, head, (size_t)hn) < 0 || write(c, body, strlen(body)) < 0)
            _exit(1);
        close(c);
    }
    _exit(0);
}

static char *read_back(const char *rel)
{
    static char text[512];
    text[0] = '\0';
    FILE *f = fopen(path_in_home(rel), "r");
    if (f) {
        size_t n = fread(text, 1, sizeof text - 1, f);
        text[n] = '\0';
        fclose(f);
    }
    return text;
}

static void test_container(void)
{
    struct creds c;
    char url[256];
    int port;
    TEST("container credentials: FULL_URI on loopback with an authorization token")
    {
        reset();
        pid_t srv = serve(&port, 2);
        fmt_into(url, sizeof url, "http://127.0.0.1:%d/ok", port);
        setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", url, 1);
        setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN", "TOKENVALUE-auth", 1);
        CHECK_INT(get_once(NULL, &c), 0);
        CHECK_STR(c.access_key, "AKC");
        CHECK_STR(c.secret_key, "SECRETKEY-c");
        CHECK_STR(c.session_token, "TOKENVALUE-c");
        CHECK_INT(c.expires_ms, 1893456000000LL);
        CHECK_STR(c.source, "container-role");
        creds_clear(&c);
        CHECK_STR(read_back("auth.txt"), "TOKENVALUE-auth");
        /* the token file wins over the variable */
        write_file("token", "TOKENVALUE-file\n");
        setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", path_in_home("token"), 1);
        CHECK_INT(get_once(NULL, &c), 0);
        creds_clear(&c);
        CHECK_STR(read_back("auth.txt"), "TOKENVALUE-file");
        waitpid(srv, NULL, 0);
    }
    TEST("container credentials: HTTP errors, bad JSON, oversized and slow answers")
    {
        static const struct {
            const char *path, *want;
        } t[] = {
            {"/bad", "HTTP status 500"},
            {"/json", "not a JSON object"},
            {"/big", "larger than"},
            {"/slow", "request failed"},
        };
        for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
            reset();
            pid_t srv = serve(&port, 3); /* a 500 or a timeout is tried three times */
            fmt_into(url, sizeof url, "http://127.0.0.1:%d%s", port, t[i].path);
            setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", url, 1);
            struct creds_opts o = {0};
            o.http_timeout_ms = 500;
            CHECK_INT(get_once(&o, &c), -1);
            if (!strstr(err, t[i].want))
                fprintf(stderr, "  %s: %s\n", t[i].path, err);
            CHECK(strstr(err, t[i].want) != NULL);
            CHECK(strstr(err, "container credentials") != NULL);
            kill(srv, SIGKILL);
            waitpid(srv, NULL, 0);
        }
    }
    TEST("container credentials: a transient failure is tried again, a refusal is not")
    {
        reset();
        pid_t srv = serve(&port, 2);
        fmt_into(url, sizeof url, "http://127.0.0.1:%d/flaky", port);
        setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", url, 1);
        CHECK_INT(get_once(NULL, &c), 0);
        CHECK_STR(c.access_key, "AKF");
        creds_clear(&c);
        int st = -1;
        pid_t done = 0;
        for (int k = 0; k < 300 && done == 0; k++) { /* both connections served: it exits */
            done = waitpid(srv, &st, WNOHANG);
            if (done == 0)
                usleep(10000);
        }
        CHECK_INT(done, srv);
        if (done != srv) {
            kill(srv, SIGKILL);
            waitpid(srv, NULL, 0);
        }
        reset();
        srv = serve(&port, 2);
        fmt_into(url, sizeof url, "http://127.0.0.1:%d/denied", port);
        setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", url, 1);
        CHECK_INT(get_once(NULL, &c), -1);
        CHECK(strstr(err, "HTTP status 403") != NULL);
        usleep(200000);
        CHECK_INT(waitpid(srv, NULL, WNOHANG), 0); /* still waiting for a second request */
        kill(srv, SIGKILL);
        waitpid(srv, NULL, 0);
    }
    TEST("container credentials: the retries end by the caller's deadline")
    {
        reset();
        pid_t srv = serve(&port, 3);
        fmt_into(url, sizeof url, "http://127.0.0.1:%d/slow", port);
        setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", url, 1);
        struct creds_provider *p = creds_provider_new(NULL);
        int64_t t0 = mono_now();
        creds_set_deadline(p, t0 + 600);
        CHECK_INT(creds_get(p, &c, err, sizeof err), -1);
        CHECK(mono_now() - t0 < 1500); /* 600 ms, with room for a loaded machine */
        creds_provider_free(p);
        kill(srv, SIGKILL);
        waitpid(srv, NULL, 0);
    }
    TEST("container credentials: only https, or http to loopback and the ECS/EKS agents")
    {
        static const char *const refused[] = {"http://example.com/creds", "http://10.0.0.1/creds",
                                              "http://169.254.169.254/", "ftp://127.0.0.1/x"};
        for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
            reset();
            setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", refused[i], 1);
            CHECK_INT(get_once(NULL, &c), -1);
            CHECK(strstr(err, "must be https") != NULL);
        }
        reset();
        setenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "v2/creds", 1);
        CHECK_INT(get_once(NULL, &c), -1);
        CHECK(strstr(err, "must start with '/'") != NULL);
        reset();
        setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://127.0.0.1:1/x", 1);
        setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN", "TOKENVALUE\r\nX-Injected: 1", 1);
        CHECK_INT(get_once(NULL, &c), -1);
        CHECK(strstr(err, "line break") != NULL && no_secret_in(err));
    }
}

/* ---------------------------------------------------------------- nothing found */

static void test_nothing(void)
{
    struct creds c;
    TEST("nothing found: one message listing every source tried")
    {
        reset();
        char want[2048];
        fmt_into(want, sizeof want,
                 "no AWS credentials: tried environment (AWS_ACCESS_KEY_ID unset), shared "
                 "credentials file %s/.aws/credentials (not found), config file %s/.aws/config "
                 "(not found), container credentials (AWS_CONTAINER_CREDENTIALS_RELATIVE_URI and "
                 "AWS_CONTAINER_CREDENTIALS_FULL_URI unset)",
                 home, home);
        CHECK_INT(get_once(NULL, &c), -1);
        CHECK_STR(err, want);
        write_file(".aws/credentials", "[default]\naws_access_key_id=AKD\n"
                                       "aws_secret_access_key=SECRETKEY-d\n");
        write_file(".aws/config", "[default]\nregion=eu-west-1\n");
        setenv("AWS_PROFILE", "dev", 1);
        CHECK_INT(get_once(NULL, &c), -1);
        CHECK(strstr(err, "credentials (no profile 'dev')") != NULL);
        CHECK(strstr(err, "config (no profile 'dev')") != NULL);
        unsetenv("AWS_PROFILE");
        write_file(".aws/credentials", "[default]\nregion=eu-west-1\n");
        CHECK_INT(get_once(NULL, &c), -1);
        CHECK(strstr(err, "(profile 'default' has no credentials)") != NULL);
        CHECK(strstr(err, "(profile 'default' has no credentials or credential_process)") != NULL);
        CHECK(no_secret_in(err));
        unsetenv("HOME");
        CHECK_INT(get_once(NULL, &c), -1);
        CHECK(strstr(err, "shared credentials file (HOME unset)") != NULL);
    }
}

static void test_rfc3339(void)
{
    static const struct {
        const char *in;
        long long want; /* -1: rejected */
    } t[] = {
        {"1970-01-01T00:00:00Z", 0},
        {"2030-01-01T00:00:00Z", 1893456000000LL},
        {"2030-01-01T00:00:00.250Z", 1893456000250LL},
        {"2030-01-01T01:00:00+01:00", 1893456000000LL},
        {"2029-12-31T23:30:00-00:30", 1893456000000LL},
        {"2030-01-01t00:00:00z", 1893456000000LL},
        {"2030-01-01", -1},
        {"2030-13-01T00:00:00Z", -1},
        {"2030-01-01T00:00:00", -1},
        {"2030-01-01T00:00:00Zjunk", -1},
        {"2030-01-01T00:00:00.Z", -1},
    };
    TEST("RFC 3339 timestamps to epoch milliseconds")
    {
        for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
            int64_t ms = -1;
            int rc = creds_parse_rfc3339(t[i].in, &ms);
            CHECK_INT(rc, t[i].want < 0 ? -1 : 0);
            if (t[i].want >= 0)
                CHECK_INT(ms, t[i].want);
        }
    }
}

int main(void)
{
    fmt_into(home, sizeof home, "/tmp/hookhost-creds-%d", (int)getpid());
    signal(SIGPIPE, SIG_IGN);
    test_environment();
    test_injected_env();
    test_files();
    test_process();
    test_container();
    test_nothing();
    test_rfc3339();
    nftw(home, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    return test_report("creds");
}
