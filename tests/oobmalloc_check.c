/* oobmalloc correctness driver (built by tests/test_oobmalloc_c.py, with ASan/UBSan where available).
 *
 *   oobmalloc_check basic     glibc tst-malloc style: zero sizes, alignment, usable size, calloc
 *                             overflow and zeroing, realloc growth/shrink, memalign family
 *   oobmalloc_check threads   producers allocate and fill, consumers check and free (remote frees),
 *                             plus thread churn; the heap must end with nothing in use
 *   oobmalloc_check double-free | interior | foreign | large-double-free
 *                             must abort with oobmalloc's message
 * Prints "ok <mode>" and exits 0 when every check passes; a failed check prints it and exits 1.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "oobmalloc.h"

static int failures;
#define CHECK(cond, ...)                                          \
    do {                                                          \
        if (!(cond)) {                                            \
            fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);  \
            fprintf(stderr, __VA_ARGS__);                         \
            fputc('\n', stderr);                                  \
            failures++;                                           \
        }                                                         \
    } while (0)

static int all_bytes(const unsigned char *p, size_t n, unsigned char v) {
    for (size_t i = 0; i < n; i++)
        if (p[i] != v) return 0;
    return 1;
}

static void basic(void) {
    /* Zero sizes: a unique, freeable pointer. */
    void *z1 = oob_malloc(0), *z2 = oob_malloc(0);
    CHECK(z1 && z2 && z1 != z2, "malloc(0) returned %p and %p", z1, z2);
    oob_free(z1);
    oob_free(z2);
    oob_free(NULL);

    /* Every size up to 70000 B: 16 B aligned, usable size covers it, the whole usable size writable. */
    for (size_t n = 0; n <= 70000; n += (n < 1024 ? 1 : 97)) {
        unsigned char *p = oob_malloc(n);
        CHECK(p != NULL, "malloc(%zu) = NULL", n);
        CHECK(((uintptr_t)p & 15) == 0, "malloc(%zu) = %p not 16 B aligned", n, (void *)p);
        size_t u = oob_usable_size(p);
        CHECK(u >= n, "usable_size %zu < %zu", u, n);
        memset(p, 0xab, u);
        oob_free(p);
    }

    /* Overflow and impossible sizes fail with ENOMEM. */
    errno = 0;
    CHECK(oob_calloc(SIZE_MAX / 2, 3) == NULL && errno == ENOMEM, "calloc overflow not refused");
    errno = 0;
    CHECK(oob_calloc(SIZE_MAX, SIZE_MAX) == NULL && errno == ENOMEM, "calloc overflow not refused");
    errno = 0;
    CHECK(oob_malloc(SIZE_MAX - 4096) == NULL && errno == ENOMEM, "malloc(SIZE_MAX) not refused");

    /* calloc zeroes recycled memory, small and large. */
    size_t sizes[] = {24, 1000, 20000, 100000, 3 << 20};
    for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) {
        for (int round = 0; round < 3; round++) {
            unsigned char *p = oob_malloc(sizes[i]);
            memset(p, 0xff, sizes[i]);
            oob_free(p);
            unsigned char *q = oob_calloc(1, sizes[i]);
            CHECK(q && all_bytes(q, sizes[i], 0), "calloc(%zu) not zeroed", sizes[i]);
            oob_free(q);
        }
    }

    /* realloc: growth from 1 B to 4 MiB keeps the prefix; shrinking keeps it too. */
    unsigned char *r = oob_realloc(NULL, 1);
    r[0] = 1;
    size_t n = 1;
    while (n < (4u << 20)) {
        size_t m = n + n / 3 + 7;
        r = oob_realloc(r, m);
        CHECK(r != NULL, "realloc to %zu failed", m);
        for (size_t i = 0; i < n; i += (n > 4096 ? 61 : 1)) CHECK(r[i] == (unsigned char)(i * 7 + 1), "realloc lost byte %zu", i);
        for (size_t i = n; i < m; i++) r[i] = (unsigned char)(i * 7 + 1);
        n = m;
    }
    for (size_t m = n; m > 16; m /= 3) {
        r = oob_realloc(r, m);
        CHECK(r && oob_usable_size(r) >= m, "shrinking realloc to %zu", m);
        for (size_t i = 0; i < m; i += 97) CHECK(r[i] == (unsigned char)(i * 7 + 1), "shrink lost byte %zu", i);
    }
    errno = 0;
    CHECK(oob_realloc(r, 0) == NULL, "realloc(p, 0) should free and return NULL");

    /* The memalign family. */
    for (size_t a = sizeof(void *); a <= (1u << 21); a <<= 1) {
        size_t ns[] = {0, 1, a - 1, a, a + 1, 3 * a, 40000};
        for (size_t i = 0; i < sizeof ns / sizeof *ns; i++) {
            void *p = NULL;
            int rc = oob_posix_memalign(&p, a, ns[i]);
            CHECK(rc == 0 && p && ((uintptr_t)p & (a - 1)) == 0, "posix_memalign(%zu, %zu) = %d %p", a, ns[i], rc, p);
            if (p) {
                CHECK(oob_usable_size(p) >= ns[i], "memalign usable size");
                memset(p, 0x5a, ns[i]);
                oob_free(p);
            }
        }
    }
    /* Alignments above the 16 KiB page with many live objects (a lucky slab address must not pass). */
    for (size_t a = 32768; a <= (1u << 20); a <<= 1) {
        void *keep[40];
        for (int i = 0; i < 40; i++) {
            int rc = oob_posix_memalign(&keep[i], a, (size_t)(i % 5) * 1000 + 1);
            CHECK(rc == 0 && ((uintptr_t)keep[i] & (a - 1)) == 0, "posix_memalign(%zu) #%d = %p", a, i, keep[i]);
        }
        for (int i = 0; i < 40; i++) oob_free(keep[i]);
    }
    void *p = NULL;
    CHECK(oob_posix_memalign(&p, 24, 10) == EINVAL, "posix_memalign(24) must be EINVAL");
    CHECK(oob_posix_memalign(&p, 0, 10) == EINVAL, "posix_memalign(0) must be EINVAL");
    errno = 0;
    CHECK(oob_aligned_alloc(3, 10) == NULL && errno == EINVAL, "aligned_alloc(3) must fail with EINVAL");
    p = oob_aligned_alloc(4096, 4096);
    CHECK(p && ((uintptr_t)p & 4095) == 0, "aligned_alloc(4096)");
    oob_free(p);

    /* Many live objects do not overlap: each keeps its own fill. */
    enum { N = 20000 };
    static unsigned char *objs[N];
    for (int i = 0; i < N; i++) {
        size_t s = (size_t)(i * 37 % 3000) + 1;
        objs[i] = oob_malloc(s);
        memset(objs[i], i & 0xff, s);
    }
    for (int i = 0; i < N; i++) {
        size_t s = (size_t)(i * 37 % 3000) + 1;
        CHECK(all_bytes(objs[i], s, (unsigned char)(i & 0xff)), "object %d overwritten", i);
        oob_free(objs[i]);
    }
    oob_stats_t st;
    oob_get_stats(&st);
    CHECK(st.bytes_in_use == 0, "bytes_in_use %llu after freeing everything", (unsigned long long)st.bytes_in_use);
    CHECK(st.allocs == st.frees, "allocs %llu != frees %llu", (unsigned long long)st.allocs, (unsigned long long)st.frees);
}

/* ---- threads: producers allocate and fill, consumers verify and free ---- */

#define QCAP 4096
static struct { void *p; size_t n; } queue[QCAP];
static size_t q_head, q_tail;
static int producers_left;
static pthread_mutex_t q_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t q_cond = PTHREAD_COND_INITIALIZER;
static _Atomic long bad_objects;

static void *producer(void *arg) {
    unsigned seed = (unsigned)(uintptr_t)arg;
    for (int i = 0; i < 60000; i++) {
        size_t n = (size_t)(rand_r(&seed) % 1024) + 1;
        if (i % 500 == 0) n = 50000 + (size_t)(rand_r(&seed) % 100000);
        unsigned char *p = oob_malloc(n);
        memset(p, (int)(n & 0xff), n);
        pthread_mutex_lock(&q_lock);
        while (q_tail - q_head == QCAP) pthread_cond_wait(&q_cond, &q_lock);
        queue[q_tail % QCAP].p = p;
        queue[q_tail % QCAP].n = n;
        q_tail++;
        pthread_cond_broadcast(&q_cond);
        pthread_mutex_unlock(&q_lock);
    }
    pthread_mutex_lock(&q_lock);
    producers_left--;
    pthread_cond_broadcast(&q_cond);
    pthread_mutex_unlock(&q_lock);
    return NULL;
}

static void *consumer(void *arg) {
    (void)arg;
    for (;;) {
        pthread_mutex_lock(&q_lock);
        while (q_head == q_tail && producers_left) pthread_cond_wait(&q_cond, &q_lock);
        if (q_head == q_tail) { pthread_mutex_unlock(&q_lock); return NULL; }
        unsigned char *p = queue[q_head % QCAP].p;
        size_t n = queue[q_head % QCAP].n;
        q_head++;
        pthread_cond_broadcast(&q_cond);
        pthread_mutex_unlock(&q_lock);
        if (!all_bytes(p, n, (unsigned char)(n & 0xff))) bad_objects++;
        oob_free(p);
    }
}

static void *churn(void *arg) {
    /* A short-lived thread: allocate, free some, leave the rest for main to free. */
    void **keep = arg;
    for (int i = 0; i < 200; i++) {
        void *p = oob_malloc((size_t)i * 3 + 1);
        if (i % 2) oob_free(p); else keep[i / 2] = p;
    }
    return NULL;
}

static void threads(void) {
    enum { P = 3, C = 3 };
    pthread_t t[P + C];
    producers_left = P;
    for (int i = 0; i < P; i++) pthread_create(&t[i], NULL, producer, (void *)(uintptr_t)(i + 1));
    for (int i = 0; i < C; i++) pthread_create(&t[P + i], NULL, consumer, NULL);
    for (int i = 0; i < P + C; i++) pthread_join(t[i], NULL);
    CHECK(bad_objects == 0, "%ld objects arrived corrupted", (long)bad_objects);

    static void *kept[64][100];
    for (int round = 0; round < 64; round += 8) {
        pthread_t ct[8];
        for (int i = 0; i < 8; i++) pthread_create(&ct[i], NULL, churn, kept[round + i]);
        for (int i = 0; i < 8; i++) pthread_join(ct[i], NULL);
    }
    for (int r = 0; r < 64; r++)
        for (int i = 0; i < 100; i++) oob_free(kept[r][i]);
    oob_stats_t st;
    oob_get_stats(&st);
    CHECK(st.bytes_in_use == 0, "bytes_in_use %llu after all threads freed everything", (unsigned long long)st.bytes_in_use);
    CHECK(st.remote_frees > 0, "no remote frees counted");
    CHECK(st.heaps <= P + C + 8 + 1, "%llu heaps: dead threads' heaps are not reused", (unsigned long long)st.heaps);
    printf("remote_frees %llu heaps %llu peak_active %llu\n", (unsigned long long)st.remote_frees,
           (unsigned long long)st.heaps, (unsigned long long)st.peak_active);
}

int main(int argc, char **argv) {
    const char *mode = argc > 1 ? argv[1] : "basic";
    if (!strcmp(mode, "basic")) basic();
    else if (!strcmp(mode, "threads")) threads();
    else if (!strcmp(mode, "double-free")) { void *p = oob_malloc(40); oob_free(p); oob_free(p); }
    else if (!strcmp(mode, "large-double-free")) { void *p = oob_malloc(1 << 20); oob_free(p); oob_free(p); }
    else if (!strcmp(mode, "interior")) { char *p = oob_malloc(100); oob_free(p + 16); }
    else if (!strcmp(mode, "foreign")) { static char buf[64]; oob_free(buf); }
    else { fprintf(stderr, "unknown mode %s\n", mode); return 2; }
    if (failures) { fprintf(stderr, "%d checks failed\n", failures); return 1; }
    printf("ok %s\n", mode);
    return 0;
}
