// Model files by name and short hash (models/model_hash.h) and found again by them
// (models/model_lookup.h): names as A1111 shows them, the file a diffusers folder is hashed by, and the
// search by name (checked against the hash), by hash (a renamed file), and its failures.
#include "models/model_lookup.h"

#include <gtest/gtest.h>

#include <fstream>

#include "core/error.h"
#include "io/file_hash.h"
#include "models/model_hash.h"
#include "support/fixtures.h"

namespace i2i {
namespace {
namespace fs = std::filesystem;

void write_file(const fs::path& p, const std::string& bytes) {
  std::ofstream(p, std::ios::binary) << bytes;
}

TEST(ModelNames, AsA1111ShowsThem) {
  const fs::path m = test::models_dir();
  EXPECT_EQ(model_stem("/x/v1-5-pruned-emaonly.safetensors"), "v1-5-pruned-emaonly");
  EXPECT_EQ(model_stem(m / "tiny-sd15.fp16.safetensors"), "tiny-sd15.fp16");
  EXPECT_EQ(model_stem(m / "tiny-sd15"), "tiny-sd15");
  EXPECT_EQ(model_stem((m / "tiny-sd15").string() + "/"), "tiny-sd15");
  const fs::path dir = test::temp_dir("model_names");
  fs::create_directories(dir / "sd-v1.5");
  EXPECT_EQ(model_stem(dir / "sd-v1.5"), "sd-v1.5");  // a folder's whole name
  EXPECT_EQ(vae_file_name("/x/vae-ft-mse-840000-ema-pruned.safetensors"),
            "vae-ft-mse-840000-ema-pruned.safetensors");
  EXPECT_EQ(vae_file_name((m / "tiny-sd15").string() + "/"), "tiny-sd15");
}

TEST(ModelHash, FileHashedForEachKindOfModel) {
  const fs::path m = test::models_dir();
  EXPECT_EQ(model_hash_file(m / "tiny-sd15.safetensors"), m / "tiny-sd15.safetensors");
  EXPECT_EQ(model_hash_file(m / "tiny-sd15"), m / "tiny-sd15/unet/diffusion_pytorch_model.safetensors");
  EXPECT_EQ(model_hash_file(m / "tiny-controlnet-sd15"),
            m / "tiny-controlnet-sd15/diffusion_pytorch_model.safetensors");
  EXPECT_EQ(model_hash_file(m / "tiny-sd15/vae"), m / "tiny-sd15/vae/diffusion_pytorch_model.safetensors");
  const fs::path dir = test::temp_dir("model_hash_file");
  EXPECT_THROW(model_hash_file(dir), Error);  // a folder without weights

  const std::string sha = sha256_file(m / "tiny-sd15.safetensors");
  EXPECT_EQ(model_short_hash(m / "tiny-sd15.safetensors"), sha.substr(0, 10));
  EXPECT_EQ(model_short_hash(m / "tiny-sd15"),
            sha256_file(m / "tiny-sd15/unet/diffusion_pytorch_model.safetensors").substr(0, 10));
  EXPECT_EQ(controlnet_short_hash(m / "tiny-controlnet-sd15.safetensors"),
            legacy_model_hash(m / "tiny-controlnet-sd15.safetensors"));

  EXPECT_TRUE(model_hash_matches(m / "tiny-sd15.safetensors", sha.substr(0, 10)));
  EXPECT_TRUE(model_hash_matches(m / "tiny-sd15.safetensors", sha));
  EXPECT_TRUE(model_hash_matches(m / "tiny-sd15.safetensors", "0x" + sha.substr(0, 10)) == false);
  std::string upper = sha.substr(0, 12);
  for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  EXPECT_TRUE(model_hash_matches(m / "tiny-sd15.safetensors", upper));
  EXPECT_TRUE(
      model_hash_matches(m / "tiny-sd15.safetensors", legacy_model_hash(m / "tiny-sd15.safetensors")));
  EXPECT_FALSE(model_hash_matches(m / "tiny-sd15.safetensors", sha.substr(0, 9)));  // too short to trust
  EXPECT_FALSE(model_hash_matches(m / "tiny-sd15.safetensors", ""));
  EXPECT_FALSE(model_hash_matches(m / "tiny-sd15.fp16.safetensors", sha.substr(0, 10)));
}

// The fixtures hold tiny-sd15.safetensors and the folder tiny-sd15 (and the same for the ControlNet): the
// recorded hash tells them apart.
TEST(FindModel, ByNameCheckedAgainstTheHash) {
  const fs::path m = test::models_dir();
  const ModelRef file{"tiny-sd15", model_short_hash(m / "tiny-sd15.safetensors")};
  const ModelRef folder{"tiny-sd15", model_short_hash(m / "tiny-sd15")};
  EXPECT_EQ(find_model(file, {m}).found, m / "tiny-sd15.safetensors");
  EXPECT_EQ(find_model(folder, {m}).found, m / "tiny-sd15");
  const ModelRef cn_file{"tiny-controlnet-sd15",
                         controlnet_short_hash(m / "tiny-controlnet-sd15.safetensors")};
  const ModelRef cn_folder{"tiny-controlnet-sd15", controlnet_short_hash(m / "tiny-controlnet-sd15")};
  ASSERT_NE(cn_file.hash, cn_folder.hash);
  EXPECT_EQ(find_model(cn_file, {m}).found, m / "tiny-controlnet-sd15.safetensors");
  EXPECT_EQ(find_model(cn_folder, {m}).found, m / "tiny-controlnet-sd15");
  // A name alone takes the first of that name; folders that do not exist are skipped.
  const auto by_name = find_model({"tiny-sd15", ""}, {m / "no-such-folder", m});
  ASSERT_TRUE(by_name.found);
  EXPECT_EQ(model_stem(*by_name.found), "tiny-sd15");
  // A VAE by its file name.
  EXPECT_EQ(find_model({"tiny-sd15.fp16.safetensors", ""}, {m}).found, m / "tiny-sd15.fp16.safetensors");
  EXPECT_FALSE(find_model({}, {m}).found);
}

TEST(FindModel, ByHashWhenRenamedAndNotByNameWithAnotherHash) {
  const fs::path dir = test::temp_dir("find_model");
  fs::create_directories(dir / "a");
  fs::create_directories(dir / "b");
  write_file(dir / "a" / "mine.safetensors", "the weights I used");
  write_file(dir / "b" / "renamed.safetensors", "the weights I used");
  write_file(dir / "b" / "other.safetensors", "other weights");
  const std::string hash = sha256_hex("the weights I used").substr(0, 10);
  // Found by name in the first folder.
  EXPECT_EQ(find_model({"mine", hash}, {dir / "a", dir / "b"}).found, dir / "a" / "mine.safetensors");
  // Renamed: found by its hash.
  EXPECT_EQ(find_model({"mine", hash}, {dir / "b"}).found, dir / "b" / "renamed.safetensors");
  EXPECT_EQ(find_model({"", hash}, {dir / "b"}).found, dir / "b" / "renamed.safetensors");
  // A file of that name whose hash differs is never taken; the search says what it saw.
  write_file(dir / "b" / "mine.safetensors", "edited weights");
  fs::remove(dir / "b" / "renamed.safetensors");
  const ModelSearch s = find_model({"mine", hash}, {dir / "b"});
  EXPECT_FALSE(s.found);
  EXPECT_NE(s.mismatch.find((dir / "b" / "mine.safetensors").string()), std::string::npos) << s.mismatch;
  EXPECT_NE(s.mismatch.find("has hash " + sha256_hex("edited weights").substr(0, 10)), std::string::npos)
      << s.mismatch;
  // Nothing anywhere.
  EXPECT_FALSE(find_model({"nothing", "0123456789"}, {dir / "a", dir / "b"}).found);
  EXPECT_EQ(ModelRef({"mine", hash}).describe(), "mine (hash " + hash + ")");
  EXPECT_EQ(ModelRef({"", hash}).describe(), "hash " + hash);
}

}  // namespace
}  // namespace i2i
