#include "models/checkpoint.h"

#include <gtest/gtest.h>

#include <fstream>

#include "core/error.h"
#include "support/fixtures.h"
#include "support/model_layouts.h"

namespace i2i {
namespace {

std::filesystem::path model(const std::string& name) {
  return test::fixtures_dir() / "models" / name;
}

void expect_error(const std::filesystem::path& p, const std::string& needle) {
  try {
    open_checkpoint(p);
    ADD_FAILURE() << p << " accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  }
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

// Every layout the family detection knows, each built from a fixture model (renamed tensors; a 9-channel
// UNet input for the inpainting variants the fixtures lack): family, variant, layout and text encoders.
struct LayoutCase {
  const char* name;
  const char* file;  // fixture model file (or folder, when `rename` is null)
  test::Rename rename;
  bool nine_channels;
  ModelFamily family;
  bool inpainting, refiner;
  CheckpointLayout layout;
  const char* text_encoders;
};

// gtest prints the case by its name.
void PrintTo(const LayoutCase& c, std::ostream* os) {
  *os << c.name;
}

const LayoutCase kLayoutCases[] = {
    {"sd1_ldm", "tiny-sd15.safetensors", test::same_names, false, ModelFamily::SD1, false, false,
     CheckpointLayout::Ldm, "CLIP ViT-L, width 16"},
    {"sd1_old_clip", "tiny-sd15.safetensors", test::to_old_clip_names, false, ModelFamily::SD1, false, false,
     CheckpointLayout::LdmOldClip, "CLIP ViT-L, width 16"},
    {"sd1_inpaint_ldm", "tiny-sd15-inpaint.fp16.safetensors", test::same_names, false, ModelFamily::SD1, true,
     false, CheckpointLayout::Ldm, "CLIP ViT-L, width 16"},
    {"sd1_inpaint_old_clip", "tiny-sd15-inpaint.fp16.safetensors", test::to_old_clip_names, false,
     ModelFamily::SD1, true, false, CheckpointLayout::LdmOldClip, "CLIP ViT-L, width 16"},
    {"sd2_ldm", "tiny-sd2v.fp16.safetensors", test::same_names, false, ModelFamily::SD2, false, false,
     CheckpointLayout::Ldm, "OpenCLIP ViT-H, width 16"},
    {"sd2_sgm", "tiny-sd2v.fp16.safetensors", test::to_sgm_names, false, ModelFamily::SD2, false, false,
     CheckpointLayout::Sgm, "OpenCLIP ViT-H, width 16"},
    {"sd2_inpaint_ldm", "tiny-sd2v.fp16.safetensors", test::same_names, true, ModelFamily::SD2, true, false,
     CheckpointLayout::Ldm, "OpenCLIP ViT-H, width 16"},
    {"sd2_inpaint_sgm", "tiny-sd2v.fp16.safetensors", test::to_sgm_names, true, ModelFamily::SD2, true, false,
     CheckpointLayout::Sgm, "OpenCLIP ViT-H, width 16"},
    {"sdxl_base", "tiny-sdxl.fp16.safetensors", test::same_names, false, ModelFamily::SDXL, false, false,
     CheckpointLayout::Sgm, "CLIP ViT-L + OpenCLIP ViT-bigG, widths 16 + 24"},
    {"sdxl_inpaint", "tiny-sdxl.fp16.safetensors", test::same_names, true, ModelFamily::SDXL, true, false,
     CheckpointLayout::Sgm, "CLIP ViT-L + OpenCLIP ViT-bigG, widths 16 + 24"},
    {"sdxl_refiner", "tiny-sdxl-refiner.fp16.safetensors", test::same_names, false, ModelFamily::SDXL, false,
     true, CheckpointLayout::Sgm, "OpenCLIP ViT-bigG, width 24"},
    {"sd1_folder", "tiny-sd15", nullptr, false, ModelFamily::SD1, false, false,
     CheckpointLayout::DiffusersFolder, "CLIP ViT-L, width 16"},
    {"sd2_folder", "tiny-sd2v", nullptr, false, ModelFamily::SD2, false, false,
     CheckpointLayout::DiffusersFolder, "OpenCLIP ViT-H, width 16"},
    {"sdxl_folder", "tiny-sdxl", nullptr, false, ModelFamily::SDXL, false, false,
     CheckpointLayout::DiffusersFolder, "CLIP ViT-L + OpenCLIP ViT-bigG, widths 16 + 24"},
    {"sdxl_refiner_folder", "tiny-sdxl-refiner", nullptr, false, ModelFamily::SDXL, false, true,
     CheckpointLayout::DiffusersFolder, "OpenCLIP ViT-bigG, width 24"},
    {"controlnet_ldm", "tiny-controlnet-sd15.safetensors", nullptr, false, ModelFamily::ControlNet, false,
     false, CheckpointLayout::Ldm, ""},
    {"controlnet_folder", "tiny-controlnet-sd15", nullptr, false, ModelFamily::ControlNet, false, false,
     CheckpointLayout::DiffusersFolder, ""},
    {"vae_folder", "tiny-sd15/vae", nullptr, false, ModelFamily::VAE, false, false,
     CheckpointLayout::DiffusersFolder, ""},
    {"vae_diffusers_names", "tiny-sd15/vae/diffusion_pytorch_model.safetensors", nullptr, false,
     ModelFamily::VAE, false, false, CheckpointLayout::DiffusersNames, ""},
};

class CheckpointLayouts : public ::testing::TestWithParam<LayoutCase> {};

TEST_P(CheckpointLayouts, DetectsFamilyAndLayout) {
  const LayoutCase& c = GetParam();
  std::filesystem::path path = model(c.file);
  if (c.rename) {
    const auto dir = test::temp_dir(std::string("checkpoint_layout_") + c.name);
    path = test::write_model_copy(
        c.file, dir, c.rename,
        c.nine_channels ? test::nine_channel_unet_input(c.file) : std::map<std::string, Tensor>{});
  }
  const Checkpoint ck = open_checkpoint(path);
  EXPECT_EQ(family_name(ck.family), family_name(c.family));
  EXPECT_EQ(ck.inpainting, c.inpainting);
  EXPECT_EQ(ck.refiner, c.refiner);
  EXPECT_EQ(layout_name(ck.layout), layout_name(c.layout));
  EXPECT_EQ(ck.text_encoders, c.text_encoders);
  // Files in another layout are read with LDM names; the LDM files as stored.
  const bool renamed = c.layout == CheckpointLayout::LdmOldClip ||
                       (c.layout == CheckpointLayout::Sgm && c.family == ModelFamily::SD2);
  EXPECT_EQ(!ck.renamed_prefixes.empty(), renamed);
  if (ck.file && (c.family == ModelFamily::SD1 || c.family == ModelFamily::SD2)) {
    const char* text = c.family == ModelFamily::SD1
                           ? "cond_stage_model.transformer.text_model.embeddings.token_embedding.weight"
                           : "cond_stage_model.model.token_embedding.weight";
    EXPECT_TRUE(ck.file->contains(text)) << text;
  }
}

INSTANTIATE_TEST_SUITE_P(Checkpoint, CheckpointLayouts, ::testing::ValuesIn(kLayoutCases),
                         [](const auto& info) { return std::string(info.param.name); });

// The renames are A1111's: the old CLIP names gain `text_model.` (three prefixes), the SGM SD 2.x file's
// embedders.0 becomes cond_stage_model; the SDXL files keep their names.
TEST(Checkpoint, LayoutRenamesAreA1111s) {
  const auto dir = test::temp_dir("checkpoint_renames");
  const Checkpoint old_clip =
      open_checkpoint(test::write_model_copy("tiny-sd15.safetensors", dir, test::to_old_clip_names));
  ASSERT_EQ(old_clip.renamed_prefixes.size(), 3u);
  EXPECT_EQ(old_clip.renamed_prefixes[0].first, "cond_stage_model.transformer.embeddings.");
  EXPECT_EQ(old_clip.renamed_prefixes[0].second, "cond_stage_model.transformer.text_model.embeddings.");
  const Checkpoint sgm =
      open_checkpoint(test::write_model_copy("tiny-sd2v.fp16.safetensors", dir, test::to_sgm_names));
  ASSERT_EQ(sgm.renamed_prefixes.size(), 1u);
  EXPECT_EQ(sgm.renamed_prefixes[0].first, "conditioner.embedders.0.");
  EXPECT_EQ(sgm.renamed_prefixes[0].second, "cond_stage_model.");
  // The renamed view holds every tensor once, by its LDM name, with the same data.
  const SafeTensors original = SafeTensors::open(model("tiny-sd2v.fp16.safetensors"));
  ASSERT_EQ(sgm.file->names().size(), original.names().size());
  for (const std::string& name : original.names()) {
    ASSERT_TRUE(sgm.file->contains(name)) << name;
    EXPECT_EQ(sgm.file->info(name).shape, original.info(name).shape) << name;
  }
  EXPECT_EQ(sgm.file->get("cond_stage_model.model.ln_final.weight").to(DType::F32).to_vector(),
            original.get("cond_stage_model.model.ln_final.weight").to(DType::F32).to_vector());
  EXPECT_TRUE(open_checkpoint(model("tiny-sdxl.fp16.safetensors")).renamed_prefixes.empty());
}

// Without SDXL's label_emb an SGM file with one OpenCLIP encoder is SD 2.x; with it, the SDXL refiner. A
// text encoder and UNet that match no row are an error naming the file, not a guess.
TEST(Checkpoint, UnknownLayoutsAreRefused) {
  const auto dir = test::temp_dir("checkpoint_unknown_layout");
  // The refiner without label_emb reads as SD 2.x in the SGM layout (what A1111 calls SD 2.1 Turbo).
  const std::filesystem::path no_label =
      test::write_model_copy("tiny-sdxl-refiner.fp16.safetensors", dir, [](const std::string& n) {
        return n.rfind("model.diffusion_model.label_emb.", 0) == 0 ? "ignored." + n : n;
      });
  const Checkpoint ck = open_checkpoint(no_label);
  EXPECT_EQ(ck.family, ModelFamily::SD2);
  EXPECT_EQ(ck.layout, CheckpointLayout::Sgm);
  // SDXL's CLIP-L without its OpenCLIP-bigG partner: no known layout.
  std::filesystem::create_directories(dir / "clip_only");
  const auto clip_only = test::write_model_copy(
      "tiny-sdxl.fp16.safetensors", dir / "clip_only",
      [](const std::string& n) { return n.rfind("conditioner.embedders.1.", 0) == 0 ? "ignored." + n : n; });
  expect_error(clip_only, "match no layout i2i knows");
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
