/* sign_cli.h: `hookhost sign`, a SigV4 debugging tool in the spirit of `curl --aws-sigv4`.
 *
 *   hookhost sign --method M --url URL [--header 'Name: value']... [--body-file F|-]
 *                 --region R --service S [--date YYYYMMDDTHHMMSSZ] [--query [--expires N]]
 *
 * Header mode prints every header of the signed request, one "Name: value" per line, in this
 * order: Host, X-Amz-Date, X-Amz-Security-Token (with a session token), the --header ones as
 * given, x-amz-content-sha256 (S3), Authorization. With --query it prints the presigned URL
 * (X-Amz-Expires from --expires, default 900 s). Credentials come from the usual chain
 * (creds.h). Printing the Authorization value or the session token is the point of the tool:
 * stdout is the user's, and nothing goes to the log.
 *
 * Exit status: 0 printed, 1 credentials or signing failed, 2 usage error (the message names the
 * option). `--help` anywhere before "--" prints the usage on stdout, exit 0.
 */
#ifndef HOOKHOST_SIGN_CLI_H
#define HOOKHOST_SIGN_CLI_H

/* argv[0] is "sign". Returns the exit status. */
int sign_main(int argc, char **argv);

#endif
