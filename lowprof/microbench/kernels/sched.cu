// Scheduler / sub-core mapping (Huerta et al. 2025): every warp of one block records its hardware warp
// slot (%warpid), SM (%smid) and SM-clock stamps around a fixed dependent FFMA chain. Warps whose
// %warpid agree mod 4 share a sub-core (one scheduler each), so they compete for its issue slot.
extern "C" __global__ void warp_stamps(long long* stamps, unsigned* ids, float* out, int iters, float a, float b) {
  unsigned warpid, smid;
  asm volatile("mov.u32 %0, %%warpid;" : "=r"(warpid));
  asm volatile("mov.u32 %0, %%smid;" : "=r"(smid));
  float x0 = threadIdx.x, x1 = x0 + 1.f, x2 = x0 + 2.f, x3 = x0 + 3.f;
  __syncthreads();
  long long t0 = clock64();
  for (int i = 0; i < iters; ++i) {
#pragma unroll
    for (int u = 0; u < 16; ++u) {
      asm volatile("fma.rn.f32 %0, %0, %1, %2;" : "+f"(x0) : "f"(a), "f"(b));
      asm volatile("fma.rn.f32 %0, %0, %1, %2;" : "+f"(x1) : "f"(a), "f"(b));
      asm volatile("fma.rn.f32 %0, %0, %1, %2;" : "+f"(x2) : "f"(a), "f"(b));
      asm volatile("fma.rn.f32 %0, %0, %1, %2;" : "+f"(x3) : "f"(a), "f"(b));
    }
  }
  long long t1 = clock64();
  out[blockIdx.x * blockDim.x + threadIdx.x] = x0 + x1 + x2 + x3;
  if ((threadIdx.x & 31) == 0) {
    int w = (blockIdx.x * blockDim.x + threadIdx.x) >> 5;
    stamps[2 * w] = t0;
    stamps[2 * w + 1] = t1;
    ids[2 * w] = warpid;
    ids[2 * w + 1] = smid;
  }
}
