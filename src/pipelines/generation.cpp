#include "pipelines/generation.h"

#include <algorithm>
#include <new>
#include <random>

#include "io/image_resize.h"
#include "models/checkpoint.h"
#include "models/controlnet_load.h"
#include "models/model_names.h"
#include "pipelines/img2img.h"
#include "pipelines/infotext.h"
#include "pipelines/inpaint.h"
#include "pipelines/inpaint_composite.h"
#include "pipelines/ip_adapter_request.h"
#include "preprocess/control_image.h"
#include "preprocess/control_preprocessors.h"
#include "sampling/rng_philox.h"
#include "sampling/rng_torch.h"
#include "sampling/scheduler.h"

namespace i2i {
namespace fs = std::filesystem;

ModelSet::ModelSet(SdModel model) : model_(std::move(model)), path_(model_.checkpoint.path) {}

std::unique_ptr<ModelSet> ModelSet::load(const fs::path& name_or_path, const SdModelOptions& given) {
  SdModelOptions options = given;
  const fs::path path =
      resolve_model_file(ModelKind::Checkpoint, name_or_path.string(), options.models_dir, "model");
  options.vae = resolve_model_file(ModelKind::Vae, options.vae.string(), options.models_dir, "vae");
  auto set = std::make_unique<ModelSet>(load_sd_model(path, options));
  set->path_ = path;
  set->vae_override_ = options.vae;
  set->options_ = options;
  return set;
}

std::shared_ptr<const SdModel> ModelSet::refiner(const std::string& path) {
  {
    std::lock_guard<std::mutex> lock(refiners_mutex_);
    auto it = refiners_.find(path);
    if (it != refiners_.end()) return it->second.model;
  }
  const Checkpoint ck = open_checkpoint(path, options_.checkpoint);
  if (ck.family != ModelFamily::SDXL || !ck.refiner)
    throw ParameterError("{refiner} " + Error::literal(path) + " is " +
                         (ck.family == ModelFamily::SDXL ? std::string("an SDXL base model")
                                                         : "a " + family_name(ck.family) + " model") +
                         ", not an SDXL refiner");
  auto m = std::make_shared<SdModel>(load_sd_model(path, options_));
  std::lock_guard<std::mutex> lock(refiners_mutex_);
  return refiners_.emplace(path, Refiner{std::move(m), {}}).first->second.model;
}

std::shared_ptr<const ControlNet> ModelSet::controlnet(const std::string& path) {
  {
    std::lock_guard<std::mutex> lock(controlnets_mutex_);
    auto it = controlnets_.find(path);
    if (it != controlnets_.end()) return it->second;
  }
  // Loaded outside the lock (seconds for a real ControlNet); two threads asking at once may both load it,
  // and the first to finish is kept.
  auto net = std::make_shared<const ControlNet>(load_controlnet(open_checkpoint(path), model_.precision));
  check_controlnet_matches(net->config(), model_.unet.config(), fs::path(path).filename().string(),
                           model_.checkpoint.path.filename().string());
  std::lock_guard<std::mutex> lock(controlnets_mutex_);
  return controlnets_.emplace(path, std::move(net)).first->second;
}

namespace {

// What a model carrying `loras` carries: the files (as they are on disk) and multipliers, in order.
std::vector<std::string> lora_key(const std::vector<RequestLora>& loras) {
  std::vector<std::string> key;
  for (const RequestLora& l : loras) {
    std::error_code ec;
    const auto size = fs::file_size(l.file, ec);
    const auto mtime = fs::last_write_time(l.file, ec).time_since_epoch().count();
    key.push_back(fs::absolute(l.file, ec).string() + "|" + std::to_string(size) + "|" +
                  std::to_string(mtime) + "|" + format_number(l.te_multiplier) + "|" +
                  format_number(l.unet_multiplier));
  }
  return key;
}

std::vector<LoraUse> read_loras(const std::vector<RequestLora>& loras) {
  std::vector<LoraUse> uses;
  for (const RequestLora& l : loras)
    uses.push_back(
        {std::make_shared<const LoraFile>(read_lora_file(l.file)), l.te_multiplier, l.unet_multiplier});
  return uses;
}

}  // namespace

void ModelSet::set_loras(const std::vector<RequestLora>& loras) {
  std::vector<std::string> key = lora_key(loras);
  if (key == lora_.key) return;
  const std::vector<LoraUse> uses = read_loras(loras);
  if (!lora_.layers) lora_.layers = model_lora_layers(model_);
  lora_.key.clear();  // (should apply() fail, the model carries the previous LoRAs or none: apply again)
  lora_.layers->apply(uses);
  lora_.key = std::move(key);
}

void ModelSet::set_refiner_loras(const std::string& path, const std::vector<RequestLora>& loras,
                                 std::vector<std::string>& notices) {
  Refiner* r = nullptr;
  {
    std::lock_guard<std::mutex> lock(refiners_mutex_);
    r = &refiners_.at(path);  // (entries are never removed)
  }
  LoraState& state = r->lora;
  std::vector<std::string> key = lora_key(loras);
  if (key != state.key) {
    const std::vector<LoraUse> uses = read_loras(loras);
    if (!state.layers) state.layers = model_lora_layers(*r->model);
    std::vector<LoraUse> fitting;
    std::vector<std::string> skipped;
    for (size_t i = 0; i < uses.size(); ++i) {
      try {
        state.layers->targets().resolve(*uses[i].file);
        fitting.push_back(uses[i]);
      } catch (const Error& e) {
        skipped.push_back("LoRA " + loras[i].name + " was not applied to the refiner " +
                          r->model->checkpoint.path.filename().string() + ": " + e.what());
      }
    }
    state.key.clear();
    state.layers->apply(fitting);
    state.key = std::move(key);
    state.notices = std::move(skipped);
  }
  notices.insert(notices.end(), state.notices.begin(), state.notices.end());
}

void ModelSet::release_text_encoders(const SdModel& model) {
  if (&model == &model_) {
    i2i::release_text_encoders(model_);
    return;
  }
  std::lock_guard<std::mutex> lock(refiners_mutex_);
  for (auto& [path, r] : refiners_)
    if (r.model.get() == &model) i2i::release_text_encoders(*r.model);
}

void ModelSet::prepare_text_encoders(const SdModel* refiner) {
  const auto prepare = [](SdModel& m, LoraState& lora) {
    if (!m.text_encoders_released) return;
    i2i::prepare_text_encoders(m);
    if (!lora.layers) return;
    try {
      lora.layers->remerge(LoraComponent::TextEncoder);
      lora.layers->remerge(LoraComponent::TextEncoder2);
    } catch (...) {
      // Some layers would run without their LoRA: released again, the next request prepares them anew.
      i2i::release_text_encoders(m);
      throw;
    }
  };
  prepare(model_, lora_);
  if (!refiner) return;
  std::lock_guard<std::mutex> lock(refiners_mutex_);
  for (auto& [path, r] : refiners_)
    if (r.model.get() == refiner) prepare(*r.model, r.lora);
}

void ModelSet::clear_controlnets() {
  std::lock_guard<std::mutex> lock(controlnets_mutex_);
  controlnets_.clear();
}

namespace {
// The ModelSets this thread is generating with: a callback that calls generate() on one of them again
// would wait for itself forever.
thread_local std::vector<const ModelSet*> generating;
}  // namespace

// Holds a ModelSet for one generate() call.
struct GenerationLock {
  const ModelSet& set;
  std::unique_lock<std::mutex> lock;
  explicit GenerationLock(ModelSet& m) : set(m), lock(m.run_mutex_, std::defer_lock) {
    if (std::find(generating.begin(), generating.end(), &m) != generating.end())
      throw Error("generate() was called from one of its own callbacks on the same model set");
    lock.lock();
    generating.push_back(&m);
  }
  ~GenerationLock() { generating.erase(std::find(generating.begin(), generating.end(), &set)); }
  GenerationLock(const GenerationLock&) = delete;
  GenerationLock& operator=(const GenerationLock&) = delete;
};

namespace {

// The request's pictures, read from their paths where not given, and the sizes they set.
struct Inputs {
  std::optional<Image> source;  // RGB at its own size; none for txt2img
  std::optional<Image> mask;    // 1 channel, resized to the source
  int width = 0, height = 0;    // the output size (the work size for only-masked inpainting)
  std::vector<std::string> notices;
};

Inputs read_inputs(const GenerationRequest& req) {
  const GenerationParams& p = req.params;
  Inputs in;
  if (req.images.init) in.source = to_rgb(*req.images.init);
  // (Before the size checks: a mask without an init image is that mistake, not a txt2img without a size.)
  check(in.source || !req.images.mask, "inpainting needs an init image");
  const std::string init_name = p.init_image.empty() ? "the init image" : p.init_image;
  in.width = p.width ? p.width : in.source ? in.source->width / 8 * 8 : 0;
  in.height = p.height ? p.height : in.source ? in.source->height / 8 * 8 : 0;
  if (in.source && (in.width > kMaxGenerationSide || in.height > kMaxGenerationSide))
    throw ParameterError(Error::literal(init_name) + ": the image is " + std::to_string(in.source->width) +
                         "x" + std::to_string(in.source->height) + ", larger than " +
                         std::to_string(kMaxGenerationSide) +
                         " pixels a side: give a smaller {width} and {height}");
  if (in.source && (in.width < 8 || in.height < 8))
    throw Error(init_name + ": the image is " + std::to_string(in.source->width) + "x" +
                std::to_string(in.source->height) + ", smaller than the 8x8 minimum");
  if (!in.source && (in.width <= 0 || in.height <= 0))
    throw ParameterError("txt2img needs {width} and {height}");
  if (!req.images.mask) return in;
  in.mask = read_mask(*req.images.mask);
  if (in.mask->width != in.source->width || in.mask->height != in.source->height) {
    in.notices.push_back((p.mask.empty() ? "the mask" : "the mask " + p.mask) + " is " +
                         std::to_string(in.mask->width) + "x" + std::to_string(in.mask->height) +
                         ", the image " + std::to_string(in.source->width) + "x" +
                         std::to_string(in.source->height) + ": the mask is resized to the image");
    in.mask = resize_image(ResizeMode::JustResize, *in.mask, in.source->width, in.source->height);
  }
  return in;
}

// A unit's control image at the work size: run through its preprocessor (control_preprocessors.h) either at
// the generation size (canny) or, as A1111 does for the annotator networks, on the source picture at the
// unit's processor resolution with the map then resized to the generation size.
Image preprocessed_control_image(const Image& source, const ControlParams& c, Precision precision, int width,
                                 int height, ResizeMode mode) {
  const ControlPreprocessor& pre = control_preprocessor(c.preprocess);
  if (!pre.run) return prepare_control_image(source, width, height, mode);
  ControlPreprocessSettings s;
  s.resolution = c.resolution;
  s.threshold_a = c.canny_low;
  s.threshold_b = c.canny_high;
  s.annotator_model = c.annotator_model;
  s.precision = precision;
  if (!pre.uses_resolution) return to_rgb(pre.run(prepare_control_image(source, width, height, mode), s));
  return prepare_control_image(pre.run(source, s), width, height, mode);
}

// "ControlNet 1 (pose.png)": the unit and its picture, for the errors its preprocessor throws.
std::string control_unit_label(const ControlParams& c, size_t i) {
  const std::string name = control_unit_name(c, i);
  return c.image.empty() ? name : name + " (" + c.image + ")";
}

// One loaded ControlNet unit: the model and its control image at the work size.
struct LoadedControl {
  std::shared_ptr<const ControlNet> net;
  ControlUnit unit;
};

std::vector<LoadedControl> load_controls(ModelSet& models, const GenerationRequest& req, int base_w,
                                         int base_h, const InpaintSetup* setup) {
  const GenerationParams& p = req.params;
  std::vector<LoadedControl> out;
  for (size_t i = 0; i < p.controls.size(); ++i) {
    const ControlParams& c = p.controls[i];
    LoadedControl lc;
    lc.net = models.controlnet(c.model);
    if (i >= req.images.controls.size() || !req.images.controls[i])
      throw ParameterError(control_unit_name(c, i) + ": no control image ({control_image})");
    Image img;
    try {
      img = preprocessed_control_image(*req.images.controls[i], c, models.model().precision, base_w, base_h,
                                       p.resize_mode);
    } catch (const ParameterError& e) {  // which unit (and picture) the message is about
      throw ParameterError(Error::literal(control_unit_label(c, i)) + ": " + e.message_template());
    } catch (const OutOfMemory& e) {
      throw OutOfMemory(control_unit_label(c, i) + ", its preprocessor: " + e.what());
    } catch (const std::bad_alloc&) {
      throw OutOfMemory(control_unit_label(c, i) + ", its preprocessor");
    } catch (const Cancelled&) {
      throw;
    } catch (const Error& e) {
      throw Error(control_unit_label(c, i) + ": " + e.what());
    }
    if (setup) img = to_work_area(*setup, img);
    lc.unit.model = lc.net.get();
    lc.unit.name = fs::path(c.model).filename().string();
    lc.unit.image = control_image_tensor(img);
    lc.unit.weight = c.weight;
    lc.unit.guidance_start = c.guidance_start;
    lc.unit.guidance_end = c.guidance_end;
    out.push_back(std::move(lc));
  }
  return out;
}

// The reference unit at the size the pipeline works at (the output size; with only-masked inpainting the
// work area's): its picture as RGB, resized with PIL LANCZOS as diffusers' reference pipeline does.
ReferenceUnit reference_unit(const GenerationRequest& req, int64_t width, int64_t height) {
  const ReferenceParams& rp = *req.params.reference;
  if (!req.images.reference) throw ParameterError("no reference image ({reference_image})");
  ReferenceUnit u;
  u.image = image_to_tensor(
      resize(to_rgb(*req.images.reference), static_cast<int>(width), static_cast<int>(height)));
  u.mode = rp.mode;
  u.style_fidelity = rp.style_fidelity;
  u.attn_weight = rp.attn_weight;
  u.adain_weight = rp.adain_weight;
  return u;
}

// The tensor-level request for every batch of `req` (the noise aside).
Img2ImgRequest pipeline_request(const GenerationRequest& req, const Inputs& in,
                                const std::optional<InpaintSetup>& setup,
                                const std::vector<LoadedControl>& cs, const std::vector<LoadedIpAdapter>& ips,
                                const RequestEmbeddings& embeddings) {
  const GenerationParams& p = req.params;
  Img2ImgRequest r;
  if (setup) {
    r.init_image = image_to_tensor(setup->work_image);
    r.mask = mask_to_tensor(setup->work_mask);
    r.latent_fill = setup->latent_fill;
  } else if (in.source) {
    const bool same = in.source->width == in.width && in.source->height == in.height;
    r.init_image =
        image_to_tensor(same ? *in.source : resize_image(p.resize_mode, *in.source, in.width, in.height));
  }
  r.width = in.width;
  r.height = in.height;
  for (const LoadedControl& c : cs) r.controls.push_back(c.unit);
  for (const LoadedIpAdapter& ip : ips) r.ip_adapters.push_back(ip.unit);
  if (p.reference)
    r.reference = reference_unit(req, r.init_image.defined() ? r.init_image.dim(2) : in.width,
                                 r.init_image.defined() ? r.init_image.dim(1) : in.height);
  r.prompt = remove_extra_networks(p.prompt);  // the <lora:...> tags are not text (A1111 removes them)
  r.negative_prompt = p.negative_prompt;
  r.strength = p.strength;
  r.steps = p.steps;
  r.cfg_scale = p.cfg_scale;
  r.sampler = p.sampler;
  r.schedule = p.schedule;
  r.batch_size = p.batch_size;
  r.prompt_options.clip_skip = p.clip_skip;
  r.prompt_options.emphasis = p.emphasis;
  // SDXL: the flags' W,H / X,Y as diffusers' (height, width) / (top, left).
  auto hw = [](const std::optional<PairXY>& v) -> std::optional<XlSize> {
    if (!v) return std::nullopt;
    return XlSize{v->y, v->x};
  };
  r.xl.original_size = hw(p.original_size);
  r.xl.target_size = hw(p.target_size);
  r.xl.negative_original_size = hw(p.negative_original_size);
  r.xl.negative_target_size = hw(p.negative_target_size);
  r.xl.crops_top_left = {p.crops_top_left.y, p.crops_top_left.x};
  r.xl.negative_crops_top_left = {p.negative_crops_top_left.y, p.negative_crops_top_left.x};
  r.xl.aesthetic_score = p.aesthetic_score;
  r.xl.negative_aesthetic_score = p.negative_aesthetic_score;
  r.refiner_switch_at = p.refiner_switch_at;
  r.prompt_options.embeddings = embeddings.embeddings;
  r.cancel = req.cancel;
  return r;
}

// The noise of one batch: the replayed tensors, or one generator per image seeded seed, seed + 1, ...
std::vector<std::unique_ptr<NoiseSource>> batch_noise(const GenerationRequest& req, int64_t first_seed) {
  const GenerationParams& p = req.params;
  std::vector<std::unique_ptr<NoiseSource>> sources;
  if (!req.replay_noise.empty()) {
    sources.push_back(std::make_unique<ReplayNoise>(req.replay_noise));
    return sources;
  }
  for (int k = 0; k < p.batch_size; ++k) {
    const auto seed = static_cast<uint64_t>(first_seed + k);
    if (p.rng == GenerationParams::Rng::Gpu)
      sources.push_back(std::make_unique<PhiloxGenerator>(seed));
    else
      sources.push_back(std::make_unique<TorchCpuGenerator>(seed));
  }
  return sources;
}

GenerationResult nothing_to_repaint(const GenerationRequest& req, const Inputs& in, int64_t seed,
                                    const InfotextHashes& hashes) {
  const GenerationParams& p = req.params;
  const Image& source = *in.source;
  GenerationResult r;
  r.nothing_to_repaint = true;
  r.notices = in.notices;
  r.seed = seed;
  r.width = in.width;
  r.height = in.height;
  GeneratedImage g;
  g.image = p.mask_options.only_masked || (source.width == in.width && source.height == in.height)
                ? source
                : resize_image(p.resize_mode, source, in.width, in.height);
  g.seed = seed;
  g.parameters = format_parameters(make_infotext(p, seed, in.width, in.height, 0, {true, true}, hashes));
  if (req.on_image) req.on_image(g);
  r.images.push_back(std::move(g));
  return r;
}

// `release_text_encoders` (when set) is called as the last batch's run is done with a model's text
// encoders.
void run_batches(const SdModel& model, const GenerationRequest& req, const Img2ImgRequest& pipeline,
                 const std::optional<InpaintSetup>& setup, InfotextKind kind, const InfotextHashes& hashes,
                 const std::function<void(const SdModel&)>& release_text_encoders, GenerationResult& result) {
  const GenerationParams& p = req.params;
  for (int batch = 0; batch < p.batch_count; ++batch) {
    const int64_t first_seed = result.seed + static_cast<int64_t>(batch) * p.batch_size;
    std::vector<std::unique_ptr<NoiseSource>> sources = batch_noise(req, first_seed);
    std::vector<NoiseSource*> noise;
    for (auto& s : sources) noise.push_back(s.get());
    StepCallback on_step;
    if (req.progress)
      on_step = [&](const StepInfo& s) {
        return req.progress({s.step, s.total, batch, p.batch_count, s.latents});
      };
    std::optional<Img2ImgRequest> last;
    if (release_text_encoders && batch + 1 == p.batch_count) {
      last.emplace(pipeline);
      last->text_encoders_done = release_text_encoders;
    }
    Img2ImgResult r = run_img2img(model, last ? *last : pipeline, noise, on_step);
    // A1111 records the refiner only when it took over.
    GenerationParams recorded = p;
    if (r.refiner_first_step < 0) recorded.refiner.clear();
    for (int k = 0; k < p.batch_size; ++k) {
      GeneratedImage g;
      g.seed = first_seed + k;
      g.image = tensor_to_image(r.images, k);
      if (setup) g.image = finish_inpaint(*setup, g.image, p.composite);
      g.parameters =
          format_parameters(make_infotext(recorded, g.seed, result.width, result.height, k, kind, hashes));
      if (req.on_image) req.on_image(g);
      result.images.push_back(std::move(g));
    }
  }
}

}  // namespace

void validate_request(const GenerationRequest& req) {
  const GenerationParams& p = req.params;
  p.validate();
  // An unknown sampler or schedule, or one that does not fit the sampler, fails here, before any work.
  make_scheduler(p.sampler, SchedulerConfig::from_json(sd15_scheduler_config()), p.schedule);
  if (req.images.init || !p.init_image.empty()) check_denoising_steps(p.steps, p.strength);
  for (size_t i = 0; i < p.ip_adapters.size(); ++i)
    if (p.ip_adapters[i].image.empty() && !(i < req.images.ip_adapters.size() && req.images.ip_adapters[i]))
      throw ParameterError(ip_adapter_unit_name(p.ip_adapters[i], i) +
                           ": no reference picture ({ip_adapter_image})");
  if (p.reference && p.reference->image.empty() && !req.images.reference)
    throw ParameterError("the reference unit has no picture ({reference_image})");
  request_loras(p);  // every LoRA the request names exists
}

Image finish_inpaint_picture(const GenerationRequest& req, const Image& generated) {
  const Inputs in = read_inputs(req);
  if (!in.mask) return generated;
  const InpaintSetup setup = prepare_inpaint(*in.source, *in.mask, in.width, in.height,
                                             req.params.mask_options, req.params.resize_mode);
  return finish_inpaint(setup, generated, req.params.composite);
}

void read_request_images(GenerationRequest& req) {
  const GenerationParams& p = req.params;
  if (!req.images.init && !p.init_image.empty()) req.images.init = read_image(p.init_image);
  if (!req.images.mask && !p.mask.empty()) req.images.mask = read_image(p.mask);
  req.images.controls.resize(std::max(req.images.controls.size(), p.controls.size()));
  for (size_t i = 0; i < p.controls.size(); ++i)
    if (!req.images.controls[i] && !p.controls[i].image.empty())
      req.images.controls[i] = read_image(p.controls[i].image);
  req.images.ip_adapters.resize(std::max(req.images.ip_adapters.size(), p.ip_adapters.size()));
  for (size_t i = 0; i < p.ip_adapters.size(); ++i)
    if (!req.images.ip_adapters[i] && !p.ip_adapters[i].image.empty())
      req.images.ip_adapters[i] = read_image(p.ip_adapters[i].image);
  if (p.reference && !req.images.reference && !p.reference->image.empty()) {
    try {
      req.images.reference = read_image(p.reference->image);
    } catch (const Error& e) {
      throw ParameterError("{reference_image}: " + Error::literal(e.what()));
    }
  }
}

GenerationResult generate(ModelSet& models, const GenerationRequest& request) {
  GenerationRequest req = request;
  resolve_model_files(req.params);  // names -> paths (the recorded names and hashes are the files')
  validate_request(req);
  if (req.params.model.empty()) req.params.model = models.path().string();
  if (req.params.vae.empty()) req.params.vae = models.vae_override().string();
  read_request_images(req);  // the pictures named by path (the rest of generate() reads memory only)
  const GenerationParams& p = req.params;
  const Inputs in = read_inputs(req);
  // A random seed leaves room for seed + k of every image.
  const int64_t images = static_cast<int64_t>(p.batch_size) * p.batch_count;
  const int64_t seed =
      p.seed >= 0 ? p.seed : static_cast<int64_t>(std::random_device{}() % (kMaxSeed + 1 - images));
  // The model files' short hashes for the parameters text, once per run (cached across runs: a checkpoint
  // is read whole only the first time it is used).
  const std::vector<RequestLora> loras = request_loras(p);
  InfotextHashes hashes = infotext_hashes(p);
  hashes.loras = lora_hashes(loras);
  // The embeddings the prompts call by name (read on first use, then kept in the ModelSet).
  const RequestEmbeddings embeddings = find_request_embeddings(models.embedding_cache(), models.model(), p);
  hashes.embeddings = embeddings.hashes;
  std::optional<InpaintSetup> setup;
  if (in.mask) {
    if (mask_is_empty(process_mask(*in.mask, p.mask_options)))
      return nothing_to_repaint(req, in, seed, hashes);
    setup = prepare_inpaint(*in.source, *in.mask, in.width, in.height, p.mask_options, p.resize_mode);
  }
  const SdModel& model = models.model();
  if (p.has_sdxl_settings() && !model.sdxl())
    throw ParameterError(
        "the SDXL size, aesthetic-score and refiner settings ({original_size}, "
        "{aesthetic_score}, {refiner}, ...) apply to SDXL models only, not to " +
        Error::literal(model.checkpoint.path.filename().string()) + " (" +
        family_name(model.checkpoint.family) + ")");
  if (model.refiner() && !in.source)
    throw ParameterError(Error::literal(model.checkpoint.path.filename().string()) +
                         " is an SDXL refiner, which refines a picture: give an init image, or use it as the "
                         "{refiner} of an SDXL base model");
  GenerationLock lock(models);
  std::shared_ptr<const SdModel> refiner;
  if (!p.refiner.empty()) refiner = models.refiner(p.refiner);
  models.prepare_text_encoders(refiner.get());
  models.set_loras(loras);
  std::vector<std::string> notices = in.notices;
  if (refiner) models.set_refiner_loras(p.refiner, loras, notices);
  std::vector<LoadedControl> controls =
      load_controls(models, req, setup ? setup->base.width : in.width, setup ? setup->base.height : in.height,
                    setup ? &*setup : nullptr);
  // The image encoder runs here, once per generation (and not again for a picture seen recently).
  const std::vector<LoadedIpAdapter> ip_adapters = load_ip_adapters(models, req);
  Img2ImgRequest pipeline = pipeline_request(req, in, setup, controls, ip_adapters, embeddings);
  pipeline.refiner = refiner.get();
  GenerationResult result;
  result.seed = seed;
  result.notices = std::move(notices);
  result.width = in.width;
  result.height = in.height;
  std::function<void(const SdModel&)> release;
  if (!models.options_.keep_text_encoders)
    release = [&models](const SdModel& m) { models.release_text_encoders(m); };
  run_batches(models.model(), req, pipeline, setup, {in.source.has_value(), setup.has_value()}, hashes,
              release, result);
  return result;
}

Image preview_image(const Tensor& latents, int64_t b) {
  // AUTOMATIC1111's "Approx cheap" coefficients for SD 1.x / 2.x latents (sd_vae_approx.cheap_approximation):
  // rgb = latents . coefs, shown as (rgb + 1) / 2.
  static const float coefs[4][3] = {{0.298f, 0.207f, 0.208f},
                                    {0.187f, 0.286f, 0.173f},
                                    {-0.158f, 0.189f, 0.264f},
                                    {-0.184f, -0.271f, -0.473f}};
  check(latents.ndim() == 4 && latents.dim(3) == 4 && b >= 0 && b < latents.dim(0),
        "preview_image: expects latents [B, h, w, 4] and a picture index below B");
  const int64_t h = latents.dim(1), w = latents.dim(2);
  Image img(static_cast<int>(w), static_cast<int>(h), 3);
  const float* l = latents.data<float>() + b * h * w * 4;
  for (int64_t i = 0; i < h * w; ++i)
    for (int c = 0; c < 3; ++c) {
      float v = 0;
      for (int k = 0; k < 4; ++k) v += l[i * 4 + k] * coefs[k][c];
      v = std::clamp((v + 1.0f) / 2.0f, 0.0f, 1.0f);
      img.pixels[static_cast<size_t>(i * 3 + c)] = static_cast<uint8_t>(v * 255.0f + 0.5f);
    }
  return img;
}

}  // namespace i2i
