// Launch cost: an empty kernel, and one whose first thread stamps %globaltimer (ns) at its start so the
// host can read the GPU-side gap between back-to-back kernels.
extern "C" __global__ void empty_kernel() {}

extern "C" __global__ void stamp_start(unsigned long long* stamps, int slot) {
  if (threadIdx.x == 0 && blockIdx.x == 0) {
    unsigned long long t;
    asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(t));
    stamps[slot] = t;
  }
}

// %globaltimer's update step: one thread reads it in a tight loop and keeps each new value, until `n`
// values are kept or `max_reads` reads were made; out[n] = how many were kept. The smallest difference
// between kept values is the tick (or a multiple of it, if one read takes longer than a tick).
extern "C" __global__ void globaltimer_ticks(unsigned long long* out, int n, long long max_reads) {
  if (threadIdx.x != 0 || blockIdx.x != 0) return;
  unsigned long long last, g;
  asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(last));
  out[0] = last;
  int kept = 1;
  for (long long r = 0; r < max_reads && kept < n; ++r) {
    asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(g));
    if (g != last) {
      out[kept++] = g;
      last = g;
    }
  }
  out[n] = kept;
}
