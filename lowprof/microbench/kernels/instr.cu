// Instruction latency and throughput (Jia et al. 2018 method): each warp runs ILP independent dependent
// chains of one instruction for `iters` x UNROLL steps, between two clock64() reads. Lane 0 of each warp
// writes its start and end SM-clock stamps. One warp, ILP 1 gives the latency in cycles per instruction;
// W warps x ILP chains on one SM give the issue throughput. Operations use inline PTX so that ptxas emits
// exactly one SASS instruction per step (FFMA, IMAD, HFMA2, MUFU.EX2, DFMA; checked in CI from the SASS).
// The clock the chain ran at: lane 0 also reads %globaltimer (ns) just outside the two clock64() reads
// (gstamps), so cycles / ns of the same interval is the SM clock of this very kernel (PTX ISA: %globaltimer
// is a 64-bit ns timer; it ticks coarsely, see lowprof.microbench.globaltimer).
#ifndef UNROLL
#define UNROLL 32
#endif

__device__ __forceinline__ float op_ffma(float x, float a, float b) {
  float r; asm volatile("fma.rn.f32 %0, %1, %2, %3;" : "=f"(r) : "f"(x), "f"(a), "f"(b)); return r;
}
__device__ __forceinline__ int op_imad(int x, int a, int b) {
  int r; asm volatile("mad.lo.s32 %0, %1, %2, %3;" : "=r"(r) : "r"(x), "r"(a), "r"(b)); return r;
}
__device__ __forceinline__ unsigned op_hfma2(unsigned x, unsigned a, unsigned b) {
  unsigned r; asm volatile("fma.rn.f16x2 %0, %1, %2, %3;" : "=r"(r) : "r"(x), "r"(a), "r"(b)); return r;
}
__device__ __forceinline__ float op_ex2(float x, float a, float b) {
  float r; asm volatile("ex2.approx.ftz.f32 %0, %1;" : "=f"(r) : "f"(x)); return r;
}
__device__ __forceinline__ double op_dfma(double x, double a, double b) {
  double r; asm volatile("fma.rn.f64 %0, %1, %2, %3;" : "=d"(r) : "d"(x), "d"(a), "d"(b)); return r;
}

#define CHAIN_KERNEL(NAME, T, OP, ILP)                                                              \
  extern "C" __global__ void NAME##_ilp##ILP(T* out, long long* stamps, unsigned long long* gstamps, \
                                              int iters, T a, T b, T seed) {                        \
    T x[ILP];                                                                                       \
    _Pragma("unroll") for (int k = 0; k < ILP; ++k) x[k] = seed + (T)(threadIdx.x + k);             \
    __syncthreads();                                                                                \
    unsigned long long g0, g1;                                                                      \
    asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(g0));                                         \
    long long t0 = clock64();                                                                       \
    for (int i = 0; i < iters; ++i) {                                                               \
      _Pragma("unroll") for (int u = 0; u < UNROLL; ++u) {                                          \
        _Pragma("unroll") for (int k = 0; k < ILP; ++k) x[k] = OP(x[k], a, b);                      \
      }                                                                                             \
    }                                                                                               \
    long long t1 = clock64();                                                                       \
    asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(g1));                                         \
    T s = x[0];                                                                                     \
    _Pragma("unroll") for (int k = 1; k < ILP; ++k) s = s + x[k];                                   \
    int gid = blockIdx.x * blockDim.x + threadIdx.x;                                                \
    out[gid] = s;                                                                                   \
    if ((threadIdx.x & 31) == 0) {                                                                  \
      int w = gid >> 5;                                                                             \
      stamps[2 * w] = t0;                                                                           \
      stamps[2 * w + 1] = t1;                                                                       \
      gstamps[2 * w] = g0;                                                                          \
      gstamps[2 * w + 1] = g1;                                                                      \
    }                                                                                               \
  }

#define ALL_ILP(NAME, T, OP) \
  CHAIN_KERNEL(NAME, T, OP, 1) CHAIN_KERNEL(NAME, T, OP, 2) CHAIN_KERNEL(NAME, T, OP, 4) CHAIN_KERNEL(NAME, T, OP, 8)

ALL_ILP(ffma, float, op_ffma)
ALL_ILP(imad, int, op_imad)
ALL_ILP(hfma2, unsigned, op_hfma2)
ALL_ILP(ex2, float, op_ex2)
ALL_ILP(dfma, double, op_dfma)
