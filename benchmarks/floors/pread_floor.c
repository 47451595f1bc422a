/* The floor of a local reader: `pread` of whole files from the page cache
 * into buffers it keeps, one thread per core.
 *
 *   pread_floor ROOT KEYS_FILE THREADS
 *
 * Buffers are 64-byte aligned and not advised for huge pages, as the
 * engine's are by default. */
#include "floor.h" /* first: it defines _GNU_SOURCE */

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>


static const char *root;
static struct keys keys;
static char **buffers;
static size_t *sizes;

static size_t fetch(size_t i) {
    char path[8192];
    snprintf(path, sizeof path, "%s/%s", root, keys.names[i]);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) die("cannot open %s", path);
    if (!buffers[i]) {
        struct stat st;
        if (fstat(fd, &st)) die("cannot stat %s", path);
        sizes[i] = st.st_size;
        buffers[i] = aligned_alloc(64, ((sizes[i] + 63) & ~(size_t)63) ?: 64);
        if (!buffers[i]) die("out of memory");
    }
    size_t done = 0;
    while (done < sizes[i]) {
        ssize_t n = pread(fd, buffers[i] + done, sizes[i] - done, done);
        if (n <= 0) die("short read of %s", path);
        done += n;
    }
    close(fd);
    return done;
}

int main(int argc, char **argv) {
    if (argc != 4) die("usage: pread_floor ROOT KEYS_FILE THREADS");
    root = argv[1];
    keys = read_keys(argv[2]);
    buffers = calloc(keys.count, sizeof *buffers);
    sizes = calloc(keys.count, sizeof *sizes);
    run_twice(keys.count, fetch, atoi(argv[3]));
    return 0;
}
