/* cli.h: what the commands (main.c, sign_cli.c, testrun.c) share on their command lines. */
#ifndef HOOKHOST_CLI_H
#define HOOKHOST_CLI_H

#define EXIT_USAGE 2 /* the exit status of every usage error */

/* Print "hookhost CMD: <message>", the first line of usage and "Try 'hookhost CMD --help'." on
 * stderr; returns EXIT_USAGE. usage is the command's --help text (its first line is the
 * synopsis). */
int cli_usage_error(const char *cmd, const char *usage, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
