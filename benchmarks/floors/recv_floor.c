/* The floor of an S3 client: GETs whose bodies are received with `recv`
 * (or, over TLS, OpenSSL's `SSL_read`) straight into buffers it keeps, on
 * THREADS blocking connections at once. MODE says how connections are used:
 *
 *   close  a connection per request (what every client gets from moto: it
 *          closes the connection after each response)
 *   keep   one kept-alive connection per thread (nginx keeps them open)
 *   tls    as keep, over TLS (the certificate is not checked: what is
 *          measured is receiving and decrypting, not the handshake)
 *
 *   recv_floor PORT BUCKET PREFIX KEYS_FILE THREADS [MODE]   (127.0.0.1)
 *
 * The servers do not check signatures, so the request carries the access
 * key of AWS_ACCESS_KEY_ID and a placeholder signature: what is measured is
 * the receiving, not the signing. */
#include "floor.h" /* first: it defines _GNU_SOURCE */

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <sys/socket.h>
#include <unistd.h>

enum mode { CLOSE, KEEP, TLS };

static int port;
static enum mode mode = CLOSE;
static const char *bucket, *prefix, *access_key;
static struct keys keys;
static char **buffers;
static size_t *sizes;
static SSL_CTX *tls;

/* A thread's connection: the socket, and its TLS session in `tls` mode. */
struct conn {
    int fd;
    SSL *ssl;
};
static __thread struct conn kept = {-1, NULL};

static struct conn dial(void) {
    struct conn c = {socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), NULL};
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons(port)};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (c.fd < 0 || connect(c.fd, (struct sockaddr *)&addr, sizeof addr)) die("cannot connect to port %d", port);
    int one = 1;
    setsockopt(c.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (mode == TLS) {
        c.ssl = SSL_new(tls);
        if (!c.ssl || !SSL_set_fd(c.ssl, c.fd) || SSL_connect(c.ssl) != 1) die("TLS handshake failed");
    }
    return c;
}

static void hang_up(struct conn *c) {
    if (c->ssl) SSL_free(c->ssl);
    close(c->fd);
    c->fd = -1, c->ssl = NULL;
}

static ssize_t take(struct conn *c, void *to, size_t max) {
    if (!c->ssl) return recv(c->fd, to, max, 0);
    int n = SSL_read(c->ssl, to, max > 1 << 30 ? 1 << 30 : (int)max);
    return n > 0 ? n : -1;
}

static void give(struct conn *c, const char *data, size_t len) {
    ssize_t n = c->ssl ? SSL_write(c->ssl, data, (int)len) : send(c->fd, data, len, MSG_NOSIGNAL);
    if (n != (ssize_t)len) die("cannot send a request");
}

static size_t fetch(size_t i) {
    struct conn *c = &kept;
    if (c->fd < 0) *c = dial();
    char req[8192];
    int len = snprintf(req, sizeof req,
                       "GET /%s/%s/%s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
                       "Authorization: AWS4-HMAC-SHA256 Credential=%s/20260101/us-east-1/s3/aws4_request, "
                       "SignedHeaders=host, Signature=0\r\n%s\r\n",
                       bucket, prefix, keys.names[i], port, access_key,
                       mode == CLOSE ? "Connection: close\r\n" : "");
    if (len < 0 || (size_t)len >= sizeof req) die("the request for %s is too long", keys.names[i]);
    give(c, req, len);
    char head[16384];
    size_t got = 0;
    char *end;
    while (!(end = memmem(head, got, "\r\n\r\n", 4))) {
        ssize_t n = take(c, head + got, sizeof head - got - 1);
        if (n <= 0) die("no response head for %s", keys.names[i]);
        got += n;
    }
    *end = 0;
    if (strncmp(head, "HTTP/1.1 200", 12)) die("%s: %.40s", keys.names[i], head);
    char *cl = strcasestr(head, "\r\ncontent-length:");
    if (!cl) die("%s: no content-length", keys.names[i]);
    size_t size = strtoull(cl + 17, NULL, 10);
    if (!buffers[i]) {
        sizes[i] = size;
        buffers[i] = aligned_alloc(64, ((size + 63) & ~(size_t)63) ?: 64);
        if (!buffers[i]) die("out of memory");
    } else if (sizes[i] != size) {
        die("%s changed size", keys.names[i]);
    }
    size_t body = got - (end + 4 - head);
    if (body > size) die("%s: more than content-length", keys.names[i]);
    memcpy(buffers[i], end + 4, body);
    while (body < size) {
        ssize_t n = take(c, buffers[i] + body, size - body);
        if (n <= 0) die("%s: body cut short", keys.names[i]);
        body += n;
    }
    if (mode == CLOSE) hang_up(c);
    return body;
}

int main(int argc, char **argv) {
    if (argc != 6 && argc != 7) die("usage: recv_floor PORT BUCKET PREFIX KEYS_FILE THREADS [close|keep|tls]");
    port = atoi(argv[1]);
    bucket = argv[2];
    prefix = argv[3];
    keys = read_keys(argv[4]);
    if (argc == 7) {
        if (!strcmp(argv[6], "keep")) mode = KEEP;
        else if (!strcmp(argv[6], "tls")) mode = TLS;
        else if (strcmp(argv[6], "close")) die("unknown mode %s", argv[6]);
    }
    if (mode == TLS) {
        tls = SSL_CTX_new(TLS_client_method());
        if (!tls) die("no TLS context");
        SSL_CTX_set_verify(tls, SSL_VERIFY_NONE, NULL);
    }
    access_key = getenv("AWS_ACCESS_KEY_ID");
    if (!access_key) die("AWS_ACCESS_KEY_ID is not set");
    buffers = calloc(keys.count, sizeof *buffers);
    sizes = calloc(keys.count, sizeof *sizes);
    run_twice(keys.count, fetch, atoi(argv[5]));
    return 0;
}
