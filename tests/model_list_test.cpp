// `i2i list` (models/model_catalog.h): a models folder laid out like A1111's, holding (links to) the
// fixtures' models, is listed with each model's kind, family, size and short hash; a second listing reads
// no file contents (the cache answers: a file whose bytes change behind an unchanged size and mtime keeps
// its old hash and family), and a corrupt cache is ignored and rewritten.
#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "io/file_hash.h"
#include "models/model_catalog.h"
#include "support/cli_run.h"
#include "support/fixtures.h"

namespace i2i {
namespace {
namespace fs = std::filesystem;

void link(const fs::path& target, const fs::path& at) {
  fs::create_directories(at.parent_path());
  fs::create_symlink(target, at);
}

// <dir>/models in A1111's layout (embeddings/ beside it); Stable-diffusion/copy.safetensors is a copy
// of tiny-sd15.safetensors (the tests change its bytes).
fs::path layout(const std::string& name) {
  const fs::path dir = test::temp_dir(name);
  const fs::path m = test::models_dir();
  const fs::path sd = dir / "models" / "Stable-diffusion";
  for (const char* f : {"tiny-sd15.safetensors", "tiny-sd15.json", "tiny-sd2v.fp16.safetensors",
                        "tiny-sd15-inpaint.fp16.safetensors", "tiny-sdxl-refiner.fp16.safetensors"})
    link(m / f, sd / f);
  link(m / "tiny-sd2v", sd / "tiny-sd2v");
  link(m / "tiny-sdxl", sd / "sdxl" / "tiny-sdxl");
  link(m / "tiny-sdxl.fp16.safetensors", sd / "sdxl" / "tiny-sdxl-turbo.safetensors");
  fs::copy_file(m / "tiny-sd15.safetensors", sd / "copy.safetensors");
  link(m / "tiny-sd15" / "vae", dir / "models" / "VAE" / "tiny-vae");
  for (const char* f : {"tiny-style.safetensors", "tiny-xl-style.safetensors", "tiny-sd15-diffusers"})
    link(m / "loras" / f, dir / "models" / "Lora" / f);
  link(m / "tiny-controlnet-sd15.safetensors",
       dir / "models" / "ControlNet" / "tiny-controlnet-sd15.safetensors");
  // sd-webui-controlnet keeps IP-Adapters with the ControlNets: told apart by their tensors.
  link(m / "tiny-ip-adapter" / "models" / "ip-adapter_sd15.safetensors",
       dir / "models" / "ControlNet" / "ip-adapter_sd15.safetensors");
  link(m / "tiny-ip-adapter" / "sdxl_models" / "ip-adapter_sdxl_vit-h.safetensors",
       dir / "models" / "ipadapter" / "ip-adapter_sdxl_vit-h.safetensors");
  link(m / "tiny-ip-adapter" / "models" / "image_encoder", dir / "models" / "clip_vision" / "encoder");
  link(m / "embeddings" / "xlglow.safetensors", dir / "embeddings" / "xlglow.safetensors");
  link(m / "embeddings" / "tinymark.safetensors", dir / "embeddings" / "tinymark.safetensors");
  return dir;
}

// name -> "kind|family" as listed.
const std::map<std::string, std::string> kWant = {
    {"copy", "checkpoint|SD 1.x"},
    {"tiny-sd15", "checkpoint|SD 1.x"},
    {"tiny-sd2v.fp16", "checkpoint|SD 2.x"},
    {"tiny-sd2v", "checkpoint|SD 2.x"},
    {"tiny-sd15-inpaint.fp16", "checkpoint|SD 1.x inpaint"},
    {"tiny-sdxl-refiner.fp16", "checkpoint|SDXL refiner"},
    {"sdxl/tiny-sdxl", "checkpoint|SDXL base"},
    {"sdxl/tiny-sdxl-turbo", "checkpoint|SDXL Turbo"},
    {"tiny-vae", "VAE|"},
    {"tiny-style", "LoRA|SD 1.x"},
    {"tiny-xl-style", "LoRA|SDXL"},
    {"tiny-sd15-diffusers", "LoRA|SD 1.x/2.x"},
    {"tiny-controlnet-sd15", "ControlNet|SD 1.x"},
    {"ip-adapter_sd15", "IP-Adapter|SD 1.x"},
    {"ip-adapter_sdxl_vit-h", "IP-Adapter|SDXL"},
    {"encoder", "image encoder|CLIP vision"},
    {"xlglow", "embedding|SDXL"},
    {"tinymark", "embedding|SD 1.x/2.x"},
};

std::map<std::string, ModelListing> by_name(const std::vector<ModelListing>& list) {
  std::map<std::string, ModelListing> out;
  for (const ModelListing& m : list) {
    EXPECT_TRUE(m.error.empty()) << m.path << ": " << m.error;
    EXPECT_TRUE(out.emplace(m.name, m).second) << "listed twice: " << m.name;
  }
  return out;
}

void set_bytes_keep_mtime(const fs::path& file, char byte) {
  const auto mtime = fs::last_write_time(file);
  const auto size = fs::file_size(file);
  std::ofstream(file, std::ios::binary | std::ios::trunc) << std::string(size, byte);
  fs::last_write_time(file, mtime);
}

TEST(ModelList, ClassifiesTheFixturesAndCachesWhatItRead) {
  const fs::path dir = layout("model_list");
  const fs::path cache_file = dir / "cache" / "hashes.json";
  {
    HashCache cache(cache_file);
    const auto got = by_name(list_models(dir / "models", cache));
    ASSERT_EQ(got.size(), kWant.size());
    for (const auto& [name, want] : kWant) {
      ASSERT_TRUE(got.count(name)) << name;
      const ModelListing& m = got.at(name);
      EXPECT_EQ(model_kind_name(m.kind) + "|" + m.family, want) << name;
      EXPECT_FALSE(m.from_cache) << name;
      EXPECT_GT(m.size, 0u) << name;
    }
    const ModelListing& copy = got.at("copy");
    EXPECT_EQ(copy.sha256, sha256_file(test::models_dir() / "tiny-sd15.safetensors"));
    EXPECT_EQ(copy.short_hash(), copy.sha256.substr(0, 10));
    EXPECT_EQ(copy.size, fs::file_size(test::models_dir() / "tiny-sd15.safetensors"));
    EXPECT_EQ(got.at("tiny-sd2v").sha256,
              sha256_file(test::models_dir() / "tiny-sd2v" / "unet" / "diffusion_pytorch_model.safetensors"));
  }
  // A new process (a fresh cache object on the same file) reads no file: the copy's bytes are now
  // zeros behind the same size and mtime, and it is still listed as what it was.
  set_bytes_keep_mtime(dir / "models" / "Stable-diffusion" / "copy.safetensors", '\0');
  {
    HashCache cache(cache_file);
    const auto got = by_name(list_models(dir / "models", cache));
    ASSERT_EQ(got.size(), kWant.size());
    for (const auto& [name, m] : got) EXPECT_TRUE(m.from_cache) << name;
    EXPECT_EQ(got.at("copy").family, "SD 1.x");
    EXPECT_EQ(got.at("copy").sha256, sha256_file(test::models_dir() / "tiny-sd15.safetensors"));
  }
  // A changed mtime: read again (and now it is no model).
  fs::last_write_time(dir / "models" / "Stable-diffusion" / "copy.safetensors",
                      fs::last_write_time(dir / "models" / "Stable-diffusion" / "copy.safetensors") +
                          std::chrono::seconds(5));
  {
    HashCache cache(cache_file);
    const std::vector<ModelListing> list = list_models(dir / "models", cache);
    const auto it =
        std::find_if(list.begin(), list.end(), [](const ModelListing& m) { return m.name == "copy"; });
    ASSERT_NE(it, list.end());
    EXPECT_FALSE(it->from_cache);
    EXPECT_FALSE(it->error.empty());
    EXPECT_EQ(it->error.find('\n'), std::string::npos);
  }
}

TEST(ModelList, CorruptCacheIsIgnoredAndRewritten) {
  const fs::path dir = layout("model_list_corrupt");
  const fs::path cache_file = dir / "cache" / "hashes.json";
  fs::create_directories(cache_file.parent_path());
  std::ofstream(cache_file) << "{\"i2i_hash_cache\": 1, \"files\": {\"" << dir.string() << "/x\": [tru";
  HashCache cache(cache_file);
  const auto got = by_name(list_models(dir / "models", cache));
  EXPECT_EQ(got.size(), kWant.size());
  for (const auto& [name, m] : got) EXPECT_FALSE(m.from_cache) << name;
  std::ifstream in(cache_file);
  const nlohmann::json j = nlohmann::json::parse(in, nullptr, false);
  ASSERT_TRUE(j.is_object());
  EXPECT_GE(j.at("files").size(), kWant.size());
  // Hostile "info" values are ignored: too long, not a string.
  nlohmann::json hostile = j;
  for (auto& [k, v] : hostile["files"].items()) v["info"] = std::string(300, 'x');
  std::ofstream(cache_file) << hostile.dump();
  HashCache again(cache_file);
  for (const auto& [name, m] : by_name(list_models(dir / "models", again))) {
    EXPECT_FALSE(m.from_cache) << name;
    EXPECT_EQ(model_kind_name(m.kind) + "|" + m.family, kWant.at(name)) << name;
  }
}

TEST(ModelList, Cli) {
  const fs::path dir = layout("model_list_cli");
  ::setenv("XDG_CACHE_HOME", (dir / "cache").c_str(), 1);  // the child's user cache
  const std::string models = (dir / "models").string();
  const test::CmdResult table = test::run_i2i({"list", "--models-dir", models}, dir);
  ASSERT_EQ(table.status, 0) << table.err;
  EXPECT_NE(table.out.find("KIND"), std::string::npos) << table.out;
  EXPECT_NE(table.out.find("SDXL refiner"), std::string::npos) << table.out;
  EXPECT_NE(
      table.out.find(sha256_file(test::models_dir() / "tiny-sd15.safetensors").substr(0, 10) + "  tiny-sd15"),
      std::string::npos)
      << table.out;
  set_bytes_keep_mtime(dir / "models" / "Stable-diffusion" / "copy.safetensors", 'x');
  const test::CmdResult second = test::run_i2i({"list", "--json", "--models-dir", models}, dir);
  ASSERT_EQ(second.status, 0) << second.err;
  const nlohmann::json j = nlohmann::json::parse(second.out);
  ASSERT_EQ(j.at("models").size(), kWant.size());
  for (const auto& m : j.at("models")) {
    EXPECT_TRUE(m.at("from_cache").get<bool>()) << m.dump();
    EXPECT_EQ(m.at("kind").get<std::string>() + "|" + m.at("family").get<std::string>(),
              kWant.at(m.at("name").get<std::string>()));
  }
  const test::CmdResult missing = test::run_i2i({"list", "--models-dir", (dir / "nope").string()}, dir);
  EXPECT_EQ(missing.status, 1);
  EXPECT_NE(missing.err.find("does not exist"), std::string::npos) << missing.err;
}

}  // namespace
}  // namespace i2i
