// Register file. (1) Register pressure: NACC accumulators per thread kept live across a loop; compiled at
// several -maxrregcount values, ptxas trades registers for occupancy and, below what the loop needs, spills
// to local memory. (2) Operand banks: VARIANT picks which of 8 live values feed each FFMA's sources, so
// ptxas's register allocation gives source operands of different parities (banks); the SASS is read back
// to classify each variant. Jia et al. (2018) and Huerta et al. (2025) describe 2 banks (register index
// mod 2) per sub-core register file on Volta and later.
#ifndef NACC
#define NACC 96
#endif

extern "C" __global__ void reg_pressure(float* out, const float* in, int iters) {
  float acc[NACC];
#pragma unroll
  for (int k = 0; k < NACC; ++k) acc[k] = in[(threadIdx.x + 7 * k) & 1023];
  for (int i = 0; i < iters; ++i) {
#pragma unroll
    for (int k = 0; k < NACC; ++k) acc[k] = fmaf(acc[k], acc[(k + 1) % NACC], 1.0e-7f);
  }
  float s = 0.0f;
#pragma unroll
  for (int k = 0; k < NACC; ++k) s += acc[k];
  out[blockIdx.x * blockDim.x + threadIdx.x] = s;
}

#ifndef VARIANT
#define VARIANT 0
#endif
#if VARIANT == 0
#define S1 1
#define S2 2
#elif VARIANT == 1
#define S1 2
#define S2 4
#elif VARIANT == 2
#define S1 1
#define S2 3
#else  // one register as all three sources: one bank by construction (is a repeated register read once?)
#define S1 0
#define S2 0
#endif

extern "C" __global__ void operand_banks(float* out, long long* stamps, int iters, float seed) {
  float v[8];
#pragma unroll
  for (int k = 0; k < 8; ++k) v[k] = seed + (float)(threadIdx.x * 8 + k);
  __syncthreads();
  long long t0 = clock64();
  for (int i = 0; i < iters; ++i) {
#pragma unroll
    for (int u = 0; u < 4; ++u) {
#pragma unroll
      for (int k = 0; k < 8; ++k) v[k] = fmaf(v[(k + S1) & 7], v[(k + S2) & 7], v[k]);
    }
  }
  long long t1 = clock64();
  float s = 0.0f;
#pragma unroll
  for (int k = 0; k < 8; ++k) s += v[k];
  int gid = blockIdx.x * blockDim.x + threadIdx.x;
  out[gid] = s;
  if ((threadIdx.x & 31) == 0) {
    stamps[2 * (gid >> 5)] = t0;
    stamps[2 * (gid >> 5) + 1] = t1;
  }
}
