#include "server/a1111_response.h"

#include <ctime>

#include "io/image.h"
#include "server/base64.h"

namespace i2i::server {
using nlohmann::json;

std::string png_base64(const Image& image, const std::string& parameters) {
  std::vector<std::pair<std::string, std::string>> text;
  if (!parameters.empty()) text.emplace_back("parameters", parameters);
  return base64_encode(encode_png(image, text, "response image"));
}

namespace {

std::string timestamp(std::chrono::system_clock::time_point t) {
  const std::time_t tt = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  localtime_r(&tt, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y%m%d%H%M%S", &tm);
  return buf;
}

// Call with job.mutex held.
json info_locked(const Job& job) {
  const GenerationParams& p = job.request.request.params;
  const A1111Request& r = job.request;
  json all_seeds = json::array(), all_prompts = json::array(), all_negative = json::array(),
       infotexts = json::array(), all_subseeds = json::array();
  for (const GeneratedImage& g : job.images) {
    all_seeds.push_back(g.seed);
    all_subseeds.push_back(r.subseed);
    all_prompts.push_back(p.prompt);
    all_negative.push_back(p.negative_prompt);
    infotexts.push_back(g.parameters);
  }
  const bool img2img = r.mode == GenerationMode::Img2Img;
  json info = {
      {"prompt", p.prompt},
      {"all_prompts", all_prompts},
      {"negative_prompt", p.negative_prompt},
      {"all_negative_prompts", all_negative},
      {"seed", job.images.empty() ? job.seed : job.images.front().seed},
      {"all_seeds", all_seeds},
      {"subseed", r.subseed},
      {"all_subseeds", all_subseeds},
      {"subseed_strength", r.subseed_strength},
      {"width", job.width ? job.width : p.width},
      {"height", job.height ? job.height : p.height},
      {"sampler_name", p.sampler},
      {"cfg_scale", p.cfg_scale},
      {"steps", p.steps},
      {"batch_size", p.batch_size},
      {"restore_faces", false},
      {"face_restoration_model", nullptr},
      {"sd_model_name", job.model_name},
      {"sd_model_hash", job.model_hash},
      {"sd_vae_name", nullptr},
      {"sd_vae_hash", nullptr},
      {"seed_resize_from_w", -1},
      {"seed_resize_from_h", -1},
      {"denoising_strength", img2img ? json(p.strength) : json(nullptr)},
      {"extra_generation_params", json::object()},
      {"index_of_first_image", 0},
      {"infotexts", infotexts},
      {"styles", json::array()},
      {"job_timestamp", timestamp(job.created)},
      {"clip_skip", p.clip_skip},
      {"is_using_inpainting_conditioning", false},
      {"version", "i2i"},
      {"i2i_ignored", r.ignored},
      {"i2i_notices", job.notices},
      {"i2i_interrupted", job.interrupted || job.skipped},
  };
  if (!p.schedule.empty()) info["extra_generation_params"]["Schedule type"] = p.schedule;
  return info;
}

}  // namespace

json a1111_info(const Job& job) {
  std::lock_guard<std::mutex> lock(job.mutex);
  return info_locked(job);
}

json a1111_generation_response(const Job& job) {
  std::lock_guard<std::mutex> lock(job.mutex);
  json images = json::array();
  if (job.request.send_images)
    for (const GeneratedImage& g : job.images) images.push_back(png_base64(g.image, g.parameters));
  return {{"images", images}, {"parameters", job.request.parameters}, {"info", info_locked(job).dump()}};
}

json a1111_progress(const Job* running, size_t waiting, uint64_t completed, bool skip_current_image) {
  json state = {{"skipped", false},
                {"interrupted", false},
                {"stopping_generation", false},
                {"job", ""},
                {"job_count", 0},
                {"job_timestamp", "0"},
                {"job_no", 0},
                {"sampling_step", 0},
                {"sampling_steps", 0},
                {"queue_waiting", waiting},
                {"jobs_completed", completed}};
  if (!running)
    return {{"progress", 0.0},          {"eta_relative", 0.0}, {"state", state},
            {"current_image", nullptr}, {"textinfo", nullptr}, {"current_task", nullptr}};
  std::lock_guard<std::mutex> lock(running->mutex);
  const int job_count = std::max(running->batches, 1);
  state["skipped"] = running->skipped;
  state["interrupted"] = running->interrupted;
  // (A1111's API names the job by its kind; the id is the native API's capability: not shown)
  state["job"] = running->request.mode == GenerationMode::Img2Img ? "scripts_img2img" : "scripts_txt2img";
  state["job_count"] = job_count;
  state["job_timestamp"] = timestamp(running->created);
  state["job_no"] = running->batch;
  state["sampling_step"] = running->step;
  state["sampling_steps"] = running->steps;
  // A1111's arithmetic (modules/progress.py): 0.01 + done batches + the running batch's steps.
  double progress = 0.01 + static_cast<double>(running->batch) / job_count;
  if (running->steps > 0) progress += 1.0 / job_count * running->step / running->steps;
  double eta_relative = 0;
  if (running->state == JobState::Running) {
    const double elapsed =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - running->started).count();
    eta_relative = elapsed / progress - elapsed;
  }
  json current_image = nullptr;
  if (!skip_current_image && running->preview) current_image = png_base64(*running->preview, "");
  const std::string textinfo =
      running->steps > 0 ? "Step " + std::to_string(running->step) + "/" + std::to_string(running->steps)
                         : "Waiting...";
  return {
      {"progress", std::min(progress, 1.0)}, {"eta_relative", eta_relative}, {"state", state},
      {"current_image", current_image},      {"textinfo", textinfo},         {"current_task", running->task}};
}

}  // namespace i2i::server
