/* endpoint_resolve: resolve many default endpoints in one process, for the test that compares
 * hookhost's endpoint resolution with botocore's (tests/e2e/test_endpoints.py).
 *
 * stdin: one "service region" pair per line ("-" for no region).
 * stdout: one line per input line, "https://host region signing-name variable", where variable
 * is the AWS SDKs' AWS_ENDPOINT_URL_<ID> the service reads (from aws_service_id(); "-" for a
 * name no table knows), or "error: message".
 * The environment is ignored (no AWS_ENDPOINT_URL*), so only the built-in rules are shown.
 */
#include "aws.h"
#include "buf.h"

#include <stdio.h>
#include <string.h>

static const char *no_env(void *ud, const char *name)
{
    (void)ud;
    (void)name;
    return NULL;
}

int main(void)
{
    char line[512];
    while (fgets(line, sizeof line, stdin)) {
        char service[128], region[128];
        if (sscanf(line, "%127s %127s", service, region) != 2) {
            printf("error: expected 'service region'\n");
            continue;
        }
        struct aws_endpoint ep;
        char err[512];
        int rc = aws_resolve_endpoint(service, strcmp(region, "-") == 0 ? NULL : region, NULL, NULL,
                                      no_env, NULL, &ep, err, sizeof err);
        if (rc < 0)
            printf("error: %s\n", err);
        else {
            char var[128] = "-";
            const char *id = aws_service_id(service);
            if (id)
                aws_endpoint_env_var(id, var, sizeof var);
            printf("%s://%s%s %s %s %s\n", ep.scheme, ep.host_header, ep.base_path, ep.region,
                   ep.signing_name, var);
        }
        fflush(stdout);
    }
    return 0;
}
