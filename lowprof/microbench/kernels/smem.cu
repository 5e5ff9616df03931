// Shared memory: a dependent chase through shared memory. Word j holds the byte offset of the next word,
// (j + 32 * stride) mod n, as a byte offset so no address arithmetic sits between two loads, and thread t starts at (t * stride) mod n, so at every step the 32 lanes of the
// warp touch 32 distinct words whose banks are (t * stride) mod 32: a gcd(stride, 32)-way bank conflict.
// One active lane gives the conflict-free latency. Stamps are SM clock cycles around `steps` loads.
#define SMEM_WORDS 8192  // 32 KiB: 32 lanes x stride 32 x 8 steps before wrapping

extern "C" __global__ void smem_chase(long long* cycles, unsigned* sink, int stride, int steps, int lanes) {
  __shared__ unsigned words[SMEM_WORDS];
  for (int j = threadIdx.x; j < SMEM_WORDS; j += blockDim.x)
    words[j] = 4u * (unsigned)((j + 32 * stride) % SMEM_WORDS);
  __syncthreads();
  if (threadIdx.x >= 32) return;
  const char* base = (const char*)words;
  unsigned j = 4u * (unsigned)((threadIdx.x * stride) % SMEM_WORDS);
  if ((int)threadIdx.x < lanes) {
    for (int s = 0; s < 64; ++s) j = *(const unsigned*)(base + j);  // warm: the instruction cache and the clock path
    __syncwarp((lanes >= 32) ? 0xffffffffu : ((1u << lanes) - 1u));
    long long t0 = clock64();
    for (int s = 0; s < steps; ++s) j = *(const unsigned*)(base + j);
    sink[threadIdx.x] = j;  // depends on the last load: the end stamp waits for it
    long long t1 = clock64();
    if (threadIdx.x == 0) cycles[0] = t1 - t0;
  }
}
