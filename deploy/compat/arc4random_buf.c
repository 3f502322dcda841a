/* arc4random_buf for a hookhost that must load on glibc 2.34 (Lambda provided.al2023).
 *
 * Why: Debian 12's expat 2.5.0 is built against glibc 2.36 and fills its hash salt with
 * arc4random_buf, which is GLIBC_2.36 there and missing from glibc 2.34: the dynamic loader would
 * refuse the program ("version `GLIBC_2.36' not found"). The lean link (Makefile) adds this
 * definition beside Debian's own libexpat.a (same version, same security patches); a definition
 * in the program wins over libc's, so no reference to glibc's remains. It draws the bytes from
 * getrandom(2) (GLIBC_2.25): expat's own fallback when arc4random_buf is unavailable. Hidden
 * visibility: nothing outside the program sees it. */
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
