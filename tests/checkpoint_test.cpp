#include "models/checkpoint.h"

#include <gtest/gtest.h>

#include <fstream>

#include "core/error.h"
#include "support/fixtures.h"

namespace i2i {
namespace {

std::filesystem::path model(const std::string& name) {
  return test::fixtures_dir() / "models" / name;
}

TEST(Checkpoint, DetectsSingleFileFamilies) {
  auto sd15 = open_checkpoint(model("tiny-sd15.safetensors"));
  EXPECT_EQ(sd15.family, ModelFamily::SD1);
  EXPECT_FALSE(sd15.inpainting);
  EXPECT_EQ(sd15.prediction, Prediction::Epsilon);
  EXPECT_EQ(sd15.unet_config.value("norm_num_groups", 0), 8);  // from the sidecar

  auto sd2 = open_checkpoint(model("tiny-sd2v.fp16.safetensors"));
  EXPECT_EQ(sd2.family, ModelFamily::SD2);
  EXPECT_EQ(sd2.prediction, Prediction::V);

  auto inpaint = open_checkpoint(model("tiny-sd15-inpaint.fp16.safetensors"));
  EXPECT_EQ(inpaint.family, ModelFamily::SD1);
  EXPECT_TRUE(inpaint.inpainting);

  EXPECT_EQ(open_checkpoint(model("tiny-sdxl.fp16.safetensors")).family, ModelFamily::SDXL);
  EXPECT_EQ(open_checkpoint(model("tiny-controlnet-sd15.safetensors")).family, ModelFamily::ControlNet);
}

TEST(Checkpoint, DetectsDiffusersFolders) {
  auto sd15 = open_checkpoint(model("tiny-sd15"));
  EXPECT_TRUE(sd15.is_folder);
  EXPECT_EQ(sd15.family, ModelFamily::SD1);
  EXPECT_EQ(sd15.prediction, Prediction::Epsilon);
  auto sd2 = open_checkpoint(model("tiny-sd2v"));
  EXPECT_EQ(sd2.family, ModelFamily::SD2);
  EXPECT_EQ(sd2.prediction, Prediction::V);
  EXPECT_EQ(open_checkpoint(model("tiny-sdxl")).family, ModelFamily::SDXL);
  EXPECT_EQ(open_checkpoint(model("tiny-controlnet-sd15")).family, ModelFamily::ControlNet);
}

TEST(Checkpoint, PredictionOverrideAndBareDefault) {
  CheckpointOptions o;
  o.prediction = Prediction::Epsilon;
  EXPECT_EQ(open_checkpoint(model("tiny-sd2v.fp16.safetensors"), o).prediction, Prediction::Epsilon);
  // A bare SD2 file (no sidecar): v-prediction by default (documented).
  auto dir = test::temp_dir("checkpoint_bare");
  std::filesystem::create_symlink(model("tiny-sd2v.fp16.safetensors"), dir / "bare.safetensors");
  auto bare = open_checkpoint(dir / "bare.safetensors");
  EXPECT_EQ(bare.prediction, Prediction::V);
  EXPECT_EQ(bare.prediction_source, "default for SD2.x");
  // An A1111-style yaml beside it decides.
  std::ofstream(dir / "bare.yaml")
      << "model:\n  params:\n    parameterization: \"eps\"\n    scale_factor: 0.18215\n";
  EXPECT_EQ(open_checkpoint(dir / "bare.safetensors").prediction, Prediction::Epsilon);
}

void expect_error(const std::filesystem::path& p, const std::string& needle) {
  try {
    open_checkpoint(p);
    ADD_FAILURE() << p << " accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  }
}

TEST(Checkpoint, RejectsBadPaths) {
  auto dir = test::temp_dir("checkpoint_bad");
  expect_error(dir / "missing.safetensors", "no such file");
  std::ofstream(dir / "text.safetensors") << "hello world, this is not a model";
  expect_error(dir / "text.safetensors", "not a safetensors file");
  std::ofstream(dir / "model.ckpt") << "pickle";
  expect_error(dir / "model.ckpt", "pickled");
  write_safetensors(dir / "other.safetensors", {{"foo.weight", Tensor::zeros({2, 2})}});
  expect_error(dir / "other.safetensors", "not a Stable Diffusion checkpoint");
  std::filesystem::create_directories(dir / "emptydir");
  expect_error(dir / "emptydir", "not a diffusers folder");
  // A truncated copy of a real checkpoint.
  std::ifstream in(model("tiny-sd15.fp16.safetensors"), std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::ofstream(dir / "cut.safetensors", std::ios::binary) << bytes.substr(0, bytes.size() / 2);
  expect_error(dir / "cut.safetensors", "truncated");
}

}  // namespace
}  // namespace i2i
