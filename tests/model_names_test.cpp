// Model files by name (models/model_names.h): the A1111 and ComfyUI layouts of a models folder, names
// with and without extension or below subfolders, several matches and none, existing paths first, and
// `org/name[@revision]` from a Hugging Face cache (io/hf_cache.h); the CLI and ModelSet::load taking names.
#include "models/model_names.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <optional>

#include "core/error.h"
#include "io/hf_cache.h"
#include "io/image.h"
#include "pipelines/generation.h"
#include "support/cli_run.h"
#include "support/fixtures.h"
#include "text/tokenizer.h"

namespace i2i {
namespace {
namespace fs = std::filesystem;

void link(const fs::path& target, const fs::path& at) {
  fs::create_directories(at.parent_path());
  fs::create_symlink(target, at);
}

// A single file with its sidecar (the fixtures' single files need their .json).
void link_single(const std::string& file, const fs::path& folder, const std::string& as = "") {
  const fs::path m = test::models_dir();
  const std::string name = as.empty() ? file : as;
  link(m / (file + ".safetensors"), folder / (name + ".safetensors"));
  std::string stem = file;
  if (!fs::exists(m / (stem + ".json"))) stem = fs::path(stem).stem().string();  // x.fp16 -> x.json
  link(m / (stem + ".json"), folder / (name + ".json"));
}

// <dir>/models laid out like A1111's (embeddings/ beside it), and <dir>/comfy/models like ComfyUI's.
fs::path a1111_layout(const std::string& test_name) {
  const fs::path dir = test::temp_dir(test_name);
  const fs::path m = test::models_dir();
  const fs::path root = dir / "models";
  link_single("tiny-sd15", root / "Stable-diffusion");
  link_single("tiny-sdxl.fp16", root / "Stable-diffusion" / "sdxl");
  link(m / "tiny-sd2v", root / "Stable-diffusion" / "tiny-sd2v");
  link(m / "tiny-sd15" / "vae", root / "VAE" / "tiny-vae");
  link(m / "loras" / "tiny-style.safetensors", root / "Lora" / "tiny-style.safetensors");
  link(m / "loras" / "tiny-sd15-diffusers", root / "Lora" / "tiny-sd15-diffusers");
  link(m / "tiny-controlnet-sd15.safetensors", root / "ControlNet" / "tiny-controlnet-sd15.safetensors");
  link(m / "tiny-ip-adapter" / "models" / "ip-adapter_sd15.safetensors",
       root / "ipadapter" / "ip-adapter_sd15.safetensors");
  link(m / "tiny-ip-adapter" / "models" / "image_encoder", root / "clip_vision" / "tiny-encoder");
  link(m / "embeddings" / "tinymark.safetensors", dir / "embeddings" / "tinymark.safetensors");
  const fs::path comfy = dir / "comfy" / "models";
  link(m / "tiny-sd15", comfy / "checkpoints" / "tiny-sd15");
  link(m / "tiny-sd15" / "vae", comfy / "vae" / "comfy-vae");
  link(m / "loras" / "tiny-detail.safetensors", comfy / "loras" / "tiny-detail.safetensors");
  link(m / "tiny-controlnet-sd15", comfy / "controlnet" / "cn");
  link(m / "tiny-ip-adapter" / "models" / "image_encoder", comfy / "clip_vision" / "enc");
  link(m / "tiny-ip-adapter" / "models" / "ip-adapter-plus_sd15.safetensors",
       comfy / "ipadapter" / "plus.safetensors");
  return dir;
}

std::string resolve(ModelKind kind, const std::string& name, const fs::path& root,
                    const std::string& param = "model") {
  return resolve_model_file(kind, name, root.string(), param);
}

TEST(ModelNames, A1111Layout) {
  const fs::path dir = a1111_layout("model_names_a1111");
  const fs::path r = dir / "models";
  const fs::path sd = r / "Stable-diffusion";
  EXPECT_EQ(resolve(ModelKind::Checkpoint, "tiny-sd15", r), (sd / "tiny-sd15.safetensors").string());
  EXPECT_EQ(resolve(ModelKind::Checkpoint, "tiny-sd15.safetensors", r),
            (sd / "tiny-sd15.safetensors").string());
  // Below a subfolder: by its path there (as A1111 lists it) or by its own name.
  EXPECT_EQ(resolve(ModelKind::Checkpoint, "sdxl/tiny-sdxl.fp16", r),
            (sd / "sdxl" / "tiny-sdxl.fp16.safetensors").string());
  EXPECT_EQ(resolve(ModelKind::Checkpoint, "tiny-sdxl.fp16", r),
            (sd / "sdxl" / "tiny-sdxl.fp16.safetensors").string());
  EXPECT_EQ(resolve(ModelKind::Checkpoint, "tiny-sd2v", r), (sd / "tiny-sd2v").string());  // a folder
  EXPECT_EQ(resolve(ModelKind::Vae, "tiny-vae", r, "vae"), (r / "VAE" / "tiny-vae").string());
  EXPECT_EQ(resolve(ModelKind::Lora, "tiny-style", r, "lora"),
            (r / "Lora" / "tiny-style.safetensors").string());
  EXPECT_EQ(resolve(ModelKind::Lora, "tiny-sd15-diffusers", r, "lora"),
            (r / "Lora" / "tiny-sd15-diffusers").string());
  EXPECT_EQ(resolve(ModelKind::ControlNet, "tiny-controlnet-sd15", r, "control_model"),
            (r / "ControlNet" / "tiny-controlnet-sd15.safetensors").string());
  EXPECT_EQ(resolve(ModelKind::IpAdapter, "ip-adapter_sd15", r, "ip_adapter"),
            (r / "ipadapter" / "ip-adapter_sd15.safetensors").string());
  EXPECT_EQ(resolve(ModelKind::ImageEncoder, "tiny-encoder", r, "image_encoder"),
            (r / "clip_vision" / "tiny-encoder").string());
  // A1111 keeps embeddings/ beside models/.
  EXPECT_EQ(resolve(ModelKind::Embedding, "tinymark", r, "embedding"),
            (dir / "embeddings" / "tinymark.safetensors").string());
  // Each kind only in its own folders.
  EXPECT_NE(test::error_of([&] { resolve(ModelKind::Checkpoint, "tiny-style", r); }), "(no error)");
}

TEST(ModelNames, ComfyUiLayout) {
  const fs::path dir = a1111_layout("model_names_comfy");
  const fs::path r = dir / "comfy" / "models";
  EXPECT_EQ(resolve(ModelKind::Checkpoint, "tiny-sd15", r), (r / "checkpoints" / "tiny-sd15").string());
  EXPECT_EQ(resolve(ModelKind::Vae, "comfy-vae", r, "vae"), (r / "vae" / "comfy-vae").string());
  EXPECT_EQ(resolve(ModelKind::Lora, "tiny-detail.safetensors", r, "lora"),
            (r / "loras" / "tiny-detail.safetensors").string());
  EXPECT_EQ(resolve(ModelKind::ControlNet, "cn", r, "control_model"), (r / "controlnet" / "cn").string());
  EXPECT_EQ(resolve(ModelKind::IpAdapter, "plus", r, "ip_adapter"),
            (r / "ipadapter" / "plus.safetensors").string());
  EXPECT_EQ(resolve(ModelKind::ImageEncoder, "enc", r, "image_encoder"),
            (r / "clip_vision" / "enc").string());
}

TEST(ModelNames, SeveralMatchesNoneAndExistingPaths) {
  const fs::path dir = a1111_layout("model_names_errors");
  const fs::path r = dir / "models";
  // The same name in A1111's and ComfyUI's folder of one models folder, as two different files.
  link_single("tiny-sd15.fp16", r / "checkpoints", "tiny-sd15");
  const std::string several = test::error_of([&] { resolve(ModelKind::Checkpoint, "tiny-sd15", r); });
  EXPECT_NE(several.find("model 'tiny-sd15' names several checkpoint files"), std::string::npos) << several;
  EXPECT_NE(several.find((r / "Stable-diffusion" / "tiny-sd15.safetensors").string()), std::string::npos)
      << several;
  EXPECT_NE(several.find((r / "checkpoints" / "tiny-sd15.safetensors").string()), std::string::npos)
      << several;
  EXPECT_EQ(several.find('\n'), std::string::npos);
  // The CLI shows the flag.
  const test::CmdResult cli =
      test::run_i2i({"img2img", "--models-dir", r.string(), "--model", "tiny-sd15", "--init",
                     test::fixture_path("cases/inputs/astronaut_64.png").string(), "--quiet"},
                    dir);
  EXPECT_EQ(cli.status, 1);
  EXPECT_NE(cli.err.find("--model 'tiny-sd15' names several checkpoint files"), std::string::npos) << cli.err;
  // The same file reached twice (links to one target) is one match.
  fs::remove(r / "checkpoints" / "tiny-sd15.safetensors");
  link(test::models_dir() / "tiny-sd15.safetensors", r / "checkpoints" / "tiny-sd15.safetensors");
  EXPECT_EQ(fs::canonical(resolve(ModelKind::Checkpoint, "tiny-sd15", r)),
            fs::canonical(test::models_dir() / "tiny-sd15.safetensors"));
  // Nothing of that name: the message says where it looked.
  const std::string none = test::error_of([&] { resolve(ModelKind::Vae, "nothing", r, "vae"); });
  EXPECT_NE(none.find("vae 'nothing': no such file or folder, nor a VAE of that name (not in " +
                      (r / "VAE").string()),
            std::string::npos)
      << none;
  const std::string no_folder =
      test::error_of([&] { resolve(ModelKind::ControlNet, "x", dir / "empty", "control_model"); });
  EXPECT_NE(no_folder.find("has none of ControlNet/, controlnet/"), std::string::npos) << no_folder;
  // A value meant as a path is never looked up by name.
  const std::string path = test::error_of([&] { resolve(ModelKind::Checkpoint, "./tiny-sd15", r); });
  EXPECT_NE(path.find("'./tiny-sd15': no such file or folder"), std::string::npos) << path;
  // A path that exists wins over a name.
  const std::string existing = (test::models_dir() / "tiny-sd15.fp16.safetensors").string();
  EXPECT_EQ(resolve(ModelKind::Checkpoint, existing, r), existing);
  EXPECT_EQ(resolve(ModelKind::Checkpoint, "", r), "");
}

// Sets an environment variable for one test.
struct ScopedEnv {
  std::string name;
  std::optional<std::string> old;
  ScopedEnv(const std::string& n, const std::string& value) : name(n) {
    if (const char* v = std::getenv(n.c_str())) old = v;
    ::setenv(n.c_str(), value.c_str(), 1);
  }
  ~ScopedEnv() {
    if (old)
      ::setenv(name.c_str(), old->c_str(), 1);
    else
      ::unsetenv(name.c_str());
  }
};

const std::string kCommit = "0123456789abcdef0123456789abcdef01234567";

// A hub cache holding the fixtures' tiny-sd15 folder as `fixtures/tiny-sd15` at kCommit, with refs/main.
fs::path hub_cache(const std::string& test_name) {
  const fs::path hub = test::temp_dir(test_name) / "hub";
  const fs::path repo = hf_repo_folder(hub, "fixtures/tiny-sd15");
  EXPECT_EQ(repo, hub / "models--fixtures--tiny-sd15");
  link(test::models_dir() / "tiny-sd15", repo / "snapshots" / kCommit);
  fs::create_directories(repo / "refs");
  std::ofstream(repo / "refs" / "main") << kCommit;  // (no newline, as huggingface_hub writes it)
  std::ofstream(repo / "refs" / "broken") << "not a commit\n";
  return hub;
}

TEST(HfCache, WhereItIsAndRepositoryNames) {
  {
    ScopedEnv a("HF_HUB_CACHE", "/h/hub"), b("HF_HOME", "/h/home");
    EXPECT_EQ(hf_hub_cache_dir(), fs::path("/h/hub"));
  }
  {
    ScopedEnv a("HF_HUB_CACHE", ""), b("HF_HOME", "/h/home");
    EXPECT_EQ(hf_hub_cache_dir(), fs::path("/h/home/hub"));
  }
  {
    ScopedEnv a("HF_HUB_CACHE", ""), b("HF_HOME", ""), c("XDG_CACHE_HOME", "/x"), d("HOME", "/home/u");
    EXPECT_EQ(hf_hub_cache_dir(), fs::path("/x/huggingface/hub"));
  }
  {
    ScopedEnv a("HF_HUB_CACHE", ""), b("HF_HOME", ""), c("XDG_CACHE_HOME", ""), d("HOME", "/home/u");
    EXPECT_EQ(hf_hub_cache_dir(), fs::path("/home/u/.cache/huggingface/hub"));
  }
  for (const char* ok : {"org/name", "stabilityai/stable-diffusion-xl-base-1.0", "a_b/c.d"})
    EXPECT_TRUE(is_hf_repo_id(ok)) << ok;
  for (const char* bad : {"name", "a/b/c", "/abs", "org/", "-org/x", "org/x.", "or--g/x", "a/../b", "a/b c",
                          "org/name.safetensors/x", ""})
    EXPECT_FALSE(is_hf_repo_id(bad)) << bad;
  const auto ref = parse_hf_repo_ref("org/name@refs/pr/1");
  ASSERT_TRUE(ref);
  EXPECT_EQ(ref->repo_id, "org/name");
  EXPECT_EQ(ref->revision, "refs/pr/1");
  EXPECT_EQ(parse_hf_repo_ref("org/name")->revision, "main");
  for (const char* bad : {"org/name@", "org/name@../x", "org/name@/x", "org/name@a b"})
    EXPECT_FALSE(parse_hf_repo_ref(bad)) << bad;
}

TEST(HfCache, ModelsByRepositoryName) {
  const fs::path hub = hub_cache("hf_cache_names");
  ScopedEnv env("HF_HUB_CACHE", hub.string());
  const fs::path snapshot = hub / "models--fixtures--tiny-sd15" / "snapshots" / kCommit;
  EXPECT_EQ(find_hf_snapshot(hub, {"fixtures/tiny-sd15", "main"}), snapshot);
  EXPECT_EQ(find_hf_snapshot(hub, {"fixtures/tiny-sd15", kCommit}), snapshot);
  EXPECT_FALSE(find_hf_snapshot(hub, {"fixtures/tiny-sd15", "broken"}));
  EXPECT_FALSE(find_hf_snapshot(hub, {"fixtures/tiny-sd15", "v2"}));
  EXPECT_FALSE(find_hf_snapshot(hub, {"fixtures/other", "main"}));
  const fs::path none = test::temp_dir("hf_cache_names_models");
  EXPECT_EQ(resolve(ModelKind::Checkpoint, "fixtures/tiny-sd15", none), snapshot.string());
  EXPECT_EQ(resolve(ModelKind::Checkpoint, "fixtures/tiny-sd15@" + kCommit, none), snapshot.string());
  const std::string missing =
      test::error_of([&] { resolve(ModelKind::Checkpoint, "fixtures/tiny-sd15@v2", none); });
  EXPECT_NE(missing.find("no fixtures/tiny-sd15@v2 in the Hugging Face cache " + hub.string()),
            std::string::npos)
      << missing;
  EXPECT_NE(missing.find("i2i pull fixtures/tiny-sd15"), std::string::npos) << missing;
  // ModelSet::load takes the name (the C API and the server load through it).
  SdModelOptions o;
  o.tokenizer = test::fixtures_dir() / "tokenizer";
  const auto models = ModelSet::load("fixtures/tiny-sd15", o);
  EXPECT_EQ(models->path(), snapshot);
}

// Single files find the CLIP tokenizer in the Hugging Face cache (as transformers or `i2i pull
// openai/clip-vit-large-patch14 vocab.json merges.txt` leave it) when no other place has it.
TEST(HfCache, TokenizerFromTheHubCache) {
  const fs::path dir = test::temp_dir("hf_cache_tokenizer");
  const fs::path snapshot = dir / "hub" / "models--openai--clip-vit-large-patch14" / "snapshots" / kCommit;
  for (const char* f : {"vocab.json", "merges.txt"})
    link(test::fixtures_dir() / "tokenizer" / f, snapshot / f);
  fs::create_directories(dir / "hub" / "models--openai--clip-vit-large-patch14" / "refs");
  std::ofstream(dir / "hub" / "models--openai--clip-vit-large-patch14" / "refs" / "main") << kCommit;
  ScopedEnv hub("HF_HUB_CACHE", (dir / "hub").string()), xdg("XDG_CACHE_HOME", (dir / "xdg").string()),
      env("I2I_TOKENIZER", "");
  EXPECT_EQ(find_tokenizer_dir(), snapshot);
  fs::remove(snapshot / "merges.txt");
  EXPECT_NE(test::error_of([] { find_tokenizer_dir(); }).find("CLIP tokenizer not found"), std::string::npos);
}

// The CLI with names only reproduces the fixture picture the paths make, and records the models' names.
TEST(ModelNames, CliRunsByName) {
  const fs::path dir = a1111_layout("model_names_cli");
  const fs::path hub = hub_cache("model_names_cli_hub");
  const std::vector<std::string> common = {"--tokenizer",
                                           test::fixture_path("tokenizer").string(),
                                           "--init",
                                           test::fixture_path("cases/inputs/astronaut_64.png").string(),
                                           "--prompt",
                                           "a photograph of an astronaut riding a horse, highly detailed",
                                           "--negative-prompt",
                                           "blurry, low quality, watermark",
                                           "--steps",
                                           "10",
                                           "--cfg-scale",
                                           "7.5",
                                           "--strength",
                                           "0.6",
                                           "--sampler",
                                           "Euler a",
                                           "--seed",
                                           "1234",
                                           "--quiet",
                                           "--precision",
                                           "fp32",
                                           "--models-dir",
                                           (dir / "models").string()};
  const fs::path want = test::fixture_path("cases/pipelines/sd15_img2img_Euler_a_s0.6.png");
  const test::CmdResult a = test::run_i2i(
      test::with({"img2img", "--model", "tiny-sd15", "--vae", "tiny-vae", "-o", "a.png"}, common), dir);
  ASSERT_EQ(a.status, 0) << a.err;
  test::expect_same_picture(dir / "a.png", want);
  const std::string text = read_png_text(dir / "a.png").at("parameters");
  EXPECT_NE(text.find("Model: tiny-sd15,"), std::string::npos) << text;
  EXPECT_NE(text.find("VAE: tiny-vae"), std::string::npos) << text;
  // --from-png finds the models the picture names in the models folder.
  const test::CmdResult c =
      test::run_i2i({"img2img", "--from-png", "a.png", "--models-dir", (dir / "models").string(),
                     "--tokenizer", test::fixture_path("tokenizer").string(), "--init",
                     test::fixture_path("cases/inputs/astronaut_64.png").string(), "--quiet", "--precision",
                     "fp32", "-o", "c.png"},
                    dir);
  ASSERT_EQ(c.status, 0) << c.err;
  test::expect_same_picture(dir / "c.png", want);
  // The same from the Hugging Face cache (HF_HUB_CACHE for the child process).
  ScopedEnv env("HF_HUB_CACHE", hub.string());
  const test::CmdResult b =
      test::run_i2i(test::with({"img2img", "--model", "fixtures/tiny-sd15", "-o", "b.png"}, common), dir);
  ASSERT_EQ(b.status, 0) << b.err;
  test::expect_same_picture(dir / "b.png", want);
}

}  // namespace
}  // namespace i2i
