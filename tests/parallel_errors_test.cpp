// core/parallel_errors.h: an exception thrown in an OpenMP loop's body reaches the caller after the loop
// (without it, the exception leaving the parallel region would end the test program with SIGABRT).
#include "core/parallel_errors.h"

#include <gtest/gtest.h>
#include <omp.h>

#include <atomic>
#include <new>
#include <string>

#include "core/error.h"

namespace i2i {
namespace {

TEST(ParallelErrors, TheFirstExceptionReachesTheCaller) {
  std::atomic<int> ran{0};
  ParallelErrors errors;
#pragma omp parallel for schedule(dynamic) num_threads(2)
  for (int i = 0; i < 64; ++i)
    errors.run([&] {
      ++ran;
      if (i == 17) throw std::bad_alloc();
    });
  EXPECT_EQ(ran.load(), 64);  // the other bodies still ran
  EXPECT_THROW(errors.rethrow(), std::bad_alloc);
}

TEST(ParallelErrors, KeepsTheTypeAndMessage) {
  ParallelErrors errors;
#pragma omp parallel for num_threads(2)
  for (int i = 0; i < 8; ++i)
    errors.run([&] {
      if (i == 5) throw Error("map 5 is empty");
    });
  try {
    errors.rethrow();
    FAIL() << "nothing thrown";
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "map 5 is empty");
  }
}

TEST(ParallelErrors, NothingThrownWhenEveryBodySucceeds) {
  int sum = 0;
  ParallelErrors errors;
#pragma omp parallel for reduction(+ : sum) num_threads(2)
  for (int i = 0; i < 100; ++i) errors.run([&] { sum += i; });
  EXPECT_NO_THROW(errors.rethrow());
  EXPECT_EQ(sum, 4950);
}

}  // namespace
}  // namespace i2i
