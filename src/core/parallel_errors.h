// An exception thrown inside an OpenMP parallel loop must not leave the loop's body: escaping it ends the
// program (std::terminate, SIGABRT) instead of reaching the caller, e.g. a std::bad_alloc under a memory
// limit. A body that can throw (it allocates, or calls code that checks its input) runs through
// ParallelErrors::run, and after the loop rethrow() throws the first exception caught, so the caller sees
// the same error it would have seen from a serial loop.
//
//   ParallelErrors errors;
//   #pragma omp parallel for
//   for (int i = 0; i < n; ++i) errors.run([&] { work(i); });
//   errors.rethrow();
#pragma once

#include <exception>
#include <mutex>

namespace i2i {

class ParallelErrors {
 public:
  // Runs `body`; an exception it throws is kept (the first one) instead of propagating. After a failure
  // the remaining iterations still run their bodies (each may fail the same way; only the first is kept).
  template <typename Body>
  void run(Body&& body) noexcept {
    try {
      body();
    } catch (...) {
      std::lock_guard<std::mutex> lock(mutex_);
      if (!first_) first_ = std::current_exception();
    }
  }
  // Throws the first exception a body threw, if any.
  void rethrow() const {
    if (first_) std::rethrow_exception(first_);
  }

 private:
  std::mutex mutex_;
  std::exception_ptr first_;
};

}  // namespace i2i
