/* fuzz.h: what the libFuzzer targets in tests/fuzz share.
 *
 * FUZZ_CHECK is the targets' own assert: a broken invariant prints where and aborts, which
 * libFuzzer reports as a crash with the input that caused it. (assert() is off under NDEBUG and
 * STYLE.md keeps it away from runtime input; this is a test.) */
#ifndef HOOKHOST_FUZZ_H
#define HOOKHOST_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FUZZ_CHECK(cond)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: invariant broken: %s\n", __FILE__, __LINE__, #cond);           \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* 1 when the NUL-terminated s fits in a buffer of cap bytes (so it was terminated in place). */
static inline int fuzz_terminated(const char *s, size_t cap)
{
    return memchr(s, '\0', cap) != NULL;
}

#endif
