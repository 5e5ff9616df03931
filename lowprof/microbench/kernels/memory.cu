// Memory hierarchy. (1) Pointer chase (Mei & Chu 2017; Jia et al. 2018): one thread follows next[j];
// after a warm pass, every load's latency is stamped, then the same count of loads is timed as a whole: the loaded index is stored to shared memory before
// the end clock is read, so the stamp waits for the load. (2) Bandwidth: grid-stride read / write / copy /
// triad over float4 (16 B) elements, as in RRZE gpu-benches' gpu-stream.
#define MAX_SAMPLES 2048

// Each element holds the absolute address of the next one (the host adds the buffer's base to the byte
// offsets it built), so nothing but the load (LDG, cached in L1 by default) sits between two loads.
__device__ __forceinline__ unsigned long long load_next(unsigned long long p) {
  unsigned long long q;
  asm volatile("ld.global.u64 %0, [%1];" : "=l"(q) : "l"(p) : "memory");
  return q;
}

extern "C" __global__ void chase_latency(const unsigned long long* start, int warm, int samples,
                                         unsigned* lat_cycles, long long* total_cycles, unsigned long long* sink) {
  __shared__ unsigned long long seen_buf[MAX_SAMPLES];
  volatile unsigned long long* seen = seen_buf;  // volatile: one store per load, issued before the end stamp
  unsigned long long p = (unsigned long long)start;
  for (int s = 0; s < warm; ++s) p = load_next(p);
  for (int s = 0; s < samples; ++s) {
    long long t0 = clock64();
    p = load_next(p);
    seen[s] = p;
    long long t1 = clock64();
    lat_cycles[s] = (unsigned)(t1 - t0);
  }
  // The same number of loads again without stamps: mean cycles per load as gpu-benches reports it.
  long long t0 = clock64();
  for (int s = 0; s < samples; ++s) p = load_next(p);
  sink[1] = p;
  long long t1 = clock64();
  total_cycles[0] = t1 - t0;
  sink[0] = p + seen[samples - 1];
}

extern "C" __global__ void bw_read(const float4* a, float* out, long long n) {
  float s = 0.0f;
  for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x) {
    float4 v = a[i];
    s += v.x + v.y + v.z + v.w;
  }
  if (s == 1234.5f) out[0] = s;  // never true for the data we write; keeps the loads alive
}

extern "C" __global__ void bw_write(float4* a, long long n, float value) {
  for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x)
    a[i] = make_float4(value, value, value, value);
}

extern "C" __global__ void bw_copy(float4* a, const float4* b, long long n) {
  for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x)
    a[i] = b[i];
}

extern "C" __global__ void bw_triad(float4* a, const float4* b, const float4* c, long long n, float s) {
  for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x) {
    float4 x = b[i], y = c[i];
    a[i] = make_float4(x.x + s * y.x, x.y + s * y.y, x.z + s * y.z, x.w + s * y.w);
  }
}
