/* LD_PRELOAD shim: the libc allocator names on top of the oobmalloc core (oobmalloc.c is compiled in).
 *
 *   LD_PRELOAD=$(python -c 'import lowprof.native.oobmalloc as m; print(m.preload_path())') CMD
 *
 * With OOBMALLOC_STATS=DIR set, every process that exits normally writes its allocator stats as one
 * JSON object to DIR/oobmalloc.<pid>.json (children of the workload included).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "oobmalloc.h"

#define EXPORT __attribute__((visibility("default")))

EXPORT void *malloc(size_t n) { return oob_malloc(n); }
EXPORT void free(void *p) { oob_free(p); }
EXPORT void cfree(void *p) { oob_free(p); }
EXPORT void *calloc(size_t n, size_t s) { return oob_calloc(n, s); }
EXPORT void *realloc(void *p, size_t n) { return oob_realloc(p, n); }
EXPORT int posix_memalign(void **out, size_t a, size_t n) { return oob_posix_memalign(out, a, n); }
EXPORT void *aligned_alloc(size_t a, size_t n) { return oob_aligned_alloc(a, n); }
EXPORT size_t malloc_usable_size(void *p) { return oob_usable_size(p); }

EXPORT void *reallocarray(void *p, size_t n, size_t s) { return oob_reallocarray(p, n, s); }
EXPORT void *memalign(size_t a, size_t n) { return oob_memalign(a, n); }
EXPORT void *valloc(size_t n) { return oob_valloc(n); }
EXPORT void *pvalloc(size_t n) { return oob_pvalloc(n); }

/* ---- stats at exit ---- */

static size_t put(char *b, size_t at, const char *s) {
    while (*s && at < 4150) b[at++] = *s++;
    return at;
}

static size_t put_u(char *b, size_t at, uint64_t v) {
    char t[21];
    int n = 0;
    do { t[n++] = (char)('0' + v % 10); v /= 10; } while (v);
    while (n && at < 4150) b[at++] = t[--n];
    return at;
}

static size_t field(char *b, size_t at, const char *name, uint64_t v, int last) {
    at = put(b, at, "\"");
    at = put(b, at, name);
    at = put(b, at, "\": ");
    at = put_u(b, at, v);
    return put(b, at, last ? "}\n" : ", ");
}

static void write_stats(void) {
    const char *path = getenv("OOBMALLOC_STATS");
    if (!path || !*path) return;
    oob_stats_t s;
    oob_get_stats(&s);
    char buf[4200];
    size_t at = put(buf, 0, "{");
    at = field(buf, at, "pid", (uint64_t)getpid(), 0);
    at = field(buf, at, "bytes_in_use", s.bytes_in_use, 0);
    at = field(buf, at, "bytes_active", s.bytes_active, 0);
    at = field(buf, at, "bytes_mapped", s.bytes_mapped, 0);
    at = field(buf, at, "bytes_meta", s.bytes_meta, 0);
    at = field(buf, at, "bytes_purged", s.bytes_purged, 0);
    at = field(buf, at, "peak_active_bytes", s.peak_active, 0);
    at = field(buf, at, "allocs", s.allocs, 0);
    at = field(buf, at, "frees", s.frees, 0);
    at = field(buf, at, "remote_frees", s.remote_frees, 0);
    at = field(buf, at, "large_allocs", s.large_allocs, 0);
    at = field(buf, at, "errors", s.errors, 0);
    at = field(buf, at, "heaps", s.heaps, 1);
    char file[4200];
    size_t n = strlen(path);
    if (n > 4000) return;
    memcpy(file, path, n);
    n = put(file, n, "/oobmalloc.");
    n = put_u(file, n, (uint64_t)getpid());
    n = put(file, n, ".json");
    file[n] = 0;
    int fd = open(file, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) return;
    ssize_t rc = write(fd, buf, at);
    (void)rc;
    close(fd);
}

__attribute__((constructor)) static void oob_preload_init(void) {
    oob_free(oob_malloc(1)); /* reserve the region and read the environment before main (free(malloc(1))
                              * would be folded away by the compiler) */
    if (getenv("OOBMALLOC_STATS")) atexit(write_stats);
}
