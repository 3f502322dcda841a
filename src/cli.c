/* cli.c: see cli.h. */
#include "cli.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int cli_usage_error(const char *cmd, const char *usage, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "hookhost %s: ", cmd);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    const char *nl = strchr(usage, '\n');
    fprintf(stderr, "\n%.*s\nTry 'hookhost %s --help'.\n", nl ? (int)(nl - usage) : 0, usage, cmd);
    return EXIT_USAGE;
}
