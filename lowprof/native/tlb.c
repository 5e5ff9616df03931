/* tlb.c: CPUID, TSC calibration, pre-faulted (huge-)page buffers and a dependent pointer chase.
 * See tlb.h for the contract. Built by lowprof/native/_tlb_build.py (CFFI, API mode).
 */
#define _GNU_SOURCE
#include "tlb.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include <linux/perf_event.h>
#include <sys/ioctl.h>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#include <x86intrin.h>
#define TLB_X86 1
#else
#define TLB_X86 0
#endif

#define HUGE_2M ((size_t)2 << 20)

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_RAW, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t tsc_now(void)
{
#if TLB_X86
    unsigned int aux;
    return __rdtscp(&aux);
#else
    return 0;
#endif
}

int tlb_cpuid(uint32_t leaf, uint32_t subleaf, uint32_t out[4])
{
#if TLB_X86
    unsigned int a, b, c, d;
    __cpuid_count(leaf, subleaf, a, b, c, d);
    out[0] = a; out[1] = b; out[2] = c; out[3] = d;
    return 0;
#else
    (void)leaf; (void)subleaf; memset(out, 0, 4 * sizeof(uint32_t));
    return ENOSYS;
#endif
}

/* One (ns, tsc) pair: the TSC read bracketed by two clock reads; ns is their midpoint. Of 8 tries the
 * tightest bracket is kept, so a preemption (a busy VM) inside one bracket does not move the pair. */
static void paired_read(uint64_t *ns, uint64_t *tsc)
{
    uint64_t best = UINT64_MAX;
    for (int i = 0; i < 8; i++) {
        uint64_t a = now_ns();
        uint64_t t = tsc_now();
        uint64_t b = now_ns();
        if (b - a < best) {
            best = b - a;
            *tsc = t;
            *ns = a + (b - a) / 2;
        }
    }
}

static int cmp_double(const void *x, const void *y)
{
    double a = *(const double *)x, b = *(const double *)y;
    return (a > b) - (a < b);
}

int tlb_tsc_hz(double seconds, int repeats, double *hz)
{
#if TLB_X86
    if (repeats < 1 || repeats > 64 || !(seconds > 0))
        return EINVAL;
    double rates[64];
    uint64_t span = (uint64_t)(seconds * 1e9);
    for (int r = 0; r < repeats; r++) {
        uint64_t ns0, tsc0, ns1, tsc1;
        paired_read(&ns0, &tsc0);
        do {
            paired_read(&ns1, &tsc1);
        } while (ns1 - ns0 < span);
        rates[r] = (double)(tsc1 - tsc0) * 1e9 / (double)(ns1 - ns0);
    }
    qsort(rates, (size_t)repeats, sizeof(double), cmp_double);
    *hz = repeats % 2 ? rates[repeats / 2] : 0.5 * (rates[repeats / 2 - 1] + rates[repeats / 2]);
    return 0;
#else
    (void)seconds; (void)repeats; *hz = 0;
    return ENOSYS;
#endif
}

int tlb_map(size_t bytes, int huge, void **addr, size_t *mapped, int *locked, int *mlock_errno)
{
    size_t len = (bytes + HUGE_2M - 1) & ~(HUGE_2M - 1);
    if (len == 0)
        return EINVAL;
    /* Over-map by 2 MiB and trim, so the buffer starts on a 2 MiB boundary (THP needs alignment). */
    uint8_t *raw = mmap(NULL, len + HUGE_2M, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (raw == MAP_FAILED)
        return errno;
    uint8_t *p = (uint8_t *)(((uintptr_t)raw + HUGE_2M - 1) & ~(uintptr_t)(HUGE_2M - 1));
    if (p > raw)
        munmap(raw, (size_t)(p - raw));
    size_t tail = (size_t)(raw + len + HUGE_2M - (p + len));
    if (tail)
        munmap(p + len, tail);
    /* Advice only: a kernel without THP refuses it (EINVAL), and the caller reads what it really got
     * from /proc/self/smaps (AnonHugePages) anyway. */
    (void)madvise(p, len, huge ? MADV_HUGEPAGE : MADV_NOHUGEPAGE);
    long page = sysconf(_SC_PAGESIZE);
    for (size_t off = 0; off < len; off += (size_t)page)
        p[off] = 1; /* pre-fault: the chase must not time page faults */
    *locked = mlock(p, len) == 0;
    *mlock_errno = *locked ? 0 : errno;
    *addr = p;
    *mapped = len;
    return 0;
}

int tlb_unmap(void *addr, size_t mapped)
{
    return munmap(addr, mapped) == 0 ? 0 : errno;
}

static uint64_t xorshift64(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x << 13; x ^= x >> 7; x ^= x << 17;
    return *s = x;
}

int tlb_build_chase(void *base, size_t n, size_t stride, size_t lines_per_slot, uint64_t seed,
                    void **start)
{
    if (n < 1 || lines_per_slot < 1 || stride < 64 || (lines_per_slot - 1) * 64 + 8 > stride)
        return EINVAL;
    size_t *order = malloc(n * sizeof(size_t));
    if (!order)
        return ENOMEM;
    for (size_t i = 0; i < n; i++)
        order[i] = i;
    uint64_t s = seed ? seed : 0x9E3779B97F4A7C15ull;
    for (size_t i = n - 1; i > 0; i--) { /* Sattolo: a uniformly random single cycle */
        size_t j = (size_t)(xorshift64(&s) % i);
        size_t t = order[i]; order[i] = order[j]; order[j] = t;
    }
    uint8_t *b = base;
#define LINE(i) ((void **)(b + (i) * stride + ((i) % lines_per_slot) * 64))
    /* order[] as a permutation is one cycle: line i points to line order[i]. */
    for (size_t i = 0; i < n; i++)
        *LINE(i) = (void *)LINE(order[i]);
#undef LINE
    free(order);
    *start = b;
    return 0;
}

static void *follow(void *p, uint64_t loads)
{
    void **q = p;
    uint64_t k = loads / 8;
    while (k--) {
        q = *q; q = *q; q = *q; q = *q;
        q = *q; q = *q; q = *q; q = *q;
    }
    for (k = loads % 8; k; k--)
        q = *q;
    return q;
}

int tlb_chase(void *start, uint64_t warmup, uint64_t accesses, uint64_t *ns, uint64_t *tsc, void **end)
{
    void *p = follow(start, warmup);
    uint64_t t0 = now_ns(), c0 = tsc_now();
    p = follow(p, accesses);
    uint64_t c1 = tsc_now(), t1 = now_ns();
    *ns = t1 - t0;
    *tsc = c1 - c0;
    *end = p; /* handing the last pointer out keeps the loads alive */
    return 0;
}

int tlb_chase_counted(void *start, uint64_t accesses, uint32_t type, uint64_t config, uint64_t *count)
{
    struct perf_event_attr attr;
    memset(&attr, 0, sizeof attr);
    attr.size = sizeof attr;
    attr.type = type;
    attr.config = config;
    attr.disabled = 1;
    attr.exclude_kernel = 1;
    attr.exclude_hv = 1;
    int fd = (int)syscall(SYS_perf_event_open, &attr, 0, -1, -1, 0);
    if (fd < 0)
        return errno;
    void *p = follow(start, accesses / 4); /* warm-up */
    ioctl(fd, PERF_EVENT_IOC_RESET, 0);
    ioctl(fd, PERF_EVENT_IOC_ENABLE, 0);
    p = follow(p, accesses);
    ioctl(fd, PERF_EVENT_IOC_DISABLE, 0);
    __asm__ volatile("" : : "r"(p) : "memory");
    uint64_t v = 0;
    int rc = read(fd, &v, sizeof v) == (ssize_t)sizeof v ? 0 : (errno ? errno : EIO);
    close(fd);
    *count = v;
    return rc;
}
