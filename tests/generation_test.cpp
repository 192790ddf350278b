// generate() and ModelSet (pipelines/generation.h) on the tiny fixture model: in-memory pictures and paths,
// seeds and parameters text as the CLI writes them, progress and previews, cancelling (by callback and by
// flag) without leaving state behind, the ControlNet cache, concurrent callers, and parameter errors.
// Small runs (64x64, a few steps) keep the file fast.
#include "pipelines/generation.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <condition_variable>
#include <fstream>
#include <functional>
#include <mutex>
#include <thread>

#include "io/image.h"
#include "io/parameters.h"
#include "io/safetensors.h"
#include "pipelines/infotext.h"
#include "sampling/rng_torch.h"
#include "sampling/scheduler.h"
#include "support/cli_run.h"
#include "support/fixtures.h"

namespace i2i {
namespace {
namespace fs = std::filesystem;

const std::string kModel = "models/tiny-sd15.safetensors";

std::unique_ptr<ModelSet> load_models() {
  SdModelOptions o;
  o.tokenizer = test::fixture_path("tokenizer");
  o.precision = PrecisionChoice::F32;
  return ModelSet::load(test::fixture_path(kModel), o);
}

// One ModelSet for the tests that do not need a fresh one.
ModelSet& shared_models() {
  static std::unique_ptr<ModelSet> m = load_models();
  return *m;
}

std::string init_path() {
  return test::fixture_path("cases/inputs/astronaut_64.png").string();
}

// The fixtures' settings as the CLI's fixture_args give them, img2img from the init image's path at
// strength 0.5 over 4 steps (2 denoising steps), Euler a.
GenerationRequest img2img_request() {
  GenerationRequest req;
  GenerationParams& p = req.params;
  p.model = test::fixture_path(kModel).string();
  p.init_image = init_path();
  p.prompt = "a photograph of an astronaut riding a horse, highly detailed";
  p.negative_prompt = "blurry, low quality, watermark";
  p.strength = 0.5;
  p.steps = 4;
  p.cfg_scale = 7.5;
  p.sampler = "Euler a";
  p.seed = 1234;
  return req;
}

// txt2img at 64x64 over `steps` steps.
GenerationRequest txt2img_request(int steps = 4) {
  GenerationRequest req = img2img_request();
  req.params.init_image.clear();
  req.params.width = req.params.height = 64;
  req.params.steps = steps;
  return req;
}

std::string param(const std::string& text, const std::string& key) {
  return parse_parameters(text).get(key).value_or("(none)");
}

// --- pictures, seeds and parameters text ---------------------------------------------------------------

// The CLI is a thin shell over generate(): the same settings give the same picture and the same text.
// A ControlNet file name holding the unit text's separators (", ", ": ") cannot add or change items of the
// unit: the read-back unit has the written settings.
TEST(GenerationInfotext, UnitModelNamesCannotInjectItems) {
  GenerationParams p;
  p.prompt = "x";
  ControlParams c;
  c.model = "/tmp/cn, Weight: 0, Guidance End: 0.1.safetensors";
  c.weight = 0.5;
  p.controls.push_back(c);
  const std::string text = format_parameters(make_infotext(p, 1, 64, 64, 0, {true, false}));
  size_t weights = 0;
  for (size_t at = text.find(", Weight: "); at != std::string::npos; at = text.find(", Weight: ", at + 1))
    ++weights;
  EXPECT_EQ(weights, 1u) << text;
  GenerationParams back;
  apply_infotext(parse_parameters(text), back);
  ASSERT_EQ(back.controls.size(), 1u) << text;
  EXPECT_EQ(back.controls[0].weight, 0.5) << text;
  EXPECT_EQ(back.controls[0].guidance_end, 1.0) << text;
}

TEST(Generate, Img2ImgByPathIsWhatTheCliWrites) {
  const fs::path dir = test::temp_dir("generation_cli");
  test::CmdResult r = test::run_i2i(
      test::with(test::fixture_args("img2img", kModel), {"--strength", "0.5", "--steps", "4", "--sampler",
                                                         "Euler a", "--precision", "fp32", "-o", "cli.png"}),
      dir);
  ASSERT_EQ(r.status, 0) << r.err;
  GenerationResult g = generate(shared_models(), img2img_request());
  ASSERT_EQ(g.images.size(), 1u);
  EXPECT_EQ(g.seed, 1234);
  EXPECT_EQ(g.images[0].seed, 1234);
  EXPECT_EQ(g.width, 64);
  EXPECT_EQ(g.height, 64);
  EXPECT_FALSE(g.nothing_to_repaint);
  EXPECT_EQ(g.images[0].image.pixels, read_image(dir / "cli.png").pixels);
  EXPECT_EQ(g.images[0].parameters, read_png_text(dir / "cli.png")["parameters"]);
  EXPECT_EQ(param(g.images[0].parameters, "Denoising strength"), "0.5");
}

// Pictures given in memory instead of by path: the same picture and text (which names no init image file
// unless asked to with infotext_paths; then only the one read from a path does).
TEST(Generate, InMemoryImagesEqualPaths) {
  const GenerationRequest by_path = img2img_request();
  GenerationRequest in_memory = by_path;
  in_memory.params.init_image.clear();
  in_memory.images.init = read_image(init_path());
  const GenerationResult a = generate(shared_models(), by_path);
  const GenerationResult b = generate(shared_models(), in_memory);
  ASSERT_EQ(b.images.size(), 1u);
  EXPECT_EQ(b.images[0].image.pixels, a.images[0].image.pixels);
  // By default the text records no path: the two are the same.
  EXPECT_EQ(b.images[0].parameters, a.images[0].parameters);
  EXPECT_FALSE(parse_parameters(a.images[0].parameters).get("Init image").has_value());
  // With infotext_paths the one read from a path names it, and is otherwise the same.
  GenerationRequest by_path_recorded = by_path, in_memory_recorded = in_memory;
  by_path_recorded.params.infotext_paths = in_memory_recorded.params.infotext_paths = true;
  GenerationParameters pa =
      parse_parameters(generate(shared_models(), by_path_recorded).images[0].parameters);
  const GenerationParameters pb =
      parse_parameters(generate(shared_models(), in_memory_recorded).images[0].parameters);
  EXPECT_EQ(pa.get("Init image").value_or(""), fs::absolute(init_path()).string());
  EXPECT_FALSE(pb.get("Init image").has_value());
  std::erase_if(pa.params, [](const auto& kv) { return kv.first == "Init image"; });
  EXPECT_EQ(pb.params, pa.params);
  EXPECT_EQ(pb.prompt, pa.prompt);
  EXPECT_EQ(pb.negative_prompt, pa.negative_prompt);

  // The same for an inpainting mask (and a mask of another size is resized, with a notice).
  GenerationRequest mask_path = by_path;
  mask_path.params.mask = test::fixture_path("cases/inputs/mask_64.png").string();
  GenerationRequest mask_memory = in_memory;
  mask_memory.images.mask = read_image(mask_path.params.mask);
  const GenerationResult c = generate(shared_models(), mask_path);
  const GenerationResult d = generate(shared_models(), mask_memory);
  EXPECT_EQ(d.images.at(0).image.pixels, c.images.at(0).image.pixels);
  EXPECT_NE(c.images.at(0).image.pixels, a.images[0].image.pixels);  // the mask mattered
  EXPECT_TRUE(d.notices.empty());
  mask_memory.images.mask = Image(32, 32, 1);
  const GenerationResult e = generate(shared_models(), mask_memory);
  ASSERT_EQ(e.notices.size(), 1u);
  EXPECT_NE(e.notices[0].find("the mask is resized to the image"), std::string::npos) << e.notices[0];
}

// Seed -1 picks a seed and reports it; that seed makes the same picture again.
TEST(Generate, RandomSeedIsReported) {
  GenerationRequest req = txt2img_request(2);
  req.params.seed = -1;
  const GenerationResult r = generate(shared_models(), req);
  ASSERT_EQ(r.images.size(), 1u);
  EXPECT_GE(r.seed, 0);
  EXPECT_LE(r.seed, 4294967295LL);
  EXPECT_EQ(r.images[0].seed, r.seed);
  EXPECT_EQ(param(r.images[0].parameters, "Seed"), std::to_string(r.seed));
  EXPECT_EQ(param(r.images[0].parameters, "Denoising strength"), "(none)");  // txt2img
  req.params.seed = r.seed;
  EXPECT_EQ(generate(shared_models(), req).images.at(0).image.pixels, r.images[0].image.pixels);
}

// batch_size 2 x batch_count 2: four pictures, seeds s .. s+3 in order, each handed to on_image before
// generate() returns; picture k is the single run with seed s + k (A1111: one generator per picture).
TEST(Generate, BatchesSeedEachPicture) {
  GenerationRequest req = txt2img_request(3);
  req.params.seed = 77;
  req.params.batch_size = 2;
  req.params.batch_count = 2;
  std::vector<int64_t> handed;
  req.on_image = [&](const GeneratedImage& g) { handed.push_back(g.seed); };
  const GenerationResult r = generate(shared_models(), req);
  ASSERT_EQ(r.images.size(), 4u);
  EXPECT_EQ(r.seed, 77);
  EXPECT_EQ(handed, (std::vector<int64_t>{77, 78, 79, 80}));
  for (int k = 0; k < 4; ++k) {
    SCOPED_TRACE("picture " + std::to_string(k));
    const GeneratedImage& g = r.images[static_cast<size_t>(k)];
    EXPECT_EQ(g.seed, 77 + k);
    EXPECT_EQ(param(g.parameters, "Seed"), std::to_string(77 + k));
    EXPECT_EQ(param(g.parameters, "Batch size"), "2");
    EXPECT_EQ(param(g.parameters, "Batch pos"), std::to_string(k % 2));
    GenerationRequest alone = txt2img_request(3);
    alone.params.seed = 77 + k;
    // Batch 2 and batch 1 run the UNet on differently shaped GEMMs (other summation orders): the same
    // picture within one level (expect_same_picture), not necessarily bit for bit.
    test::expect_same_picture(g.image, generate(shared_models(), alone).images.at(0).image, "alone");
  }
  EXPECT_NE(r.images[0].image.pixels, r.images[1].image.pixels);
}

// --- progress and previews -------------------------------------------------------------------------------

TEST(Generate, ProgressEveryStepWithPreviewableLatents) {
  GenerationRequest req = txt2img_request(3);
  req.params.batch_size = 2;
  req.params.batch_count = 2;
  std::vector<GenerationProgress> seen;
  std::vector<Image> previews;
  req.progress = [&](const GenerationProgress& p) {
    seen.push_back(p);
    EXPECT_NE(p.latents, nullptr);
    if (p.latents) {
      EXPECT_EQ(p.latents->shape(), (Shape{2, 8, 8, 4}));
      previews.push_back(preview_image(*p.latents, 1));
    }
    seen.back().latents = nullptr;  // not valid after the call
    return true;
  };
  generate(shared_models(), req);
  ASSERT_EQ(seen.size(), 6u);  // 3 steps x 2 batches
  for (size_t i = 0; i < seen.size(); ++i) {
    EXPECT_EQ(seen[i].step, static_cast<int>(i % 3) + 1);
    EXPECT_EQ(seen[i].steps, 3);
    EXPECT_EQ(seen[i].batch, static_cast<int>(i / 3));
    EXPECT_EQ(seen[i].batches, 2);
  }
  ASSERT_EQ(previews.size(), 6u);
  const Image& last = previews.back();
  EXPECT_EQ(last.width, 8);
  EXPECT_EQ(last.height, 8);
  EXPECT_EQ(last.channels, 3);
  // A picture of the latents, not a constant: the values spread over the range.
  const auto [lo, hi] = std::minmax_element(last.pixels.begin(), last.pixels.end());
  EXPECT_GT(*hi - *lo, 32);
  EXPECT_NE(previews[0].pixels, last.pixels);  // it follows the run

  // img2img reports the steps it runs: int(steps x strength).
  GenerationRequest i2i = img2img_request();
  i2i.params.steps = 6;  // x 0.5 = 3
  int calls = 0;
  i2i.progress = [&](const GenerationProgress& p) {
    EXPECT_EQ(p.steps, 3);
    EXPECT_EQ(p.step, ++calls);
    return true;
  };
  generate(shared_models(), i2i);
  EXPECT_EQ(calls, 3);
}

TEST(Generate, PreviewIsTheCheapLinearMap) {
  // A1111's "Approx cheap": rgb = latents . coefs, shown as (rgb + 1) / 2 clamped to [0, 1], rounded to 8
  // bits. Latent (1, 0, 0, 0) is the first row of coefficients, (0.298, 0.207, 0.208): 255 x (1 + c) / 2 =
  // 165.5, 153.9, 154.0 -> 165, 154, 154; zeros give mid-grey 127.5 -> 128.
  Tensor l = Tensor::zeros({2, 1, 2, 4});
  l.data<float>()[8 + 0] = 1.0f;  // picture 1, pixel (0, 0), channel 0
  const Image p = preview_image(l, 1);
  ASSERT_EQ(p.width, 2);
  ASSERT_EQ(p.height, 1);
  EXPECT_EQ(std::vector<int>(p.pixels.begin(), p.pixels.end()),
            (std::vector<int>{165, 154, 154, 128, 128, 128}));
  EXPECT_THROW(preview_image(l, 2), Error);
}

// --- cancelling ------------------------------------------------------------------------------------------

// Noise for the 64x64 Euler a txt2img: the start noise, then one draw per step, `steps` steps' worth. The
// replayed list runs out (i2i::Error, not Cancelled) if a run goes further, so a run that ends in Cancelled
// with only `steps` step draws has evaluated the UNet at most `steps` times (Euler a draws right after each
// UNet evaluation).
std::vector<Tensor> noise_for_steps(int steps) {
  TorchCpuGenerator gen(99);
  std::vector<Tensor> t;
  for (int i = 0; i <= steps; ++i) t.push_back(gen.randn({1, 4, 8, 8}));
  return t;
}

TEST(Generate, CancelFromProgressStopsAtOnceAndLeavesNothingBehind) {
  std::unique_ptr<ModelSet> models = load_models();
  GenerationRequest req = txt2img_request(8);
  req.replay_noise = noise_for_steps(2);
  std::vector<int> steps;
  req.progress = [&](const GenerationProgress& p) {
    steps.push_back(p.step);
    return p.step < 2;
  };
  bool on_image = false;
  req.on_image = [&](const GeneratedImage&) { on_image = true; };
  EXPECT_THROW(generate(*models, req), Cancelled);
  EXPECT_EQ(steps, (std::vector<int>{1, 2}));
  EXPECT_FALSE(on_image);

  // The same ModelSet afterwards: exactly the picture a fresh one makes.
  const GenerationRequest plain = txt2img_request(3);
  const Image after = generate(*models, plain).images.at(0).image;
  const Image fresh = generate(*load_models(), plain).images.at(0).image;
  EXPECT_EQ(after.pixels, fresh.pixels);
}

TEST(Generate, CancelFlagFromAnotherThread) {
  GenerationRequest req = txt2img_request(8);
  req.replay_noise = noise_for_steps(2);
  std::atomic<bool> cancel{false};
  req.cancel = &cancel;
  std::mutex mu;
  std::condition_variable cv;
  bool at_step_2 = false;
  std::vector<int> steps;
  // The canceller waits for step 2, sets the flag; step 2's callback holds the run until it is set, so
  // the run must stop before step 3's UNet call (the replayed noise has nothing for step 3).
  std::thread canceller([&] {
    std::unique_lock<std::mutex> lock(mu);
    cv.wait(lock, [&] { return at_step_2; });
    cancel = true;
    cv.notify_all();
  });
  req.progress = [&](const GenerationProgress& p) {
    steps.push_back(p.step);
    if (p.step == 2) {
      std::unique_lock<std::mutex> lock(mu);
      at_step_2 = true;
      cv.notify_all();
      cv.wait(lock, [&] { return cancel.load(); });
    }
    return true;
  };
  EXPECT_THROW(generate(shared_models(), req), Cancelled);
  {
    std::lock_guard<std::mutex> lock(mu);  // release the canceller even if the run never got to step 2
    at_step_2 = true;
    cv.notify_all();
  }
  canceller.join();
  EXPECT_EQ(steps, (std::vector<int>{1, 2}));

  // A flag set before the run: nothing is generated.
  steps.clear();
  req.progress = [&](const GenerationProgress& p) {
    steps.push_back(p.step);
    return true;
  };
  EXPECT_THROW(generate(shared_models(), req), Cancelled);
  EXPECT_TRUE(steps.empty());
}

// --- ControlNets and threads -----------------------------------------------------------------------------

TEST(Generate, ControlNetsAreLoadedOnceAndCanBeForgotten) {
  std::unique_ptr<ModelSet> models = load_models();
  const std::string net = test::fixture_path("models/tiny-controlnet-sd15.safetensors").string();
  GenerationRequest req = img2img_request();
  ControlParams c;
  c.image = test::fixture_path("cases/inputs/astronaut_64_canny_100_200.png").string();
  c.model = net;
  c.weight = 0.8;
  req.params.controls.push_back(c);

  const GenerationResult first = generate(*models, req);
  const std::shared_ptr<const ControlNet> loaded = models->controlnet(net);  // the one the run loaded
  const GenerationResult second = generate(*models, req);
  EXPECT_EQ(models->controlnet(net).get(), loaded.get());  // not loaded again
  EXPECT_EQ(second.images.at(0).image.pixels, first.images.at(0).image.pixels);
  EXPECT_NE(first.images.at(0).image.pixels, generate(*models, img2img_request()).images.at(0).image.pixels);
  EXPECT_NE(param(first.images[0].parameters, "ControlNet 0"), "(none)");

  models->clear_controlnets();
  const std::shared_ptr<const ControlNet> reloaded = models->controlnet(net);
  EXPECT_NE(reloaded.get(), loaded.get());  // `loaded` is still alive, so a new object has another address
  EXPECT_EQ(models->controlnet(net).get(), reloaded.get());
  EXPECT_EQ(generate(*models, req).images.at(0).image.pixels, first.images.at(0).image.pixels);
}

// Two threads on one ModelSet: each gets exactly the picture a lone call gives, and the runs do not
// interleave (the ModelSet runs them one at a time).
TEST(Generate, ConcurrentCallsAreSerialisedAndExact) {
  ModelSet& models = shared_models();
  GenerationRequest a = txt2img_request(3);
  GenerationRequest b = img2img_request();
  b.params.seed = 4321;
  const Image lone_a = generate(models, a).images.at(0).image;
  const Image lone_b = generate(models, b).images.at(0).image;

  std::mutex mu;
  std::vector<char> order;  // which run reported each step
  a.progress = [&](const GenerationProgress&) {
    std::lock_guard<std::mutex> lock(mu);
    order.push_back('a');
    return true;
  };
  b.progress = [&](const GenerationProgress&) {
    std::lock_guard<std::mutex> lock(mu);
    order.push_back('b');
    return true;
  };
  Image got_a, got_b;
  std::thread ta([&] { got_a = generate(models, a).images.at(0).image; });
  std::thread tb([&] { got_b = generate(models, b).images.at(0).image; });
  ta.join();
  tb.join();
  EXPECT_EQ(got_a.pixels, lone_a.pixels);
  EXPECT_EQ(got_b.pixels, lone_b.pixels);
  // 3 steps of a and 2 of b, each run's steps together: "aaabb" or "bbaaa".
  const std::string s(order.begin(), order.end());
  EXPECT_TRUE(s == "aaabb" || s == "bbaaa") << s;
}

// --- errors ----------------------------------------------------------------------------------------------

// The message of the ParameterError `f` throws (what(), and rendered with CLI flags), or "(none)".
std::pair<std::string, std::string> parameter_error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const ParameterError& e) {
    return {e.what(), e.render([](const std::string& name) {
              std::string flag = "--" + name;
              std::replace(flag.begin(), flag.end(), '_', '-');
              return flag;
            })};
  }
  return {"(none)", "(none)"};
}

TEST(Generate, BadParametersNameTheParameter) {
  struct Bad {
    std::function<void(GenerationParams&)> set;
    std::string message, rendered;
  };
  const std::vector<Bad> cases = {
      {[](GenerationParams& p) { p.strength = 1.5; }, "strength must be between 0 and 1",
       "--strength must be between 0 and 1"},
      {[](GenerationParams& p) { p.steps = 0; }, "steps must be at least 1", "--steps must be at least 1"},
      {[](GenerationParams& p) { p.cfg_scale = -1; }, "cfg_scale must not be negative",
       "--cfg-scale must not be negative"},
      {[](GenerationParams& p) { p.width = 100; }, "width and height must be multiples of 8",
       "--width and --height must be multiples of 8"},
      {[](GenerationParams& p) { p.batch_size = 0; }, "batch_size must be between 1 and 64",
       "--batch-size must be between 1 and 64"},
      {[](GenerationParams& p) { p.seed = -2; }, "seed must be -1 (random)", "--seed must be -1 (random)"},
  };
  for (const Bad& c : cases) {
    GenerationRequest req = img2img_request();
    c.set(req.params);
    const auto [what, rendered] = parameter_error_of([&] { generate(shared_models(), req); });
    EXPECT_EQ(what.rfind(c.message, 0), 0u) << what;
    EXPECT_EQ(rendered.rfind(c.rendered, 0), 0u) << rendered;
    // validate_request finds the same without a model.
    EXPECT_EQ(parameter_error_of([&] { validate_request(req); }).first, what);
  }
  GenerationRequest req = img2img_request();
  req.params.sampler = "Eular";
  EXPECT_THROW(validate_request(req), Error);
  EXPECT_THROW(generate(shared_models(), req), Error);
}

TEST(Generate, Txt2ImgNeedsASize) {
  GenerationRequest req = txt2img_request();
  req.params.width = req.params.height = 0;
  const auto [what, rendered] = parameter_error_of([&] { generate(shared_models(), req); });
  EXPECT_EQ(what, "txt2img needs width and height");
  EXPECT_EQ(rendered, "txt2img needs --width and --height");
}

TEST(Generate, MaskNeedsAnInitImage) {
  GenerationRequest req = txt2img_request();
  req.images.mask = read_image(test::fixture_path("cases/inputs/mask_64.png"));
  EXPECT_NE(test::error_of([&] { generate(shared_models(), req); }).find("inpainting needs an init image"),
            std::string::npos);
  req.params.width = req.params.height = 0;  // the mask is the problem, not the size
  EXPECT_NE(test::error_of([&] { generate(shared_models(), req); }).find("inpainting needs an init image"),
            std::string::npos);
}

TEST(Generate, AllBlackMaskLeavesTheSource) {
  GenerationRequest req = img2img_request();
  const Image source = read_image(init_path());
  req.images.mask = Image(source.width, source.height, 1);  // all black: nothing to repaint
  int steps = 0;
  req.progress = [&](const GenerationProgress&) { return ++steps > 0; };
  const GenerationResult r = generate(shared_models(), req);
  EXPECT_TRUE(r.nothing_to_repaint);
  ASSERT_EQ(r.images.size(), 1u);
  EXPECT_EQ(r.images[0].image.pixels, to_rgb(source).pixels);
  EXPECT_EQ(r.images[0].seed, 1234);
  EXPECT_EQ(steps, 0);
}

// --- what a hostile review found (each was a silent wrong result, a hang or a late error) ---------------

// The tiny SD 1.5 diffusers folder as links to the fixture's files, except that `edit` may write a changed
// copy of one of them (it returns true when it wrote `to`).
fs::path linked_model(const std::string& name,
                      const std::function<bool(const fs::path& from, const fs::path& to)>& edit) {
  const fs::path src = test::models_dir() / "tiny-sd15";
  const fs::path dst = test::temp_dir(name) / "tiny-sd15";
  for (const auto& e : fs::recursive_directory_iterator(src)) {
    const fs::path to = dst / fs::relative(e.path(), src);
    if (e.is_directory())
      fs::create_directories(to);
    else if (!edit(e.path(), to))
      fs::create_symlink(e.path(), to);
  }
  return dst;
}

std::unique_ptr<ModelSet> load_fp32(const fs::path& dir) {
  SdModelOptions o;
  o.tokenizer = test::fixture_path("tokenizer");
  o.precision = PrecisionChoice::F32;
  return ModelSet::load(dir, o);
}

// `file` (a safetensors file) with tensor `name` filled with NaN, written to `to`.
void write_with_nan(const fs::path& file, const std::string& name, const fs::path& to) {
  SafeTensors st = SafeTensors::open(file);
  std::vector<std::pair<std::string, Tensor>> tensors;
  for (const std::string& n : st.names()) {
    Tensor t = st.get_f32(n).clone();
    if (n == name)
      for (int64_t k = 0; k < t.numel(); ++k) t.data<float>()[k] = std::nanf("");
    tensors.emplace_back(n, std::move(t));
  }
  write_safetensors(to, tensors);
}

// The stage where NaN first appears is named, and nothing is written (a NaN picture would be black).
void expect_nan_stage(const fs::path& model, const std::string& stage) {
  std::unique_ptr<ModelSet> m = load_fp32(model);
  GenerationRequest req = txt2img_request(2);
  int images = 0;
  req.on_image = [&](const GeneratedImage&) { ++images; };
  try {
    generate(*m, req);
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(stage + " hold NaN or infinite values"), std::string::npos)
        << e.what();
  }
  EXPECT_EQ(images, 0);
}

// NaN weights used to end in a black picture and exit status 0: now an error naming the stage where the
// values broke (the latents are checked after every step), and no picture.
TEST(GenerateHostile, NonFiniteLatentsAreAnErrorNamingTheStage) {
  expect_nan_stage(
      linked_model("gen_nan_unet",
                   [](const fs::path& from, const fs::path& to) {
                     if (from.filename() != "diffusion_pytorch_model.safetensors" ||
                         from.parent_path().filename() != "unet")
                       return false;
                     write_with_nan(from, "conv_out.bias", to);
                     return true;
                   }),
      "the latents after denoising step 1 of 2 (the UNet and the EulerAncestralDiscreteScheduler sampler)");
  expect_nan_stage(linked_model("gen_nan_vae",
                                [](const fs::path& from, const fs::path& to) {
                                  if (from.filename() != "diffusion_pytorch_model.safetensors" ||
                                      from.parent_path().filename() != "vae")
                                    return false;
                                  write_with_nan(from, "decoder.conv_out.bias", to);
                                  return true;
                                }),
                   "the decoded pictures (VAE decoder)");
}

// A VAE scaling factor of 0 (latents divided by zero) or 1e300 is refused when the config is read, naming
// the file and field.
TEST(GenerateHostile, AbsurdVaeScalingFactorsAreRefusedWhenRead) {
  for (double bad : {0.0, -1.0, 1e300}) {
    const fs::path dir = linked_model("gen_bad_scale", [&](const fs::path& from, const fs::path& to) {
      if (from.filename() != "config.json" || from.parent_path().filename() != "vae") return false;
      nlohmann::json j = nlohmann::json::parse(std::ifstream(from));
      j["scaling_factor"] = bad;
      std::ofstream(to) << j.dump();
      return true;
    });
    try {
      load_fp32(dir);
      ADD_FAILURE() << "no error for " << bad;
    } catch (const Error& e) {
      const std::string msg = e.what();
      EXPECT_NE(msg.find("vae/config.json: config field 'scaling_factor'"), std::string::npos) << msg;
      EXPECT_NE(msg.find("is not a usable VAE scaling factor"), std::string::npos) << msg;
    }
  }
}

TEST(GenerateHostile, BrokenSchedulerNumbersAreRefused) {
  nlohmann::json bad = sd15_scheduler_config();
  bad["beta_end"] = std::nan("");
  EXPECT_THROW(SchedulerConfig::from_json(bad), Error);
  bad = sd15_scheduler_config();
  bad["steps_offset"] = 5000;
  EXPECT_THROW(SchedulerConfig::from_json(bad), Error);
  EXPECT_NO_THROW(SchedulerConfig::from_json(sd15_scheduler_config()));
}

// The size cap holds for sizes taken from the init image too (an 8200-pixel-wide init used to run).
TEST(GenerateHostile, InitImageLargerThanTheCapIsRefused) {
  GenerationRequest req = img2img_request();
  req.params.init_image.clear();
  req.images.init = Image(8200, 16, 3);
  try {
    generate(shared_models(), req);
    FAIL() << "no error";
  } catch (const ParameterError& e) {
    EXPECT_NE(std::string(e.what()).find("larger than 8192"), std::string::npos) << e.what();
  }
  req.params.width = 64;  // an explicit size makes it usable (the picture is resized)
  req.params.height = 16;
  EXPECT_EQ(generate(shared_models(), req).images.size(), 1u);
}

// A progress callback that calls generate() on the same ModelSet used to wait for itself forever.
TEST(GenerateHostile, ReentrantCallIsAnErrorNotADeadlock) {
  GenerationRequest req = txt2img_request(2);
  req.progress = [](const GenerationProgress&) {
    generate(shared_models(), txt2img_request(1));
    return true;
  };
  try {
    generate(shared_models(), req);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("own callbacks"), std::string::npos) << e.what();
  }
  EXPECT_EQ(generate(shared_models(), txt2img_request(1)).images.size(), 1u);  // still usable
}

TEST(GenerateHostile, BracesInFileNamesAreNotParameters) {
  const ParameterError e(Error::literal("/tmp/{seed}/cn.safetensors") + ": give it as a {control_model}");
  EXPECT_STREQ(e.what(), "/tmp/{seed}/cn.safetensors: give it as a control_model");
  EXPECT_EQ(e.render([](const std::string& n) { return "--" + n; }),
            "/tmp/{seed}/cn.safetensors: give it as a --control_model");
}

// Numbers read back from a PNG's parameters text are whole numbers in range, or an error naming the key
// (they were cast to int: 1e20 steps became -2147483648, "Seed: 7.9" became 7).
TEST(GenerateHostile, InfotextNumbersOutOfRangeAreErrors) {
  for (const char* text : {"x\nSteps: 1e20", "x\nSteps: nan", "x\nSize: 99999999999x64", "x\nSeed: 7.9",
                           "x\nClip skip: nan", "x\nSize: 64.9x64"}) {
    SCOPED_TRACE(text);
    GenerationParams p;
    // (A1111's reader takes a last line as parameters only when it has at least three of them.)
    const GenerationParameters info =
        parse_parameters(std::string(text) + ", Sampler: Euler a, CFG scale: 7");
    ASSERT_GE(info.params.size(), 3u);
    EXPECT_THROW(apply_infotext(info, p), Error);
  }
}

// Files and settings are checked before a model is loaded: a missing init image is named even when the
// model does not exist either, and a strength that leaves no step fails in validate_request.
TEST(GenerateHostile, InputsAreCheckedBeforeTheModel) {
  const fs::path dir = test::temp_dir("gen_early");
  test::CmdResult r = test::run_i2i({"img2img", "--model", "no-such-model.safetensors", "--init",
                                     "missing.png", "--prompt", "x", "--quiet"},
                                    dir);
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.err.find("missing.png"), std::string::npos) << r.err;
  GenerationRequest req = img2img_request();
  req.params.steps = 2;
  req.params.strength = 0.3;
  EXPECT_THROW(validate_request(req), ParameterError);
  req = img2img_request();
  req.params.sampler = "DDIM";
  req.params.schedule = "karras";
  EXPECT_THROW(validate_request(req), Error);
}

}  // namespace
}  // namespace i2i
