// The cuBLASLt layouts of kernels/cuda/gemm_layout.h, checked on the host (no
// GPU, no CUDA library): a small model of what cublasLtMatmul computes from
// transa/transb and the three matrix layouts runs on operands stored as the
// caller says, and its result must be the caller's product, in the caller's
// storage, without reading or writing outside the operands' sizes (m·k, k·n,
// m·n, as the buffers are allocated).
#include "kernels/cuda/gemm_layout.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <string>
#include <tuple>
#include <vector>

namespace tokenmeter::kernels::cuda {
namespace {

// Elements a column-major layout spans from its first element.
int64_t Extent(const LtMatrix& x) { return (x.cols - 1) * x.ld + x.rows; }

double At(const std::vector<double>& v, const LtMatrix& x, int64_t r, int64_t c) {
  return v[static_cast<size_t>(r + c * x.ld)];
}

// What cublasLtMatmul does with α = 1, β = 0: column-major D = op(A)·op(B),
// D in C's layout. Fails the test on inconsistent dimensions or a leading
// dimension below the rows (cuBLASLt refuses those).
std::vector<double> LtMatmul(const LtGemmLayout& l, const std::vector<double>& lt_a,
                             const std::vector<double>& lt_b, int64_t c_elems) {
  const int64_t m = l.c.rows, n = l.c.cols;
  const int64_t op_a_rows = l.transa ? l.a.cols : l.a.rows;
  const int64_t k = l.transa ? l.a.rows : l.a.cols;
  const int64_t op_b_rows = l.transb ? l.b.cols : l.b.rows;
  const int64_t op_b_cols = l.transb ? l.b.rows : l.b.cols;
  EXPECT_EQ(op_a_rows, m);
  EXPECT_EQ(op_b_rows, k);
  EXPECT_EQ(op_b_cols, n);
  for (const LtMatrix* x : {&l.a, &l.b, &l.c}) EXPECT_GE(x->ld, x->rows);
  EXPECT_LE(Extent(l.a), static_cast<int64_t>(lt_a.size()));
  EXPECT_LE(Extent(l.b), static_cast<int64_t>(lt_b.size()));
  EXPECT_LE(Extent(l.c), c_elems);
  std::vector<double> d(static_cast<size_t>(c_elems), -1e300);
  if (testing::Test::HasFailure()) return d;
  for (int64_t i = 0; i < m; ++i) {
    for (int64_t j = 0; j < n; ++j) {
      double sum = 0;
      for (int64_t p = 0; p < k; ++p) {
        const double a = l.transa ? At(lt_a, l.a, p, i) : At(lt_a, l.a, i, p);
        const double b = l.transb ? At(lt_b, l.b, j, p) : At(lt_b, l.b, p, j);
        sum += a * b;
      }
      d[static_cast<size_t>(i + j * l.c.ld)] = sum;
    }
  }
  return d;
}

std::vector<double> Random(int64_t elems, std::mt19937_64& rng) {
  std::uniform_int_distribution<int> dist(-8, 8);  // exact in double
  std::vector<double> v(static_cast<size_t>(elems));
  for (double& x : v) x = dist(rng);
  return v;
}

struct Shape {
  int64_t m, n, k;
};
const Shape kShapes[] = {{96, 40, 72}, {1, 1, 1}, {3, 5, 7}, {7, 1, 2}, {1, 9, 4}, {16, 32, 48}};

std::string Name(const Shape& s, GemmStorage st) {
  return testing::PrintToString(std::make_tuple(s.m, s.n, s.k, st.row_major, st.transpose_a,
                                                st.transpose_b));
}

// Row-major C (m×n) = op(A)·op(B) as kernels/step.h defines the transposes.
TEST(GemmLayoutTest, RowMajorComputesTheProductForEveryTransposeCombination) {
  std::mt19937_64 rng(12);
  for (const Shape& s : kShapes) {
    for (bool ta : {false, true}) {
      for (bool tb : {false, true}) {
        const GemmStorage st{.row_major = true, .transpose_a = ta, .transpose_b = tb};
        SCOPED_TRACE(Name(s, st));
        const int64_t m = s.m, n = s.n, k = s.k;
        // A stored m×k (a[i*k + p]) or k×m (a[p*m + i]); B stored k×n
        // (b[p*n + j]) or n×k (b[j*k + p]).
        const std::vector<double> a = Random(m * k, rng), b = Random(k * n, rng);
        auto op_a = [&](int64_t i, int64_t p) { return a[ta ? p * m + i : i * k + p]; };
        auto op_b = [&](int64_t p, int64_t j) { return b[tb ? j * k + p : p * n + j]; };
        const LtGemmLayout l = LayoutFor(m, n, k, st);
        ASSERT_TRUE(l.swap_operands);
        const std::vector<double> c = LtMatmul(l, b, a, m * n);
        ASSERT_FALSE(HasFailure());
        for (int64_t i = 0; i < m; ++i) {
          for (int64_t j = 0; j < n; ++j) {
            double want = 0;
            for (int64_t p = 0; p < k; ++p) want += op_a(i, p) * op_b(p, j);
            ASSERT_EQ(c[static_cast<size_t>(i * n + j)], want) << "C[" << i << "," << j << "]";
          }
        }
      }
    }
  }
}

// The layouts themselves, for one shape: what cuBLASLt is told.
TEST(GemmLayoutTest, RowMajorLeadingDimensions) {
  const int64_t m = 96, n = 40, k = 72;
  struct Want {
    bool ta, tb;
    std::string name;
    LtMatrix a, b;
  };
  for (const Want& w : {Want{false, false, "NN", {n, k, n}, {k, m, k}},
                        Want{false, true, "TN", {k, n, k}, {k, m, k}},
                        Want{true, false, "NT", {n, k, n}, {m, k, m}},
                        Want{true, true, "TT", {k, n, k}, {m, k, m}}}) {
    SCOPED_TRACE(w.name);
    const LtGemmLayout l =
        LayoutFor(m, n, k, {.row_major = true, .transpose_a = w.ta, .transpose_b = w.tb});
    EXPECT_EQ(l.Name(), w.name);
    EXPECT_EQ(std::tie(l.a.rows, l.a.cols, l.a.ld), std::tie(w.a.rows, w.a.cols, w.a.ld));
    EXPECT_EQ(std::tie(l.b.rows, l.b.cols, l.b.ld), std::tie(w.b.rows, w.b.cols, w.b.ld));
    EXPECT_EQ(std::make_tuple(l.c.rows, l.c.cols, l.c.ld), std::make_tuple(n, m, n));
  }
}

// The convention CublasLtGemm::Run uses and reference_gemm.cu checks:
// A[i,p] = a[i*k + p], B[p,j] = b[j*k + p], C[i,j] = c[j*m + i].
TEST(GemmLayoutTest, ColumnMajorTnIsTheReferenceCheckConvention) {
  std::mt19937_64 rng(7);
  for (const Shape& s : kShapes) {
    SCOPED_TRACE(Name(s, {}));
    const int64_t m = s.m, n = s.n, k = s.k;
    const std::vector<double> a = Random(m * k, rng), b = Random(k * n, rng);
    const LtGemmLayout l = LayoutFor(m, n, k, GemmStorage{});
    EXPECT_EQ(l.Name(), "TN");
    ASSERT_FALSE(l.swap_operands);
    const std::vector<double> c = LtMatmul(l, a, b, m * n);
    ASSERT_FALSE(HasFailure());
    for (int64_t i = 0; i < m; ++i) {
      for (int64_t j = 0; j < n; ++j) {
        double want = 0;
        for (int64_t p = 0; p < k; ++p) want += a[i * k + p] * b[j * k + p];
        ASSERT_EQ(c[static_cast<size_t>(j * m + i)], want) << "C[" << i << "," << j << "]";
      }
    }
  }
}

TEST(GemmLayoutTest, Fp8NeedsTnOnAdaHopperAnd12x) {
  EXPECT_TRUE(Fp8NeedsTn(8, 9));
  EXPECT_TRUE(Fp8NeedsTn(9, 0));
  EXPECT_FALSE(Fp8NeedsTn(10, 0));
  EXPECT_FALSE(Fp8NeedsTn(10, 3));
  EXPECT_FALSE(Fp8NeedsTn(11, 0));
  EXPECT_TRUE(Fp8NeedsTn(12, 0));
  EXPECT_TRUE(Fp8NeedsTn(12, 1));
  EXPECT_FALSE(Fp8NeedsTn(13, 0));
}

// Where fp8 takes only TN every combination runs as TN, on the same buffers.
TEST(GemmLayoutTest, Fp8StorageIsTnWhereTheHardwareNeedsIt) {
  for (bool ta : {false, true}) {
    for (bool tb : {false, true}) {
      const GemmStorage asked{.row_major = true, .transpose_a = ta, .transpose_b = tb};
      SCOPED_TRACE(Name({96, 48, 64}, asked));
      const GemmStorage run = Fp8Storage(asked, /*needs_tn=*/true);
      EXPECT_EQ(LayoutFor(96, 48, 64, run).Name(), "TN");
      EXPECT_TRUE(run.row_major);
      EXPECT_EQ(Fp8Storage(asked, /*needs_tn=*/false), asked);
    }
  }
  EXPECT_EQ(Fp8Storage(GemmStorage{}, true), GemmStorage{});  // TN already
  EXPECT_EQ(LayoutFor(96, 48, 64, GemmStorage{}).Name(), "TN");
}

}  // namespace
}  // namespace tokenmeter::kernels::cuda
