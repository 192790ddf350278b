// The server's job queue, as A1111's queue lock: one job runs at a time (each already uses every core), the
// others wait in arrival order, at most `queue_size` of them (a further submit answers 429). One worker
// thread runs the jobs on the model kept loaded (a ModelSet); a request that names another checkpoint
// (override_settings.sd_model_checkpoint) has it loaded for its run, and POST /sdapi/v1/options switches
// the model later jobs use.
#pragma once

#include <deque>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <thread>

#include "server/job.h"
#include "server/server_options.h"

namespace i2i::server {

class JobQueue {
 public:
  // Loads `model` (throws i2i::Error when it cannot be loaded) and starts the worker.
  JobQueue(const std::filesystem::path& model, const ServerOptions& options,
           const std::filesystem::path& models_dir);
  ~JobQueue();  // shutdown()
  JobQueue(const JobQueue&) = delete;
  JobQueue& operator=(const JobQueue&) = delete;

  // Queues the job (its id is set here). Throws HttpError 429 when the queue is full, 503 once shut down.
  std::shared_ptr<Job> submit(A1111Request request, bool keep_when_finished,
                              std::filesystem::path checkpoint);
  std::shared_ptr<Job> find(const std::string& id) const;
  std::shared_ptr<Job> running() const;
  // 0: running (or finished), 1: next, ...; -1 unknown.
  int position(const Job& job) const;
  size_t waiting() const;
  // Jobs run to their end (done, failed or interrupted) since the start.
  uint64_t completed() const;
  // interrupt: the running job stops within one step and answers what it has; skip: its running batch
  // (or folder picture) is dropped and the next one starts (A1111's interrupt / skip).
  void interrupt(bool skip);
  // Cancels one job: a queued one is taken out of the queue, a running one stops. false: unknown or ended.
  bool cancel(const std::string& id);
  // The checkpoint later jobs use (loaded by the worker before the next job: the call waits for it, so that
  // a bad file answers here). Throws i2i::Error.
  void select_model(const std::filesystem::path& checkpoint);
  std::filesystem::path selected_model() const;
  // Stops accepting jobs, cancels the running one and every queued one, joins the worker. Idempotent.
  void shutdown();

 private:
  void worker();
  void run(Job& job);
  void ensure_loaded(const std::filesystem::path& checkpoint);
  void finish(Job& job, JobState state);
  // Counts the running job as completed (before its end is announced, so that a client answered at once
  // sees it in /progress).
  void count_completed();
  bool stopping() const;

  ServerOptions options_;
  std::filesystem::path models_dir_;
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<std::shared_ptr<Job>> queue_;
  std::shared_ptr<Job> running_;
  std::map<std::string, std::shared_ptr<Job>> jobs_;  // queued, running and kept finished ones
  std::deque<std::string> finished_order_;
  bool stopping_ = false;
  uint64_t completed_ = 0;
  uint64_t submitted_ = 0;
  std::filesystem::path selected_;  // guarded by mutex_
  // The worker's: the loaded model (model_mutex_ also serialises select_model's loading).
  std::mutex model_mutex_;
  std::unique_ptr<ModelSet> models_;
  std::filesystem::path loaded_;
  std::thread thread_;
};

}  // namespace i2i::server
