/* tlb.h: the C side of `lowprof bench tlb` (x86-64 Linux): CPUID, TSC, buffers and a dependent pointer chase.
 *
 * Units: time in ns on CLOCK_MONOTONIC_RAW, cycles in TSC ticks, sizes in bytes.
 * Every function returns 0 on success or a positive errno value; nothing here prints or exits.
 */
#ifndef LOWPROF_TLB_H
#define LOWPROF_TLB_H

#include <stddef.h>
#include <stdint.h>

/* Raw CPUID: out = {eax, ebx, ecx, edx}. Returns 0, or ENOSYS off x86. */
int tlb_cpuid(uint32_t leaf, uint32_t subleaf, uint32_t out[4]);

/* TSC rate in Hz: rdtscp ticks over `seconds` of CLOCK_MONOTONIC_RAW, each end bracketed by two
 * clock reads (midpoint); the median of `repeats` intervals. Returns 0, or ENOSYS off x86. */
int tlb_tsc_hz(double seconds, int repeats, double *hz);

/* An anonymous mapping of `bytes` (rounded up to 2 MiB) aligned to 2 MiB, with MADV_HUGEPAGE when
 * `huge` else MADV_NOHUGEPAGE, every page written once (pre-faulted), and mlock()ed when allowed.
 * *locked = 1 when mlock succeeded. Free with tlb_unmap(). */
int tlb_map(size_t bytes, int huge, void **addr, size_t *mapped, int *locked, int *mlock_errno);
int tlb_unmap(void *addr, size_t mapped);

/* Build a cyclic dependent chase of `n` cache lines: line i lives at
 * base + i * stride + (i % lines_per_slot) * 64 (the line offset varies so the lines do not alias to
 * one cache set), and the lines are linked in one random cycle (Sattolo's algorithm, xorshift seed).
 * Needs n * stride <= bytes of the mapping. Returns the start pointer in *start. */
int tlb_build_chase(void *base, size_t n, size_t stride, size_t lines_per_slot, uint64_t seed,
                    void **start);

/* Follow the chase for `accesses` loads (after one untimed warm-up pass of `warmup` loads).
 * Reports elapsed ns (CLOCK_MONOTONIC_RAW) and TSC ticks (rdtscp). */
int tlb_chase(void *start, uint64_t warmup, uint64_t accesses, uint64_t *ns, uint64_t *tsc,
              void **end);

/* Count a hardware event (perf_event_open; type/config as in linux/perf_event.h) over a chase.
 * Returns 0 and *count, or the errno of perf_event_open/read (ENOENT/EOPNOTSUPP: no such event here). */
int tlb_chase_counted(void *start, uint64_t accesses, uint32_t type, uint64_t config, uint64_t *count);

#endif
