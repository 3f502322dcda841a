/* Tests for http.c against a tiny HTTP/1.1 server forked on 127.0.0.1 by this test.
 *
 * The server serves each connection in its own child, keeps connections alive, and records what
 * it saw (connections, request heads, body sizes) in memory shared with the test. What it answers
 * depends on the path:
 *   /echo...     200, the request body back, plus X-Method and a padded X-Mixed-Case header
 *   /big         a Content-Length of 5000 and that many bytes
 *   /bigchunked  5000 bytes in chunks, no length announced
 *   /bigheaders  100 KiB of header lines
 *   /hang        reads the request, then never answers
 *   /close       reads the request, then closes the connection without a word
 *   /drop        answers 200, then silently closes the kept-alive connection
 *   /headbig     headers only, announcing 99999999 bytes (an answer to HEAD)
 *   /interim     a 100 Continue, then the final 200 (only its headers must be kept)
 * A second server speaks TLS with a self-signed certificate made here for IP 127.0.0.1.
 * A third is an HTTP proxy that counts what goes through it: a CONNECT is tunnelled to the
 * 127.0.0.1 port it names; a request for an absolute URI is answered by the proxy itself
 * (200 "via proxy", X-Via-Proxy: yes), so a test can tell which way a request went.
 * Every server process is in its own process group, killed and reaped at the end; alarm() in
 * each is the safety net if the test itself dies.
 */
#include "http.h"
#include "testhelp.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define BIG_POST ((size_t)2 << 20)

struct seen {
    int proxy_connects; /* CONNECT requests the proxy tunnelled */
    int proxy_forwards; /* absolute-URI requests the proxy answered itself */
    int connections;
    int requests;
    size_t last_body_len;
    char last_head[8192];
};

static struct seen *seen;

/* ======================================================================== the server */

static int write_all(int fd, const void *p, size_t n)
{
    const char *c = p;
    while (n) {
        ssize_t w = write(fd, c, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        c += w;
        n -= (size_t)w;
    }
    return 0;
}

static int write_str(int fd, const char *s)
{
    return write_all(fd, s, strlen(s));
}

/* The value of header `name` in a request head, copied into out; 0 if found. */
static int head_value(const char *head, const char *name, char *out, size_t outlen)
{
    size_t nl = strlen(name);
    for (const char *p = strstr(head, "\r\n"); p; p = strstr(p, "\r\n")) {
        p += 2;
        if (strncasecmp(p, name, nl) == 0 && p[nl] == ':') {
            const char *v = p + nl + 1;
            while (*v == ' ')
                v++;
            size_t n = strcspn(v, "\r\n");
            if (n >= outlen)
                n = outlen - 1;
            memcpy(out, v, n);
            out[n] = '\0';
            return 0;
        }
    }
    return -1;
}

/* Serve one connection: read requests one after the other (keep-alive) until the client closes. */
static void serve_connection(int fd)
{
    size_t cap = BIG_POST + 65536, len = 0;
    char *in = malloc(cap);
    if (!in)
        _exit(1);
    for (;;) {
        char *end;
        while (!(end = memmem(in, len, "\r\n\r\n", 4))) {
            if (len == cap)
                _exit(1);
            ssize_t r = read(fd, in + len, cap - len);
            if (r <= 0)
                _exit(0);
            len += (size_t)r;
        }
        size_t head_len = (size_t)(end - in) + 4;
        char head[8192];
        size_t hl = head_len < sizeof head ? head_len : sizeof head - 1;
        memcpy(head, in, hl);
        head[hl] = '\0';
        char val[64];
        size_t body_len = 0;
        if (head_value(head, "Content-Length", val, sizeof val) == 0)
            body_len = strtoul(val, NULL, 10);
        if (head_len + body_len > cap)
            _exit(1);
        while (len < head_len + body_len) {
            ssize_t r = read(fd, in + len, cap - len);
            if (r <= 0)
                _exit(0);
            len += (size_t)r;
        }
        memcpy(seen->last_head, head, hl + 1);
        seen->last_body_len = body_len;
        __atomic_fetch_add(&seen->requests, 1, __ATOMIC_SEQ_CST);
        const char *body = in + head_len;
        char method[16] = "", path[1024] = "";
        size_t ml = strcspn(head, " ");
        if (ml < sizeof method)
            memcpy(method, head, ml);
        method[ml < sizeof method ? ml : 0] = '\0';
        const char *ps = head + ml + (head[ml] ? 1 : 0);
        size_t pl = strcspn(ps, " ?");
        if (pl >= sizeof path)
            pl = sizeof path - 1;
        memcpy(path, ps, pl);
        path[pl] = '\0';

        char out[512];
        if (strncmp(path, "/echo", 5) == 0) {
            fmt_into(out, sizeof out,
                     "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\nX-Method: %s\r\n"
                     "X-Mixed-Case:   Hello World  \r\n\r\n",
                     body_len, method);
            if (write_str(fd, out) < 0 || write_all(fd, body, body_len) < 0)
                _exit(0);
        } else if (strcmp(path, "/big") == 0 || strcmp(path, "/bigchunked") == 0) {
            int chunked = strcmp(path, "/bigchunked") == 0;
            write_str(fd, chunked ? "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                                  : "HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\n");
            char chunk[500];
            memset(chunk, 'x', sizeof chunk);
            for (int i = 0; i < 10; i++) {
                if (chunked && write_str(fd, "1f4\r\n") < 0)
                    _exit(0);
                if (write_all(fd, chunk, sizeof chunk) < 0)
                    _exit(0);
                if (chunked && write_str(fd, "\r\n") < 0)
                    _exit(0);
            }
            if (chunked)
                write_str(fd, "0\r\n\r\n");
        } else if (strcmp(path, "/bigheaders") == 0) {
            write_str(fd, "HTTP/1.1 200 OK\r\n");
            for (int i = 0; i < 1000; i++) {
                fmt_into(out, sizeof out, "X-Filler-%d: %0100d\r\n", i, i);
                if (write_str(fd, out) < 0)
                    _exit(0);
            }
            write_str(fd, "Content-Length: 0\r\n\r\n");
        } else if (strcmp(path, "/hang") == 0) {
            for (;;)
                pause();
        } else if (strcmp(path, "/close") == 0) {
            _exit(0);
        } else if (strcmp(path, "/drop") == 0) {
            write_str(fd, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
            usleep(20000);
            _exit(0);
        } else if (strcmp(path, "/headbig") == 0) {
            write_str(fd, "HTTP/1.1 200 OK\r\nContent-Length: 99999999\r\n\r\n");
        } else if (strcmp(path, "/folded") == 0) {
            write_str(fd, "HTTP/1.1 200 OK\r\nX-Folded: one  \r\n   two  \r\n \t \r\n"
                          "X-Empty:\r\n  three\r\n"
                          "Content-Length: 2\r\n\r\nok");
        } else if (strcmp(path, "/interim") == 0) {
            write_str(fd, "HTTP/1.1 100 Continue\r\nX-Interim: yes\r\n\r\n"
                          "HTTP/1.1 200 OK\r\nX-Final: yes\r\nContent-Length: 2\r\n\r\nok");
        } else {
            write_str(fd, "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n");
        }
        memmove(in, in + head_len + body_len, len - head_len - body_len);
        len -= head_len + body_len;
    }
}

/* A listening socket on 127.0.0.1, port chosen by the kernel. */
static int listen_loopback(int *port)
{
    int ls = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t alen = sizeof a;
    if (ls < 0 || bind(ls, (struct sockaddr *)&a, sizeof a) < 0 || listen(ls, 16) < 0 ||
        getsockname(ls, (struct sockaddr *)&a, &alen) < 0) {
        perror("server socket");
        exit(1);
    }
    *port = ntohs(a.sin_port);
    return ls;
}

/* Fork the server on 127.0.0.1 port 0; returns its pid and sets *port. */
static pid_t server_start(int *port)
{
    int ls = listen_loopback(port);
    pid_t pid = fork();
    if (pid < 0) {
        perror("fork");
        exit(1);
    }
    if (pid == 0) {
        setpgid(0, 0);
        alarm(30);
        signal(SIGPIPE, SIG_IGN);
        signal(SIGCHLD, SIG_IGN); /* connection children are reaped by the kernel */
        for (;;) {
            int fd = accept(ls, NULL, NULL);
            if (fd < 0)
                continue;
            __atomic_fetch_add(&seen->connections, 1, __ATOMIC_SEQ_CST);
            if (fork() == 0) {
                close(ls);
                alarm(30);
                serve_connection(fd);
                _exit(0);
            }
            close(fd);
        }
    }
    setpgid(pid, pid);
    close(ls);
    return pid;
}

/* ======================================================================== the TLS server */

/* A self-signed P-256 certificate for IP 127.0.0.1 (no DNS name), written as PEM to `pem_path`
 * so that a client can be told to trust it. */
static int make_cert(const char *pem_path, EVP_PKEY **key_out, X509 **cert_out)
{
    EVP_PKEY *key = EVP_EC_gen("P-256");
    X509 *x = X509_new();
    if (!key || !x)
        return -1;
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
    X509_gmtime_adj(X509_getm_notBefore(x), -60);
    X509_gmtime_adj(X509_getm_notAfter(x), 3600);
    X509_set_pubkey(x, key);
    X509_NAME *name = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)"hookhost test", -1,
                               -1, 0);
    X509_set_issuer_name(x, name);
    X509V3_CTX v3;
    X509V3_set_ctx_nodb(&v3);
    X509V3_set_ctx(&v3, x, x, NULL, NULL, 0);
    X509_EXTENSION *san = X509V3_EXT_conf_nid(NULL, &v3, NID_subject_alt_name, "IP:127.0.0.1");
    if (!san || !X509_add_ext(x, san, -1))
        return -1;
    X509_EXTENSION_free(san);
    if (!X509_sign(x, key, EVP_sha256()))
        return -1;
    FILE *f = fopen(pem_path, "w");
    if (!f || !PEM_write_X509(f, x))
        return -1;
    fclose(f);
    *key_out = key;
    *cert_out = x;
    return 0;
}

/* Serve TLS connections: read one request head, answer 200 "ok", until the client goes. */
static pid_t tls_server_start(const char *pem_path, int *port)
{
    EVP_PKEY *key;
    X509 *cert;
    if (make_cert(pem_path, &key, &cert) < 0) {
        fprintf(stderr, "cannot make a test certificate\n");
        exit(1);
    }
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (!ctx || SSL_CTX_use_certificate(ctx, cert) != 1 || SSL_CTX_use_PrivateKey(ctx, key) != 1)
        exit(1);
    int ls = listen_loopback(port);
    pid_t pid = fork();
    if (pid < 0)
        exit(1);
    if (pid == 0) {
        setpgid(0, 0);
        alarm(30);
        signal(SIGPIPE, SIG_IGN);
        signal(SIGCHLD, SIG_IGN);
        for (;;) {
            int fd = accept(ls, NULL, NULL);
            if (fd < 0)
                continue;
            if (fork() == 0) {
                alarm(30);
                SSL *ssl = SSL_new(ctx);
                SSL_set_fd(ssl, fd);
                if (SSL_accept(ssl) != 1)
                    _exit(0);
                char in[8192];
                size_t len = 0;
                for (;;) {
                    int r = SSL_read(ssl, in + len, (int)(sizeof in - 1 - len));
                    if (r <= 0)
                        _exit(0);
                    len += (size_t)r;
                    in[len] = '\0';
                    if (strstr(in, "\r\n\r\n")) {
                        static const char ok[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
                        SSL_write(ssl, ok, (int)sizeof ok - 1);
                        len = 0;
                    } else if (len == sizeof in - 1) {
                        _exit(0);
                    }
                }
            }
            close(fd);
        }
    }
    setpgid(pid, pid);
    close(ls);
    SSL_CTX_free(ctx);
    X509_free(cert);
    EVP_PKEY_free(key);
    return pid;
}

/* ======================================================================== the proxy */

/* Copy bytes both ways between a and b until either side closes. */
static void relay(int a, int b)
{
    char chunk[16384];
    struct pollfd fds[2] = {{a, POLLIN, 0}, {b, POLLIN, 0}};
    for (;;) {
        if (poll(fds, 2, -1) < 0 && errno != EINTR)
            return;
        for (int i = 0; i < 2; i++) {
            if (!(fds[i].revents & (POLLIN | POLLHUP | POLLERR)))
                continue;
            ssize_t n = read(fds[i].fd, chunk, sizeof chunk);
            if (n <= 0 || write_all(fds[1 - i].fd, chunk, (size_t)n) < 0)
                return;
        }
    }
}

static void proxy_connection(int fd)
{
    char head[8192];
    size_t len = 0;
    while (!memmem(head, len, "\r\n\r\n", 4)) {
        if (len == sizeof head - 1)
            _exit(0);
        ssize_t n = read(fd, head + len, sizeof head - 1 - len);
        if (n <= 0)
            _exit(0);
        len += (size_t)n;
    }
    head[len] = '\0';
    int port = 0;
    if (sscanf(head, "CONNECT 127.0.0.1:%d ", &port) == 1 && port > 0 && port < 65536) {
        __atomic_fetch_add(&seen->proxy_connects, 1, __ATOMIC_SEQ_CST);
        int up = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in a = {0};
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        a.sin_port = htons((uint16_t)port);
        if (up < 0 || connect(up, (struct sockaddr *)&a, sizeof a) < 0) {
            write_str(fd, "HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n");
            _exit(0);
        }
        write_str(fd, "HTTP/1.1 200 Connection established\r\n\r\n");
        relay(fd, up);
        _exit(0);
    }
    if (strncmp(head, "GET http://", 11) == 0) {
        __atomic_fetch_add(&seen->proxy_forwards, 1, __ATOMIC_SEQ_CST);
        write_str(fd, "HTTP/1.1 200 OK\r\nX-Via-Proxy: yes\r\nContent-Length: 9\r\n"
                      "Connection: close\r\n\r\nvia proxy");
        _exit(0);
    }
    write_str(fd, "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n");
    _exit(0);
}

static pid_t proxy_start(int *port)
{
    int ls = listen_loopback(port);
    pid_t pid = fork();
    if (pid < 0)
        exit(1);
    if (pid == 0) {
        setpgid(0, 0);
        alarm(30);
        signal(SIGPIPE, SIG_IGN);
        signal(SIGCHLD, SIG_IGN);
        for (;;) {
            int fd = accept(ls, NULL, NULL);
            if (fd < 0)
                continue;
            if (fork() == 0) {
                close(ls);
                alarm(30);
                proxy_connection(fd);
            }
            close(fd);
        }
    }
    setpgid(pid, pid);
    close(ls);
    return pid;
}

static void server_stop(pid_t pid)
{
    kill(-pid, SIGKILL);
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
}

/* A port on which nothing listens: bind one, note it, close it. */
static int closed_port(void)
{
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t alen = sizeof a;
    bind(s, (struct sockaddr *)&a, sizeof a);
    getsockname(s, (struct sockaddr *)&a, &alen);
    close(s);
    return ntohs(a.sin_port);
}

/* ======================================================================== the tests */

static char url[512];

static const char *at(int port, const char *path)
{
    fmt_into(url, sizeof url, "http://127.0.0.1:%d%s", port, path);
    return url;
}

int main(void)
{
    static const char *const proxies[] = {"http_proxy",  "https_proxy", "HTTP_PROXY",
                                          "HTTPS_PROXY", "ALL_PROXY",   "all_proxy"};
    for (size_t i = 0; i < sizeof proxies / sizeof proxies[0]; i++)
        unsetenv(proxies[i]);
    unsetenv("SSL_CERT_FILE");
    seen = mmap(NULL, sizeof *seen, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (seen == MAP_FAILED)
        return 1;
    int port;
    pid_t server = server_start(&port);
    char err[512];
    struct http_client *c = http_client_new(NULL, err, sizeof err);
    struct http_response r = HTTP_RESPONSE_INIT;

    TEST("a client finds the system CA bundle")
    {
        CHECK(c != NULL);
        CHECK(http_client_ca_bundle(c) != NULL);
    }
    TEST("a missing AWS_CA_BUNDLE file is an error, not a fallback")
    {
        struct http_options o = {"/nonexistent/ca.pem", 0, 0, 0};
        err[0] = '\0';
        CHECK(http_client_new(&o, err, sizeof err) == NULL);
        CHECK(strstr(err, "/nonexistent/ca.pem") != NULL);
    }
    TEST("GET round trip; header lookup is case-insensitive and values trimmed")
    {
        struct http_request q = {"GET", at(port, "/echo"),      NULL, 0, NULL,
                                 0,     http_deadline_in(5000), 0};
        CHECK_INT(http_do(c, &q, &r, err, sizeof err), 0);
        CHECK_INT(r.status, 200);
        CHECK_STR(http_header_get(&r, "x-mixed-case"), "Hello World");
        CHECK_STR(http_header_get(&r, "X-MIXED-CASE"), "Hello World");
        CHECK_STR(http_header_get(&r, "x-method"), "GET");
        CHECK_STR(http_header_get(&r, "content-length"), "0");
        CHECK(http_header_get(&r, "X-Absent") == NULL);
        CHECK_INT(r.body.len, 0);
        CHECK(strncmp(seen->last_head, "GET /echo HTTP/1.1\r\n", 20) == 0);
    }
    TEST("POST round trip with NULs in the body, no form Content-Type added")
    {
        static const char body[] = "a\0b\0\0c";
        struct http_header h[] = {{"X-Amz-Target", "Test.Op"}, {"X-Empty", ""}};
        struct http_request q = {"POST",          at(port, "/echo"),      h, 2, body,
                                 sizeof body - 1, http_deadline_in(5000), 0};
        CHECK_INT(http_do(c, &q, &r, err, sizeof err), 0);
        CHECK_INT(r.status, 200);
        CHECK_STR(http_header_get(&r, "X-Method"), "POST");
        CHECK_INT(r.body.len, sizeof body - 1);
        CHECK(r.body.p && memcmp(r.body.p, body, sizeof body - 1) == 0);
        CHECK(strcasestr(seen->last_head, "\r\nX-Amz-Target: Test.Op\r\n") != NULL);
        CHECK(strcasestr(seen->last_head, "\r\nX-Empty:") != NULL);
        CHECK(strcasestr(seen->last_head, "Content-Type") == NULL);
        CHECK(strcasestr(seen->last_head, "Expect") == NULL);
    }
    TEST("PUT and DELETE send their method")
    {
        struct http_request q = {"PUT", at(port, "/echo"),      NULL, 0, "x",
                                 1,     http_deadline_in(5000), 0};
        CHECK_INT(http_do(c, &q, &r, err, sizeof err), 0);
        CHECK_STR(http_header_get(&r, "X-Method"), "PUT");
        struct http_request d = {"DELETE", at(port, "/echo"),      NULL, 0, NULL,
                                 0,        http_deadline_in(5000), 0};
        CHECK_INT(http_do(c, &d, &r, err, sizeof err), 0);
        CHECK_STR(http_header_get(&r, "X-Method"), "DELETE");
    }
    http_response_free(&r);

    TEST("three sequential requests share one connection")
    {
        struct http_client *k = http_client_new(NULL, err, sizeof err);
        int before = seen->connections;
        long opened = 0;
        for (int i = 0; i < 3; i++) {
            struct http_request q = {"GET", at(port, "/echo"),      NULL, 0, NULL,
                                     0,     http_deadline_in(5000), 0};
            CHECK_INT(http_do(k, &q, &r, err, sizeof err), 0);
            opened += r.new_connections;
        }
        CHECK_INT(opened, 1);
        CHECK_INT(http_client_connects(k), 1);
        CHECK_INT(seen->connections - before, 1);
        http_client_free(k);
    }
    TEST("a kept-alive connection the server dropped is replaced, not an error")
    {
        struct http_client *k = http_client_new(NULL, err, sizeof err);
        struct http_request q = {"GET", at(port, "/drop"),      NULL, 0, NULL,
                                 0,     http_deadline_in(5000), 0};
        CHECK_INT(http_do(k, &q, &r, err, sizeof err), 0);
        usleep(100000);
        q.url = at(port, "/echo");
        CHECK_INT(http_do(k, &q, &r, err, sizeof err), 0);
        CHECK_INT(r.status, 200);
        CHECK_INT(r.new_connections, 1);
        CHECK_INT(http_client_connects(k), 2);
        q.url = at(port, "/drop");
        CHECK_INT(http_do(k, &q, &r, err, sizeof err), 0);
        usleep(100000);
        struct http_request p = {"POST", at(port, "/echo"),      NULL, 0, "abc",
                                 3,      http_deadline_in(5000), 0};
        CHECK_INT(http_do(k, &p, &r, err, sizeof err), 0);
        CHECK_STR(r.body.p, "abc");
        CHECK_INT(http_client_connects(k), 3);
        http_client_free(k);
    }
    TEST("a 2 MB POST goes without Expect: 100-continue")
    {
        char *big = malloc(BIG_POST);
        for (size_t i = 0; i < BIG_POST; i++)
            big[i] = (char)(i * 7);
        struct http_header h[] = {{"Content-Type", "application/octet-stream"}};
        struct http_request q = {"POST",   at(port, "/echo"),       h, 1, big,
                                 BIG_POST, http_deadline_in(10000), 0};
        CHECK_INT(http_do(c, &q, &r, err, sizeof err), 0);
        CHECK_INT(seen->last_body_len, BIG_POST);
        CHECK(strcasestr(seen->last_head, "100-continue") == NULL);
        CHECK(strcasestr(seen->last_head, "\r\nExpect") == NULL);
        CHECK(strcasestr(seen->last_head, "application/octet-stream") != NULL);
        CHECK_INT(r.body.len, BIG_POST);
        CHECK(r.body.p && memcmp(r.body.p, big, BIG_POST) == 0);
        free(big);
    }
    TEST("a server that never answers times out on the deadline, retryably")
    {
        int64_t t0 = http_now_ms();
        struct http_request q = {"GET", at(port, "/hang"),     NULL, 0, NULL,
                                 0,     http_deadline_in(300), 0};
        int rc = http_do(c, &q, &r, err, sizeof err);
        int64_t took = http_now_ms() - t0;
        CHECK_INT(rc, HTTP_ERR_TIMEOUT);
        CHECK(http_retryable(rc));
        CHECK(took >= 250 && took < 1000);
        CHECK(strstr(err, "timed out") != NULL);
        CHECK(strstr(err, "127.0.0.1") != NULL);
        CHECK(r.body.p == NULL && r.nheaders == 0);
    }
    TEST("a deadline already past fails at once without connecting")
    {
        int before = seen->connections, reqs = seen->requests;
        struct http_client *k = http_client_new(NULL, err, sizeof err);
        struct http_request q = {"GET", at(port, "/echo"), NULL, 0, NULL, 0, http_now_ms() - 1, 0};
        CHECK_INT(http_do(k, &q, &r, err, sizeof err), HTTP_ERR_DEADLINE);
        CHECK(!http_retryable(HTTP_ERR_DEADLINE));
        q.deadline_ms = 0;
        CHECK_INT(http_do(k, &q, &r, err, sizeof err), HTTP_ERR_DEADLINE);
        CHECK(strstr(err, "deadline passed") != NULL);
        CHECK_INT(http_client_connects(k), 0);
        usleep(50000);
        CHECK_INT(seen->connections, before);
        CHECK_INT(seen->requests, reqs);
        http_client_free(k);
    }
    TEST("a body over the limit is rejected, announced or not")
    {
        struct http_request q = {"GET", at(port, "/big"),       NULL, 0, NULL,
                                 0,     http_deadline_in(5000), 1000};
        int rc = http_do(c, &q, &r, err, sizeof err);
        CHECK_INT(rc, HTTP_ERR_TOO_LARGE);
        CHECK(!http_retryable(rc));
        CHECK(strstr(err, "response body larger than 1000 bytes") != NULL);
        q.url = at(port, "/bigchunked");
        rc = http_do(c, &q, &r, err, sizeof err);
        CHECK_INT(rc, HTTP_ERR_TOO_LARGE);
        CHECK(strstr(err, "response body larger than 1000 bytes") != NULL);
        CHECK(r.body.p == NULL);
        q.max_body = 5000;
        CHECK_INT(http_do(c, &q, &r, err, sizeof err), 0);
        CHECK_INT(r.body.len, 5000);
    }
    TEST("HEAD is not held to the body limit by the length it announces")
    {
        struct http_request q = {"HEAD", at(port, "/headbig"),   NULL, 0, NULL,
                                 0,      http_deadline_in(5000), 1000};
        CHECK_INT(http_do(c, &q, &r, err, sizeof err), 0);
        CHECK_INT(r.status, 200);
        CHECK_STR(http_header_get(&r, "Content-Length"), "99999999");
        CHECK_INT(r.body.len, 0);
        CHECK(strncmp(seen->last_head, "HEAD /headbig ", 14) == 0);
    }
    TEST("too many header bytes are rejected")
    {
        struct http_request q = {"GET", at(port, "/bigheaders"), NULL, 0, NULL,
                                 0,     http_deadline_in(5000),  0};
        int rc = http_do(c, &q, &r, err, sizeof err);
        CHECK_INT(rc, HTTP_ERR_TOO_LARGE);
        CHECK(strstr(err, "response headers larger than") != NULL);
    }
    TEST("connection refused is a retryable connection error")
    {
        struct http_request q = {"GET", at(closed_port(), "/x"), NULL, 0, NULL,
                                 0,     http_deadline_in(5000),  0};
        int rc = http_do(c, &q, &r, err, sizeof err);
        CHECK_INT(rc, HTTP_ERR_CONNECTION);
        CHECK(http_retryable(rc));
        CHECK(strstr(err, "connection failed") != NULL);
    }
    TEST("a connection closed without a response is a retryable connection error")
    {
        struct http_request q = {"GET", at(port, "/close"),     NULL, 0, NULL,
                                 0,     http_deadline_in(5000), 0};
        int rc = http_do(c, &q, &r, err, sizeof err);
        CHECK_INT(rc, HTTP_ERR_CONNECTION);
        CHECK(http_retryable(rc));
    }
    TEST("error messages never carry the query string or user info")
    {
        char u[512];
        fmt_into(u, sizeof u,
                 "http://user:hunter2@127.0.0.1:%d/hang?X-Amz-Signature=deadbeef&"
                 "X-Amz-Credential=AKIDEXAMPLE",
                 port);
        struct http_request q = {"GET", u, NULL, 0, NULL, 0, http_deadline_in(200), 0};
        CHECK_INT(http_do(c, &q, &r, err, sizeof err), HTTP_ERR_TIMEOUT);
        CHECK(strstr(err, "deadbeef") == NULL);
        CHECK(strstr(err, "AKIDEXAMPLE") == NULL);
        CHECK(strstr(err, "hunter2") == NULL);
        CHECK(strstr(err, "?") == NULL);
        char want[128];
        fmt_into(want, sizeof want, "GET http://127.0.0.1:%d/hang: timed out", port);
        CHECK(strncmp(err, want, strlen(want)) == 0);
        fmt_into(u, sizeof u, "http://127.0.0.1:%d/x?X-Amz-Signature=deadbeef", closed_port());
        q.deadline_ms = http_deadline_in(5000);
        CHECK_INT(http_do(c, &q, &r, err, sizeof err), HTTP_ERR_CONNECTION);
        CHECK(strstr(err, "deadbeef") == NULL);
    }
    TEST("header injection and other schemes are refused before sending")
    {
        int reqs = seen->requests;
        struct http_header h[] = {{"X-Ok", "a\r\nX-Evil: 1"}};
        struct http_request q = {"GET", at(port, "/echo"),      h, 1, NULL,
                                 0,     http_deadline_in(5000), 0};
        CHECK_INT(http_do(c, &q, &r, err, sizeof err), HTTP_ERR_REQUEST);
        CHECK(strstr(err, "X-Ok") != NULL);
        CHECK(strstr(err, "X-Evil") == NULL);
        struct http_request f = {"GET", "file:///etc/passwd",   NULL, 0, NULL,
                                 0,     http_deadline_in(5000), 0};
        CHECK_INT(http_do(c, &f, &r, err, sizeof err), HTTP_ERR_REQUEST);
        f.url = "ftp://127.0.0.1/x";
        CHECK_INT(http_do(c, &f, &r, err, sizeof err), HTTP_ERR_REQUEST);
        CHECK_INT(seen->requests, reqs);
    }
    TEST("an interim 1xx response's headers are dropped, the final one's kept")
    {
        struct http_request q = {"GET", at(port, "/interim"),   NULL, 0, NULL,
                                 0,     http_deadline_in(5000), 0};
        CHECK_INT(http_do(c, &q, &r, err, sizeof err), 0);
        CHECK_INT(r.status, 200);
        CHECK_STR(http_header_get(&r, "X-Final"), "yes");
        CHECK(http_header_get(&r, "X-Interim") == NULL);
        CHECK_STR(r.body.p, "ok");
    }
    TEST("folded header lines join with one space, blanks trimmed, empty folds dropped")
    {
        struct http_request q = {"GET", at(port, "/folded"),    NULL, 0, NULL,
                                 0,     http_deadline_in(5000), 0};
        CHECK_INT(http_do(c, &q, &r, err, sizeof err), 0);
        CHECK_STR(http_header_get(&r, "X-Folded"), "one two");
        CHECK_STR(http_header_get(&r, "X-Empty"), "three");
    }
    TEST("no deadline waits as long as the server takes")
    {
        struct http_request q = {"GET", at(port, "/echo"), NULL, 0, NULL, 0, HTTP_NO_DEADLINE, 0};
        CHECK_INT(http_do(c, &q, &r, err, sizeof err), 0);
        CHECK_INT(r.status, 200);
    }

    int proxy_port;
    pid_t proxy = proxy_start(&proxy_port);
    char proxy_url[64];
    fmt_into(proxy_url, sizeof proxy_url, "http://127.0.0.1:%d", proxy_port);
    TEST("a direct client (the Runtime API) ignores http_proxy and ALL_PROXY")
    {
        setenv("http_proxy", proxy_url, 1);
        setenv("ALL_PROXY", proxy_url, 1);
        setenv("no_proxy", "localhost", 1); /* the usual value: it does not cover 127.0.0.1 */
        struct http_options o = {.direct = 1};
        struct http_client *k = http_client_new(&o, err, sizeof err);
        struct http_request q = {"GET", at(port, "/echo"),      NULL, 0, NULL,
                                 0,     http_deadline_in(5000), 0};
        CHECK_INT(k ? http_do(k, &q, &r, err, sizeof err) : -99, 0);
        CHECK_INT(r.status, 200);
        CHECK(http_header_get(&r, "X-Via-Proxy") == NULL);
        CHECK_STR(http_header_get(&r, "X-Method"), "GET");
        CHECK_INT(seen->proxy_forwards + seen->proxy_connects, 0);
        http_client_free(k);
    }
    TEST("a default client (AWS calls) goes through http_proxy, as the SDKs do")
    {
        struct http_client *k = http_client_new(NULL, err, sizeof err);
        struct http_request q = {"GET", at(port, "/echo"),      NULL, 0, NULL,
                                 0,     http_deadline_in(5000), 0};
        CHECK_INT(k ? http_do(k, &q, &r, err, sizeof err) : -99, 0);
        CHECK_STR(http_header_get(&r, "X-Via-Proxy"), "yes");
        CHECK_INT(seen->proxy_forwards, 1);
        http_client_free(k);
    }
    TEST("NO_PROXY naming the host sends a default client's request direct")
    {
        setenv("NO_PROXY", "example.com,127.0.0.1", 1);
        unsetenv("no_proxy");
        struct http_client *k = http_client_new(NULL, err, sizeof err);
        struct http_request q = {"GET", at(port, "/echo"),      NULL, 0, NULL,
                                 0,     http_deadline_in(5000), 0};
        CHECK_INT(k ? http_do(k, &q, &r, err, sizeof err) : -99, 0);
        CHECK(http_header_get(&r, "X-Via-Proxy") == NULL);
        CHECK_INT(seen->proxy_forwards, 1);
        http_client_free(k);
        unsetenv("NO_PROXY");
    }
    unsetenv("http_proxy");
    unsetenv("ALL_PROXY");
    unsetenv("no_proxy");

    char dir[] = "/tmp/hookhost-test-http-XXXXXX";
    char pem[sizeof dir + 16];
    if (!mkdtemp(dir))
        return 1;
    fmt_into(pem, sizeof pem, "%s/ca.pem", dir);
    int tls_port;
    pid_t tls = tls_server_start(pem, &tls_port);
    char tls_url[128];
    TEST("TLS to an unknown CA fails closed, not retryable")
    {
        fmt_into(tls_url, sizeof tls_url, "https://127.0.0.1:%d/x?X-Amz-Signature=deadbeef",
                 tls_port);
        struct http_request q = {"GET", tls_url, NULL, 0, NULL, 0, http_deadline_in(5000), 0};
        int rc = http_do(c, &q, &r, err, sizeof err);
        CHECK_INT(rc, HTTP_ERR_TLS);
        CHECK(!http_retryable(rc));
        CHECK(strstr(err, "TLS verification failed") != NULL);
        CHECK(strstr(err, "deadbeef") == NULL);
    }
    TEST("TLS with the CA given as AWS_CA_BUNDLE succeeds and reuses the connection")
    {
        struct http_options o = {pem, 0, 0, 0};
        struct http_client *k = http_client_new(&o, err, sizeof err);
        CHECK(k != NULL);
        CHECK_STR(k ? http_client_ca_bundle(k) : NULL, pem);
        for (int i = 0; k && i < 2; i++) {
            fmt_into(tls_url, sizeof tls_url, "https://127.0.0.1:%d/x", tls_port);
            struct http_request q = {"GET", tls_url, NULL, 0, NULL, 0, http_deadline_in(5000), 0};
            CHECK_INT(http_do(k, &q, &r, err, sizeof err), 0);
            CHECK_INT(r.status, 200);
            CHECK_STR(r.body.p, "ok");
        }
        CHECK_INT(k ? http_client_connects(k) : -1, 1);
        /* The certificate names 127.0.0.1 only: "localhost" must fail host verification. */
        fmt_into(tls_url, sizeof tls_url, "https://localhost:%d/x", tls_port);
        struct http_request q = {"GET", tls_url, NULL, 0, NULL, 0, http_deadline_in(5000), 0};
        CHECK_INT(k ? http_do(k, &q, &r, err, sizeof err) : 0, HTTP_ERR_TLS);
        http_client_free(k);
    }
    TEST("SSL_CERT_FILE names the CAs when AWS_CA_BUNDLE does not; AWS_CA_BUNDLE wins over it")
    {
        setenv("SSL_CERT_FILE", pem, 1);
        struct http_client *k = http_client_new(NULL, err, sizeof err);
        CHECK(k != NULL);
        CHECK_STR(k ? http_client_ca_bundle(k) : NULL, pem);
        fmt_into(tls_url, sizeof tls_url, "https://127.0.0.1:%d/x", tls_port);
        struct http_request q = {"GET", tls_url, NULL, 0, NULL, 0, http_deadline_in(5000), 0};
        CHECK_INT(k ? http_do(k, &q, &r, err, sizeof err) : -1, 0);
        CHECK_INT(r.status, 200);
        http_client_free(k);

        char *found = NULL;
        CHECK_INT(http_find_ca_bundle("/dev/null", &found, err, sizeof err), 0);
        CHECK_STR(found, "/dev/null");
        free(found);

        /* Unreadable: kept, not replaced (the Runtime API's client must still start), and an
         * https call fails closed naming it. */
        setenv("SSL_CERT_FILE", "/nonexistent/ssl-cert.pem", 1);
        k = http_client_new(NULL, err, sizeof err);
        CHECK(k != NULL);
        CHECK_STR(k ? http_client_ca_bundle(k) : NULL, "/nonexistent/ssl-cert.pem");
        CHECK_INT(k ? http_do(k, &q, &r, err, sizeof err) : 0, HTTP_ERR_TLS);
        CHECK(strstr(err, "the CA bundle /nonexistent/ssl-cert.pem cannot be loaded") != NULL);
        http_client_free(k);
        err[0] = '\0';
        found = NULL;
        CHECK_INT(http_find_ca_bundle("/nonexistent/aws-ca.pem", &found, err, sizeof err), -1);
        CHECK(found == NULL && strstr(err, "/nonexistent/aws-ca.pem") != NULL);
        unsetenv("SSL_CERT_FILE");
    }
    TEST("a CA store loaded ahead (before forking workers) still verifies, in a forked child too")
    {
        struct http_options o = {pem, 0, 0, 0};
        struct http_client *k = http_client_new(&o, err, sizeof err);
        struct http_client *d = http_client_new(NULL, err, sizeof err);
        CHECK_INT(k ? http_client_preload_ca(k) : -99, 0);
        CHECK_INT(d ? http_client_preload_ca(d) : -99, 0);
        fmt_into(tls_url, sizeof tls_url, "https://127.0.0.1:%d/x", tls_port);
        struct http_request q = {"GET", tls_url, NULL, 0, NULL, 0, http_deadline_in(5000), 0};
        pid_t child = fork();
        if (child == 0) { /* what a worker forked after the preload does */
            struct http_response cr = HTTP_RESPONSE_INIT;
            int ok = http_do(k, &q, &cr, err, sizeof err) == 0 && cr.status == 200 &&
                     http_do(d, &q, &cr, err, sizeof err) == HTTP_ERR_TLS;
            _exit(ok ? 0 : 1);
        }
        int st = -1;
        waitpid(child, &st, 0);
        CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
        CHECK_INT(k ? http_do(k, &q, &r, err, sizeof err) : -99, 0);
        CHECK_INT(d ? http_do(d, &q, &r, err, sizeof err) : -99, HTTP_ERR_TLS);
        http_client_free(k);
        http_client_free(d);
    }
    TEST("https through HTTPS_PROXY: a CONNECT tunnel, the server still verified end to end")
    {
        setenv("HTTPS_PROXY", proxy_url, 1);
        struct http_options o = {pem, 0, 0, 0};
        struct http_client *k = http_client_new(&o, err, sizeof err);
        fmt_into(tls_url, sizeof tls_url, "https://127.0.0.1:%d/x", tls_port);
        struct http_request q = {"GET", tls_url, NULL, 0, NULL, 0, http_deadline_in(5000), 0};
        CHECK_INT(k ? http_do(k, &q, &r, err, sizeof err) : -99, 0);
        CHECK_STR(r.body.p, "ok");
        CHECK_INT(seen->proxy_connects, 1);
        http_client_free(k);
        /* the tunnel does not lower verification: an unknown CA still fails closed */
        k = http_client_new(NULL, err, sizeof err);
        CHECK_INT(k ? http_do(k, &q, &r, err, sizeof err) : -99, HTTP_ERR_TLS);
        CHECK_INT(seen->proxy_connects, 2);
        http_client_free(k);
        /* and a direct client never tunnels */
        o.direct = 1;
        k = http_client_new(&o, err, sizeof err);
        CHECK_INT(k ? http_do(k, &q, &r, err, sizeof err) : -99, 0);
        CHECK_INT(seen->proxy_connects, 2);
        http_client_free(k);
        unsetenv("HTTPS_PROXY");
    }
    server_stop(proxy);
    server_stop(tls);
    unlink(pem);
    rmdir(dir);

    http_response_free(&r);
    http_client_free(c);
    server_stop(server);
    munmap(seen, sizeof *seen);
    return test_report("http");
}
