/* What both floors share: the key list, the clocks, RSS, and the one JSON
 * line a benchmark worker prints (the fields of _worker.py's measure(), taken
 * the same way around the timed fetch).
 *
 * A floor fetches every object twice into memory it keeps, like the `fetch`
 * operation of suite 1: the first fetch faults its buffers in, the second
 * (the one reported) reuses them. It does nothing else with the bytes, so it
 * is the least CPU and time any reader that lands objects in its own memory
 * can spend on this machine. */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#define die(...) (fprintf(stderr, __VA_ARGS__), fputc('\n', stderr), exit(1))

struct keys {
    char **names;
    size_t count;
};

static struct keys read_keys(const char *path) {
    FILE *f = fopen(path, "r");
    if (!f) die("cannot open key list %s", path);
    struct keys k = {0};
    size_t cap = 0;
    char line[4096];
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\r\n")] = 0;
        if (!*line) continue;
        if (k.count == cap) {
            cap = cap ? 2 * cap : 1024;
            k.names = realloc(k.names, cap * sizeof *k.names);
            if (!k.names) die("out of memory");
        }
        k.names[k.count++] = strdup(line);
    }
    fclose(f);
    if (!k.count) die("no keys in %s", path);
    return k;
}

static double wall(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

static double cpu(void) {
    struct rusage r;
    getrusage(RUSAGE_SELF, &r);
    return r.ru_utime.tv_sec + r.ru_stime.tv_sec + (r.ru_utime.tv_usec + r.ru_stime.tv_usec) * 1e-6;
}

/* A field of /proc/self/status in bytes (VmRSS, VmHWM), 0 if absent. */
static long status_bytes(const char *field) {
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kib = 0;
    size_t n = strlen(field);
    while (f && fgets(line, sizeof line, f))
        if (!strncmp(line, field, n) && line[n] == ':') kib = atol(line + n + 1);
    if (f) fclose(f);
    return kib * 1024;
}

/* Resets VmHWM to the current RSS, as _worker.py's measure() does. */
static void reset_peak(void) {
    FILE *f = fopen("/proc/self/clear_refs", "w");
    if (f) fputs("5", f), fclose(f);
}

/* Runs fetch(index) for every key on `threads` threads, twice, and prints
 * the result line. fetch returns the bytes it landed. */
static atomic_size_t next_key;
static atomic_size_t landed;
static size_t (*fetch_one)(size_t);
static size_t key_count;

static void *fetch_loop(void *unused) {
    (void)unused;
    for (size_t i; (i = atomic_fetch_add(&next_key, 1)) < key_count;)
        atomic_fetch_add(&landed, fetch_one(i));
    return NULL;
}

static size_t fetch_all(int threads) {
    if (threads < 1) die("threads must be at least 1, not %d", threads);
    pthread_t tid[threads];
    atomic_store(&next_key, 0);
    atomic_store(&landed, 0);
    for (int t = 0; t < threads; t++)
        if (pthread_create(&tid[t], NULL, fetch_loop, NULL)) die("pthread_create failed");
    for (int t = 0; t < threads; t++) pthread_join(tid[t], NULL);
    return atomic_load(&landed);
}

/* Called before each of the two fetches, outside the timing (the cold
 * floor evicts its files from the page cache there). */
static void (*before_fetch)(void);

static void run_twice(size_t count, size_t (*fetch)(size_t), int threads) {
    fetch_one = fetch;
    key_count = count;
    if (before_fetch) before_fetch();
    double c0 = cpu(), t0 = wall();
    fetch_all(threads);
    double first_s = wall() - t0, first_cpu = cpu() - c0;
    long rss0 = status_bytes("VmRSS");
    reset_peak();
    if (before_fetch) before_fetch();
    c0 = cpu(), t0 = wall();
    size_t bytes = fetch_all(threads);
    double seconds = wall() - t0, cpu_s = cpu() - c0;
    long rss = status_bytes("VmRSS"), peak = status_bytes("VmHWM");
    printf("{\"seconds\": %.6f, \"cpu_s\": %.6f, \"first_s\": %.6f, \"first_cpu_s\": %.6f, "
           "\"bytes\": %zu, \"peak_added\": %ld, \"held_added\": %ld}\n",
           seconds, cpu_s, first_s, first_cpu, bytes, (peak > rss ? peak : rss) - rss0, rss - rss0);
}
