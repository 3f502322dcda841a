/* Tests for buf.c: bounded buffers free themselves on overflow; views compare as they should. */
#include "buf.h"
#include "testhelp.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int main(void)
{
    TEST("append and printf build a NUL-terminated string")
    {
        struct buf b = BUF_INIT(0);
        CHECK_INT(buf_puts(&b, "ab"), 0);
        CHECK_INT(buf_printf(&b, "-%d-", 42), 0);
        CHECK_INT(buf_putc(&b, 'z'), 0);
        CHECK_STR(b.p, "ab-42-z");
        CHECK_INT(b.len, 7);
        buf_free(&b);
    }
    TEST("an append past max frees the buffer and fails")
    {
        struct buf b = BUF_INIT(8);
        CHECK_INT(buf_puts(&b, "12345678"), 0);
        CHECK_INT(buf_puts(&b, "9"), -1);
        CHECK(b.p == NULL);
        CHECK_INT(b.len, 0);
        CHECK_INT(buf_printf(&b, "%s", "123456789"), -1);
        CHECK(b.p == NULL);
    }
    TEST("buf_take hands over the bytes and leaves the buffer empty")
    {
        struct buf b = BUF_INIT(0);
        char *empty = buf_take(&b);
        CHECK_STR(empty, "");
        free(empty);
        buf_puts(&b, "x");
        char *p = buf_take(&b);
        CHECK_STR(p, "x");
        CHECK(b.p == NULL);
        free(p);
    }
    TEST("views compare exactly and case-insensitively")
    {
        CHECK(str_eq(STR_LIT("Host"), str_cstr("Host")));
        CHECK(!str_eq(STR_LIT("Host"), str_cstr("host")));
        CHECK(str_ieq(STR_LIT("Host"), str_cstr("hOST")));
        CHECK(!str_ieq(STR_LIT("Host"), str_cstr("Hos")));
    }
    TEST("buf_read_file reads a whole file, refuses one over the limit, names a missing one")
    {
        char path[] = "/tmp/hookhost-test-buf-XXXXXX";
        int fd = mkstemp(path);
        CHECK(fd >= 0);
        CHECK_INT(write(fd, "hello\0world", 11), 11);
        close(fd);
        struct buf b = BUF_INIT(64);
        char err[128];
        CHECK_INT(buf_read_file(&b, path, err, sizeof err), 0);
        CHECK_INT(b.len, 11);
        CHECK(memcmp(b.p, "hello\0world", 11) == 0);
        struct buf small = BUF_INIT(4);
        CHECK_INT(buf_read_file(&small, path, err, sizeof err), -2);
        CHECK(small.p == NULL);
        CHECK(strstr(err, "larger than 4 bytes") != NULL);
        CHECK_INT(buf_read_file(&b, "/nonexistent/file", err, sizeof err), -1);
        CHECK(strstr(err, "No such file") != NULL);
        buf_free(&b);
        unlink(path);
    }
    return test_report("buf");
}
