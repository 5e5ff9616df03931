/* oobmalloc core: out-of-band metadata heap (see oobmalloc.h for the layout and error policy).
 *
 * Layout. One reserved region (PROT_NONE, committed read/write in 4 MiB steps) holds only user data,
 * carved into 16 KiB pages. A separate mapping holds the page map (one descriptor pointer per page)
 * and another the descriptors, bitmaps and thread heaps. A page is free (in the span pool), part of a
 * slab (objects of one size class) or part of a large object (its own span).
 *
 * Threads. Each thread owns a heap: per size class a current slab plus partial and full lists. A
 * thread allocates and frees its own slabs without locks. Freeing an object of another heap sets
 * its bit in the slab's out-of-band remote bitmap (atomic OR) and, once per batch, pushes the slab
 * on the owner's lock-free pending stack; the owner folds remote bits in on its slow path. Span
 * pool, page commits and metadata allocation take one global lock. A dead thread's heap is reused
 * by the next new thread.
 *
 * Checks. free() looks the pointer up in the page map: outside the region or on a page no object
 * owns -> foreign pointer; not a multiple of the object size from the slab start (or not a large
 * object's start) -> interior pointer; bit already clear (or span already free) -> double free.
 */
#define _GNU_SOURCE
#include "oobmalloc.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define PAGE_SHIFT 14
#define PAGE_SIZE_ ((size_t)1 << PAGE_SHIFT)
#define SMALL_MAX ((size_t)32 << 10)
#define COMMIT_STEP ((size_t)4 << 20)
#define DIRTY_MAX ((size_t)64 << 20)
#define DIRTY_MIN ((size_t)DIRTY_MIN_KIB << 10)
#ifndef DIRTY_MIN_KIB
#define DIRTY_MIN_KIB 1024
#endif
#define DECAY_NS 50000000ull /* free pages unused this long go back to the kernel */
#define NCLS 72
#define BITMAP_WORDS 16 /* 1024 objects per slab at most */
#define POOL_EXACT 1024 /* free spans of 1..1023 pages kept by size; larger ones in one list */
#define DEFAULT_RESERVE ((size_t)256 << 30)
#define MREMAP_MIN ((size_t)256 << 10)
#define LARGE_MAX ((size_t)1 << 46)          /* no request beyond 64 TiB: NULL with ENOMEM */
#define COMMIT_PROBE_MIN ((size_t)256 << 20) /* requests this big ask the kernel first (see large_alloc) */
#define POISON_BYTE 0xdf
#define POISON_LARGE_MAX ((size_t)1 << 20) /* larger objects are not filled (it would make every page resident) */

#define likely(x) __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)

enum { K_FREE = 0, K_SLAB = 1, K_LARGE = 2 };
enum { L_NONE = 0, L_PARTIAL = 1, L_FULL = 2, L_POOL = 3 };

struct heap;

typedef struct desc {
    uint8_t kind, cls, list, zeroed;
    uint32_t npages;
    uintptr_t start;
    struct desc *next, *prev;
    /* slab */
    uint32_t size, nobj, used, hint;
    uint64_t divm; /* Lemire: offset / size == ((u128)divm * offset) >> 64 for 32-bit offsets */
    struct heap *owner;
    uint64_t *bits;          /* 1 = allocated (owner writes, others read) */
    _Atomic uint64_t *remote; /* 1 = freed by another thread, not yet folded in */
    _Atomic int has_remote;
    struct desc *_Atomic pending_next;
    /* large */
    uintptr_t user;
    size_t usable;
    /* free span with resident (dirty) pages: FIFO by the time it was freed */
    struct desc *dnext, *dprev;
    uint64_t freed_ns;
} desc;

typedef struct heap {
    desc *cur[NCLS];
    desc *partial[NCLS];
    desc *full[NCLS];
    desc *_Atomic pending; /* slabs with remote frees, pushed by other threads */
    int64_t in_use;
    uint64_t allocs, frees, remote_frees, large;
    struct heap *next_all, *next_free;
} heap;

static uint32_t g_cls_size[NCLS];
static uint32_t g_cls_slab[NCLS];       /* slab bytes per class */
static uint8_t g_cls_of[(SMALL_MAX >> 4) + 1]; /* (size + 15) >> 4 -> class */

static uintptr_t g_base;
static size_t g_reserve, g_committed, g_bump;
static desc **g_pagemap;
static char *g_meta;
static size_t g_meta_size, g_meta_used;
static desc *g_pool[POOL_EXACT + 1];
static size_t g_dirty;
static desc *g_dirty_old, *g_dirty_new; /* FIFO of dirty free spans, oldest first */
static desc *g_desc_free;
static uint64_t *g_bitmap_free;
static heap *g_heaps, *g_abandoned;
static heap g_orphan; /* heap for threads past their TLS destructor, used under g_orphan_lock */
static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t g_orphan_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t g_init_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_key_t g_key;
static _Atomic int g_ready;
static int g_policy; /* 0 abort, 1 report (counted, kept in oob_last_error), 2 report and print (OOBMALLOC_ON_ERROR=report) */
static int g_poison; /* OOBMALLOC_POISON: fill freed objects with POISON_BYTE */
static int g_policy_explicit;
static _Atomic uint64_t g_errors;
static uint64_t g_active, g_peak_active, g_purged, g_heap_count;
static char g_last_error[256];

static __thread heap *t_heap;
static __thread int t_dead;

/* ---- errors (no stdio: it may allocate) ---- */

static size_t put_str(char *buf, size_t at, size_t cap, const char *s) {
    while (*s && at + 1 < cap) buf[at++] = *s++;
    buf[at] = 0;
    return at;
}

static size_t put_hex(char *buf, size_t at, size_t cap, uintptr_t v) {
    char tmp[19];
    int n = 0;
    do { tmp[n++] = "0123456789abcdef"[v & 15]; v >>= 4; } while (v);
    at = put_str(buf, at, cap, "0x");
    while (n && at + 1 < cap) buf[at++] = tmp[--n];
    buf[at] = 0;
    return at;
}

static size_t put_dec(char *buf, size_t at, size_t cap, uint64_t v) {
    char tmp[21];
    int n = 0;
    do { tmp[n++] = (char)('0' + v % 10); v /= 10; } while (v);
    while (n && at + 1 < cap) buf[at++] = tmp[--n];
    buf[at] = 0;
    return at;
}

static void bad_pointer(const char *what, const char *op, void *p, const desc *d) {
    char msg[256];
    size_t at = put_str(msg, 0, sizeof msg, "oobmalloc: ");
    at = put_str(msg, at, sizeof msg, what);
    at = put_str(msg, at, sizeof msg, " in ");
    at = put_str(msg, at, sizeof msg, op);
    at = put_str(msg, at, sizeof msg, "(");
    at = put_hex(msg, at, sizeof msg, (uintptr_t)p);
    at = put_str(msg, at, sizeof msg, ")");
    if (d && d->kind == K_SLAB) {
        at = put_str(msg, at, sizeof msg, ": slab of ");
        at = put_dec(msg, at, sizeof msg, d->size);
        at = put_str(msg, at, sizeof msg, " B objects at ");
        at = put_hex(msg, at, sizeof msg, d->start);
    } else if (d && d->kind == K_LARGE) {
        at = put_str(msg, at, sizeof msg, ": large object at ");
        at = put_hex(msg, at, sizeof msg, d->user);
    }
    at = put_str(msg, at, sizeof msg, "\n");
    atomic_fetch_add(&g_errors, 1);
    memcpy(g_last_error, msg, at + 1);
    if (g_policy != 1) { /* abort, or report from the environment: say it on stderr */
        ssize_t rc = write(2, msg, at);
        (void)rc;
    }
    if (g_policy == 0) abort();
}

/* ---- size classes ---- */

static void init_classes(void) {
    int c = 0;
    for (uint32_t s = 16; s <= 128; s += 16) g_cls_size[c++] = s;
    for (uint32_t p = 128; p < SMALL_MAX; p *= 2)
        for (uint32_t k = 1; k <= 8; k++) g_cls_size[c++] = p + k * (p / 8);
    for (c = 0; c < NCLS; c++) {
        size_t s = g_cls_size[c];
        size_t slab = s <= 1024 ? PAGE_SIZE_ : ((s * 16 + PAGE_SIZE_ - 1) & ~(PAGE_SIZE_ - 1));
        g_cls_slab[c] = (uint32_t)slab;
    }
    c = 0;
    for (size_t i = 0; i <= (SMALL_MAX >> 4); i++) {
        while (g_cls_size[c] < (i << 4)) c++;
        g_cls_of[i] = (uint8_t)c;
    }
}

static inline int class_of(size_t size) { return g_cls_of[(size + 15) >> 4]; }

/* ---- global state (g_lock held) ---- */

static void *meta_alloc(size_t bytes) {
    bytes = (bytes + 63) & ~(size_t)63;
    if (g_meta_used + bytes > g_meta_size) return NULL;
    void *p = g_meta + g_meta_used;
    g_meta_used += bytes;
    return p;
}

static desc *desc_new(void) {
    desc *d = g_desc_free;
    if (d) {
        g_desc_free = d->next;
    } else {
        d = meta_alloc(sizeof(desc));
        if (!d) return NULL;
    }
    memset(d, 0, sizeof *d);
    return d;
}

static uint64_t *bitmap_new(void) {
    uint64_t *b = g_bitmap_free;
    if (b) {
        g_bitmap_free = *(uint64_t **)b;
    } else {
        b = meta_alloc(2 * BITMAP_WORDS * sizeof(uint64_t));
        if (!b) return NULL;
    }
    memset(b, 0, 2 * BITMAP_WORDS * sizeof(uint64_t));
    return b;
}

static void bitmap_release(uint64_t *b) {
    *(uint64_t **)b = g_bitmap_free;
    g_bitmap_free = b;
}

static inline size_t page_index(uintptr_t p) { return (p - g_base) >> PAGE_SHIFT; }

static void map_span(desc *d) {
    size_t first = page_index(d->start);
    for (size_t i = 0; i < d->npages; i++) g_pagemap[first + i] = d;
}

static void pool_push(desc *d) {
    size_t k = d->npages < POOL_EXACT ? d->npages : POOL_EXACT;
    d->kind = K_FREE;
    d->list = L_POOL;
    d->prev = NULL;
    d->next = g_pool[k];
    if (d->next) d->next->prev = d;
    g_pool[k] = d;
}

static uint64_t now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &t);
    return (uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec;
}

static void dirty_add(desc *d, uint64_t now) {
    d->freed_ns = now;
    d->dnext = NULL;
    d->dprev = g_dirty_new;
    if (g_dirty_new) g_dirty_new->dnext = d; else g_dirty_old = d;
    g_dirty_new = d;
    g_dirty += (size_t)d->npages << PAGE_SHIFT;
}

static void dirty_remove(desc *d) {
    if (d->dprev) d->dprev->dnext = d->dnext; else g_dirty_old = d->dnext;
    if (d->dnext) d->dnext->dprev = d->dprev; else g_dirty_new = d->dprev;
    d->dnext = d->dprev = NULL;
    g_dirty -= (size_t)d->npages << PAGE_SHIFT;
}

static void pool_unlink(desc *d) {
    size_t k = d->npages < POOL_EXACT ? d->npages : POOL_EXACT;
    if (d->prev) d->prev->next = d->next; else g_pool[k] = d->next;
    if (d->next) d->next->prev = d->prev;
    d->next = d->prev = NULL;
    d->list = L_NONE;
    if (!d->zeroed) dirty_remove(d);
}

static void purge_span(desc *d) {
    if (d->zeroed) return;
    size_t bytes = (size_t)d->npages << PAGE_SHIFT;
    madvise((void *)d->start, bytes, MADV_DONTNEED);
    dirty_remove(d);
    d->zeroed = 1;
    g_purged += bytes;
}

/* Return the oldest free pages to the kernel while above limit, and any unused for DECAY_NS. */
static void purge(size_t limit, uint64_t now) {
    while (g_dirty_old && (g_dirty > limit || now - g_dirty_old->freed_ns > DECAY_NS)) purge_span(g_dirty_old);
}

/* A span of npages pages (pagemap not yet pointing at it), or NULL when the region is full. */
static desc *span_get(size_t npages) {
    size_t bytes = npages << PAGE_SHIFT;
    desc *d = npages < POOL_EXACT ? g_pool[npages] : NULL;
    if (!d && npages >= POOL_EXACT)
        for (desc *e = g_pool[POOL_EXACT]; e; e = e->next)
            if (e->npages == npages) { d = e; break; }
    if (d) {
        pool_unlink(d);
    } else if (g_bump + bytes <= g_reserve) {
        if (g_bump + bytes > g_committed) {
            size_t want = ((g_bump + bytes - g_committed) + COMMIT_STEP - 1) & ~(COMMIT_STEP - 1);
            if (g_committed + want > g_reserve) want = g_reserve - g_committed;
            if (mprotect((void *)(g_base + g_committed), want, PROT_READ | PROT_WRITE)) return NULL;
            g_committed += want;
        }
        d = desc_new();
        if (!d) return NULL;
        d->start = g_base + g_bump;
        d->npages = (uint32_t)npages;
        d->zeroed = 1;
        g_bump += bytes;
    } else {
        /* Region exhausted: split the first bigger free span. */
        for (size_t k = npages + 1; k <= POOL_EXACT && !d; k++)
            for (desc *e = g_pool[k]; e; e = e->next)
                if (e->npages > npages) { d = e; break; }
        if (!d) return NULL;
        desc *rest = desc_new();
        if (!rest) return NULL;
        pool_unlink(d);
        rest->start = d->start + bytes;
        rest->npages = d->npages - (uint32_t)npages;
        rest->zeroed = d->zeroed;
        if (!rest->zeroed) dirty_add(rest, now_ns());
        pool_push(rest);
        map_span(rest);
        d->npages = (uint32_t)npages;
    }
    g_active += bytes;
    if (g_active > g_peak_active) g_peak_active = g_active;
    return d;
}

/* Free pages kept resident for reuse: 1/8 of the active pages, at least DIRTY_MIN, at most DIRTY_MAX. */
static size_t dirty_limit(void) {
    size_t l = g_active / 8;
    return l < DIRTY_MIN ? DIRTY_MIN : l > DIRTY_MAX ? DIRTY_MAX : l;
}

static void span_put(desc *d, int dirty) {
    size_t bytes = (size_t)d->npages << PAGE_SHIFT;
    g_active -= bytes;
    if (d->bits) { bitmap_release(d->bits); d->bits = NULL; d->remote = NULL; }
    d->owner = NULL;
    d->zeroed = !dirty;
    pool_push(d);
    map_span(d);
    uint64_t now = now_ns();
    if (dirty) {
        dirty_add(d, now);
        if (bytes >= dirty_limit()) purge_span(d);
    }
    purge(dirty_limit(), now);
}

/* ---- init and thread heaps ---- */

static void heap_abandon(void *h) {
    pthread_mutex_lock(&g_lock);
    ((heap *)h)->next_free = g_abandoned;
    g_abandoned = h;
    pthread_mutex_unlock(&g_lock);
    t_heap = NULL;
    t_dead = 1;
}

static void fork_prepare(void) { pthread_mutex_lock(&g_orphan_lock); pthread_mutex_lock(&g_lock); }
static void fork_parent(void) { pthread_mutex_unlock(&g_lock); pthread_mutex_unlock(&g_orphan_lock); }
static void fork_child(void) {
    pthread_mutex_init(&g_lock, NULL);
    pthread_mutex_init(&g_orphan_lock, NULL);
}

static size_t env_reserve(void) {
    const char *s = getenv("OOBMALLOC_RESERVE_GB");
    if (!s || !*s) return DEFAULT_RESERVE;
    size_t gb = 0;
    for (; *s >= '0' && *s <= '9'; s++) gb = gb * 10 + (size_t)(*s - '0');
    return gb ? gb << 30 : DEFAULT_RESERVE;
}

static int init_slow(void) {
    pthread_mutex_lock(&g_init_lock);
    if (atomic_load(&g_ready)) { pthread_mutex_unlock(&g_init_lock); return 1; }
    const char *pol = getenv("OOBMALLOC_ON_ERROR");
    if (!g_policy_explicit) g_policy = pol && pol[0] == 'r' ? 2 : 0;
    const char *poison = getenv("OOBMALLOC_POISON");
    g_poison = poison && *poison && strcmp(poison, "0") != 0;
    init_classes();
    g_reserve = env_reserve();
    /* Align the region to 16 KiB pages by over-reserving one page. */
    void *r = mmap(NULL, g_reserve + PAGE_SIZE_, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    size_t npages = g_reserve >> PAGE_SHIFT;
    g_meta_size = npages * (sizeof(desc) + 2 * BITMAP_WORDS * 8) / 4 + ((size_t)64 << 20);
    void *pm = mmap(NULL, npages * sizeof(desc *), PROT_READ | PROT_WRITE,
                    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    void *meta = mmap(NULL, g_meta_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (r == MAP_FAILED || pm == MAP_FAILED || meta == MAP_FAILED) {
        static const char m[] = "oobmalloc: cannot reserve the heap region (mmap failed; try OOBMALLOC_RESERVE_GB=16)\n";
        ssize_t rc = write(2, m, sizeof m - 1);
        (void)rc;
        abort();
    }
    g_base = ((uintptr_t)r + PAGE_SIZE_ - 1) & ~(PAGE_SIZE_ - 1);
    g_pagemap = pm;
    g_meta = meta;
    pthread_key_create(&g_key, heap_abandon);
    atomic_store(&g_ready, 1);
    pthread_mutex_unlock(&g_init_lock);
    pthread_atfork(fork_prepare, fork_parent, fork_child);
    return 1;
}

static heap *heap_slow(void) {
    if (!atomic_load_explicit(&g_ready, memory_order_acquire)) init_slow();
    if (t_dead) return NULL;
    pthread_mutex_lock(&g_lock);
    heap *h = g_abandoned;
    if (h) {
        g_abandoned = h->next_free;
    } else {
        h = meta_alloc(sizeof(heap));
        if (h) {
            memset(h, 0, sizeof *h);
            h->next_all = g_heaps;
            g_heaps = h;
            g_heap_count++;
        }
    }
    pthread_mutex_unlock(&g_lock);
    if (!h) return NULL;
    t_heap = h;
    pthread_setspecific(g_key, h);
    return h;
}

static inline heap *my_heap(void) {
    heap *h = t_heap;
    return likely(h != NULL) ? h : heap_slow();
}

/* ---- slabs (owner thread only, except where noted) ---- */

static inline void list_push(desc **head, desc *d, int which) {
    d->list = (uint8_t)which;
    d->prev = NULL;
    d->next = *head;
    if (d->next) d->next->prev = d;
    *head = d;
}

static inline void list_unlink(heap *h, desc *d) {
    desc **head = d->list == L_PARTIAL ? &h->partial[d->cls] : &h->full[d->cls];
    if (d->prev) d->prev->next = d->next; else *head = d->next;
    if (d->next) d->next->prev = d->prev;
    d->next = d->prev = NULL;
    d->list = L_NONE;
}

static desc *slab_new(heap *h, int c) {
    uint32_t size = g_cls_size[c], slab = g_cls_slab[c];
    pthread_mutex_lock(&g_lock);
    desc *d = span_get(slab >> PAGE_SHIFT);
    uint64_t *bits = d ? bitmap_new() : NULL;
    if (d && !bits) { span_put(d, 0); d = NULL; }
    if (d) {
        d->kind = K_SLAB;
        d->cls = (uint8_t)c;
        d->size = size;
        d->nobj = slab / size;
        d->used = 0;
        d->hint = 0;
        d->divm = UINT64_C(0xFFFFFFFFFFFFFFFF) / size + 1;
        d->owner = h;
        d->bits = bits;
        d->remote = (_Atomic uint64_t *)(bits + BITMAP_WORDS);
        /* has_remote is left alone: only whoever pops the desc off a pending stack clears it. */
        /* Bits past the last object read as allocated, so the scan never hands them out. */
        uint32_t w = d->nobj >> 6, b = d->nobj & 63;
        if (b) bits[w++] = ~UINT64_C(0) << b;
        for (; w < BITMAP_WORDS; w++) bits[w] = ~UINT64_C(0);
        map_span(d);
    }
    pthread_mutex_unlock(&g_lock);
    return d;
}

static void slab_release(desc *d) {
    pthread_mutex_lock(&g_lock);
    span_put(d, 1);
    pthread_mutex_unlock(&g_lock);
}

/* Fold the remote-free bits of d (owned by h) into its allocation bitmap. Only for a desc just popped
 * off h's pending stack: clearing has_remote re-arms the push, so d must not be on a stack now. */
static void slab_collect(heap *h, desc *d) {
    atomic_store(&d->has_remote, 0);
    uint32_t nw = (d->nobj + 63) >> 6, freed = 0;
    for (uint32_t w = 0; w < nw; w++) {
        if (!atomic_load_explicit(&d->remote[w], memory_order_relaxed)) continue;
        uint64_t x = atomic_exchange(&d->remote[w], 0);
        uint64_t twice = x & ~d->bits[w]; /* freed here by its owner as well (a race both frees won) */
        if (unlikely(twice)) {
            x &= d->bits[w];
            uint32_t q = (w << 6) + (uint32_t)__builtin_ctzll(twice), n = (uint32_t)__builtin_popcountll(twice);
            h->in_use += (int64_t)n * d->size; /* undo what the remote frees counted */
            h->frees -= n;
            bad_pointer("double free (freed by its owner and by another thread)", "free",
                        (void *)(d->start + (uintptr_t)q * d->size), d);
        }
        __atomic_store_n(&d->bits[w], d->bits[w] & ~x, __ATOMIC_RELAXED);
        freed += (uint32_t)__builtin_popcountll(x);
        if (w < d->hint) d->hint = w;
    }
    d->used -= freed;
}

/* Put d on owner's pending stack (the caller just moved d->has_remote from 0 to 1). */
static void push_pending(heap *owner, desc *d) {
    desc *top = atomic_load(&owner->pending);
    do atomic_store_explicit(&d->pending_next, top, memory_order_relaxed);
    while (!atomic_compare_exchange_weak(&owner->pending, &top, d));
}

/* Collect every slab other threads flagged for h; release the ones left empty. */
static void collect_pending(heap *h) {
    desc *d = atomic_exchange(&h->pending, NULL);
    while (d) {
        desc *next = atomic_load_explicit(&d->pending_next, memory_order_relaxed);
        if (d->kind == K_SLAB && d->owner == h) {
            int was_full = d->list == L_FULL;
            slab_collect(h, d);
            if (d->used == 0 && d != h->cur[d->cls] && !atomic_load(&d->has_remote)) {
                if (d->list != L_NONE) list_unlink(h, d);
                slab_release(d);
            } else if (was_full && d->used < d->nobj) {
                list_unlink(h, d);
                list_push(&h->partial[d->cls], d, L_PARTIAL);
            }
        } else {
            /* Stale: the slab was released (or handed to another heap) after the push. */
            atomic_store(&d->has_remote, 0);
            if (d->kind == K_SLAB && d->owner) {
                uint32_t nw = (d->nobj + 63) >> 6, any = 0;
                for (uint32_t w = 0; w < nw; w++) any |= atomic_load(&d->remote[w]) != 0;
                if (any && atomic_exchange(&d->has_remote, 1) == 0) push_pending(d->owner, d);
            }
        }
        d = next;
    }
}

static inline void *slab_take(desc *d) {
    for (uint32_t w = d->hint;; w++) {
        uint64_t m = ~d->bits[w];
        if (m) {
            uint32_t b = (uint32_t)__builtin_ctzll(m);
            __atomic_store_n(&d->bits[w], d->bits[w] | (UINT64_C(1) << b), __ATOMIC_RELAXED);
            d->hint = w;
            d->used++;
            return (void *)(d->start + (uintptr_t)((w << 6) + b) * d->size);
        }
    }
}

static void *small_slow(heap *h, int c) {
    desc *d = h->cur[c];
    if (atomic_load_explicit(&h->pending, memory_order_relaxed)) {
        collect_pending(h);
        if (d && d->used < d->nobj) return slab_take(d);
    }
    if (d) list_push(&h->full[c], d, L_FULL);
    d = h->partial[c];
    if (d) list_unlink(h, d);
    else d = slab_new(h, c);
    h->cur[c] = d;
    if (!d) { errno = ENOMEM; return NULL; }
    if (d->used >= d->nobj) { /* cannot happen: partial slabs have room */
        list_push(&h->full[c], d, L_FULL);
        h->cur[c] = NULL;
        return small_slow(h, c);
    }
    return slab_take(d);
}

static inline void *small_alloc(heap *h, int c) {
    /* Fold other threads' frees in as soon as they are announced, so that their slots are reused
     * before the current slab's untouched tail (keeps resident memory close to the live data). */
    if (unlikely(atomic_load_explicit(&h->pending, memory_order_relaxed) != NULL)) collect_pending(h);
    desc *d = h->cur[c];
    void *p = likely(d && d->used < d->nobj) ? slab_take(d) : small_slow(h, c);
    if (likely(p != NULL)) { h->in_use += g_cls_size[c]; h->allocs++; }
    return p;
}

/* ---- large objects ---- */

static void *large_alloc(heap *h, size_t size, size_t align, int *zeroed) {
    size_t extra = align > PAGE_SIZE_ ? align : 0;
    if (size > LARGE_MAX || extra > LARGE_MAX || size + extra > LARGE_MAX) { errno = ENOMEM; return NULL; }
    if (size + extra >= COMMIT_PROBE_MIN) {
        /* The region is reserved MAP_NORESERVE, so the kernel's overcommit policy never sees a request:
         * ask it as glibc's mmap would (a private writable mapping of that size), then let it go. */
        void *probe = mmap(NULL, size + extra, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (probe == MAP_FAILED) { errno = ENOMEM; return NULL; }
        munmap(probe, size + extra);
    }
    size_t npages = (size + extra + PAGE_SIZE_ - 1) >> PAGE_SHIFT;
    if (npages == 0) npages = 1;
    pthread_mutex_lock(&g_lock);
    desc *d = span_get(npages);
    if (d) {
        d->kind = K_LARGE;
        d->user = extra ? (d->start + align - 1) & ~(uintptr_t)(align - 1) : d->start;
        d->usable = d->start + ((size_t)npages << PAGE_SHIFT) - d->user;
        map_span(d);
    }
    pthread_mutex_unlock(&g_lock);
    if (!d) { errno = ENOMEM; return NULL; }
    if (zeroed) *zeroed = d->zeroed;
    d->zeroed = 0;
    h->in_use += (int64_t)d->usable;
    h->allocs++;
    h->large++;
    return (void *)d->user;
}

/* ---- lookup ---- */

/* The descriptor of the live object starting at p, or NULL after reporting what is wrong. */
static inline __attribute__((always_inline)) desc *lookup(void *p, const char *op, uint32_t *index) {
    uintptr_t a = (uintptr_t)p;
    if (unlikely(!atomic_load_explicit(&g_ready, memory_order_relaxed) || a - g_base >= g_reserve)) {
        if (!atomic_load(&g_ready)) init_slow(); /* nothing allocated yet: still, the policy of the environment */
        bad_pointer("foreign pointer (not from this heap)", op, p, NULL);
        return NULL;
    }
    desc *d = g_pagemap[page_index(a)];
    if (likely(d && d->kind == K_SLAB)) {
        uint32_t off = (uint32_t)(a - d->start);
        uint32_t q = (uint32_t)(((__uint128_t)d->divm * off) >> 64);
        if (unlikely(q * d->size != off)) { bad_pointer("interior pointer", op, p, d); return NULL; }
        if (unlikely(q >= d->nobj)) { bad_pointer("foreign pointer (past the slab's last object)", op, p, d); return NULL; }
        uint64_t bits = __atomic_load_n(&d->bits[q >> 6], __ATOMIC_RELAXED);
        if (unlikely(!(bits >> (q & 63) & 1))) { bad_pointer("double free (object not allocated)", op, p, d); return NULL; }
        /* Freed by another thread and not yet folded in? Only a slab with remote frees announced can say
         * (has_remote shares the cache line just read); a free racing the announcement is caught when
         * the owner folds the bits in (slab_collect). */
        if (unlikely(atomic_load_explicit(&d->has_remote, memory_order_relaxed)) &&
            (atomic_load_explicit(&d->remote[q >> 6], memory_order_relaxed) >> (q & 63) & 1)) {
            bad_pointer("double free (already freed by another thread)", op, p, d);
            return NULL;
        }
        *index = q;
        return d;
    }
    if (d && d->kind == K_LARGE) {
        if (unlikely(a != d->user)) { bad_pointer("interior pointer", op, p, d); return NULL; }
        return d;
    }
    if (d) bad_pointer("double free (pages already free)", op, p, NULL);
    else bad_pointer("foreign pointer (never allocated)", op, p, NULL);
    return NULL;
}

static void free_desc(heap *h, desc *d, uint32_t q, void *p) {
    if (unlikely(g_poison) && (d->kind == K_SLAB || d->usable <= POISON_LARGE_MAX))
        memset(p, POISON_BYTE, d->kind == K_SLAB ? d->size : d->usable);
    if (d->kind == K_LARGE) {
        if (h) { h->in_use -= (int64_t)d->usable; h->frees++; }
        pthread_mutex_lock(&g_lock);
        if (d->kind != K_LARGE) { pthread_mutex_unlock(&g_lock); bad_pointer("double free", "free", p, NULL); return; }
        span_put(d, 1);
        pthread_mutex_unlock(&g_lock);
        return;
    }
    uint32_t w = q >> 6;
    uint64_t bit = UINT64_C(1) << (q & 63);
    if (likely(h && d->owner == h)) {
        d->bits[w] &= ~bit;
        d->used--;
        if (w < d->hint) d->hint = w;
        h->in_use -= d->size;
        h->frees++;
        if (unlikely(d->list == L_FULL)) {
            list_unlink(h, d);
            list_push(&h->partial[d->cls], d, L_PARTIAL);
        }
        if (unlikely(d->used == 0) && !atomic_load_explicit(&d->has_remote, memory_order_relaxed)) {
            /* An empty slab goes back to the pool; the current one too when bigger than a page
             * (objects > 4 KiB), so that growing buffers do not leave a resident slab per class. */
            if (d != h->cur[d->cls]) {
                list_unlink(h, d);
                slab_release(d);
            } else if (d->npages > 1) {
                h->cur[d->cls] = NULL;
                slab_release(d);
            }
        }
        return;
    }
    /* Another heap's slab (or no heap of our own): hand it to the owner through the remote bitmap. */
    /* Read the owner first: once our bit is set the owner may fold it in and release the slab. */
    heap *owner = d->owner;
    uint64_t old = atomic_fetch_or(&d->remote[w], bit);
    if (unlikely(old & bit)) { bad_pointer("double free (already freed by another thread)", "free", p, d); return; }
    if (h) { h->in_use -= d->size; h->frees++; h->remote_frees++; }
    else {
        pthread_mutex_lock(&g_orphan_lock);
        g_orphan.in_use -= d->size; g_orphan.frees++; g_orphan.remote_frees++;
        pthread_mutex_unlock(&g_orphan_lock);
    }
    if (atomic_exchange(&d->has_remote, 1) == 0) push_pending(owner, d);
}

/* ---- public API ---- */

static void *alloc_in(heap *h, size_t size) {
    if (likely(size <= SMALL_MAX)) return small_alloc(h, class_of(size ? size : 1));
    return large_alloc(h, size, 0, NULL);
}

static void *orphan_alloc(size_t size, size_t align, int *zeroed);

void *oob_malloc(size_t size) {
    heap *h = my_heap();
    if (unlikely(!h)) return orphan_alloc(size, 0, NULL);
    return alloc_in(h, size);
}

void oob_free(void *p) {
    if (!p) return;
    uint32_t q = 0;
    desc *d = lookup(p, "free", &q);
    if (!d) return;
    heap *h = t_heap;
    if (!h && !t_dead) h = my_heap();
    free_desc(h, d, q, p);
}

/* Class with objects aligned to align (size a multiple of it, slab start page-aligned), or -1. */
static int aligned_class(size_t size, size_t align) {
    if (size > SMALL_MAX || align > PAGE_SIZE_) return -1;
    size = (size + align - 1) & ~(align - 1);
    if (size > SMALL_MAX) return -1;
    for (int c = class_of(size ? size : 1); c < NCLS; c++)
        if (g_cls_size[c] % align == 0) return c;
    return -1;
}

static void *aligned_in(heap *h, size_t align, size_t size) {
    if (align <= 16) return alloc_in(h, size);
    int c = aligned_class(size, align);
    if (c >= 0) return small_alloc(h, c);
    return large_alloc(h, size, align, NULL);
}

static void *orphan_alloc(size_t size, size_t align, int *zeroed) {
    if (!atomic_load(&g_ready)) init_slow();
    pthread_mutex_lock(&g_orphan_lock);
    void *p;
    if (align) p = aligned_in(&g_orphan, align, size);
    else if (size <= SMALL_MAX) p = small_alloc(&g_orphan, class_of(size ? size : 1));
    else p = large_alloc(&g_orphan, size, 0, zeroed);
    pthread_mutex_unlock(&g_orphan_lock);
    return p;
}

void *oob_calloc(size_t n, size_t size) {
    size_t total;
    if (__builtin_mul_overflow(n, size, &total)) { errno = ENOMEM; return NULL; }
    heap *h = my_heap();
    int zeroed = 0;
    void *p;
    if (total > SMALL_MAX) p = h ? large_alloc(h, total, 0, &zeroed) : orphan_alloc(total, 0, &zeroed);
    else p = h ? small_alloc(h, class_of(total ? total : 1)) : orphan_alloc(total, 0, NULL);
    if (p && !zeroed) memset(p, 0, total);
    return p;
}

size_t oob_usable_size(void *p) {
    if (!p) return 0;
    uint32_t q;
    desc *d = lookup(p, "malloc_usable_size", &q);
    if (!d) return 0;
    return d->kind == K_SLAB ? d->size : d->usable;
}

int oob_owns(void *p) {
    uintptr_t a = (uintptr_t)p;
    if (!p || !atomic_load(&g_ready) || a - g_base >= g_reserve) return 0;
    desc *d = g_pagemap[page_index(a)];
    if (!d) return 0;
    if (d->kind == K_LARGE) return a == d->user;
    if (d->kind != K_SLAB) return 0;
    uint32_t off = (uint32_t)(a - d->start), q = off / d->size;
    return q * d->size == off && q < d->nobj && (__atomic_load_n(&d->bits[q >> 6], __ATOMIC_RELAXED) >> (q & 63) & 1) &&
           !(atomic_load(&d->remote[q >> 6]) >> (q & 63) & 1);
}

int oob_object_of(void *p, void **start, size_t *usable) {
    uintptr_t a = (uintptr_t)p;
    if (!p || !atomic_load(&g_ready) || a - g_base >= g_reserve) return 0;
    desc *d = g_pagemap[page_index(a)];
    if (!d) return 0;
    if (d->kind == K_LARGE) {
        if (a < d->user || a - d->user >= d->usable) return 0;
        *start = (void *)d->user;
        *usable = d->usable;
        return 1;
    }
    if (d->kind != K_SLAB) return 0;
    uint32_t q = (uint32_t)(a - d->start) / d->size;
    void *obj = (void *)(d->start + (uintptr_t)q * d->size);
    if (!oob_owns(obj)) return 0;
    *start = obj;
    *usable = d->size;
    return 1;
}

/* A growing large object gets 50 % headroom (fewer moves), unless that passes LARGE_MAX. */
static size_t grown(size_t size) {
    size_t want;
    if (__builtin_add_overflow(size, size / 2, &want) || want > LARGE_MAX) return size;
    return want;
}

/* Move a large object's pages into a bigger span without copying (mremap), or NULL to fall back. */
static void *large_grow(heap *h, desc *d, size_t size) {
    size_t old_bytes = (size_t)d->npages << PAGE_SHIFT;
    size_t want = grown(size);
    size_t npages = (want + PAGE_SIZE_ - 1) >> PAGE_SHIFT;
    pthread_mutex_lock(&g_lock);
    desc *n = span_get(npages);
    if (!n) { pthread_mutex_unlock(&g_lock); return NULL; }
    void *moved = mremap((void *)d->start, old_bytes, old_bytes, MREMAP_MAYMOVE | MREMAP_FIXED, (void *)n->start);
    if (moved == MAP_FAILED) {
        n->zeroed = 1; /* untouched by us; put it back as it came */
        span_put(n, 0);
        pthread_mutex_unlock(&g_lock);
        return NULL;
    }
    /* The old range is now a hole in the region: map fresh zero pages back. */
    void *back = mmap((void *)d->start, old_bytes, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_NORESERVE, -1, 0);
    n->kind = K_LARGE;
    n->user = n->start;
    n->usable = (size_t)npages << PAGE_SHIFT;
    map_span(n);
    h->in_use += (int64_t)n->usable - (int64_t)d->usable;
    if (back != MAP_FAILED) {
        span_put(d, 0);
    } else { /* leave the hole out of the pool for good; its page map entries read as foreign */
        g_active -= old_bytes;
        size_t first = page_index(d->start);
        for (size_t i = 0; i < d->npages; i++) g_pagemap[first + i] = NULL;
    }
    pthread_mutex_unlock(&g_lock);
    return (void *)n->user;
}

void *oob_realloc(void *p, size_t size) {
    if (!p) return oob_malloc(size);
    if (size == 0) { oob_free(p); return NULL; }
    if (size > LARGE_MAX) { errno = ENOMEM; return NULL; } /* p stays valid, as glibc leaves it */
    uint32_t q;
    desc *d = lookup(p, "realloc", &q);
    if (!d) return NULL;
    size_t old = d->kind == K_SLAB ? d->size : d->usable;
    if (d->kind == K_SLAB && size <= SMALL_MAX && size <= old && size > old / 2) return p;
    if (d->kind == K_LARGE) {
        if (size <= old && size > old / 2) return p;
        heap *h = t_heap;
        if (size > old && d->user == d->start && old >= MREMAP_MIN && h) {
            void *n = large_grow(h, d, size);
            if (n) return n;
        }
    }
    void *n = oob_malloc(size > old && d->kind == K_LARGE ? grown(size) : size);
    if (!n) return NULL;
    memcpy(n, p, old < size ? old : size);
    oob_free(p);
    return n;
}

int oob_posix_memalign(void **out, size_t align, size_t size) {
    if (align < sizeof(void *) || (align & (align - 1))) return EINVAL;
    heap *h = my_heap();
    void *p = h ? aligned_in(h, align, size) : orphan_alloc(size, align, NULL);
    if (!p) return ENOMEM;
    *out = p;
    return 0;
}

void *oob_aligned_alloc(size_t align, size_t size) {
    if (align == 0 || (align & (align - 1))) { errno = EINVAL; return NULL; }
    void *p = NULL;
    int rc = oob_posix_memalign(&p, align < sizeof(void *) ? sizeof(void *) : align, size);
    if (rc) { errno = rc; return NULL; }
    return p;
}

void *oob_memalign(size_t align, size_t size) {
    if (align > SIZE_MAX / 2 + 1) { errno = EINVAL; return NULL; } /* glibc: no power of two that large */
    size_t p2 = sizeof(void *);
    while (p2 < align) p2 <<= 1; /* glibc rounds a non-power-of-two alignment up */
    void *out = NULL;
    int rc = oob_posix_memalign(&out, p2, size);
    if (rc) { errno = rc; return NULL; }
    return out;
}

void *oob_valloc(size_t size) { return oob_memalign((size_t)sysconf(_SC_PAGESIZE), size); }

void *oob_pvalloc(size_t size) {
    size_t page = (size_t)sysconf(_SC_PAGESIZE), rounded;
    if (__builtin_add_overflow(size, page - 1, &rounded)) { errno = ENOMEM; return NULL; }
    return oob_memalign(page, rounded & ~(page - 1));
}

void *oob_reallocarray(void *p, size_t n, size_t size) {
    size_t total;
    if (__builtin_mul_overflow(n, size, &total)) { errno = ENOMEM; return NULL; }
    return oob_realloc(p, total);
}

void oob_get_stats(oob_stats_t *out) {
    memset(out, 0, sizeof *out);
    if (!atomic_load(&g_ready)) return;
    int64_t in_use = 0;
    pthread_mutex_lock(&g_lock);
    for (heap *h = g_heaps; h; h = h->next_all) {
        in_use += h->in_use;
        out->allocs += h->allocs;
        out->frees += h->frees;
        out->remote_frees += h->remote_frees;
        out->large_allocs += h->large;
    }
    in_use += g_orphan.in_use;
    out->allocs += g_orphan.allocs;
    out->frees += g_orphan.frees;
    out->remote_frees += g_orphan.remote_frees;
    out->large_allocs += g_orphan.large;
    out->bytes_in_use = in_use > 0 ? (uint64_t)in_use : 0;
    out->bytes_active = g_active;
    out->bytes_mapped = g_committed;
    out->bytes_meta = g_meta_used;
    out->bytes_purged = g_purged;
    out->peak_active = g_peak_active;
    out->heaps = g_heap_count;
    pthread_mutex_unlock(&g_lock);
    out->errors = atomic_load(&g_errors);
}

int oob_set_error_policy(int policy) {
    int old = g_policy;
    g_policy = policy ? 1 : 0;
    g_policy_explicit = 1;
    return old;
}

const char *oob_last_error(void) { return g_last_error; }
