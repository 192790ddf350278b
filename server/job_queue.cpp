#include "server/job_queue.h"

#include <random>

#include "models/model_hash.h"
#include "pipelines/img2img.h"
#include "pipelines/infotext.h"
#include "pipelines/inpaint_composite.h"
#include "pipelines/pipeline_stages.h"
#include "server/error_paths.h"
#include "server/http_error.h"

namespace i2i::server {
namespace fs = std::filesystem;

const char* job_state_name(JobState s) {
  switch (s) {
    case JobState::Queued:
      return "queued";
    case JobState::Running:
      return "running";
    case JobState::Done:
      return "done";
    case JobState::Failed:
      return "failed";
    case JobState::Cancelled:
      return "cancelled";
  }
  return "unknown";
}

namespace {

std::string new_job_id() {
  static std::mutex m;
  static std::random_device rd;
  static std::mt19937_64 gen(rd());
  std::lock_guard<std::mutex> lock(m);
  char buf[33];
  std::snprintf(buf, sizeof buf, "%016llx%016llx", static_cast<unsigned long long>(gen()),
                static_cast<unsigned long long>(gen()));
  return buf;
}

void set_error(Job& job, int status, const nlohmann::json& body) {
  job.error_status = status;
  job.error_body = json_without_server_paths(body);  // (the library's messages name files by their path)
}

}  // namespace

JobQueue::JobQueue(const fs::path& model, const ServerOptions& options, const fs::path& models_dir)
    : options_(options), models_dir_(models_dir), selected_(model) {
  ensure_loaded(model);
  thread_ = std::thread([this] { worker(); });
}

JobQueue::~JobQueue() {
  shutdown();
}

std::shared_ptr<Job> JobQueue::submit(A1111Request request, bool keep_when_finished, fs::path checkpoint) {
  auto job = std::make_shared<Job>();
  job->request = std::move(request);
  job->keep_when_finished = keep_when_finished;
  job->id = new_job_id();
  if (!checkpoint.empty()) job->request.checkpoint = checkpoint.string();
  std::lock_guard<std::mutex> lock(mutex_);
  if (stopping_) throw http_error(503, "the server is shutting down");
  if (queue_.size() >= options_.queue_size)
    throw http_error(429, "the queue is full (" + std::to_string(queue_.size()) + " jobs waiting)");
  job->task = "task(" + std::to_string(++submitted_) + ")";
  queue_.push_back(job);
  jobs_[job->id] = job;
  wake_.notify_all();
  return job;
}

std::shared_ptr<Job> JobQueue::find(const std::string& id) const {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = jobs_.find(id);
  return it == jobs_.end() ? nullptr : it->second;
}

std::shared_ptr<Job> JobQueue::running() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return running_;
}

int JobQueue::position(const Job& job) const {
  std::lock_guard<std::mutex> lock(mutex_);
  for (size_t i = 0; i < queue_.size(); ++i)
    if (queue_[i].get() == &job) return static_cast<int>(i) + 1;
  return jobs_.count(job.id) ? 0 : -1;
}

bool JobQueue::stopping() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return stopping_;
}

uint64_t JobQueue::completed() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return completed_;
}

size_t JobQueue::waiting() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return queue_.size();
}

void JobQueue::interrupt(bool skip) {
  std::shared_ptr<Job> job = running();
  if (!job) return;
  {
    std::lock_guard<std::mutex> lock(job->mutex);
    (skip ? job->skipped : job->interrupted) = true;
    ++job->version;
  }
  job->cancel = true;
  job->changed.notify_all();
}

bool JobQueue::cancel(const std::string& id) {
  std::shared_ptr<Job> job;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = jobs_.find(id);
    if (it == jobs_.end()) return false;
    job = it->second;
    for (auto q = queue_.begin(); q != queue_.end(); ++q)
      if (*q == job) {
        queue_.erase(q);
        if (job->keep_when_finished)
          finished_order_.push_back(job->id);
        else
          jobs_.erase(job->id);
        {
          std::lock_guard<std::mutex> jl(job->mutex);
          job->state = JobState::Cancelled;
          ++job->version;
        }
        job->changed.notify_all();
        return true;
      }
  }
  {
    std::lock_guard<std::mutex> jl(job->mutex);
    if (job->finished()) return false;
    job->interrupted = true;
    ++job->version;
  }
  job->cancel = true;
  return true;
}

void JobQueue::select_model(const fs::path& checkpoint) {
  {
    std::lock_guard<std::mutex> lock(model_mutex_);
    ensure_loaded(checkpoint);
  }
  std::lock_guard<std::mutex> lock(mutex_);
  selected_ = checkpoint;
}

fs::path JobQueue::selected_model() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return selected_;
}

void JobQueue::shutdown() {
  std::deque<std::shared_ptr<Job>> dropped;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (stopping_ && !thread_.joinable()) return;
    stopping_ = true;
    dropped.swap(queue_);
    if (running_) running_->cancel = true;
    wake_.notify_all();
  }
  for (auto& job : dropped) {
    {
      std::lock_guard<std::mutex> jl(job->mutex);
      job->state = JobState::Cancelled;
      set_error(*job, 503, {{"detail", "the server is shutting down"}});
      ++job->version;
    }
    job->changed.notify_all();
  }
  if (thread_.joinable()) thread_.join();
}

void JobQueue::worker() {
  for (;;) {
    std::shared_ptr<Job> job;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      wake_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      if (stopping_) return;
      job = queue_.front();
      queue_.pop_front();
      running_ = job;
    }
    run(*job);  // (counts the job as completed before announcing its end)
    std::lock_guard<std::mutex> lock(mutex_);
    if (job->keep_when_finished) {
      finished_order_.push_back(job->id);
      while (finished_order_.size() > options_.finished_jobs_kept) {
        jobs_.erase(finished_order_.front());
        finished_order_.pop_front();
      }
    } else {
      jobs_.erase(job->id);
    }
  }
}

void JobQueue::ensure_loaded(const fs::path& checkpoint) {
  if (models_ && loaded_ == checkpoint) return;
  models_.reset();  // (one model in memory at a time)
  loaded_.clear();
  models_ = ModelSet::load(checkpoint, options_.model_options);
  loaded_ = checkpoint;
}

void JobQueue::count_completed() {
  std::lock_guard<std::mutex> lock(mutex_);
  running_.reset();
  ++completed_;
}

void JobQueue::finish(Job& job, JobState state) {
  count_completed();
  {
    std::lock_guard<std::mutex> lock(job.mutex);
    job.state = state;
    job.ended = std::chrono::steady_clock::now();
    ++job.version;
  }
  job.changed.notify_all();
}

void JobQueue::run(Job& job) {
  {
    std::lock_guard<std::mutex> lock(job.mutex);
    job.state = JobState::Running;
    job.started = std::chrono::steady_clock::now();
    job.batches = job.request.request.params.batch_count;
    ++job.version;
  }
  job.changed.notify_all();
  if (job.cancel) return finish(job, JobState::Cancelled);
  std::lock_guard<std::mutex> model_lock(model_mutex_);
  // The latents after the last step: what an interrupted run answers with (decoded), as A1111 does.
  Tensor last_latents;
  Tensor* interrupted_at = nullptr;
  bool had_mask = false;
  GenerationRequest req;  // (the pictures an interrupted inpainting run's composite needs)
  try {
    fs::path checkpoint =
        job.request.checkpoint.empty() ? selected_model() : fs::path(job.request.checkpoint);
    ensure_loaded(checkpoint);
    {
      std::lock_guard<std::mutex> lock(job.mutex);
      job.model_name = model_stem(checkpoint);
      job.model_hash = model_short_hash(checkpoint);
    }
    // The request leaves the job here: the worker owns the pictures from now on.
    req = std::move(job.request.request);
    // A random seed is picked here rather than in generate() (as it does): an interrupted run's pictures
    // then carry theirs too.
    if (req.params.seed < 0) {
      const int64_t images = static_cast<int64_t>(req.params.batch_size) * req.params.batch_count;
      req.params.seed =
          static_cast<int64_t>(std::random_device{}() % static_cast<uint64_t>(kMaxSeed + 1 - images));
    }
    had_mask = req.images.mask.has_value();
    job.request.request.params = req.params;
    req.params.models_dir = models_dir_.string();
    req.cancel = &job.cancel;
    // The request runs as one generate() per batch (batch k: seed + k x batch_size, as generate() numbers
    // them; the parameters text does not record the batch count), so that /skip can drop the running batch
    // and go on with the next, as A1111's does. A folder batch (POST /i2i/v1/batch) runs it once per
    // picture, as its init image, whole.
    std::vector<Image> inputs = std::move(job.request.batch_inputs);
    const std::vector<std::string> names = job.request.batch_names;
    const bool folder = !inputs.empty();
    const size_t runs = folder ? inputs.size() : static_cast<size_t>(req.params.batch_count);
    if (!folder) interrupted_at = &last_latents;
    for (size_t i = 0; i < runs; ++i) {
      GenerationRequest one = req;
      if (folder) {
        one.images.init = std::move(inputs[i]);
      } else {
        one.params.batch_count = 1;
        one.params.seed = req.params.seed + static_cast<int64_t>(i) * req.params.batch_size;
      }
      // ControlNet, IP-Adapter and reference units given no picture take this run's init picture (not copied
      // while the job waited).
      for (size_t u = 0; u < job.request.control_from_init.size() && u < one.images.controls.size(); ++u)
        if (job.request.control_from_init[u]) one.images.controls[u] = one.images.init;
      for (size_t u = 0; u < job.request.ip_adapter_from_init.size() && u < one.images.ip_adapters.size();
           ++u)
        if (job.request.ip_adapter_from_init[u]) one.images.ip_adapters[u] = one.images.init;
      if (job.request.reference_from_init) one.images.reference = one.images.init;
      one.progress = [&job, &last_latents, folder, i, runs](const GenerationProgress& g) {
        std::optional<Image> preview;
        if (g.latents) {
          preview = preview_image(*g.latents, 0);
          if (!folder) last_latents = g.latents->clone();
        }
        {
          std::lock_guard<std::mutex> lock(job.mutex);
          job.step = g.step;
          job.steps = g.steps;
          job.batch = static_cast<int>(i);
          job.batches = static_cast<int>(runs);
          if (preview) job.preview = std::move(preview);
          ++job.version;
        }
        job.changed.notify_all();
        return !job.cancel.load();
      };
      one.on_image = nullptr;
      GenerationResult r;
      try {
        r = generate(*models_, one);
      } catch (const Cancelled&) {
        // /skip: this batch (or picture) is dropped, the job goes on; anything else ends it.
        const bool shutting_down = stopping();  // (mutex_ before job.mutex, as everywhere)
        std::lock_guard<std::mutex> lock(job.mutex);
        const bool skip_only = job.skipped && !job.interrupted && !shutting_down;
        if (!skip_only) throw;
        job.skipped = false;
        job.cancel = false;
        job.notices.push_back(std::string(folder ? "picture " : "batch ") + std::to_string(i) + " skipped");
        continue;
      }
      std::lock_guard<std::mutex> lock(job.mutex);
      for (size_t k = 0; k < r.images.size(); ++k) {
        job.images.push_back(std::move(r.images[k]));
        if (!folder) continue;
        std::string name = names[i];
        if (k > 0) name.append("-").append(std::to_string(k));
        job.image_names.push_back(std::move(name));
      }
      if (job.width == 0) {
        job.seed = r.seed;
        job.width = r.width;
        job.height = r.height;
      }
      ++job.version;
      for (std::string& n : r.notices) job.notices.push_back(folder ? names[i] + ": " + n : n);
      if (r.nothing_to_repaint)
        job.notices.push_back("the mask leaves nothing to repaint: the source is returned");
    }
    {
      std::lock_guard<std::mutex> lock(job.mutex);
      if (job.width == 0) job.seed = req.params.seed;  // (every batch skipped)
    }
    finish(job, JobState::Done);
  } catch (const Cancelled&) {
    bool by_user = false;
    {
      std::lock_guard<std::mutex> lock(job.mutex);
      by_user = job.interrupted || job.skipped;
    }
    // The batch that was running, decoded as far as it got and put back into the source as a finished
    // inpainting picture is, with the parameters text its pictures would have had.
    std::vector<GeneratedImage> partial;
    if (by_user && interrupted_at && interrupted_at->ndim() == 4) {
      try {
        const Tensor pictures = stages::decode_latents(models_->model(), *interrupted_at);
        GenerationParams p = job.request.request.params;
        p.model = loaded_.string();
        InfotextHashes hashes;
        int batch = 0;
        {
          std::lock_guard<std::mutex> lock(job.mutex);
          hashes.model = job.model_hash;
          batch = job.batch;
        }
        const InfotextKind kind{job.request.mode == GenerationMode::Img2Img, had_mask};
        for (int64_t b = 0; b < pictures.dim(0); ++b) {
          GeneratedImage g;
          g.image = tensor_to_image(pictures, b);
          if (had_mask) g.image = finish_inpaint_picture(req, g.image);
          g.seed = p.seed + static_cast<int64_t>(batch) * p.batch_size + b;
          g.parameters = format_parameters(make_infotext(p, g.seed, static_cast<int>(pictures.dim(2)),
                                                         static_cast<int>(pictures.dim(1)),
                                                         static_cast<int>(b), kind, hashes));
          partial.push_back(std::move(g));
        }
      } catch (const std::exception&) {
        partial.clear();  // (nothing more to give)
      }
    }
    count_completed();
    std::lock_guard<std::mutex> lock(job.mutex);
    if (!partial.empty())
      job.notices.push_back("interrupted after step " + std::to_string(job.step) + " of " +
                            std::to_string(job.steps) + ": the last " + std::to_string(partial.size()) +
                            " picture(s) are the partly denoised latents, decoded");
    for (GeneratedImage& g : partial) job.images.push_back(std::move(g));
    if (!by_user) set_error(job, 503, {{"detail", "cancelled: the server is shutting down"}});
    job.seed = job.images.empty() ? job.request.request.params.seed : job.images.front().seed;
    job.width = job.request.request.params.width;
    job.height = job.request.request.params.height;
    job.state = by_user ? JobState::Done : JobState::Cancelled;
    job.ended = std::chrono::steady_clock::now();
    ++job.version;
    job.changed.notify_all();
  } catch (const ParameterError& e) {
    // (what only the loaded model can tell: a clip skip beyond its text encoder, a prompt of too many chunks)
    const HttpError answer = a1111_parameter_error(e);
    {
      std::lock_guard<std::mutex> lock(job.mutex);
      set_error(job, answer.status(), answer.body());
    }
    finish(job, JobState::Failed);
  } catch (const std::exception& e) {
    {
      std::lock_guard<std::mutex> lock(job.mutex);
      // As A1111's API answers an exception in a handler.
      set_error(job, 500, {{"error", "RuntimeError"}, {"detail", ""}, {"body", ""}, {"errors", e.what()}});
    }
    finish(job, JobState::Failed);
  }
}

}  // namespace i2i::server
