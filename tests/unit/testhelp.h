/* testhelp.h: the smallest test harness that reads well (after sds's testhelp.h).
 *
 *   TEST("name") { CHECK(cond); CHECK_STR(got, want); }    inside main()
 *   SKIP("why");                                            a part that cannot run here
 *   return test_report("module");                          prints "N passed, N failed"
 *
 * Each CHECK is one counted assertion; a failure prints file:line and the values, and the run
 * goes on so that one report shows every failure.
 */
#ifndef HOOKHOST_TESTHELP_H
#define HOOKHOST_TESTHELP_H

#include <stdio.h>
#include <string.h>

static int th_passed, th_failed, th_skipped;
static const char *th_current = "";

#define TEST(name) for (int th_once_ = (th_current = (name), 1); th_once_; th_once_ = 0)

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (cond) {                                                                                \
            th_passed++;                                                                           \
        } else {                                                                                   \
            th_failed++;                                                                           \
            fprintf(stderr, "FAIL %s:%d [%s]: %s\n", __FILE__, __LINE__, th_current, #cond);       \
        }                                                                                          \
    } while (0)

#define CHECK_STR(got, want)                                                                       \
    do {                                                                                           \
        const char *g_ = (got), *w_ = (want);                                                      \
        if (g_ && w_ && strcmp(g_, w_) == 0) {                                                     \
            th_passed++;                                                                           \
        } else {                                                                                   \
            th_failed++;                                                                           \
            fprintf(stderr, "FAIL %s:%d [%s]: %s\n  got:  %s\n  want: %s\n", __FILE__, __LINE__,   \
                    th_current, #got, g_ ? g_ : "(null)", w_ ? w_ : "(null)");                     \
        }                                                                                          \
    } while (0)

#define CHECK_INT(got, want)                                                                       \
    do {                                                                                           \
        long long g_ = (long long)(got), w_ = (long long)(want);                                   \
        if (g_ == w_) {                                                                            \
            th_passed++;                                                                           \
        } else {                                                                                   \
            th_failed++;                                                                           \
            fprintf(stderr, "FAIL %s:%d [%s]: %s == %lld, want %lld\n", __FILE__, __LINE__,        \
                    th_current, #got, g_, w_);                                                     \
        }                                                                                          \
    } while (0)

/* Counts one skipped part and says why on stderr: for tests that need something the clone does
 * not carry (the SigV4 conformance suite), never for a failure. */
#define SKIP(why)                                                                                  \
    do {                                                                                           \
        th_skipped++;                                                                              \
        fprintf(stderr, "SKIP %s:%d [%s]: %s\n", __FILE__, __LINE__, th_current, (why));           \
    } while (0)

/* Prints "<module>: N passed, N failed[, N skipped]" and returns the process exit status. */
static inline int test_report(const char *module)
{
    if (th_skipped)
        printf("%s: %d passed, %d failed, %d skipped\n", module, th_passed, th_failed, th_skipped);
    else
        printf("%s: %d passed, %d failed\n", module, th_passed, th_failed);
    return th_failed ? 1 : 0;
}

#endif
