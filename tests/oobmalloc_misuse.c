/* oobmalloc_misuse.c: one allocator misuse per run, for tests/test_oobmalloc_misuse.py.
 *
 *   oobmalloc_misuse CASE    prints one line "CASE: OUTCOME" and exits 0, unless the allocator stops it
 *
 * Built plainly it runs on glibc, or on oobmalloc under LD_PRELOAD (the same binary: the comparison);
 * built with -DDIRECT it calls the oob_* core directly (linked with oobmalloc.c, under ASan + UBSan).
 * OUTCOME for size cases: "NULL errno=ENOMEM" / "NULL errno=EINVAL" / "ok" (a block that holds the
 * size asked); for bad frees: what the program saw after it (the allocator aborts before, normally).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysinfo.h>
#include <unistd.h>

#ifdef DIRECT
#include "oobmalloc.h"
#define MALLOC oob_malloc
#define FREE oob_free
#define CALLOC oob_calloc
#define REALLOC oob_realloc
#define REALLOCARRAY oob_reallocarray
#define MEMALIGN oob_memalign
#define PVALLOC oob_pvalloc
#define VALLOC oob_valloc
#define POSIX_MEMALIGN oob_posix_memalign
#define ALIGNED_ALLOC oob_aligned_alloc
#define USABLE oob_usable_size
#else
#define MALLOC malloc
#define FREE free
#define CALLOC calloc
#define REALLOC realloc
#define REALLOCARRAY reallocarray
#define MEMALIGN memalign
#define PVALLOC pvalloc
#define VALLOC valloc
#define POSIX_MEMALIGN posix_memalign
#define ALIGNED_ALLOC aligned_alloc
#define USABLE malloc_usable_size
#endif

static const char *errname(int e) { return e == ENOMEM ? "ENOMEM" : e == EINVAL ? "EINVAL" : e ? "other" : "0"; }

/* A returned block: NULL with errno, or "ok" when it holds `want` bytes (written end to end). */
static void outcome(const char *name, void *p, size_t want, int err) {
    if (!p) { printf("%s: NULL errno=%s\n", name, errname(err)); return; }
    size_t have = USABLE(p);
    if (have < want) { printf("%s: BLOCK TOO SMALL (%zu B for %zu B)\n", name, have, want); return; }
    if (want <= ((size_t)64 << 20)) memset(p, 0x5a, want);
    printf("%s: ok\n", name);
    FREE(p);
}

#define TRY(name, expr, want) do { errno = 0; void *p_ = (expr); int e_ = errno; outcome(name, p_, want, e_); } while (0)

static void *victim;
static void *free_it(void *p) { FREE(p); return NULL; }

/* Thread B frees p, then its owner frees p again (or the other order). If the program survives:
 * are live objects handed out again, or objects past their 16 KiB slab page (oobmalloc's layout)? */
static void cross_thread(int owner_second) {
    enum { N = 3000, M = 1000 };
    static char *live[N], *fresh[M];
    for (int i = 0; i < N; i++) live[i] = MALLOC(48);
    victim = live[100];
    pthread_t t;
    if (owner_second) {
        pthread_create(&t, NULL, free_it, victim);
        pthread_join(t, NULL);
        FREE(victim);
    } else {
        FREE(victim);
        pthread_create(&t, NULL, free_it, victim);
        pthread_join(t, NULL);
    }
    int again = 0, past = 0;
    for (int i = 0; i < M; i++) {
        fresh[i] = MALLOC(48);
        past += ((uintptr_t)fresh[i] & 16383) + 48 > 16384;
        for (int k = 0; k < N; k++) again += k != 100 && fresh[i] == live[k];
        for (int j = 0; j < i; j++) again += fresh[j] == fresh[i];
    }
    printf("cross-thread double free: survived, %d live objects handed out again, %d past their slab\n", again, past);
}

int main(int argc, char **argv) {
    if (argc != 2) { fprintf(stderr, "usage: oobmalloc_misuse CASE\n"); return 2; }
    const char *c = argv[1];
    struct sysinfo si;
    sysinfo(&si);
    /* more than RAM + swap (what the kernel's overcommit heuristic refuses), less than oobmalloc's reserve */
    size_t big = ((size_t)si.totalram + (size_t)si.totalswap) * si.mem_unit + ((size_t)1 << 30);
    if (!strcmp(c, "realloc-wrap")) {
        void *p = MALLOC(16);
        TRY(c, REALLOC(p, (size_t)0xAAAAAAAAAAAAAAABull), (size_t)0xAAAAAAAAAAAAAAABull);
        FREE(p);  /* a failed realloc leaves p valid */
    } else if (!strcmp(c, "realloc-wrap-large")) {
        void *p = MALLOC(1 << 20);
        memset(p, 1, 1 << 20);
        TRY(c, REALLOC(p, (size_t)0xAAAAAAAAAAAAAAABull), (size_t)0xAAAAAAAAAAAAAAABull);
        FREE(p);
    } else if (!strcmp(c, "realloc-size-max")) {
        void *p = MALLOC(100);
        TRY(c, REALLOC(p, SIZE_MAX), SIZE_MAX);
        FREE(p);
    } else if (!strcmp(c, "realloc-null-huge")) {
        TRY(c, REALLOC(NULL, SIZE_MAX - 10), SIZE_MAX - 10);
    } else if (!strcmp(c, "pvalloc-wrap")) {
        TRY(c, PVALLOC(SIZE_MAX - 10), SIZE_MAX - 10);
    } else if (!strcmp(c, "valloc-huge")) {
        TRY(c, VALLOC(SIZE_MAX - 10), SIZE_MAX - 10);
    } else if (!strcmp(c, "memalign-size-max")) {
        TRY(c, MEMALIGN(SIZE_MAX, 16), 16);
    } else if (!strcmp(c, "memalign-2^63+1")) {
        TRY(c, MEMALIGN(((size_t)1 << 63) + 1, 16), 16);
    } else if (!strcmp(c, "memalign-2^63")) {
        TRY(c, MEMALIGN((size_t)1 << 63, 16), 16);
    } else if (!strcmp(c, "memalign-odd")) {
        TRY(c, MEMALIGN(48, 100), 100);
    } else if (!strcmp(c, "posix_memalign-2^63")) {
        void *p = NULL;
        int rc = POSIX_MEMALIGN(&p, (size_t)1 << 63, 16);
        printf("%s: rc=%s\n", c, errname(rc));
        if (!rc) FREE(p);
    } else if (!strcmp(c, "aligned_alloc-2^62")) {
        TRY(c, ALIGNED_ALLOC((size_t)1 << 62, (size_t)1 << 62), (size_t)1 << 62);
    } else if (!strcmp(c, "malloc-beyond-ram")) {
        TRY(c, MALLOC(big), big);
    } else if (!strcmp(c, "calloc-beyond-ram")) {
        TRY(c, CALLOC(big / 16, 16), big);
    } else if (!strcmp(c, "malloc-ptrdiff-max")) {
        TRY(c, MALLOC((size_t)PTRDIFF_MAX + 1), (size_t)PTRDIFF_MAX + 1);
    } else if (!strcmp(c, "malloc-size-max")) {
        TRY(c, MALLOC(SIZE_MAX), SIZE_MAX);
    } else if (!strcmp(c, "calloc-wrap")) {
        TRY(c, CALLOC((size_t)1 << 33, (size_t)1 << 33), 0);
    } else if (!strcmp(c, "reallocarray-wrap")) {
        TRY(c, REALLOCARRAY(NULL, (size_t)1 << 40, (size_t)1 << 40), 0);
    } else if (!strcmp(c, "malloc-1-gib")) {
        TRY(c, MALLOC((size_t)1 << 30), (size_t)1 << 30);
    } else if (!strcmp(c, "malloc-0")) {
        TRY(c, MALLOC(0), 0);
    } else if (!strcmp(c, "double-free")) {
        void *p = MALLOC(48);
        FREE(p);
        FREE(p);
        printf("%s: survived\n", c);
    } else if (!strcmp(c, "double-free-cross-thread")) {
        cross_thread(1);
    } else if (!strcmp(c, "double-free-cross-thread-owner-first")) {
        cross_thread(0);
    } else if (!strcmp(c, "free-slab-tail")) {
        /* 48 B objects: a 16 KiB slab holds 341 (16368 B); the 16 B after the last were never issued */
        void *p = MALLOC(48);
        char *tail = (char *)((uintptr_t)p & ~(uintptr_t)16383) + 341 * 48;
        FREE(tail);
        int past = 0;
        for (int i = 0; i < 2000; i++) {
            char *q = MALLOC(48);
            past += ((uintptr_t)q & 16383) + 48 > 16384;
        }
        printf("%s: survived, %d objects run into the next page\n", c, past);
    } else if (!strcmp(c, "free-interior")) {
        char *p = MALLOC(200);
        FREE(p + 16);
        printf("%s: survived\n", c);
    } else if (!strcmp(c, "free-foreign")) {
        static char stack_like[64];
        FREE(stack_like + 16);
        printf("%s: survived\n", c);
    } else if (!strcmp(c, "use-after-free-read")) {
        unsigned char *p = MALLOC(200);
        memset(p, 0x11, 200);
        FREE(p);
        int old = 0;
        for (int i = 16; i < 200; i++) old += p[i] == 0x11;  /* bytes past glibc's tcache links */
        int poison = 0;
        for (int i = 0; i < 200; i++) poison += p[i] == 0xdf;
        printf("%s: %d of 184 old bytes readable, %d poisoned\n", c, old, poison);
    } else {
        fprintf(stderr, "unknown case %s\n", c);
        return 2;
    }
    return 0;
}
