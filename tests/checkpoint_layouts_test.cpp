// Single files in the layouts A1111 loads besides LDM (issue 19): an SD 1.x file whose CLIP has the older
// names without `text_model.`, and an SD 2.x file in Stability's SGM layout (SD-Turbo's), each built from a
// fixture model by renaming its tensors. Read through A1111's renames they are the same model, so
// generate() and the CLI give the originals' pictures byte for byte and the same parameters text but for
// the files' own `Model hash:`, and `i2i info` names family and layout. (A diffusers folder cannot hold the
// older CLIP names: transformers' CLIPTextModel has saved its weights under `text_model.` since CLIP was
// added to it, so no folder loader mapping exists or is needed.)
#include <gtest/gtest.h>

#include "io/image.h"
#include "pipelines/generation.h"
#include "support/cli_run.h"
#include "support/fixtures.h"
#include "support/model_layouts.h"

namespace i2i {
namespace {
namespace fs = std::filesystem;

struct LayoutModel {
  const char* name;
  const char* file;  // the fixture model file the layout is built from
  test::Rename rename;
  bool inpaint;  // run an inpainting request (with the fixtures' mask)
  const char* family_line;
  const char* layout_line;
  const char* renamed_line;
};

// gtest prints the case by its name.
void PrintTo(const LayoutModel& c, std::ostream* os) {
  *os << c.name;
}

const LayoutModel kModels[] = {
    {"sd1_old_clip", "tiny-sd15.safetensors", test::to_old_clip_names, false, "family:      SD1.x\n",
     "layout:      LDM with the older CLIP names",
     "  read as:   cond_stage_model.transformer.encoder.* -> "
     "cond_stage_model.transformer.text_model.encoder.*\n"},
    {"sd1_inpaint_old_clip", "tiny-sd15-inpaint.fp16.safetensors", test::to_old_clip_names, true,
     "family:      SD1.x inpainting (9-channel UNet)\n", "layout:      LDM with the older CLIP names",
     "  read as:   cond_stage_model.transformer.final_layer_norm.* -> "
     "cond_stage_model.transformer.text_model.final_layer_norm.*\n"},
    {"sd2_sgm", "tiny-sd2v.fp16.safetensors", test::to_sgm_names, false, "family:      SD2.x\n",
     "layout:      SGM (Stability generative-models",
     "  read as:   conditioner.embedders.0.* -> cond_stage_model.*\n"},
};

class LayoutModels : public ::testing::TestWithParam<LayoutModel> {};

GenerationRequest request_for(const LayoutModel& m, const fs::path& model) {
  GenerationRequest req;
  GenerationParams& p = req.params;
  p.model = model.string();
  p.init_image = test::fixture_path("cases/inputs/astronaut_64.png").string();
  if (m.inpaint) p.mask = test::fixture_path("cases/inputs/mask_64.png").string();
  p.prompt = "a photograph of an astronaut riding a horse, highly detailed";
  p.negative_prompt = "blurry, low quality, watermark";
  p.strength = 0.5;
  p.steps = 4;
  p.cfg_scale = 7.5;
  p.sampler = "Euler a";
  p.seed = 1234;
  return req;
}

std::unique_ptr<ModelSet> load(const fs::path& model) {
  SdModelOptions o;
  o.tokenizer = test::fixture_path("tokenizer");
  o.precision = PrecisionChoice::F32;
  return ModelSet::load(model, o);
}

// The parameters text without its `Model hash:` (the renamed copy is another file, so its SHA-256 differs;
// everything else the text says must be the same).
std::string without_model_hash(std::string text) {
  const std::string key = "Model hash: ";
  const size_t at = text.find(key);
  if (at == std::string::npos) return text;
  const size_t end = text.find(", ", at);
  return text.erase(at, end == std::string::npos ? std::string::npos : end + 2 - at);
}

// The original is run from a link at the path its renamed copy then takes, so that the model's name (which
// the parameters text records) is the same too.
TEST_P(LayoutModels, GenerateGivesTheOriginalsPictures) {
  const LayoutModel& m = GetParam();
  const fs::path dir = test::temp_dir(std::string("layout_generate_") + m.name);
  const fs::path path = test::link_model(m.file, dir);
  const GenerationResult want = generate(*load(path), request_for(m, path));
  test::write_model_copy(m.file, dir, m.rename);
  ASSERT_NE(open_checkpoint(path).layout, CheckpointLayout::Ldm);
  const GenerationResult got = generate(*load(path), request_for(m, path));
  ASSERT_EQ(got.images.size(), 1u);
  ASSERT_EQ(want.images.size(), 1u);
  EXPECT_EQ(got.images[0].image.width, want.images[0].image.width);
  EXPECT_EQ(got.images[0].image.pixels, want.images[0].image.pixels);
  EXPECT_NE(got.images[0].parameters, want.images[0].parameters) << "the files' hashes should differ";
  EXPECT_EQ(without_model_hash(got.images[0].parameters), without_model_hash(want.images[0].parameters));
}

TEST_P(LayoutModels, CliWritesTheOriginalsPng) {
  const LayoutModel& m = GetParam();
  const fs::path dir = test::temp_dir(std::string("layout_cli_") + m.name);
  const fs::path path = test::link_model(m.file, dir);
  std::vector<std::string> args =
      test::with(test::fixture_args(m.inpaint ? "inpaint" : "img2img", "models/" + std::string(m.file)),
                 {"--model", path.string(), "--strength", "0.5", "--steps", "4", "--sampler", "Euler a",
                  "--precision", "fp32"});
  if (m.inpaint) args = test::with(args, {"--mask", test::fixture_path("cases/inputs/mask_64.png").string()});
  const test::CmdResult a = test::run_i2i(test::with(args, {"-o", "original.png"}), dir);
  ASSERT_EQ(a.status, 0) << a.err;
  test::write_model_copy(m.file, dir, m.rename);
  ASSERT_NE(open_checkpoint(path).layout, CheckpointLayout::Ldm);
  const test::CmdResult b = test::run_i2i(test::with(args, {"-o", "renamed.png"}), dir);
  ASSERT_EQ(b.status, 0) << b.err;
  const Image want = read_image(dir / "original.png");
  EXPECT_EQ(read_image(dir / "renamed.png").pixels, want.pixels);
  EXPECT_EQ(without_model_hash(read_png_text(dir / "renamed.png")["parameters"]),
            without_model_hash(read_png_text(dir / "original.png")["parameters"]));
}

TEST_P(LayoutModels, InfoNamesFamilyAndLayout) {
  const LayoutModel& m = GetParam();
  const fs::path renamed =
      test::write_model_copy(m.file, test::temp_dir(std::string("layout_info_") + m.name), m.rename);
  const test::CmdResult r = test::run_i2i({"info", renamed.string()}, renamed.parent_path());
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find(m.family_line), std::string::npos) << r.out;
  EXPECT_NE(r.out.find(m.layout_line), std::string::npos) << r.out;
  EXPECT_NE(r.out.find(m.renamed_line), std::string::npos) << r.out;
  // The original file: LDM, nothing renamed, the same family.
  const test::CmdResult o =
      test::run_i2i({"info", (test::models_dir() / m.file).string()}, renamed.parent_path());
  ASSERT_EQ(o.status, 0) << o.err;
  EXPECT_NE(o.out.find(m.family_line), std::string::npos) << o.out;
  EXPECT_NE(o.out.find("layout:      LDM (CompVis / A1111)\n"), std::string::npos) << o.out;
  EXPECT_EQ(o.out.find("read as:"), std::string::npos) << o.out;
}

INSTANTIATE_TEST_SUITE_P(CheckpointLayouts, LayoutModels, ::testing::ValuesIn(kModels),
                         [](const auto& info) { return std::string(info.param.name); });

// The SDXL files are recognised with the refiner told apart; the refiner refines pictures (img2img) but
// makes none from text.
TEST(CheckpointLayouts, InfoTellsSdxlBaseFromRefiner) {
  const fs::path dir = test::temp_dir("layout_info_sdxl");
  const test::CmdResult base =
      test::run_i2i({"info", (test::models_dir() / "tiny-sdxl.fp16.safetensors").string()}, dir);
  ASSERT_EQ(base.status, 0) << base.err;
  EXPECT_NE(base.out.find("family:      SDXL\n"), std::string::npos) << base.out;
  EXPECT_NE(base.out.find("layout:      SGM"), std::string::npos) << base.out;
  EXPECT_NE(base.out.find("text:        CLIP ViT-L + OpenCLIP ViT-bigG, widths 16 + 24\n"), std::string::npos)
      << base.out;
  const test::CmdResult refiner =
      test::run_i2i({"info", (test::models_dir() / "tiny-sdxl-refiner.fp16.safetensors").string()}, dir);
  ASSERT_EQ(refiner.status, 0) << refiner.err;
  EXPECT_NE(refiner.out.find("family:      SDXL refiner\n"), std::string::npos) << refiner.out;
  EXPECT_NE(refiner.out.find("text:        OpenCLIP ViT-bigG, width 24\n"), std::string::npos) << refiner.out;
  EXPECT_NE(refiner.out.find("  text_encoder_2 "), std::string::npos) << refiner.out;
  const test::CmdResult run =
      test::run_i2i(test::with(test::fixture_args("img2img", "models/tiny-sdxl-refiner.fp16.safetensors"),
                               {"--steps", "2", "--strength", "0.5", "-o", "x.png"}),
                    dir);
  EXPECT_EQ(run.status, 0) << run.err;
  const test::CmdResult t2i =
      test::run_i2i(test::with(test::fixture_args("txt2img", "models/tiny-sdxl-refiner.fp16.safetensors"),
                               {"--width", "64", "--height", "64", "-o", "y.png"}),
                    dir);
  EXPECT_NE(t2i.status, 0);
  EXPECT_NE(t2i.err.find("is an SDXL refiner, which refines a picture: give an init image, or use it as the "
                         "--refiner of an SDXL base model"),
            std::string::npos)
      << t2i.err;
  EXPECT_EQ(t2i.err.find('\n'), t2i.err.size() - 1) << t2i.err;
}

}  // namespace
}  // namespace i2i
