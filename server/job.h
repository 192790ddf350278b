// One generation job of the server's queue: the parsed request, where it is (queued, running, finished), its
// progress and live preview, and its outcome. Shared between the HTTP threads that submit, poll, cancel and
// wait for it and the queue's worker that runs it; everything but the request is guarded by `mutex`.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "pipelines/generation.h"
#include "server/a1111_request.h"

namespace i2i::server {

enum class JobState { Queued, Running, Done, Failed, Cancelled };
const char* job_state_name(JobState s);  // "queued", "running", "done", "failed", "cancelled"

struct Job {
  std::string id;    // the capability of the native API: never shown to other clients
  std::string task;  // what /sdapi/v1/progress names the running job by: "task(N)", N counting jobs
  A1111Request request;
  bool keep_when_finished = false;  // async jobs stay findable after they end (sync ones are answered)
  std::chrono::system_clock::time_point created = std::chrono::system_clock::now();
  std::atomic<bool> cancel{false};  // the run stops before its next UNet call

  mutable std::mutex mutex;
  std::condition_variable changed;
  uint64_t version = 0;  // increases with every change below (server-sent events follow it)
  JobState state = JobState::Queued;
  std::chrono::steady_clock::time_point started, ended;
  int step = 0, steps = 0, batch = 0, batches = 0;
  std::optional<Image> preview;  // A1111's "Approx cheap" preview after the last step
  bool interrupted = false, skipped = false;
  // The outcome: the pictures made (all of them, or those finished before an interrupt), what the run
  // reports, the model it ran on; or the error (an HTTP status and A1111-shaped body).
  std::vector<GeneratedImage> images;
  std::vector<std::string> image_names;  // a folder batch's: each picture's source name (no extension)
  int64_t seed = 0;
  int width = 0, height = 0;
  std::vector<std::string> notices;
  std::string model_name, model_hash;
  int error_status = 0;
  nlohmann::json error_body;

  bool finished() const {
    return state == JobState::Done || state == JobState::Failed || state == JobState::Cancelled;
  }
  // Blocks until the job has finished.
  void wait() {
    std::unique_lock<std::mutex> lock(mutex);
    changed.wait(lock, [this] { return finished(); });
  }
  // The same for at most `timeout`: whether it has finished.
  bool wait_for(std::chrono::milliseconds timeout) {
    std::unique_lock<std::mutex> lock(mutex);
    return changed.wait_for(lock, timeout, [this] { return finished(); });
  }
};

}  // namespace i2i::server
