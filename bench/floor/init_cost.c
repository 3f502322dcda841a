/* init_cost: what single start-up and per-event steps cost, each timed in a fresh process
 * linked exactly like hookhost (the Makefile's $(LDLIBS)), so that the numbers add up to what
 * the cold-start and warm tables show. One step per run; the driver runs each several times,
 * alternated, and reports medians.
 *
 *   init_cost STEP [FILE]...       prints "<step> <wall us> <CPU us> <peak RSS KiB>"
 *
 * CPU time (the process's, user + system) is what matters on Lambda, where a 128 MB function
 * gets about 1/14 of a vCPU: it also barely moves with the load of other work on this machine.
 *
 * Steps:
 *   curl_global_init        curl_global_init(CURL_GLOBAL_DEFAULT): OpenSSL init, config file
 *                           (/usr/lib/ssl/openssl.cnf), every cipher and digest registered
 *   curl_init_noconfig      OPENSSL_init_crypto(OPENSSL_INIT_NO_LOAD_CONFIG) first, then the same
 *   openssl_init_noconfig   OPENSSL_init_crypto(OPENSSL_INIT_NO_LOAD_CONFIG) alone
 *   curl_init_lean          OPENSSL_init_ssl with NO_LOAD_CONFIG, NO_ADD_ALL_CIPHERS and
 *                           NO_ADD_ALL_DIGESTS first (OpenSSL then treats those steps as done
 *                           when curl asks for them), then curl_global_init
 *   ca_bundle               load /etc/ssl/certs/ca-certificates.crt into an X509_STORE, as each
 *                           new TLS context does (once per worker: a worker is a new process)
 *   lua_state               luaL_newstate + luaL_openlibs
 *   lua_compile FILE...     compile (not run) each Lua file, as require() does in each worker
 *   fork_exit               fork a child that _exits at once, and reap it, from this process
 */
#include <curl/curl.h>
#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>
#include <openssl/crypto.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double clock_us(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static double now_us(void)
{
    return clock_us(CLOCK_MONOTONIC);
}

static double c0;

static void report(const char *step, double t0)
{
    double t1 = now_us(), c1 = clock_us(CLOCK_PROCESS_CPUTIME_ID);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("%s %.0f %.0f %ld\n", step, t1 - t0, c1 - c0, ru.ru_maxrss);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fputs("usage: init_cost STEP [FILE]...\n", stderr);
        return 2;
    }
    const char *step = argv[1];
    c0 = clock_us(CLOCK_PROCESS_CPUTIME_ID);
    double t0 = now_us();
    if (strcmp(step, "curl_global_init") == 0) {
        curl_global_init(CURL_GLOBAL_DEFAULT);
    } else if (strcmp(step, "curl_init_noconfig") == 0) {
        OPENSSL_init_crypto(OPENSSL_INIT_NO_LOAD_CONFIG, NULL);
        curl_global_init(CURL_GLOBAL_DEFAULT);
    } else if (strcmp(step, "curl_init_lean") == 0) {
        OPENSSL_init_ssl(OPENSSL_INIT_NO_LOAD_CONFIG | OPENSSL_INIT_NO_ADD_ALL_CIPHERS |
                             OPENSSL_INIT_NO_ADD_ALL_DIGESTS,
                         NULL);
        curl_global_init(CURL_GLOBAL_DEFAULT);
    } else if (strcmp(step, "openssl_init_noconfig") == 0) {
        OPENSSL_init_crypto(OPENSSL_INIT_NO_LOAD_CONFIG, NULL);
    } else if (strcmp(step, "ca_bundle") == 0) {
        X509_STORE *st = X509_STORE_new();
        if (!st || X509_STORE_load_file(st, "/etc/ssl/certs/ca-certificates.crt") != 1) {
            fputs("init_cost: cannot load the CA bundle\n", stderr);
            return 1;
        }
        report(step, t0);
        X509_STORE_free(st);
        return 0;
    } else if (strcmp(step, "lua_state") == 0) {
        lua_State *L = luaL_newstate();
        luaL_openlibs(L);
        report(step, t0);
        lua_close(L);
        return 0;
    } else if (strcmp(step, "lua_compile") == 0) {
        lua_State *L = luaL_newstate();
        c0 = clock_us(CLOCK_PROCESS_CPUTIME_ID);
        t0 = now_us();
        for (int i = 2; i < argc; i++)
            if (luaL_loadfilex(L, argv[i], "t") != LUA_OK) {
                fprintf(stderr, "init_cost: %s\n", lua_tostring(L, -1));
                return 1;
            }
        report(step, t0);
        lua_close(L);
        return 0;
    } else if (strcmp(step, "fork_exit") == 0) {
        pid_t pid = fork();
        if (pid == 0)
            _exit(0);
        int st;
        waitpid(pid, &st, 0);
    } else {
        fprintf(stderr, "init_cost: unknown step %s\n", step);
        return 2;
    }
    report(step, t0);
    return 0;
}
