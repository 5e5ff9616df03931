/* Allocator workloads in the spirit of mimalloc-bench, driven by bench/alloc_bench.py.
 *
 *   alloc_bench WORKLOAD THREADS SCALE
 *       ->  one JSON line {"workload", "ops", "seconds", "check", "peak_rss_bytes"}
 *
 * Uses plain malloc/free/realloc, so running it with LD_PRELOAD swaps the allocator under test.
 * ops counts allocator calls (malloc, free, realloc); seconds is CLOCK_MONOTONIC wall time.
 * check is a checksum of bytes read back, so the work cannot be optimised away. peak_rss_bytes is
 * VmHWM from /proc/self/status (per address space, so unlike ru_maxrss it excludes the parent's
 * pages counted between fork and exec).
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static inline uint64_t rng(uint64_t *s) { /* xorshift64* */
    *s ^= *s >> 12; *s ^= *s << 25; *s ^= *s >> 27;
    return *s * UINT64_C(2685821657736338717);
}

static long peak_rss_bytes(void) {
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kib = -1;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "VmHWM: %ld kB", &kib) == 1) break;
    if (f) fclose(f);
    return kib * 1024;
}

static int g_threads;
static long g_scale;
static _Atomic uint64_t g_ops, g_check;

/* ---- larson: threads replace random slots; slot arrays rotate between threads every round ---- */
#define LARSON_SLOTS 2000
static void **g_arrays[64];
static pthread_barrier_t g_bar;

static void *larson_thread(void *arg) {
    int me = (int)(intptr_t)arg;
    uint64_t s = 0x9e3779b97f4a7c15ULL * (uint64_t)(me + 1), ops = 0, check = 0;
    int rounds = 20;
    for (int r = 0; r < rounds; r++) {
        void **a = g_arrays[(me + r) % g_threads]; /* objects another thread allocated */
        for (long i = 0; i < g_scale * 10000; i++) {
            uint64_t x = rng(&s);
            size_t k = x % LARSON_SLOTS, n = 16 + (x >> 32) % 1008;
            if (a[k]) { check += *(unsigned char *)a[k]; free(a[k]); ops++; }
            a[k] = malloc(n);
            memset(a[k], (int)n, n < 64 ? n : 64);
            ops++;
        }
        pthread_barrier_wait(&g_bar);
    }
    g_ops += ops;
    g_check += check;
    return NULL;
}

static void larson(void) {
    pthread_t t[64];
    pthread_barrier_init(&g_bar, NULL, (unsigned)g_threads);
    for (int i = 0; i < g_threads; i++) g_arrays[i] = calloc(LARSON_SLOTS, sizeof(void *));
    for (int i = 0; i < g_threads; i++) pthread_create(&t[i], NULL, larson_thread, (void *)(intptr_t)i);
    for (int i = 0; i < g_threads; i++) pthread_join(t[i], NULL);
    for (int i = 0; i < g_threads; i++) {
        for (int k = 0; k < LARSON_SLOTS; k++) free(g_arrays[i][k]);
        free(g_arrays[i]);
    }
}

/* ---- small: build and drop a million small objects (16-64 B), three times, per thread ---- */
static void *small_thread(void *arg) {
    uint64_t s = 77 + (uint64_t)(intptr_t)arg, ops = 0, check = 0;
    long n = g_scale * 50000;
    void **v = malloc((size_t)n * sizeof(void *));
    for (int rep = 0; rep < 3; rep++) {
        for (long i = 0; i < n; i++) {
            size_t sz = 16 + (rng(&s) & 3) * 16;
            v[i] = malloc(sz);
            *(long *)v[i] = i;
        }
        for (long i = 0; i < n; i++) { check += (uint64_t)*(long *)v[i]; free(v[i]); }
        ops += 2 * (uint64_t)n;
    }
    free(v);
    g_ops += ops;
    g_check += check;
    return NULL;
}

/* ---- mixed: log-uniform sizes 16 B..64 KiB over a live set of 20000 slots ---- */
static void *mixed_thread(void *arg) {
    uint64_t s = 1234 + (uint64_t)(intptr_t)arg, ops = 0, check = 0;
    enum { SLOTS = 20000 };
    void **v = calloc(SLOTS, sizeof(void *));
    for (long i = 0; i < g_scale * 20000; i++) {
        uint64_t x = rng(&s);
        size_t k = x % SLOTS;
        int bits = 4 + (int)((x >> 20) % 13); /* 2^4 .. 2^16 */
        size_t n = ((size_t)1 << bits) + ((x >> 40) & (((size_t)1 << bits) - 1));
        if (v[k]) { check += *(unsigned char *)v[k]; free(v[k]); ops++; }
        v[k] = malloc(n);
        memset(v[k], 1, n < 256 ? n : 256);
        ops++;
    }
    for (int k = 0; k < SLOTS; k++) free(v[k]);
    free(v);
    g_ops += ops;
    g_check += check;
    return NULL;
}

/* ---- realloc: grow 200 buffers by random steps to 64 KiB, and one to 16 MiB, appending data ---- */
static void *realloc_thread(void *arg) {
    uint64_t s = 99 + (uint64_t)(intptr_t)arg, ops = 0, check = 0;
    for (long rep = 0; rep < g_scale / 2 + 1; rep++) {
        enum { B = 200 };
        char *buf[B] = {0};
        size_t len[B] = {0};
        for (int round = 0; round < 400; round++)
            for (int b = 0; b < B; b++) {
                size_t add = 1 + rng(&s) % 320;
                if (len[b] + add > 65536) continue;
                buf[b] = realloc(buf[b], len[b] + add);
                memset(buf[b] + len[b], b, add);
                len[b] += add;
                ops++;
            }
        for (int b = 0; b < B; b++) { check += (unsigned char)buf[b][len[b] - 1]; free(buf[b]); ops++; }
        char *big = NULL;
        size_t n = 0;
        while (n < ((size_t)16 << 20)) {
            size_t add = 4096 + rng(&s) % 65536;
            big = realloc(big, n + add);
            memset(big + n, 7, add);
            n += add;
            ops++;
        }
        check += (unsigned char)big[n / 2];
        free(big);
        ops++;
    }
    g_ops += ops;
    g_check += check;
    return NULL;
}

/* ---- xthread: producers malloc batches, consumers free them (every free is remote) ---- */
#define BATCH 4096
static void **g_full[2];
static pthread_mutex_t g_qlock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_qcond = PTHREAD_COND_INITIALIZER;
static long g_batches_left;

static void *producer(void *arg) {
    uint64_t s = 5 + (uint64_t)(intptr_t)arg;
    for (long b = 0; b < g_scale * 50; b++) {
        void **batch = malloc(BATCH * sizeof(void *));
        for (long i = 0; i < BATCH; i++) {
            batch[i] = malloc(16 + rng(&s) % 500);
            *(long *)batch[i] = i;
        }
        pthread_mutex_lock(&g_qlock);
        while (g_full[0] && g_full[1]) pthread_cond_wait(&g_qcond, &g_qlock);
        g_full[g_full[0] ? 1 : 0] = batch;
        pthread_cond_broadcast(&g_qcond);
        pthread_mutex_unlock(&g_qlock);
    }
    return NULL;
}

static void *consumer(void *arg) {
    (void)arg;
    uint64_t check = 0, ops = 0;
    for (;;) {
        pthread_mutex_lock(&g_qlock);
        while (!g_full[0] && !g_full[1] && g_batches_left) pthread_cond_wait(&g_qcond, &g_qlock);
        if (!g_batches_left) { pthread_mutex_unlock(&g_qlock); break; }
        int k = g_full[0] ? 0 : 1;
        void **batch = g_full[k];
        g_full[k] = NULL;
        g_batches_left--;
        pthread_cond_broadcast(&g_qcond);
        pthread_mutex_unlock(&g_qlock);
        for (long i = 0; i < BATCH; i++) { check += (uint64_t)*(long *)batch[i]; free(batch[i]); }
        free(batch);
        ops += 2 * BATCH + 2;
    }
    g_ops += ops;
    g_check += check;
    return NULL;
}

static void run_threads(void *(*fn)(void *)) {
    pthread_t t[64];
    for (int i = 0; i < g_threads; i++) pthread_create(&t[i], NULL, fn, (void *)(intptr_t)i);
    for (int i = 0; i < g_threads; i++) pthread_join(t[i], NULL);
}

int main(int argc, char **argv) {
    if (argc < 4) { fprintf(stderr, "usage: alloc_bench larson|small|mixed|realloc|xthread THREADS SCALE\n"); return 2; }
    const char *w = argv[1];
    g_threads = atoi(argv[2]);
    g_scale = atol(argv[3]);
    if (g_threads < 1 || g_threads > 64 || g_scale < 1) { fprintf(stderr, "bad THREADS or SCALE\n"); return 2; }
    double t0 = now_s();
    if (!strcmp(w, "larson")) larson();
    else if (!strcmp(w, "small")) run_threads(small_thread);
    else if (!strcmp(w, "mixed")) run_threads(mixed_thread);
    else if (!strcmp(w, "realloc")) run_threads(realloc_thread);
    else if (!strcmp(w, "xthread")) {
        g_batches_left = g_scale * 50;
        pthread_t p, c;
        pthread_create(&p, NULL, producer, NULL);
        pthread_create(&c, NULL, consumer, NULL);
        pthread_join(p, NULL);
        pthread_join(c, NULL);
    } else { fprintf(stderr, "unknown workload %s\n", w); return 2; }
    double dt = now_s() - t0;
    printf("{\"workload\": \"%s\", \"ops\": %llu, \"seconds\": %.6f, \"check\": %llu, \"peak_rss_bytes\": %ld}\n",
           w, (unsigned long long)g_ops, dt, (unsigned long long)g_check, peak_rss_bytes());
    return 0;
}
