/* arc4random_buf for a libexpat.so.1 that must load on glibc 2.34 (Lambda provided.al2023).
 *
 * Why: Debian 12's expat 2.5.0 is built against glibc 2.36 and fills its hash salt with
 * arc4random_buf@GLIBC_2.36, which glibc 2.34 lacks; the dynamic loader would refuse
 * libexpat.so.1 ("version `GLIBC_2.36' not found"). scripts/package relinks Debian's own
 * libexpat.a (same version, same security patches) into libexpat.so.1 with this hidden
 * definition, which draws the bytes from getrandom(2) (GLIBC_2.25): expat's own fallback when
 * arc4random_buf is unavailable. Hidden visibility: nothing outside the library sees it. */
#include <errno.h>
#include <stddef.h>
#include <sys/random.h>

__attribute__((visibility("hidden"))) void arc4random_buf(void *buf, size_t n);

void arc4random_buf(void *buf, size_t n)
{
    unsigned char *p = buf;
    while (n > 0) {
        ssize_t r = getrandom(p, n, 0);
        if (r > 0) {
            p += r;
            n -= (size_t)r;
        } else if (r < 0 && errno != EINTR) {
            /* Only ENOSYS (kernel < 3.17) or EFAULT can get here; Lambda kernels have
             * getrandom. arc4random_buf cannot fail, so neither may this. */
            __builtin_trap();
        }
    }
}
