/* sigv4_bench: signatures per second for the request hookhost sends most, a CodeDeploy
 * PutLifecycleEventHookExecutionStatus (POST /, five headers, a ~150-byte JSON body, session
 * credentials), with the signing key cached, and with the key derived for every signature.
 *
 *   sigv4_bench [seconds [cached|derived]]      (default: 1 s, both cases)
 * Prints one line per case: "<name> <signatures per second> sig/s". A tool, not a timed test.
 */
#include "buf.h"
#include "sigv4.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Sign in batches until the time is up, so that the clock is read rarely. */
static double run(struct sigv4_signer *s, const struct sigv4_request *req,
                  const struct sigv4_params *p, int flush, double seconds, unsigned *check)
{
    struct sigv4_result r;
    char err[256];
    long n = 0;
    double t0 = now(), t;
    do {
        for (int i = 0; i < 1000; i++) {
            if (flush)
                sigv4_signer_flush_keys(s);
            if (sigv4_sign(s, req, p, &r, err, sizeof err) < 0) {
                fprintf(stderr, "sigv4_bench: %s\n", err);
                exit(1);
            }
            *check += (unsigned char)r.signature.p[0];
        }
        n += 1000;
        t = now();
    } while (t - t0 < seconds);
    return (double)n / (t - t0);
}

int main(int argc, char **argv)
{
    double seconds = argc > 1 ? strtod(argv[1], NULL) : 1.0;
    if (!(seconds > 0))
        seconds = 1.0;
    static const char body[] =
        "{\"deploymentId\":\"d-ABCDEFGHI\",\"lifecycleEventHookExecutionId\":"
        "\"eyJlbmNyeXB0ZWREYXRhIjoiQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFB\",\"status\":\"Succeeded\"}";
    const struct sigv4_header h[] = {
        {STR_LIT("Host"), STR_LIT("codedeploy.eu-west-1.amazonaws.com")},
        {STR_LIT("Content-Type"), STR_LIT("application/x-amz-json-1.1")},
        {STR_LIT("X-Amz-Target"),
         STR_LIT("CodeDeploy_20141006.PutLifecycleEventHookExecutionStatus")},
        {STR_LIT("Content-Length"), STR_LIT("156")},
        {STR_LIT("User-Agent"), STR_LIT("hookhost/0.1.0")},
    };
    struct sigv4_request req = {STR_LIT("POST"),        STR_LIT("/"), STR_LIT(""), h, 5,
                                {body, sizeof body - 1}};
    struct sigv4_params p = {0};
    p.access_key = STR_LIT("ASIAEXAMPLEEXAMPLE00");
    p.secret_key = STR_LIT("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY");
    p.session_token = STR_LIT("IQoJb3JpZ2luX2VjEXAMPLETOKENEXAMPLETOKENEXAMPLETOKENEXAMPLETOKEN"
                              "EXAMPLETOKENEXAMPLETOKENEXAMPLETOKENEXAMPLETOKENEXAMPLETOKEN==");
    p.region = STR_LIT("eu-west-1");
    p.service = STR_LIT("codedeploy");
    p.amz_date = "20261126T060000Z";
    p.mode = SIGV4_HEADER;
    sigv4_params_service_defaults(&p);

    char err[256];
    struct sigv4_signer *s = sigv4_signer_new(err, sizeof err);
    if (!s) {
        fprintf(stderr, "sigv4_bench: %s\n", err);
        return 1;
    }
    const char *only = argc > 2 ? argv[2] : "";
    unsigned check = 0;
    run(s, &req, &p, 0, seconds / 10, &check); /* warm up: buffers grown, key cached */
    if (strcmp(only, "derived") != 0)
        printf("sigv4_codedeploy_cached_key %.0f sig/s\n", run(s, &req, &p, 0, seconds, &check));
    if (strcmp(only, "cached") != 0)
        printf("sigv4_codedeploy_derived_key %.0f sig/s\n", run(s, &req, &p, 1, seconds, &check));
    sigv4_signer_free(s);
    return check == 0xFFFFFFFFu; /* keeps the work observable */
}
