/* The floor of an S3 client: plain-HTTP GETs, one connection each, whose
 * bodies are received with `recv` straight into buffers it keeps, on
 * THREADS blocking connections at once. A connection per request is what
 * every client gets from moto: it closes the connection after each response.
 *
 *   recv_floor PORT BUCKET PREFIX KEYS_FILE THREADS     (server on 127.0.0.1)
 *
 * moto does not check signatures, so the request carries the access key of
 * AWS_ACCESS_KEY_ID and a placeholder signature: what is measured is the
 * receiving, not the signing. */
#include "floor.h" /* first: it defines _GNU_SOURCE */

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>


static int port;
static const char *bucket, *prefix, *access_key;
static struct keys keys;
static char **buffers;
static size_t *sizes;

static size_t fetch(size_t i) {
    int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons(port)};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (s < 0 || connect(s, (struct sockaddr *)&addr, sizeof addr)) die("cannot connect to port %d", port);
    char req[8192];
    int len = snprintf(req, sizeof req,
                       "GET /%s/%s/%s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
                       "Authorization: AWS4-HMAC-SHA256 Credential=%s/20260101/us-east-1/s3/aws4_request, "
                       "SignedHeaders=host, Signature=0\r\nConnection: close\r\n\r\n",
                       bucket, prefix, keys.names[i], port, access_key);
    if (len < 0 || (size_t)len >= sizeof req) die("the request for %s is too long", keys.names[i]);
    if (send(s, req, len, MSG_NOSIGNAL) != len) die("cannot send the request for %s", keys.names[i]);
    char head[16384];
    size_t got = 0;
    char *end;
    while (!(end = memmem(head, got, "\r\n\r\n", 4))) {
        ssize_t n = recv(s, head + got, sizeof head - got, 0);
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
        ssize_t n = recv(s, buffers[i] + body, size - body, 0);
        if (n <= 0) die("%s: body cut short", keys.names[i]);
        body += n;
    }
    close(s);
    return body;
}

int main(int argc, char **argv) {
    if (argc != 6) die("usage: recv_floor PORT BUCKET PREFIX KEYS_FILE THREADS");
    port = atoi(argv[1]);
    bucket = argv[2];
    prefix = argv[3];
    keys = read_keys(argv[4]);
    access_key = getenv("AWS_ACCESS_KEY_ID");
    if (!access_key) die("AWS_ACCESS_KEY_ID is not set");
    buffers = calloc(keys.count, sizeof *buffers);
    sizes = calloc(keys.count, sizeof *sizes);
    run_twice(keys.count, fetch, atoi(argv[5]));
    return 0;
}
