/* The floor of a local reader: `pread` of whole files into buffers it
 * keeps, on THREADS threads (the queue depth).
 *
 *   pread_floor ROOT KEYS_FILE THREADS [buffered|direct] [warm|cold]
 *
 * `direct` opens with O_DIRECT (page-aligned buffers, whole blocks read);
 * `cold` evicts every file from the page cache before each fetch
 * (posix_fadvise DONTNEED, then checked with mincore: a file still cached
 * stops the run). Buffers are 64-byte aligned (4096 for O_DIRECT) and not
 * advised for huge pages, as the engine's are by default. */
#include "floor.h" /* first: it defines _GNU_SOURCE */

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define BLOCK 4096

static const char *root;
static struct keys keys;
static char **buffers;
static size_t *sizes;
static int direct;

static void path_of(size_t i, char *path, size_t len) { snprintf(path, len, "%s/%s", root, keys.names[i]); }

/* Drop every file from the page cache and check that none of it stayed. */
static void evict(void) {
    long page = sysconf(_SC_PAGESIZE);
    for (size_t i = 0; i < keys.count; i++) {
        char path[8192];
        path_of(i, path, sizeof path);
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        struct stat st;
        if (fd < 0 || fstat(fd, &st)) die("cannot open %s", path);
        fdatasync(fd);
        if (posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED)) die("cannot evict %s", path);
        if (st.st_size) {
            void *map = mmap(NULL, st.st_size, PROT_READ, MAP_SHARED, fd, 0);
            size_t pages = (st.st_size + page - 1) / page;
            unsigned char *in = malloc(pages);
            if (map == MAP_FAILED || !in || mincore(map, st.st_size, in)) die("cannot check %s", path);
            for (size_t p = 0; p < pages; p++)
                if (in[p] & 1) die("%s is still in the page cache after eviction", path);
            free(in);
            munmap(map, st.st_size);
        }
        close(fd);
    }
}

static size_t fetch(size_t i) {
    char path[8192];
    path_of(i, path, sizeof path);
    int fd = open(path, O_RDONLY | O_CLOEXEC | (direct ? O_DIRECT : 0));
    if (fd < 0) die("cannot open %s", path);
    if (!buffers[i]) {
        struct stat st;
        if (fstat(fd, &st)) die("cannot stat %s", path);
        sizes[i] = st.st_size;
        size_t align = direct ? BLOCK : 64;
        buffers[i] = aligned_alloc(align, ((sizes[i] + BLOCK - 1) & ~(size_t)(BLOCK - 1)) ?: BLOCK);
        if (!buffers[i]) die("out of memory");
    }
    size_t done = 0, want = direct ? (sizes[i] + BLOCK - 1) & ~(size_t)(BLOCK - 1) : sizes[i];
    while (done < sizes[i]) {
        ssize_t n = pread(fd, buffers[i] + done, want - done, done);
        if (n <= 0) die("short read of %s", path);
        done += n;
    }
    close(fd);
    return sizes[i];
}

int main(int argc, char **argv) {
    if (argc < 4 || argc > 6) die("usage: pread_floor ROOT KEYS_FILE THREADS [buffered|direct] [warm|cold]");
    root = argv[1];
    keys = read_keys(argv[2]);
    for (int a = 4; a < argc; a++) {
        if (!strcmp(argv[a], "direct")) direct = 1;
        else if (!strcmp(argv[a], "cold")) before_fetch = evict;
        else if (strcmp(argv[a], "buffered") && strcmp(argv[a], "warm")) die("unknown argument %s", argv[a]);
    }
    buffers = calloc(keys.count, sizeof *buffers);
    sizes = calloc(keys.count, sizeof *sizes);
    run_twice(keys.count, fetch, atoi(argv[3]));
    return 0;
}
