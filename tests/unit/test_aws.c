/* test_aws.c: endpoint resolution, error decoding, the retry classification and the backoff
 * bound of src/aws.c. The network paths are tested end to end (tests/e2e/test_aws.py). */
#include "clock.h"
#include "aws.h"

#include "buf.h"
#include "http.h"
#include "lhost.h"
#include "lmod_aws.h"
#include "log.h"
#include "testhelp.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* A fake environment: NULL-terminated name/value pairs. */
struct fenv {
    const char *const *kv;
};

static const char *fake_getenv(void *ud, const char *name)
{
    const struct fenv *f = ud;
    const char *const *kv = f ? f->kv : NULL;
    for (; kv && kv[0]; kv += 2)
        if (strcmp(kv[0], name) == 0)
            return kv[1];
    return NULL;
}

static int resolve(const char *const *env, const char *service, const char *region,
                   const char *prefix, const char *defregion, struct aws_endpoint *ep, char *err)
{
    struct fenv f = {env};
    return aws_resolve_endpoint(service, region, prefix, defregion, fake_getenv, &f, ep, err, 512);
}

static const char *url_of(const struct aws_endpoint *ep, const char *path, const char *query)
{
    static char out[1024];
    struct buf b = BUF_INIT(0);
    aws_request_url(ep, path, query, &b);
    fmt_into(out, sizeof out, "%s", b.p ? b.p : "");
    buf_free(&b);
    return out;
}

/* A response for the decoder: headers given as name/value pairs. */
static struct http_response response(long status, const char *const *headers, size_t n,
                                     const char *body)
{
    struct http_response r = HTTP_RESPONSE_INIT;
    r.status = status;
    r.headers = calloc(n ? n : 1, sizeof *r.headers);
    for (size_t i = 0; i < n; i++) {
        r.headers[i].name = (const char *)xstrdup(headers[2 * i]);
        r.headers[i].value = (const char *)xstrdup(headers[2 * i + 1]);
    }
    r.nheaders = n;
    if (body)
        buf_puts(&r.body, body);
    return r;
}

/* Run a Lua hook script (text) in a real hook state, with the library from lua/. */
static int run_lua(const char *text, int dry_run, struct lhost_outcome *out)
{
    char path[] = "/tmp/hookhost-test-aws-XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text))
        abort();
    close(fd);
    const char *lua_dir = getenv("HOOKHOST_LUA_DIR");
    struct lhost_job job = {
        .script_path = path,
        .hook = "AfterAllowTraffic",
        .deadline_ms = clock_ms() + 10000,
        .mem_max = (size_t)64 << 20,
        .lua_dir = lua_dir && *lua_dir ? lua_dir : "lua",
        .dry_run = dry_run,
    };
    int rc = lhost_run(&job, out);
    unlink(path);
    return rc;
}

/* The Lua side without the network: dry runs, arguments, error objects, a refused connection. */
static const char lua_dry[] =
    "local aws = require('hookhost.aws')\n"
    "return function(event, ctx)\n"
    "  local d = aws.json('codedeploy', 'CodeDeploy_20141006', 'GetDeployment', {deploymentId = "
    "'d-1'})\n"
    "  assert(aws.is_placeholder(d) and next(d) == nil, 'json dry run')\n"
    "  local ok0, m0 = pcall(function() return d.deploymentInfo end)\n"
    "  assert(not ok0 and m0:find('dry run: codedeploy GetDeployment was not sent, so its "
    "result has no field \"deploymentInfo\"', 1, true), m0)\n"
    "  local st, h, b, raw = aws.request{service = 'cloudfront', path = '/a/b', query = {\n"
    "    z = 'last', a = {'2', '1'}, sp = 'a b&c', n = 5, t = true}}\n"
    "  assert(st == 200 and next(h) == nil and b == '' and aws.is_placeholder(raw))\n"
    "  local s2, x = aws.rest_xml{service = 'cloudfront', method = 'POST', path = '/p', body = "
    "'<a/>'}\n"
    "  assert(s2 == 200 and aws.is_placeholder(x))\n"
    "  local q = aws.query('sns', 'Publish', '2010-03-31', {Message = 'hi'})\n"
    "  assert(aws.is_placeholder(q) and not aws.is_placeholder({}))\n"
    "  assert(aws.uri_encode('a/b c~') == 'a%2Fb%20c~' and aws.uri_encode('a/b', true) == "
    "'a/b')\n"
    "  assert(aws.query_body('A', '1', {L = {'x', 'y'}, S = {K = 1}}) == "
    "'Action=A&Version=1&L.member.1=x&L.member.2=y&S.K=1')\n"
    "  local e = aws.error{code = 'X', message = 'm', status = 404, request_id = 'r', attempts "
    "= 3}\n"
    "  assert(tostring(e) == 'X: m (HTTP 404, request id r, 3 attempts)', tostring(e))\n"
    "  assert(tostring(aws.error{code = 'Y', message = 'n'}) == 'Y: n')\n"
    "  local ok, msg = pcall(aws.request, {service = 'sns', headers = {['A B'] = 'x'}})\n"
    "  assert(not ok and msg:find('bad header name'), msg)\n"
    "  ok, msg = pcall(aws.request, {service = 'sns', query = {a = {{}}}})\n"
    "  assert(not ok and msg:find('string, number or boolean'), msg)\n"
    "  assert(aws.connections() == 0)\n"
    "  return 'ok'\n"
    "end\n";

static const char lua_refused[] =
    "local aws = require('hookhost.aws')\n"
    "return function(event, ctx)\n"
    "  local d, err = aws.json('codedeploy', 'CodeDeploy_20141006', 'GetDeployment', {}, "
    "{max_attempts = 2})\n"
    "  assert(d == nil and err.code == 'ConnectionError' and err.retryable == true, "
    "tostring(err))\n"
    "  assert(err.attempts == 2 and err.status == 0 and err.request_id == nil)\n"
    "  local st, e2 = aws.request{service = 'codedeploy', region = 'not a region'}\n"
    "  assert(st == nil and e2.code == 'MissingRegion' and e2.attempts == 0, tostring(e2))\n"
    "  return 'ok'\n"
    "end\n";

int main(void)
{
    struct aws_endpoint ep;
    char err[512];

    TEST("default regional endpoints")
    {
        CHECK_INT(resolve(NULL, "codedeploy", NULL, NULL, "eu-west-1", &ep, err), 0);
        CHECK_STR(url_of(&ep, "/", NULL), "https://codedeploy.eu-west-1.amazonaws.com/");
        CHECK_STR(ep.host_header, "codedeploy.eu-west-1.amazonaws.com");
        CHECK_STR(ep.region, "eu-west-1");
        CHECK_STR(ep.signing_name, "codedeploy");
        CHECK_STR(ep.source, "default");
        /* an explicit region wins over the default one */
        CHECK_INT(resolve(NULL, "sns", "us-west-2", NULL, "eu-west-1", &ep, err), 0);
        CHECK_STR(url_of(&ep, "/", NULL), "https://sns.us-west-2.amazonaws.com/");
        /* CloudWatch is called monitoring, by either name */
        CHECK_INT(resolve(NULL, "cloudwatch", NULL, NULL, "us-east-1", &ep, err), 0);
        CHECK_STR(ep.host_header, "monitoring.us-east-1.amazonaws.com");
        CHECK_STR(ep.signing_name, "monitoring");
        CHECK_INT(resolve(NULL, "monitoring", NULL, NULL, "us-east-1", &ep, err), 0);
        CHECK_STR(ep.signing_name, "monitoring");
        CHECK_INT(resolve(NULL, "sts", NULL, NULL, "ap-southeast-2", &ep, err), 0);
        CHECK_STR(ep.host_header, "sts.ap-southeast-2.amazonaws.com");
        CHECK_INT(resolve(NULL, "logs", NULL, NULL, "cn-north-1", &ep, err), 0);
        CHECK_STR(ep.host_header, "logs.cn-north-1.amazonaws.com.cn");
        /* unknown services are called by their name; endpoint_prefix overrides */
        CHECK_INT(resolve(NULL, "kinesis", NULL, NULL, "us-east-1", &ep, err), 0);
        CHECK_STR(ep.host_header, "kinesis.us-east-1.amazonaws.com");
        CHECK_STR(ep.signing_name, "kinesis");
        CHECK_INT(resolve(NULL, "codedeploy", NULL, "codedeploy-fips", "us-east-1", &ep, err), 0);
        CHECK_STR(ep.host_header, "codedeploy-fips.us-east-1.amazonaws.com");
        CHECK_STR(ep.signing_name, "codedeploy");
    }

    TEST("global services")
    {
        CHECK_INT(resolve(NULL, "cloudfront", NULL, NULL, "eu-central-1", &ep, err), 0);
        CHECK_STR(url_of(&ep, "/2020-05-31/distribution/E1/invalidation", NULL),
                  "https://cloudfront.amazonaws.com/2020-05-31/distribution/E1/invalidation");
        CHECK_STR(ep.region, "us-east-1");
        CHECK_STR(ep.signing_name, "cloudfront");
        /* no region needed */
        CHECK_INT(resolve(NULL, "CloudFront", NULL, NULL, NULL, &ep, err), 0);
        CHECK_INT(resolve(NULL, "iam", NULL, NULL, NULL, &ep, err), 0);
        CHECK_STR(ep.host_header, "iam.amazonaws.com");
        CHECK_STR(ep.region, "us-east-1");
    }

    TEST("global services resolve per partition, as botocore's endpoints.json says")
    {
        CHECK_STR(aws_partition("eu-west-1"), "aws");
        CHECK_STR(aws_partition(NULL), "aws");
        CHECK_STR(aws_partition("cn-north-1"), "aws-cn");
        CHECK_STR(aws_partition("us-gov-east-1"), "aws-us-gov");
        CHECK_STR(aws_partition("us-iso-east-1"), "aws-iso");
        CHECK_STR(aws_partition("us-isob-east-1"), "aws-iso-b");
        CHECK_INT(resolve(NULL, "cloudfront", NULL, NULL, "cn-north-1", &ep, err), 0);
        CHECK_STR(ep.host_header, "cloudfront.cn-northwest-1.amazonaws.com.cn");
        CHECK_STR(ep.region, "cn-northwest-1");
        CHECK_INT(resolve(NULL, "iam", NULL, NULL, "cn-northwest-1", &ep, err), 0);
        CHECK_STR(ep.host_header, "iam.cn-north-1.amazonaws.com.cn");
        CHECK_STR(ep.region, "cn-north-1");
        CHECK_INT(resolve(NULL, "route53", NULL, NULL, "cn-north-1", &ep, err), 0);
        CHECK_STR(ep.host_header, "route53.amazonaws.com.cn");
        CHECK_STR(ep.region, "cn-northwest-1");
        CHECK_INT(resolve(NULL, "iam", NULL, NULL, "us-gov-east-1", &ep, err), 0);
        CHECK_STR(ep.host_header, "iam.us-gov.amazonaws.com");
        CHECK_STR(ep.region, "us-gov-west-1");
        CHECK_INT(resolve(NULL, "Route 53", "us-gov-west-1", NULL, "eu-west-1", &ep, err), 0);
        CHECK_STR(ep.host_header, "route53.us-gov.amazonaws.com");
        /* no CloudFront endpoint in GovCloud's data: regional there, as botocore calls it */
        CHECK_INT(resolve(NULL, "cloudfront", NULL, NULL, "us-gov-west-1", &ep, err), 0);
        CHECK_STR(ep.host_header, "cloudfront.us-gov-west-1.amazonaws.com");
        CHECK_STR(ep.region, "us-gov-west-1");
        CHECK_INT(resolve(NULL, "codedeploy", NULL, NULL, "us-isob-east-1", &ep, err), 0);
        CHECK_STR(ep.host_header, "codedeploy.us-isob-east-1.sc2s.sgov.gov");
        CHECK_INT(resolve(NULL, "iam", NULL, NULL, "us-iso-east-1", &ep, err), 0);
        CHECK_STR(ep.host_header, "iam.us-iso-east-1.c2s.ic.gov");
        /* a bad region is refused for a global service too: it would pick the partition */
        CHECK_INT(resolve(NULL, "cloudfront", "evil.com/x", NULL, NULL, &ep, err), -2);
    }

    TEST("missing or bad region")
    {
        CHECK_INT(resolve(NULL, "codedeploy", NULL, NULL, NULL, &ep, err), -2);
        CHECK(strstr(err, "AWS_REGION") != NULL);
        CHECK_INT(resolve(NULL, "codedeploy", NULL, NULL, "", &ep, err), -2);
        CHECK_INT(resolve(NULL, "codedeploy", "evil.com/x", NULL, NULL, &ep, err), -2);
        CHECK(strstr(err, "not a region name") != NULL);
    }

    TEST("endpoint variables and their precedence")
    {
        const char *const env1[] = {"AWS_ENDPOINT_URL_CODEDEPLOY", "http://127.0.0.1:4566",
                                    "AWS_ENDPOINT_URL", "http://localhost:9999", NULL};
        CHECK_INT(resolve(env1, "codedeploy", NULL, NULL, "us-east-1", &ep, err), 0);
        CHECK_STR(url_of(&ep, "/", NULL), "http://127.0.0.1:4566/");
        CHECK_STR(ep.host_header, "127.0.0.1:4566");
        CHECK_STR(ep.region, "us-east-1");
        CHECK_STR(ep.source, "AWS_ENDPOINT_URL_<SERVICE>");
        /* another service falls back to the global variable */
        CHECK_INT(resolve(env1, "sns", NULL, NULL, "us-east-1", &ep, err), 0);
        CHECK_STR(url_of(&ep, "/", "Action=Publish"), "http://localhost:9999/?Action=Publish");
        CHECK_STR(ep.source, "AWS_ENDPOINT_URL");
        /* service ids with spaces: CloudWatch Logs -> CLOUDWATCH_LOGS; CloudWatch -> CLOUDWATCH */
        const char *const env2[] = {"AWS_ENDPOINT_URL_CLOUDWATCH_LOGS",
                                    "https://logs.example",
                                    "AWS_ENDPOINT_URL_CLOUDWATCH",
                                    "https://cw.example:8443/base/",
                                    "AWS_ENDPOINT_URL_CLOUDFRONT",
                                    "HTTP://CF.Example:80",
                                    NULL};
        CHECK_INT(resolve(env2, "logs", NULL, NULL, "us-east-1", &ep, err), 0);
        CHECK_STR(ep.host_header, "logs.example");
        CHECK_INT(resolve(env2, "monitoring", NULL, NULL, "us-east-1", &ep, err), 0);
        CHECK_STR(url_of(&ep, "/", NULL), "https://cw.example:8443/base/");
        CHECK_STR(ep.host_header, "cw.example:8443");
        CHECK_STR(ep.base_path, "/base");
        CHECK_STR(ep.signing_name, "monitoring");
        /* the default port is not part of Host; CloudFront still signs for us-east-1 */
        CHECK_INT(resolve(env2, "cloudfront", NULL, NULL, "eu-west-1", &ep, err), 0);
        CHECK_STR(ep.host_header, "cf.example");
        CHECK_STR(url_of(&ep, "/x", NULL), "http://cf.example:80/x");
        CHECK_STR(ep.region, "us-east-1");
        /* empty variables are unset */
        const char *const env3[] = {"AWS_ENDPOINT_URL_SNS", "", NULL};
        CHECK_INT(resolve(env3, "sns", NULL, NULL, "us-east-1", &ep, err), 0);
        CHECK_STR(ep.source, "default");
        /* IPv6 literal */
        const char *const env4[] = {"AWS_ENDPOINT_URL", "http://[::1]:8080", NULL};
        CHECK_INT(resolve(env4, "sns", NULL, NULL, "us-east-1", &ep, err), 0);
        CHECK_STR(ep.host_header, "[::1]:8080");
    }

    TEST("bad endpoint URLs are errors naming the variable")
    {
        static const char *const bad[] = {
            "codedeploy.example.com",   /* no scheme */
            "ftp://codedeploy.example", /* scheme */
            "http://",                  /* no host */
            "http://:80",               /* no host */
            "http://host:0",            /* port */
            "http://host:65536",        /* port */
            "http://host:8x",           /* port */
            "http://host:",             /* empty port */
            "http://user@host",         /* user info */
            "http://host/a?b=c",        /* query */
            "http://host/#frag",        /* fragment */
            "http://ho st",             /* space */
            "http://host/a b",          /* space in the path */
            "http://ho\rst",            /* control character */
            "http://[::1",              /* IPv6 */
            "http://h\xc3\xa9st",       /* non-ASCII */
            "http://host$name",         /* host character */
        };
        for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
            const char *const env[] = {"AWS_ENDPOINT_URL_CODEDEPLOY", bad[i], NULL};
            int rc = resolve(env, "codedeploy", NULL, NULL, "us-east-1", &ep, err);
            CHECK_INT(rc, -1);
            if (rc != -1 || !strstr(err, "AWS_ENDPOINT_URL_CODEDEPLOY"))
                fprintf(stderr, "  case %zu: %s -> %s\n", i, bad[i], err);
            CHECK(strstr(err, "AWS_ENDPOINT_URL_CODEDEPLOY=") != NULL);
        }
        const char *const env[] = {"AWS_ENDPOINT_URL", "gopher://x", NULL};
        CHECK_INT(resolve(env, "sns", NULL, NULL, "us-east-1", &ep, err), -1);
        CHECK(strstr(err, "AWS_ENDPOINT_URL=") != NULL && strstr(err, "http or https") != NULL);
    }

    TEST("endpoint variables are named from the service id, as in the AWS SDKs")
    {
        /* Step Functions: service id SFN, endpoint prefix and signing name states */
        const char *const sfn[] = {"AWS_ENDPOINT_URL_SFN", "http://127.0.0.1:7001", NULL};
        const char *const names[] = {"states", "SFN", "sfn", "stepfunctions"};
        for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
            CHECK_INT(resolve(sfn, names[i], NULL, NULL, "eu-west-1", &ep, err), 0);
            CHECK_STR(ep.host_header, "127.0.0.1:7001");
            CHECK_STR(ep.signing_name, "states");
            CHECK_INT(resolve(NULL, names[i], NULL, NULL, "eu-west-1", &ep, err), 0);
            CHECK_STR(ep.host_header, "states.eu-west-1.amazonaws.com");
            CHECK_STR(aws_service_id(names[i]), "SFN");
        }
        /* the name the script passed is not read: set alone, it is an error naming both */
        const char *const old[] = {"AWS_ENDPOINT_URL_STATES", "http://127.0.0.1:7001", NULL};
        CHECK_INT(resolve(old, "states", NULL, NULL, "eu-west-1", &ep, err), -1);
        CHECK_STR(err, "AWS_ENDPOINT_URL_STATES is set, but the AWS SDKs' variable for states "
                       "(service id \"SFN\") is AWS_ENDPOINT_URL_SFN: rename it");
        const char *const both[] = {"AWS_ENDPOINT_URL_STATES", "http://127.0.0.1:1",
                                    "AWS_ENDPOINT_URL_SFN", "http://127.0.0.1:7001", NULL};
        CHECK_INT(resolve(both, "states", NULL, NULL, "eu-west-1", &ep, err), 0);
        CHECK_STR(ep.host_header, "127.0.0.1:7001");
        const char *const mon[] = {"AWS_ENDPOINT_URL_MONITORING", "http://127.0.0.1:1", NULL};
        CHECK_INT(resolve(mon, "monitoring", NULL, NULL, "eu-west-1", &ep, err), -1);
        CHECK(strstr(err, "is AWS_ENDPOINT_URL_CLOUDWATCH: rename it") != NULL);
        /* another service's own variable is never taken for an old name: "sso" is SSO Admin */
        const char *const sso[] = {"AWS_ENDPOINT_URL_SSO", "http://127.0.0.1:1", NULL};
        CHECK_INT(resolve(sso, "sso", NULL, NULL, "eu-west-1", &ep, err), 0);
        CHECK_STR(ep.source, "default");
        CHECK_STR(aws_service_id("sso"), "SSO Admin");
        /* model folders and ids with spaces; prefixes shared by several services */
        CHECK_STR(aws_service_id("elbv2"), "Elastic Load Balancing v2");
        CHECK_STR(aws_service_id("secretsmanager"), "Secrets Manager");
        CHECK_STR(aws_service_id("apigateway"), "API Gateway");
        CHECK_STR(aws_service_id("rds"), "RDS");
        CHECK_STR(aws_service_id("monitoring"), "CloudWatch");
        CHECK_STR(aws_service_id("awsssoportal"), "SSO"); /* a signing name only SSO uses */
        CHECK_INT(resolve(NULL, "awsssoportal", NULL, NULL, "eu-west-1", &ep, err), 0);
        CHECK_STR(ep.host_header, "portal.sso.eu-west-1.amazonaws.com");
        CHECK(aws_service_id("execute-api") &&
              strcmp(aws_service_id("execute-api"), "ApiGatewayManagementApi") == 0);
        CHECK(aws_service_id("email") == NULL);
        CHECK_INT(resolve(NULL, "email", NULL, NULL, "eu-west-1", &ep, err), -1);
        CHECK(strstr(err, "endpoint prefix of several services") && strstr(err, "\"SESv2\""));
        CHECK_INT(resolve(NULL, "SESv2", NULL, NULL, "eu-west-1", &ep, err), 0);
        CHECK_STR(ep.host_header, "email.eu-west-1.amazonaws.com");
        CHECK_STR(ep.signing_name, "ses");
        /* a name no table knows names its own variable, prefix and signing name */
        CHECK(aws_service_id("brand-new-service") == NULL);
        const char *const nw[] = {"AWS_ENDPOINT_URL_BRAND_NEW_SERVICE", "http://127.0.0.1:2", NULL};
        CHECK_INT(resolve(nw, "brand-new-service", NULL, NULL, "eu-west-1", &ep, err), 0);
        CHECK_STR(ep.host_header, "127.0.0.1:2");
        CHECK_STR(ep.signing_name, "brand-new-service");
        char v[128];
        aws_endpoint_env_var("Elastic Load Balancing v2", v, sizeof v);
        CHECK_STR(v, "AWS_ENDPOINT_URL_ELASTIC_LOAD_BALANCING_V2");
        aws_endpoint_env_var("Secrets Manager", v, sizeof v);
        CHECK_STR(v, "AWS_ENDPOINT_URL_SECRETS_MANAGER");
    }

    TEST("service environment names")
    {
        char n[64];
        aws_service_env_name("CloudWatch Logs", n, sizeof n);
        CHECK_STR(n, "CLOUDWATCH_LOGS");
        aws_service_env_name("elastic-load-balancing", n, sizeof n);
        CHECK_STR(n, "ELASTIC_LOAD_BALANCING");
        aws_service_env_name("codedeploy", n, sizeof n);
        CHECK_STR(n, "CODEDEPLOY");
    }

    TEST("error codes are trimmed")
    {
        static const char *const cases[][2] = {
            {"ThrottlingException", "ThrottlingException"},
            {"InvalidLifecycleEventHookExecutionIdException:http://internal.amazon.com/coral/"
             "com.amazonaws.codedeploy/",
             "InvalidLifecycleEventHookExecutionIdException"},
            {"com.amazonaws.codedeploy#DeploymentDoesNotExistException",
             "DeploymentDoesNotExistException"},
            {"aws.protocoltests.restjson#FooError:http://internal.amazon.com/coral/x#y",
             "FooError"},
            {"", ""},
        };
        for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
            char c[256];
            fmt_into(c, sizeof c, "%s", cases[i][0]);
            aws_trim_error_code(c);
            CHECK_STR(c, cases[i][1]);
        }
    }

    TEST("JSON errors: the header wins over the body, trimmed")
    {
        const char *h[] = {"X-Amzn-ErrorType",
                           "InvalidLifecycleEventHookExecutionIdException:http://internal.amazon."
                           "com/coral/com.amazonaws.codedeploy/",
                           "x-amzn-RequestId", "req-123"};
        struct http_response r =
            response(400, h, 2, "{\"__type\":\"Other\",\"message\":\"no such hook\"}");
        struct aws_error e;
        aws_decode_error(&r, &e);
        CHECK_STR(e.code, "InvalidLifecycleEventHookExecutionIdException");
        CHECK_STR(e.message, "no such hook");
        CHECK_STR(e.request_id, "req-123");
        CHECK_INT(e.status, 400);
        CHECK_INT(e.retryable, 0);
        http_response_free(&r);

        r = response(400, NULL, 0,
                     "{\"__type\":\"com.amazonaws.codedeploy#ThrottlingException\","
                     "\"Message\":\"Rate exceeded\"}");
        aws_decode_error(&r, &e);
        CHECK_STR(e.code, "ThrottlingException");
        CHECK_STR(e.message, "Rate exceeded");
        CHECK_STR(e.request_id, "");
        CHECK_INT(e.retryable, 1);
        http_response_free(&r);

        const char *h2[] = {"x-amz-request-id", "s3-req"};
        r = response(400, h2, 1, "  {\"code\":\"RequestTimeout\",\"message\":\"slow\"}");
        aws_decode_error(&r, &e);
        CHECK_STR(e.code, "RequestTimeout");
        CHECK_STR(e.request_id, "s3-req");
        CHECK_INT(e.retryable, 1);
        http_response_free(&r);
    }

    TEST("XML errors: ErrorResponse, Error at the root, EC2's Response")
    {
        const char *h[] = {"x-amzn-RequestId", "cf-req"};
        struct http_response r =
            response(404, h, 1,
                     "<?xml version=\"1.0\"?>\n<ErrorResponse "
                     "xmlns=\"http://cloudfront.amazonaws.com/doc/2020-05-31/\">\n  <Error>\n    "
                     "<Type>Sender</Type>\n    <Code>NoSuchDistribution</Code>\n    <Message>The "
                     "specified distribution does not exist.</Message>\n  </Error>\n  "
                     "<RequestId>body-req</RequestId>\n</ErrorResponse>\n");
        struct aws_error e;
        aws_decode_error(&r, &e);
        CHECK_STR(e.code, "NoSuchDistribution");
        CHECK_STR(e.message, "The specified distribution does not exist.");
        CHECK_STR(e.request_id, "cf-req"); /* the header first */
        CHECK_INT(e.status, 404);
        CHECK_INT(e.retryable, 0);
        http_response_free(&r);

        r = response(503, NULL, 0,
                     "<Error><Code>SlowDown</Code><Message>Reduce your request rate &amp; "
                     "retry</Message><RequestId>s3-1</RequestId></Error>");
        aws_decode_error(&r, &e);
        CHECK_STR(e.code, "SlowDown");
        CHECK_STR(e.message, "Reduce your request rate & retry");
        CHECK_STR(e.request_id, "s3-1");
        CHECK_INT(e.retryable, 1);
        http_response_free(&r);

        r = response(400, NULL, 0,
                     "<Response><Errors><Error><Code>RequestLimitExceeded</Code><Message>Request "
                     "limit exceeded.</Message></Error></Errors><RequestID>ec2-1</RequestID>"
                     "</Response>");
        aws_decode_error(&r, &e);
        CHECK_STR(e.code, "RequestLimitExceeded");
        CHECK_STR(e.request_id, "ec2-1");
        CHECK_INT(e.retryable, 1);
        http_response_free(&r);

        /* a Code outside <Error> is not the error code; a DOCTYPE stops the parser */
        r = response(400, NULL, 0,
                     "<ErrorResponse><Code>Nope</Code><Error><Code>Real</Code></Error>"
                     "</ErrorResponse>");
        aws_decode_error(&r, &e);
        CHECK_STR(e.code, "Real");
        http_response_free(&r);
        r = response(400, NULL, 0,
                     "<!DOCTYPE x [<!ENTITY a \"b\">]><Error><Code>&a;</Code></Error>");
        aws_decode_error(&r, &e);
        CHECK_STR(e.code, "400");
        http_response_free(&r);
    }

    TEST("errors without a body, or with junk")
    {
        struct http_response r = response(404, NULL, 0, NULL);
        struct aws_error e;
        aws_decode_error(&r, &e);
        CHECK_STR(e.code, "404");
        CHECK_STR(e.message, "HTTP 404");
        CHECK_INT(e.retryable, 0);
        http_response_free(&r);
        r = response(502, NULL, 0, "<html>Bad Gateway");
        aws_decode_error(&r, &e);
        CHECK_STR(e.code, "502");
        CHECK_INT(e.retryable, 1);
        http_response_free(&r);
        r = response(500, NULL, 0, "{not json");
        aws_decode_error(&r, &e);
        CHECK_STR(e.code, "500");
        CHECK_INT(e.retryable, 1);
        http_response_free(&r);
    }

    TEST("retryable classification")
    {
        static const char *const yes[] = {"Throttling",
                                          "ThrottlingException",
                                          "ThrottledException",
                                          "RequestThrottledException",
                                          "TooManyRequestsException",
                                          "ProvisionedThroughputExceededException",
                                          "TransactionInProgressException",
                                          "RequestLimitExceeded",
                                          "BandwidthLimitExceeded",
                                          "LimitExceededException",
                                          "RequestThrottled",
                                          "SlowDown",
                                          "PriorRequestNotComplete",
                                          "EC2ThrottledException",
                                          "RequestTimeout",
                                          "RequestTimeoutException",
                                          "IDPCommunicationError"};
        for (size_t i = 0; i < sizeof yes / sizeof *yes; i++)
            CHECK(aws_retryable_code(yes[i]));
        static const char *const no[] = {"AccessDenied",
                                         "ValidationException",
                                         "LifecycleEventAlreadyCompletedException",
                                         "throttling",
                                         "",
                                         "ExpiredToken"};
        for (size_t i = 0; i < sizeof no / sizeof *no; i++)
            CHECK(!aws_retryable_code(no[i]));
        CHECK(!aws_retryable_code(NULL));
        long st[] = {500, 502, 503, 504};
        for (size_t i = 0; i < 4; i++)
            CHECK(aws_retryable_status(st[i]));
        long nst[] = {200, 400, 403, 404, 429, 501, 505};
        for (size_t i = 0; i < sizeof nst / sizeof *nst; i++)
            CHECK(!aws_retryable_status(nst[i]));
    }

    TEST("backoff: full jitter, exponential, capped")
    {
        int64_t far = (int64_t)1 << 40;
        CHECK_INT(aws_backoff_ms(1, 0.0, 0, far), 0);
        CHECK_INT(aws_backoff_ms(1, 0.5, 0, far), 500);
        CHECK_INT(aws_backoff_ms(2, 0.5, 0, far), 1000);
        CHECK_INT(aws_backoff_ms(3, 0.5, 0, far), 2000);
        CHECK_INT(aws_backoff_ms(5, 0.999, 0, far), 15984);
        CHECK_INT(aws_backoff_ms(6, 0.999, 0, far), 19980); /* 2^5 s capped at 20 s */
        CHECK_INT(aws_backoff_ms(60, 0.5, 0, far), 10000);  /* no overflow */
        CHECK_INT(aws_backoff_ms(0, 0.5, 0, far), 500);
        CHECK_INT(aws_backoff_ms(1, 7.0, 0, far), 999); /* r clamped below 1 */
    }

    TEST("backoff never ends past the deadline")
    {
        /* the delay plus the least time for an attempt must fit before the deadline */
        CHECK_INT(aws_backoff_ms(2, 0.5, 1000, 2100), 1000);
        CHECK_INT(aws_backoff_ms(2, 0.5, 1000, 2099), -1);
        CHECK_INT(aws_backoff_ms(1, 0.0, 1000, 1000 + AWS_MIN_ATTEMPT_MS), 0);
        CHECK_INT(aws_backoff_ms(1, 0.0, 1000, 1000 + AWS_MIN_ATTEMPT_MS - 1), -1);
        /* exhaustive: whatever r, attempt and time, now + delay + min <= deadline */
        int bad = 0;
        for (int attempt = 1; attempt <= 8; attempt++)
            for (int i = 0; i < 1000; i++) {
                double r = i / 1000.0;
                for (int64_t left = 0; left < 25000; left += 977) {
                    int64_t d = aws_backoff_ms(attempt, r, 5000, 5000 + left);
                    if (d >= 0 && 5000 + d + AWS_MIN_ATTEMPT_MS > 5000 + left)
                        bad++;
                    if (d < -1)
                        bad++;
                }
            }
        CHECK_INT(bad, 0);
    }

    TEST("an attempt that may be retried leaves room for one more")
    {
        CHECK_INT(aws_attempt_ms(5000, 1), 2500);
        CHECK_INT(aws_attempt_ms(5000, 0), 5000); /* the last attempt gets all of it */
        CHECK_INT(aws_attempt_ms(2 * AWS_MIN_ATTEMPT_MS, 1), AWS_MIN_ATTEMPT_MS);
        CHECK_INT(aws_attempt_ms(2 * AWS_MIN_ATTEMPT_MS - 1, 1), 2 * AWS_MIN_ATTEMPT_MS - 1);
        CHECK_INT(aws_attempt_ms(0, 1), 0);
        CHECK_INT(aws_attempt_ms(-5, 0), 0);
        /* whenever it is halved, what remains holds a whole attempt, and nothing exceeds left */
        int bad = 0;
        for (int64_t left = 0; left < 20000; left += 7) {
            int64_t a = aws_attempt_ms(left, 1);
            if (a > left || (a < left && left - a < AWS_MIN_ATTEMPT_MS) ||
                (left >= 2 * AWS_MIN_ATTEMPT_MS && a == left))
                bad++;
        }
        CHECK_INT(bad, 0);
    }

    TEST("client settings from the environment")
    {
        char e[512];
        const char *const bad1[] = {"AWS_MAX_ATTEMPTS", "0", NULL};
        struct aws_client_opts o = {.getenv_fn = fake_getenv, .getenv_ud = &(struct fenv){bad1}};
        CHECK(aws_client_new(&o, e, sizeof e) == NULL);
        CHECK(strstr(e, "AWS_MAX_ATTEMPTS='0'") != NULL);
        const char *const bad2[] = {"AWS_MAX_ATTEMPTS", "3x", NULL};
        o.getenv_ud = &(struct fenv){bad2};
        CHECK(aws_client_new(&o, e, sizeof e) == NULL);
        const char *const bad3[] = {"AWS_RETRY_MODE", "aggressive", NULL};
        o.getenv_ud = &(struct fenv){bad3};
        CHECK(aws_client_new(&o, e, sizeof e) == NULL);
        CHECK(strstr(e, "AWS_RETRY_MODE") != NULL);
        const char *const bad4[] = {"AWS_CA_BUNDLE", "/nonexistent/ca.pem", NULL};
        o.getenv_ud = &(struct fenv){bad4};
        CHECK(aws_client_new(&o, e, sizeof e) == NULL);
        CHECK(strstr(e, "AWS_CA_BUNDLE") != NULL);

        const char *const good[] = {"AWS_MAX_ATTEMPTS",
                                    "5",
                                    "AWS_RETRY_MODE",
                                    "adaptive",
                                    "AWS_DEFAULT_REGION",
                                    "eu-north-1",
                                    "AWS_CONFIG_FILE",
                                    "/nonexistent",
                                    "AWS_SHARED_CREDENTIALS_FILE",
                                    "/nonexistent",
                                    NULL};
        o.getenv_ud = &(struct fenv){good};
        struct aws_client *c = aws_client_new(&o, e, sizeof e);
        CHECK(c != NULL);
        if (c) {
            CHECK_STR(aws_client_region(c), "eu-north-1");
            CHECK_INT(aws_client_connects(c), 0);
            aws_client_free(c);
        }
        const char *const both[] = {"AWS_REGION", "us-west-1", "AWS_DEFAULT_REGION", "eu-north-1",
                                    NULL};
        o.getenv_ud = &(struct fenv){both};
        c = aws_client_new(&o, e, sizeof e);
        CHECK(c && strcmp(aws_client_region(c), "us-west-1") == 0);
        aws_client_free(c);
    }

    TEST("dry run: described, nothing sent, no credentials needed")
    {
        char e[512];
        const char *const env[] = {"AWS_REGION",
                                   "us-east-1",
                                   "AWS_ENDPOINT_URL_CODEDEPLOY",
                                   "http://127.0.0.1:9",
                                   "AWS_CONFIG_FILE",
                                   "/nonexistent",
                                   "AWS_SHARED_CREDENTIALS_FILE",
                                   "/nonexistent",
                                   NULL};
        struct aws_client_opts o = {
            .getenv_fn = fake_getenv, .getenv_ud = &(struct fenv){env}, .dry_run = 1};
        struct aws_client *c = aws_client_new(&o, e, sizeof e);
        CHECK(c != NULL);
        struct http_response resp = HTTP_RESPONSE_INIT;
        struct aws_error ae;
        int attempts = -1;
        int rc = aws_json_call(c, "codedeploy", "CodeDeploy_20141006.GetDeployment", "1.1",
                               "{\"deploymentId\":\"d-1\"}", http_deadline_in(5000), &resp, &ae,
                               &attempts);
        CHECK_INT(rc, -1);
        CHECK_STR(ae.code, "DryRun");
        CHECK_STR(ae.message, "dry run: not sent: codedeploy GetDeployment POST "
                              "http://127.0.0.1:9/ (22 bytes) (not signed: no credentials)");
        CHECK_INT(attempts, 0);
        CHECK_INT(aws_client_connects(c), 0);
        http_response_free(&resp);
        aws_client_free(c);
    }

    TEST("a request's signing_name replaces the service's (a model's signingName)")
    {
        char e[512];
        const char *const env[] = {"AWS_REGION", "eu-west-1", "AWS_CONFIG_FILE", "/nonexistent",
                                   NULL};
        struct aws_client_opts o = {.getenv_fn = fake_getenv, .getenv_ud = &(struct fenv){env}};
        struct aws_client *c = aws_client_new(&o, e, sizeof e);
        CHECK(c != NULL);
        /* a service the tables do not know signs with its endpoint prefix unless told */
        struct aws_request req = {.service = "madeup", .endpoint_prefix = "api.madeup"};
        CHECK_INT(aws_client_resolve(c, &req, &ep, e, sizeof e), 0);
        CHECK_STR(ep.host, "api.madeup.eu-west-1.amazonaws.com");
        CHECK_STR(ep.signing_name, "api.madeup");
        req.signing_name = "madeup";
        CHECK_INT(aws_client_resolve(c, &req, &ep, e, sizeof e), 0);
        CHECK_STR(ep.host, "api.madeup.eu-west-1.amazonaws.com");
        CHECK_STR(ep.signing_name, "madeup");
        req.signing_name = "";
        CHECK_INT(aws_client_resolve(c, &req, &ep, e, sizeof e), 0);
        CHECK_STR(ep.signing_name, "api.madeup");
        /* ECR's service id: the service table (aws_services.inc) already says "ecr" */
        struct aws_request ecr = {.service = "ECR", .endpoint_prefix = "api.ecr"};
        CHECK_INT(aws_client_resolve(c, &ecr, &ep, e, sizeof e), 0);
        CHECK_STR(ep.host, "api.ecr.eu-west-1.amazonaws.com");
        CHECK_STR(ep.signing_name, "ecr");
        aws_client_free(c);
    }

    TEST("host_prefix: put in front of any endpoint's host, checked as host labels")
    {
        char e[512];
        const char *const env[] = {"AWS_REGION",
                                   "eu-west-1",
                                   "AWS_CONFIG_FILE",
                                   "/nonexistent",
                                   "AWS_ENDPOINT_URL_SNS",
                                   "http://localhost:4566/base",
                                   NULL};
        struct aws_client_opts o = {.getenv_fn = fake_getenv, .getenv_ud = &(struct fenv){env}};
        struct aws_client *c = aws_client_new(&o, e, sizeof e);
        CHECK(c != NULL);
        struct aws_request req = {.service = "s3", .host_prefix = "my-bucket."};
        CHECK_INT(aws_client_resolve(c, &req, &ep, e, sizeof e), 0);
        CHECK_STR(ep.host, "my-bucket.s3.eu-west-1.amazonaws.com");
        CHECK_STR(ep.host_header, "my-bucket.s3.eu-west-1.amazonaws.com");
        CHECK_STR(ep.signing_name, "s3");
        req.host_prefix = "a.b-c.";
        CHECK_INT(aws_client_resolve(c, &req, &ep, e, sizeof e), 0);
        CHECK_STR(ep.host, "a.b-c.s3.eu-west-1.amazonaws.com");
        struct aws_request sns = {.service = "sns", .host_prefix = "b1."};
        CHECK_INT(aws_client_resolve(c, &sns, &ep, e, sizeof e), 0);
        CHECK_STR(ep.host, "b1.localhost");
        CHECK_STR(ep.host_header, "b1.localhost:4566");
        CHECK_STR(ep.base_path, "/base");
        static const char *const bad[] = {"",    "a",    "My.",  "a..",   ".a.",
                                          "-a.", "a-.",  "a/b.", "a b.",  "a_b.",
                                          "a.b", "x:1.", "é.",   "a%2e.", NULL};
        for (size_t i = 0; bad[i]; i++) {
            req.host_prefix = bad[i];
            e[0] = '\0';
            CHECK_INT(aws_client_resolve(c, &req, &ep, e, sizeof e), -1);
            CHECK(strstr(e, "host prefix") != NULL);
        }
        char label[80];
        memset(label, 'a', 64);
        label[64] = '.';
        label[65] = '\0';
        req.host_prefix = label; /* a 64-byte label */
        CHECK_INT(aws_client_resolve(c, &req, &ep, e, sizeof e), -1);
        label[63] = '.';
        label[64] = '\0';
        CHECK_INT(aws_client_resolve(c, &req, &ep, e, sizeof e), 0);
        aws_client_free(c);
    }

    TEST("auth none: a dry run describes it unsigned even with credentials")
    {
        char e[512];
        const char *const env[] = {"AWS_REGION",
                                   "eu-west-1",
                                   "AWS_CONFIG_FILE",
                                   "/nonexistent",
                                   "AWS_ACCESS_KEY_ID",
                                   "AKIDEXAMPLE",
                                   "AWS_SECRET_ACCESS_KEY",
                                   "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
                                   NULL};
        struct aws_client_opts o = {
            .getenv_fn = fake_getenv, .getenv_ud = &(struct fenv){env}, .dry_run = 1};
        struct aws_client *c = aws_client_new(&o, e, sizeof e);
        CHECK(c != NULL);
        struct http_response resp = HTTP_RESPONSE_INIT;
        struct aws_error ae;
        struct aws_request req = {.service = "sts",
                                  .method = "POST",
                                  .operation = "AssumeRoleWithWebIdentity",
                                  .auth = AWS_AUTH_NONE,
                                  .deadline_ms = http_deadline_in(5000)};
        CHECK_INT(aws_call(c, &req, &resp, &ae, NULL), -1);
        CHECK_STR(ae.code, "DryRun");
        CHECK_STR(ae.message,
                  "dry run: not sent: sts AssumeRoleWithWebIdentity POST "
                  "https://sts.eu-west-1.amazonaws.com/ (0 bytes) (unsigned operation)");
        http_response_free(&resp);
        aws_client_free(c);
    }

    TEST("calls: deadline already spent, bad endpoint, missing region, bad path")
    {
        char e[512];
        const char *const env[] = {"AWS_ENDPOINT_URL_SNS",
                                   "http://bad host",
                                   "AWS_CONFIG_FILE",
                                   "/nonexistent",
                                   "AWS_SHARED_CREDENTIALS_FILE",
                                   "/nonexistent",
                                   "AWS_ACCESS_KEY_ID",
                                   "AKIDEXAMPLE",
                                   "AWS_SECRET_ACCESS_KEY",
                                   "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
                                   NULL};
        struct aws_client_opts o = {.getenv_fn = fake_getenv, .getenv_ud = &(struct fenv){env}};
        struct aws_client *c = aws_client_new(&o, e, sizeof e);
        CHECK(c != NULL);
        struct http_response resp = HTTP_RESPONSE_INIT;
        struct aws_error ae;
        int attempts = -1;
        struct aws_request req = {.service = "codedeploy", .deadline_ms = http_deadline_in(5000)};
        CHECK_INT(aws_call(c, &req, &resp, &ae, &attempts), -1);
        CHECK_STR(ae.code, "MissingRegion");
        CHECK_INT(attempts, 0);
        req.region = "us-east-1";
        req.service = "sns";
        CHECK_INT(aws_call(c, &req, &resp, &ae, &attempts), -1);
        CHECK_STR(ae.code, "InvalidEndpoint");
        CHECK(strstr(ae.message, "AWS_ENDPOINT_URL_SNS") != NULL);
        req.service = "cloudfront";
        req.path = "/a b";
        CHECK_INT(aws_call(c, &req, &resp, &ae, &attempts), -1);
        CHECK_STR(ae.code, "RequestError");
        req.path = "/";
        req.deadline_ms = http_now_ms() + AWS_MIN_ATTEMPT_MS - 1;
        CHECK_INT(aws_call(c, &req, &resp, &ae, &attempts), -1);
        CHECK_STR(ae.code, "DeadlineExceeded");
        CHECK_INT(attempts, 0);
        CHECK_INT(aws_client_connects(c), 0);
        http_response_free(&resp);
        aws_client_free(c);
    }

    TEST("the Lua module in a hook state: dry runs, arguments, error objects")
    {
        log_set_level(LOG_FATAL);
        setenv("AWS_REGION", "eu-west-1", 1);
        setenv("AWS_ENDPOINT_URL_CODEDEPLOY", "http://127.0.0.1:9", 1);
        setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE", 1);
        setenv("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", 1);
        struct lhost_outcome out;
        CHECK_INT(run_lua(lua_dry, 1, &out), 0);
        if (out.reason != LHOST_OK)
            fprintf(stderr, "  %s\n", out.message);
        CHECK_STR(out.result_json ? out.result_json : "", "\"ok\"");
        lhost_outcome_free(&out);
        /* port 9 (discard) is closed: a connection error, retried once */
        CHECK_INT(run_lua(lua_refused, 0, &out), 0);
        if (out.reason != LHOST_OK)
            fprintf(stderr, "  %s\n", out.message);
        lhost_outcome_free(&out);
        lmod_aws_shutdown();
    }

    return test_report("aws");
}
