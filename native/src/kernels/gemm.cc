// The GEMM: C[M,N] = alpha * op(A)[M,K] @ op(B)[K,N] + beta * C (+ bias[N]), row-major, batched (see gemm.h).
//
// GotoBLAS/BLIS blocking, written for row-major C where the vector dimension is N:
//   for each row block ic of MC rows
//     pack A[ic.., all K] into MR-row micro-panels, one set per K block   (A micro-panel MR x KC: kept in L1)
//     for each column block jc of NC columns
//       for each K block pc of KC                   (KC depends on K alone, so the summation order never
//         pack B[pc.., jc..] into NR-column panels    depends on how the work is split over threads)
//                                                   (B block KC x NC: kept in L2; bf16/f16 widen to f32 here)
//         for each MR-row panel of A, for each NR-column panel of B: micro-kernel on an MR x NR tile of C
// The MC x NC block of C stays in cache across the K blocks. When A's row block over all of K is too large to keep
// packed, the K loop moves outside the column loop (A packed per K block, C streamed once per K block).
// Threads split C into disjoint column ranges (when M < N) or row ranges, aligned to the tile size and claimed
// dynamically; each range packs its own blocks, so no barrier is needed, and every element is summed in the same
// order for any thread count.
// On the AVX-512/AVX2 paths, products with a side of at most 16 skip packing (gemm/avx512.h): "skinny" ones (M <= 16:
// decoding, the [r, in] gradient of a LoRA factor) read B in place, "narrow" ones (N <= 16: x @ A^T into a LoRA rank,
// its backward) read A in place; the tiny operand is copied to f32 first. Threads split the long side. One driver
// (gemm/unpacked.h) splits both paths' products into groups for their kernels.
#include "kernels/gemm.h"

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>

#include "core/cpu.h"
#include "core/napi_util.h"
#include "core/registry.h"
#include "core/threadpool.h"
#include "kernels/gemm/avx2.h"
#include "kernels/gemm/avx512.h"
#include "kernels/gemm/avx512_bf16.h"
#include "kernels/gemm/pack_buffer.h"
#include "kernels/gemm/portable.h"
#include "kernels/gemm/unpacked.h"
#include "kernels/gemv16.h"

namespace lmf {

namespace {

using PackFn = void (*)(const void* src, bool trans, int64_t ld, int64_t x0, int64_t count, int64_t k0, int64_t kc,
                        float* dst);
using TileFn = void (*)(int rows, int64_t kc, const float* ap, const float* bp, float* c, int64_t ldc, int cols,
                        float alpha, float beta, const float* bias);
// Columns [n0, n1) of a product with at most `skinny_max_m` rows, B read without packing; op(A) is f32 [M, K]
// with row stride lda.
using SkinnyFn = void (*)(int64_t m, int64_t k, const float* a, int64_t lda, const void* b, bool trans_b,
                          int64_t ldb, float* c, int64_t ldc, int64_t n0, int64_t n1, float alpha, float beta,
                          const float* bias);
// Rows [i0, i1) of a product with at most `narrow_max_n` columns, A read without packing; bp is op(B) as f32,
// transposed ([N_pad, K]) when !trans_a, as is ([K, N_pad]) when trans_a, row stride ldp (zero-padded columns).
using NarrowFn = void (*)(int64_t n, int64_t k, const void* a, bool trans_a, int64_t lda, const float* bp,
                          int64_t ldp, float* c, int64_t ldc, int64_t i0, int64_t i1, float alpha, float beta,
                          const float* bias);

// One instruction-set path: tile sizes, cache blocking and its packing/micro-kernel functions (indexed by DType).
struct Path {
  int mr, nr;
  int64_t kc_max, mc, nc;
  PackFn pack_a[3], pack_b[3];
  TileFn tile;
  int64_t skinny_max_m = 0;      // 0: this path has no skinny products
  int64_t skinny_dot_max_m = 0;  // the limit when B is stored [N, K] (trans_b)
  SkinnyFn skinny[3] = {};       // by B's dtype
  int64_t narrow_max_n = 0;      // 0: this path has no narrow products
  int64_t narrow_rows = 0;       // rows per parallel work unit: a multiple of every narrow kernel's row step
  NarrowFn narrow[3] = {};       // by A's dtype
};

#if defined(__x86_64__)
void tile_avx512(int rows, int64_t kc, const float* ap, const float* bp, float* c, int64_t ldc, int cols, float alpha,
                 float beta, const float* bias) {
  gemm_avx512::kernel_for_rows(rows)(kc, ap, bp, c, ldc, cols, alpha, beta, bias);
}
void tile_avx2(int rows, int64_t kc, const float* ap, const float* bp, float* c, int64_t ldc, int cols, float alpha,
               float beta, const float* bias) {
  gemm_avx2::kernel_for_rows(rows)(kc, ap, bp, c, ldc, cols, alpha, beta, bias);
}

// KC = 384 keeps the 14 x KC A micro-panel (21 KB) in a 32-48 KB L1; NC = 512 keeps the KC x NC B block (768 KB)
// in a 1-2 MB L2 with room for the A micro-panels streaming through.
const Path kAvx512 = {
    gemm_avx512::MR,
    gemm_avx512::NR,
    384,
    2016,
    512,
    {gemm_avx512::pack_a<DType::f32>, gemm_avx512::pack_a<DType::bf16>, gemm_avx512::pack_a<DType::f16>},
    {gemm_avx512::pack_b<DType::f32>, gemm_avx512::pack_b<DType::bf16>, gemm_avx512::pack_b<DType::f16>},
    tile_avx512,
    gemm_avx512::kSkinnyRows,
    gemm_avx512::kSkinnyDotRows,
    {gemm_unpacked::skinny<gemm_avx512::Unpacked, DType::f32>, gemm_unpacked::skinny<gemm_avx512::Unpacked, DType::bf16>,
     gemm_unpacked::skinny<gemm_avx512::Unpacked, DType::f16>},
    gemm_avx512::kNarrowMaxN,
    48,
    {gemm_unpacked::narrow<gemm_avx512::Unpacked, DType::f32>, gemm_unpacked::narrow<gemm_avx512::Unpacked, DType::bf16>,
     gemm_unpacked::narrow<gemm_avx512::Unpacked, DType::f16>},
};
// 6 x 256 A micro-panel (6 KB) for L1; a 256 x 512 B block (512 KB) for a 512 KB+ L2.
const Path kAvx2 = {
    gemm_avx2::MR,
    gemm_avx2::NR,
    256,
    1020,
    512,
    {gemm_avx2::pack_a<DType::f32>, gemm_avx2::pack_a<DType::bf16>, gemm_avx2::pack_a<DType::f16>},
    {gemm_avx2::pack_b<DType::f32>, gemm_avx2::pack_b<DType::bf16>, gemm_avx2::pack_b<DType::f16>},
    tile_avx2,
    gemm_avx2::kSkinnyRows,
    gemm_avx2::kSkinnyDotRows,
    {gemm_unpacked::skinny<gemm_avx2::Unpacked, DType::f32>, gemm_unpacked::skinny<gemm_avx2::Unpacked, DType::bf16>,
     gemm_unpacked::skinny<gemm_avx2::Unpacked, DType::f16>},
    gemm_avx2::kNarrowMaxN,
    64,
    {gemm_unpacked::narrow<gemm_avx2::Unpacked, DType::f32>, gemm_unpacked::narrow<gemm_avx2::Unpacked, DType::bf16>,
     gemm_unpacked::narrow<gemm_avx2::Unpacked, DType::f16>},
};
#endif

void tile_portable(int rows, int64_t kc, const float* ap, const float* bp, float* c, int64_t ldc, int cols,
                   float alpha, float beta, const float* bias) {
  gemm_portable::kernel(kc, ap, bp, c, ldc, rows, cols, alpha, beta, bias);
}
const Path kPortable = {
    gemm_portable::MR,
    gemm_portable::NR,
    256,
    1020,
    512,
    {gemm_portable::pack_a<DType::f32, gemm_portable::MR>, gemm_portable::pack_a<DType::bf16, gemm_portable::MR>,
     gemm_portable::pack_a<DType::f16, gemm_portable::MR>},
    {gemm_portable::pack_b<DType::f32, gemm_portable::NR>, gemm_portable::pack_b<DType::bf16, gemm_portable::NR>,
     gemm_portable::pack_b<DType::f16, gemm_portable::NR>},
    tile_portable,
};

// ---- bf16 compute (GemmArgs::bf16) -----------------------------------------------------------------------------
// With AVX512_BF16: the AVX-512 path's tiling with pair-packed bf16 panels and the VDPBF16PS kernel. KC doubles
// (768) so that a micro-panel holds the same bytes as the f32 path's. Elsewhere: each path's own kernels on panels
// rounded to bf16 after packing, which gives the same products (a bf16 x bf16 product is exact in f32) summed in
// f32, so results differ only by the order of the f32 additions.

// Rounds n packed floats to the nearest bf16 (core/dtype.h's rounding: ties to even, NaN stays NaN), in place.
void round_to_bf16(float* x, int64_t n) {
  for (int64_t i = 0; i < n; ++i) x[i] = bf16_to_f32(f32_to_bf16(x[i]));
}

// A pack function followed by rounding of what it wrote (Width = the panel's MR or NR).
template <PackFn Pack, int Width>
void pack_rounded(const void* src, bool trans, int64_t ld, int64_t x0, int64_t count, int64_t k0, int64_t kc,
                  float* dst) {
  Pack(src, trans, ld, x0, count, k0, kc, dst);
  round_to_bf16(dst, (count + Width - 1) / Width * Width * kc);
}

// `base` with its packing rounded to bf16 (skinny and narrow products stay as they are: f32).
template <int MR, int NR, PackFn A0, PackFn A1, PackFn A2, PackFn B0, PackFn B1, PackFn B2>
Path rounded_path(const Path& base) {
  Path p = base;
  p.pack_a[0] = pack_rounded<A0, MR>;
  p.pack_a[1] = A1;  // bf16 storage is already exact in bf16
  p.pack_a[2] = pack_rounded<A2, MR>;
  p.pack_b[0] = pack_rounded<B0, NR>;
  p.pack_b[1] = B1;
  p.pack_b[2] = pack_rounded<B2, NR>;
  return p;
}

#if defined(__x86_64__)
void tile_avx512_bf16(int rows, int64_t kc, const float* ap, const float* bp, float* c, int64_t ldc, int cols,
                      float alpha, float beta, const float* bias) {
  gemm_avx512_bf16::kernel_for_rows(rows)(kc, ap, bp, c, ldc, cols, alpha, beta, bias);
}
const Path kAvx512Bf16 = [] {
  Path p = kAvx512;
  p.kc_max = 768;
  p.pack_a[0] = gemm_avx512_bf16::pack_a<DType::f32>;
  p.pack_a[1] = gemm_avx512_bf16::pack_a<DType::bf16>;
  p.pack_a[2] = gemm_avx512_bf16::pack_a<DType::f16>;
  p.pack_b[0] = gemm_avx512_bf16::pack_b<DType::f32>;
  p.pack_b[1] = gemm_avx512_bf16::pack_b<DType::bf16>;
  p.pack_b[2] = gemm_avx512_bf16::pack_b<DType::f16>;
  p.tile = tile_avx512_bf16;
  return p;
}();
const Path kAvx512Rounded =
    rounded_path<gemm_avx512::MR, gemm_avx512::NR, gemm_avx512::pack_a<DType::f32>, gemm_avx512::pack_a<DType::bf16>,
                 gemm_avx512::pack_a<DType::f16>, gemm_avx512::pack_b<DType::f32>, gemm_avx512::pack_b<DType::bf16>,
                 gemm_avx512::pack_b<DType::f16>>(kAvx512);
const Path kAvx2Rounded =
    rounded_path<gemm_avx2::MR, gemm_avx2::NR, gemm_avx2::pack_a<DType::f32>, gemm_avx2::pack_a<DType::bf16>,
                 gemm_avx2::pack_a<DType::f16>, gemm_avx2::pack_b<DType::f32>, gemm_avx2::pack_b<DType::bf16>,
                 gemm_avx2::pack_b<DType::f16>>(kAvx2);
#endif
const Path kPortableRounded =
    rounded_path<gemm_portable::MR, gemm_portable::NR, gemm_portable::pack_a<DType::f32, gemm_portable::MR>,
                 gemm_portable::pack_a<DType::bf16, gemm_portable::MR>,
                 gemm_portable::pack_a<DType::f16, gemm_portable::MR>,
                 gemm_portable::pack_b<DType::f32, gemm_portable::NR>,
                 gemm_portable::pack_b<DType::bf16, gemm_portable::NR>,
                 gemm_portable::pack_b<DType::f16, gemm_portable::NR>>(kPortable);

const Path& current_bf16_path() {
#if defined(__x86_64__)
  if (bf16_instructions()) return kAvx512Bf16;
  switch (isa()) {
    case Isa::avx512: return kAvx512Rounded;
    case Isa::avx2: return kAvx2Rounded;
    default: break;
  }
#endif
  return kPortableRounded;
}

const Path& current_path() {
#if defined(__x86_64__)
  switch (isa()) {
    case Isa::avx512: return kAvx512;
    case Isa::avx2: return kAvx2;
    default: break;
  }
#endif
  return kPortable;
}

// Per-thread packing buffers (gemm/pack_buffer.h).
thread_local PackBuffer t_pack_a, t_pack_b;
// The small operand of a skinny or narrow product, widened to f32 by the calling thread and read by all workers.
thread_local PackBuffer t_small;

// dst[r * ldd + x] = src[r * rs + x * xs] widened to f32, for r < rows and x < cols. Reads along whichever index is
// contiguous in src. Copies at most 16 x K values (a LoRA factor), so plain scalar code is enough.
template <DType D>
void widen_copy(const void* src, int64_t rs, int64_t xs, int64_t rows, int64_t cols, float* dst, int64_t ldd) {
  if (xs == 1 || rs != 1) {
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t x = 0; x < cols; ++x) dst[r * ldd + x] = gemm_portable::load1<D>(src, r * rs + x * xs);
  } else {
    for (int64_t x = 0; x < cols; ++x)
      for (int64_t r = 0; r < rows; ++r) dst[r * ldd + x] = gemm_portable::load1<D>(src, r + x * xs);
  }
}
void widen_copy(DType d, const void* src, int64_t rs, int64_t xs, int64_t rows, int64_t cols, float* dst,
                int64_t ldd) {
  switch (d) {
    case DType::bf16: return widen_copy<DType::bf16>(src, rs, xs, rows, cols, dst, ldd);
    case DType::f16: return widen_copy<DType::f16>(src, rs, xs, rows, cols, dst, ldd);
    default: return widen_copy<DType::f32>(src, rs, xs, rows, cols, dst, ldd);
  }
}

// The K block size: K split into equal blocks of at most kc_max (a function of K alone: see the file comment).
int64_t k_block(const Path& p, int64_t k) {
  int64_t blocks = (k + p.kc_max - 1) / p.kc_max;
  return (k + blocks - 1) / blocks;
}

// Splits [0, extent) into equal blocks of at most max_block, rounded up to whole tiles (no thin last block).
int64_t even_block(int64_t extent, int64_t max_block, int64_t tile) {
  int64_t blocks = (extent + max_block - 1) / max_block;
  int64_t size = (extent + blocks - 1) / blocks;
  return (size + tile - 1) / tile * tile;
}

// Below this size the packed A of a row block covers all of K, so the loops can run column block by column block
// and keep each C block in cache across the K blocks (instead of streaming all of C once per K block).
constexpr int64_t kWholeAFloats = int64_t(2) << 20;  // 8 MB

// One matrix of the batch, rows [m0, m1) x columns [n0, n1) of C, on the calling thread.
void gemm_region(const Path& p, const GemmArgs& g, const void* a, const void* b, float* c, float beta,
                 const float* bias, int64_t m0, int64_t m1, int64_t n0, int64_t n1) {
  const int64_t kb = k_block(p, g.k);
  const int64_t mb = even_block(m1 - m0, p.mc, p.mr), nb = even_block(n1 - n0, p.nc, p.nr);
  const bool whole_a = mb * g.k <= kWholeAFloats;
  float* pa = t_pack_a.get(static_cast<size_t>(mb * (whole_a ? g.k : kb)));
  float* pb = t_pack_b.get(static_cast<size_t>(nb * kb));
  PackFn pack_a = p.pack_a[static_cast<int>(g.a_dtype)], pack_b = p.pack_b[static_cast<int>(g.b_dtype)];
  // The micro-kernels over one packed A block (rows ic.., K block pc..) and one packed B block (columns jc..).
  auto macro = [&](const float* pa_block, int64_t ic, int64_t mc, int64_t pc, int64_t kc, int64_t jc, int64_t nc) {
    bool first = pc == 0;
    pack_b(b, g.trans_b, g.ldb, jc, nc, pc, kc, pb);
    for (int64_t ir = 0; ir < mc; ir += p.mr) {
      int rows = static_cast<int>(std::min<int64_t>(p.mr, mc - ir));
      const float* ap = pa_block + ir * kc;
      float* crow = c + (ic + ir) * g.ldc + jc;
      for (int64_t jr = 0; jr < nc; jr += p.nr) {
        int cols = static_cast<int>(std::min<int64_t>(p.nr, nc - jr));
        p.tile(rows, kc, ap, pb + jr * kc, crow + jr, g.ldc, cols, g.alpha, first ? beta : 1.f,
               first && bias ? bias + jc + jr : nullptr);
      }
    }
  };
  for (int64_t ic = m0; ic < m1; ic += mb) {
    int64_t mc = std::min(mb, m1 - ic), mc_pad = (mc + p.mr - 1) / p.mr * p.mr;
    if (whole_a) {  // A block for all K blocks at once (block pc at pa + mc_pad * pc), then column-block outer
      for (int64_t pc = 0; pc < g.k; pc += kb)
        pack_a(a, g.trans_a, g.lda, ic, mc, pc, std::min(kb, g.k - pc), pa + mc_pad * pc);
      for (int64_t jc = n0; jc < n1; jc += nb)
        for (int64_t pc = 0; pc < g.k; pc += kb)
          macro(pa + mc_pad * pc, ic, mc, pc, std::min(kb, g.k - pc), jc, std::min(nb, n1 - jc));
    } else {
      for (int64_t pc = 0; pc < g.k; pc += kb) {
        int64_t kc = std::min(kb, g.k - pc);
        pack_a(a, g.trans_a, g.lda, ic, mc, pc, kc, pa);
        for (int64_t jc = n0; jc < n1; jc += nb) macro(pa, ic, mc, pc, kc, jc, std::min(nb, n1 - jc));
      }
    }
  }
}

// K = 0: the product is empty, C = beta * C (+ bias).
void scale_only(const GemmArgs& g, float* c, float beta, const float* bias) {
  for (int64_t i = 0; i < g.m; ++i)
    for (int64_t j = 0; j < g.n; ++j) {
      float base = bias ? bias[j] : 0.f;
      c[i * g.ldc + j] = beta == 0.f ? base : base + beta * c[i * g.ldc + j];
    }
}

// Below ~2^20 multiply-adds a skinny or narrow product (LoRA's k/v rank products: 512x8x192) runs on the calling
// thread: it takes ~10 us there, and handing it to the pool made it 4x slower on 2 threads when timed alone
// (`bench -- gemm --lora`; inside a LoRA step, where the workers are already awake, the step time did not move).
constexpr int64_t kMinParallelSmall = int64_t(1) << 20;

// Few rows (M <= skinny_max_m: decoding, the rank side of a LoRA weight gradient): op(A) as f32 rows along K (a copy
// unless A already is one), B read in place, threads splitting the columns.
void skinny_item(const Path& p, const GemmArgs& g, const void* a, const void* b, float* c, float beta,
                 const float* bias, bool parallel) {
  const float* ap = static_cast<const float*>(a);
  int64_t lda = g.lda;
  if (g.a_dtype != DType::f32 || g.trans_a) {
    float* copy = t_small.get(static_cast<size_t>(g.m * g.k));
    widen_copy(g.a_dtype, a, g.trans_a ? 1 : g.lda, g.trans_a ? g.lda : 1, g.m, g.k, copy, g.k);
    ap = copy;
    lda = g.k;
  }
  SkinnyFn fn = p.skinny[static_cast<int>(g.b_dtype)];
  auto cols = [&](int64_t n0, int64_t n1) {
    fn(g.m, g.k, ap, lda, b, g.trans_b, g.ldb, c, g.ldc, n0, n1, g.alpha, beta, bias);
  };
  // Column chunks that are whole column steps of the kernels (64 up to 4 rows, 48 or 32 above), each of at least
  // ~64k multiply-adds. The split never changes a sum: each column sums over K in its own fixed order.
  int64_t chunk = g.m <= 4 ? 64 : 96, chunks = (g.n + chunk - 1) / chunk;
  const int nt = num_threads();
  if (parallel && nt > 1 && g.trans_b && g.m <= 4 && g.n * g.k * g.m >= (int64_t(1) << 17)) {
    // Decoding's dot-product form steps 4 columns at a time: split the columns evenly in 16-column units, one
    // range per thread. The product only streams B, so equal ranges finish together; 64-column chunks handed out
    // 2 at a time left one of two threads with 5 of 9 on a 576-wide projection (k/v: 2 of 3).
    const int64_t units = (g.n + 15) / 16;
    parallel_run(
        [&](int tid, int n) {
          const int64_t lo = units * tid / n * 16, hi = std::min(g.n, units * (tid + 1) / n * 16);
          if (lo < hi) cols(lo, hi);
        },
        static_cast<int>(std::min<int64_t>(nt, units)));
  } else if (parallel && g.m * g.n * g.k >= kMinParallelSmall) {
    parallel_for(chunks, std::max<int64_t>(1, (int64_t(1) << 16) / (chunk * g.k * g.m)),
                 [&](int64_t b0, int64_t b1) { cols(b0 * chunk, std::min(g.n, b1 * chunk)); });
  } else {
    cols(0, g.n);
  }
}

// Decoding with a 16-bit weight stored [N, K] (M <= 8, trans_b): the weight streams once for all rows through
// gemv16.h's kernels (vdpbf16ps on bf16 weights under bf16 compute, widening FMAs otherwise), op(A) as f32 rows.
bool gemv16_item(const GemmArgs& g, const void* a, const void* b, float* c, float beta, const float* bias,
                 bool parallel) {
  const float* ap = static_cast<const float*>(a);
  int64_t lda = g.lda;
  if (g.a_dtype != DType::f32 || g.trans_a) {
    float* copy = t_small.get(static_cast<size_t>(g.m * g.k));
    widen_copy(g.a_dtype, a, g.trans_a ? 1 : g.lda, g.trans_a ? g.lda : 1, g.m, g.k, copy, g.k);
    ap = copy;
    lda = g.k;
  }
  Gemv16Args v;
  v.m = g.m, v.n = g.n, v.k = g.k;
  v.x = ap, v.ldx = lda;
  v.w = static_cast<const uint16_t*>(b), v.w_dtype = g.b_dtype, v.ldw = g.ldb;
  v.y = c, v.ldy = g.ldc;
  v.alpha = g.alpha, v.beta = beta, v.bias = bias;
  v.bf16 = g.bf16;
  v.parallel = parallel;
  return gemv16(v);
}

// Few columns (N <= narrow_max_n: the rank side of a LoRA product): op(B) widened to f32 and zero-padded to whole
// column groups (transposed when A is stored [M, K], so both are read along K), A read in place, threads splitting
// the rows.
void narrow_item(const Path& p, const GemmArgs& g, const void* a, const void* b, float* c, float beta,
                 const float* bias, bool parallel) {
  // Column groups are 8, 4, 2 or 1 wide (4, 2, 1 on AVX2): pad 3 to 4, 5..8 to 8, 9..16 to 16.
  const int64_t n_pad = g.n <= 2 ? g.n : g.n <= 4 ? 4 : (g.n + 7) / 8 * 8;
  float* bp = t_small.get(static_cast<size_t>(n_pad * g.k));
  // op(B)[k][j] = b[k * ldb + j], or b[j * ldb + k] when trans_b.
  const int64_t bks = g.trans_b ? 1 : g.ldb, bjs = g.trans_b ? g.ldb : 1;
  int64_t ldp;
  if (g.trans_a) {  // [K, N_pad]
    ldp = n_pad;
    widen_copy(g.b_dtype, b, bks, bjs, g.k, g.n, bp, ldp);
    for (int64_t kk = 0; kk < g.k; ++kk) std::fill(bp + kk * ldp + g.n, bp + kk * ldp + n_pad, 0.f);
  } else {  // [N_pad, K]
    ldp = g.k;
    widen_copy(g.b_dtype, b, bjs, bks, g.n, g.k, bp, ldp);
    std::fill(bp + g.n * ldp, bp + n_pad * ldp, 0.f);
  }
  NarrowFn fn = p.narrow[static_cast<int>(g.a_dtype)];
  auto rows = [&](int64_t i0, int64_t i1) {
    fn(g.n, g.k, a, g.trans_a, g.lda, bp, ldp, c, g.ldc, i0, i1, g.alpha, beta, bias);
  };
  // Row units of whole kernel steps, at least ~64k multiply-adds per chunk; each row's sums do not depend on it.
  const int64_t unit = p.narrow_rows, units = (g.m + unit - 1) / unit;
  if (parallel && g.m * g.n * g.k >= kMinParallelSmall)
    parallel_for(units, std::max<int64_t>(1, (int64_t(1) << 16) / (unit * g.k * n_pad)),
                 [&](int64_t u0, int64_t u1) { rows(u0 * unit, std::min(g.m, u1 * unit)); });
  else
    rows(0, g.m);
}

// One matrix of the batch, split over threads by columns (M < N: each thread re-packs the smaller A) or by rows.
void gemm_item(const Path& p, const GemmArgs& g, const void* a, const void* b, float* c, float beta,
               const float* bias, bool parallel) {
  if (g.k == 0) {
    scale_only(g, c, beta, bias);
    return;
  }
  if (g.n <= p.narrow_max_n && g.n <= g.m) {
    narrow_item(p, g, a, b, c, beta, bias, parallel);
    return;
  }
  if (g.trans_b && g.m <= kGemv16MaxRows && (g.b_dtype == DType::bf16 || g.b_dtype == DType::f16) &&
      gemv16_item(g, a, b, c, beta, bias, parallel))
    return;
  if (g.m <= (g.trans_b ? p.skinny_dot_max_m : p.skinny_max_m)) {
    skinny_item(p, g, a, b, c, beta, bias, parallel);
    return;
  }
  // Below ~64^3 multiply-adds a thread handoff costs more than it saves.
  if (!parallel || g.m * g.n * g.k < (int64_t(1) << 18)) {
    gemm_region(p, g, a, b, c, beta, bias, 0, g.m, 0, g.n);
    return;
  }
  bool by_cols = g.m < g.n;
  int64_t unit = by_cols ? p.nr : p.mr, extent = by_cols ? g.n : g.m;
  int64_t units = (extent + unit - 1) / unit;
  // Chunks of about 1024 rows/columns, at least one per thread and at most four: each chunk re-packs the other
  // operand (a few % at that size), and threads claim chunks as they finish, so a core taken by other work on a
  // shared machine delays the GEMM by one chunk instead of half of it.
  int64_t nt = num_threads();
  int64_t chunks = std::min(units, std::clamp<int64_t>(extent / 1024, nt, 4 * nt));
  std::atomic<int64_t> next{0};
  parallel_run(
      [&](int, int) {
        for (int64_t i; (i = next.fetch_add(1)) < chunks;) {
          int64_t lo = std::min(extent, units * i / chunks * unit);
          int64_t hi = std::min(extent, units * (i + 1) / chunks * unit);
          if (lo >= hi) continue;
          if (by_cols)
            gemm_region(p, g, a, b, c, beta, bias, 0, g.m, lo, hi);
          else
            gemm_region(p, g, a, b, c, beta, bias, lo, hi, 0, g.n);
        }
      },
      static_cast<int>(chunks));
}

std::atomic<int64_t> g_calls{0};

}  // namespace

void gemm(const GemmArgs& g) {
  g_calls.fetch_add(1, std::memory_order_relaxed);
  if (g.m <= 0 || g.n <= 0 || g.batch <= 0) return;
  const Path& p = g.bf16 ? current_bf16_path() : current_path();
  const size_t as = dtype_size(g.a_dtype), bs = dtype_size(g.b_dtype);
  auto item = [&](int64_t i, bool parallel) {
    // With stride_c == 0 every item adds into the same C: beta and bias apply to the first item only.
    bool accumulate = g.stride_c == 0 && i > 0;
    gemm_item(p, g, static_cast<const char*>(g.a) + i * g.stride_a * as,
              static_cast<const char*>(g.b) + i * g.stride_b * bs, g.c + i * g.stride_c,
              accumulate ? 1.f : g.beta, accumulate ? nullptr : g.bias, parallel);
  };
  int nt = num_threads();
  // Many independent items (attention heads): give each thread whole items. Otherwise split inside each item.
  if (g.stride_c != 0 && g.batch > 1 && nt > 1 && (g.batch % nt == 0 || g.batch >= 4 * nt)) {
    parallel_run([&](int tid, int n) {
      for (int64_t i = g.batch * tid / n; i < g.batch * (tid + 1) / n; ++i) item(i, false);
    });
    return;
  }
  for (int64_t i = 0; i < g.batch; ++i) item(i, true);
}

int64_t gemm_call_count() { return g_calls.load(std::memory_order_relaxed); }

bool gemm_bf16_instructions() { return bf16_instructions(); }

namespace {

// gemm(a, aDtype, b, bDtype, c, m, n, k, transA, transB, alpha, beta, batch, strideA, strideB, strideC, bias?, bf16?)
//   a: storage of op(A) for every batch item ([M,K], or [K,M] when transA), dtype code aDtype (f32/bf16/f16)
//   b: storage of op(B) ([K,N], or [N,K] when transB), dtype code bDtype
//   c: f32 storage [M,N] per item; strides are in elements (0 = one matrix shared by all items; for c: sum into it)
//   bias: optional f32 storage [N] added to every row (once, on the first item when strideC = 0)
//   bf16: mixed precision, operands rounded to bf16 (see GemmArgs::bf16)
// Matrices are contiguous: lda = transA ? M : K, ldb = transB ? K : N, ldc = N.
Napi::Value Gemm(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  LMF_CHECK(env, info.Length() >= 16, "gemm takes (a, aDtype, b, bDtype, c, m, n, k, transA, transB, alpha, beta, "
                                      "batch, strideA, strideB, strideC, bias?)");
  GemmArgs g;
  g.a = arg_ptr<void>(info, 0);
  g.a_dtype = static_cast<DType>(arg_int(info, 1));
  g.b = arg_ptr<void>(info, 2);
  g.b_dtype = static_cast<DType>(arg_int(info, 3));
  g.c = arg_ptr<float>(info, 4);
  g.m = arg_int(info, 5);
  g.n = arg_int(info, 6);
  g.k = arg_int(info, 7);
  g.trans_a = arg_bool(info, 8);
  g.trans_b = arg_bool(info, 9);
  g.alpha = static_cast<float>(arg_double(info, 10));
  g.beta = static_cast<float>(arg_double(info, 11));
  g.batch = arg_int(info, 12);
  g.stride_a = arg_int(info, 13);
  g.stride_b = arg_int(info, 14);
  g.stride_c = arg_int(info, 15);
  g.bias = arg_opt_ptr<float>(info, 16);
  g.bf16 = info.Length() > 17 && arg_bool(info, 17);
  auto floating = [](DType d) { return d == DType::f32 || d == DType::bf16 || d == DType::f16; };
  LMF_CHECK(env, floating(g.a_dtype) && floating(g.b_dtype), "gemm: A and B must be f32, bf16 or f16");
  LMF_CHECK(env, g.m >= 0 && g.n >= 0 && g.k >= 0 && g.batch >= 0, "gemm: negative size");
  g.lda = g.trans_a ? g.m : g.k;
  g.ldb = g.trans_b ? g.k : g.n;
  g.ldc = g.n;
  gemm(g);
  return env.Undefined();
}

Napi::Value GemmCallCount(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(gemm_call_count()));
}

}  // namespace

LMF_MODULE(gemm) {
  exports.Set("gemm", Napi::Function::New(env, Gemm));
  exports.Set("gemmCallCount", Napi::Function::New(env, GemmCallCount));
}

}  // namespace lmf
