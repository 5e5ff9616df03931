/* oobmalloc: a heap allocator whose metadata lives out of band (SJMalloc-style).
 *
 * User memory comes from one reserved virtual region carved into 16 KiB pages. Small requests
 * (<= 32 KiB) are served from slabs of one size class; the slab's allocation bitmap, remote-free
 * bitmap and descriptor live in a separate metadata mapping, never next to user data, so a heap
 * overflow cannot corrupt allocator state. Larger requests get their own span of pages.
 *
 * The core exports only oob_* names; oobmalloc_preload.c maps the libc names onto them.
 * Sizes are bytes. Errors (double free, in any thread order; foreign, interior or never-issued
 * pointer) abort with a message on stderr unless OOBMALLOC_ON_ERROR=report (print and continue,
 * leaking the object). Every size computation is overflow-checked and fails as glibc does (NULL with
 * ENOMEM, or EINVAL for an impossible alignment); a request of 256 MiB or more is first put to the
 * kernel's overcommit policy, as glibc's mmap would be. OOBMALLOC_POISON=1 fills every freed object
 * of up to 1 MiB with 0xdf (a use after free reads garbage, not the old data).
 */
#ifndef LOWPROF_OOBMALLOC_H
#define LOWPROF_OOBMALLOC_H
#include <stddef.h>
#include <stdint.h>

typedef struct {
    uint64_t bytes_in_use;     /* usable bytes of live allocations */
    uint64_t bytes_active;     /* bytes of pages held by slabs and large objects */
    uint64_t bytes_mapped;     /* bytes of the heap region made read/write (includes the free-page pool) */
    uint64_t bytes_meta;       /* bytes of the metadata region used (descriptors, bitmaps, heaps) */
    uint64_t bytes_purged;     /* bytes of free pages handed back to the kernel (madvise DONTNEED), total */
    uint64_t peak_active;      /* high-water mark of bytes_active */
    uint64_t allocs;           /* allocations served, total */
    uint64_t frees;            /* frees, total */
    uint64_t remote_frees;     /* frees of an object owned by another thread's heap, total */
    uint64_t large_allocs;     /* allocations that took their own span (> 32 KiB or big alignment) */
    uint64_t errors;           /* bad frees detected (when OOBMALLOC_ON_ERROR=report) */
    uint64_t heaps;            /* thread heaps created */
} oob_stats_t;

void *oob_malloc(size_t size);
void oob_free(void *ptr);
void *oob_calloc(size_t count, size_t size);
void *oob_realloc(void *ptr, size_t size);
int oob_posix_memalign(void **out, size_t alignment, size_t size);
void *oob_aligned_alloc(size_t alignment, size_t size);
void *oob_memalign(size_t alignment, size_t size);
void *oob_valloc(size_t size);
void *oob_pvalloc(size_t size);
void *oob_reallocarray(void *ptr, size_t count, size_t size);
size_t oob_usable_size(void *ptr);
/* 1 when ptr is the start of a live object of this allocator, 0 otherwise; never aborts. */
int oob_owns(void *ptr);
/* 1 when ptr lies inside a live object: its start and usable bytes in *start, *usable; else 0. */
int oob_object_of(void *ptr, void **start, size_t *usable);
void oob_get_stats(oob_stats_t *out);
/* Error policy: 0 abort (default), 1 report and continue. Returns the previous policy. */
int oob_set_error_policy(int policy);
/* The last error message (report mode), or "" */
const char *oob_last_error(void);

#endif
