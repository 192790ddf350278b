// Annotator files found by name (preprocess/annotator_lookup.h): the models folder's annotators/, A1111's
// ControlNet extension downloads and ComfyUI's controlnet_aux ckpts/ beside a models folder; the one-line
// error listing where it looked; `i2i preprocess`, `--control-preprocess` and `i2i list` without
// --annotator-model.
#include "preprocess/annotator_lookup.h"

#include <gtest/gtest.h>

#include <fstream>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "io/image.h"
#include "support/cli_run.h"
#include "support/fixtures.h"

namespace i2i {
namespace {
namespace fs = std::filesystem;
using test::fixture_path;
using test::run_i2i;
using test::with;

const fs::path kDepth = fixture_path("models/annotators/tiny-depth-anything-v2.safetensors");
const fs::path kPose = fixture_path("models/annotators/tiny-openpose-body.safetensors");
const fs::path kLineart = fixture_path("models/annotators/tiny-lineart.safetensors");
const std::string kAstronaut = fixture_path("images/astronaut_64.png").string();

// A link at `at` (folders created) to the fixture `target`: the fixture stays where it is.
void link(const fs::path& target, const fs::path& at) {
  fs::create_directories(at.parent_path());
  fs::create_symlink(target, at);
}

std::string message_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const ParameterError& e) {
    return e.render([](const std::string& n) { return "<" + n + ">"; });
  }
  return "";
}

TEST(AnnotatorLookup, FindsTheUsualFileInTheModelsFolderAnnotators) {
  const fs::path root = test::temp_dir("annotators_i2i") / "models";
  link(kDepth, root / "annotators" / "depth_anything_v2_vitb.safetensors");
  link(kPose, root / "annotators" / "openpose" / "body_pose_model.safetensors");
  EXPECT_EQ(resolve_annotator_model("depth_anything_v2", "", root.string()),
            root / "annotators" / "depth_anything_v2_vitb.safetensors");
  EXPECT_EQ(resolve_annotator_model("openpose", "", root.string()),
            root / "annotators" / "openpose" / "body_pose_model.safetensors");
  // ViT-L is preferred over ViT-B when both are there (A1111's default).
  link(kDepth, root / "annotators" / "z" / "depth_anything_v2_vitl.safetensors");
  EXPECT_EQ(resolve_annotator_model("depth_anything_v2", "", root.string()),
            root / "annotators" / "z" / "depth_anything_v2_vitl.safetensors");
  // No network: nothing; a file given wins; a bare name is looked up in the annotator folders.
  EXPECT_EQ(resolve_annotator_model("canny", "", root.string()), fs::path());
  EXPECT_EQ(resolve_annotator_model("depth_anything_v2", kDepth.string(), root.string()), kDepth);
  EXPECT_EQ(resolve_annotator_model("openpose", "body_pose_model", root.string()),
            root / "annotators" / "openpose" / "body_pose_model.safetensors");
}

TEST(AnnotatorLookup, FindsA1111AndComfyUIDownloads) {
  const fs::path webui = test::temp_dir("annotators_a1111") / "stable-diffusion-webui";
  fs::create_directories(webui / "models" / "Stable-diffusion");
  link(kDepth, webui / "extensions" / "sd-webui-controlnet" / "annotator" / "downloads" /
                   "depth_anything_v2" / "depth_anything_v2_vitl.safetensors");
  EXPECT_EQ(resolve_annotator_model("depth_anything_v2", "", (webui / "models").string()),
            webui / "extensions" / "sd-webui-controlnet" / "annotator" / "downloads" / "depth_anything_v2" /
                "depth_anything_v2_vitl.safetensors");
  // The models folder's own annotators/ comes first.
  link(kDepth, webui / "models" / "annotators" / "depth_anything_v2_vitl.safetensors");
  EXPECT_EQ(resolve_annotator_model("depth_anything_v2", "", (webui / "models/").string()),
            webui / "models/" / "annotators" / "depth_anything_v2_vitl.safetensors");

  const fs::path comfy = test::temp_dir("annotators_comfy") / "ComfyUI";
  fs::create_directories(comfy / "models" / "checkpoints");
  const fs::path ckpts = comfy / "custom_nodes" / "comfyui_controlnet_aux" / "ckpts";
  link(kLineart, ckpts / "lllyasviel" / "Annotators" / "sk_model2.safetensors");
  EXPECT_EQ(resolve_annotator_model("lineart_coarse", "", (comfy / "models").string()),
            ckpts / "lllyasviel" / "Annotators" / "sk_model2.safetensors");
  // sk_model (realistic) is another file: not there.
  const std::string msg =
      message_of([&] { resolve_annotator_model("lineart_realistic", "", (comfy / "models").string()); });
  EXPECT_NE(msg.find("sk_model.safetensors"), std::string::npos) << msg;
  EXPECT_NE(msg.find(ckpts.string()), std::string::npos) << msg;
}

TEST(AnnotatorLookup, APickleIsReturnedForTheLoaderToRefuseWithTheConversionCommand) {
  const fs::path root = test::temp_dir("annotators_pth") / "models";
  fs::create_directories(root / "annotators" / "hed");
  std::ofstream(root / "annotators" / "hed" / "ControlNetHED.pth") << "not read";
  EXPECT_EQ(resolve_annotator_model("softedge_hed", "", root.string()),
            root / "annotators" / "hed" / "ControlNetHED.pth");
  const auto r = run_i2i({"preprocess", "softedge", kAstronaut, "--models-dir", root.string(), "-o", "o.png"},
                         root.parent_path());
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.err.find("ControlNetHED.pth: pickled checkpoints are not loaded"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("python -c"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(root.parent_path() / "o.png"));
}

TEST(AnnotatorLookup, NothingFoundIsOneLineListingWhereItLooked) {
  const fs::path base = test::temp_dir("annotators_none");
  const fs::path root = base / "models";
  fs::create_directories(root);
  const std::string msg = message_of([&] { resolve_annotator_model("openpose", "", root.string()); });
  EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
  EXPECT_NE(msg.find("preprocessor openpose runs a network: give its file with <annotator_model>"),
            std::string::npos)
      << msg;
  EXPECT_NE(msg.find("body_pose_model.safetensors"), std::string::npos) << msg;
  for (const fs::path& f :
       {root / "annotators", root / "ControlNetPreprocessor",
        base / "extensions/sd-webui-controlnet/annotator/downloads", base / "custom_nodes/*/ckpts"})
    EXPECT_NE(msg.find(f.string()), std::string::npos) << f << " in " << msg;
  EXPECT_NE(message_of([&] { resolve_annotator_model("sobel", "", root.string()); }).find("sobel"),
            std::string::npos);
  // A name that is nowhere.
  const std::string named =
      message_of([&] { resolve_annotator_model("openpose", "my_pose", root.string()); });
  EXPECT_NE(named.find("<annotator_model> 'my_pose'"), std::string::npos) << named;
}

TEST(AnnotatorLookup, CommandLineFindsTheAnnotatorInTheModelsFolder) {
  const fs::path dir = test::temp_dir("annotators_cli");
  const fs::path root = dir / "models";
  link(kDepth, root / "annotators" / "depth_anything_v2_vitl.safetensors");
  // (The tiny network's head count is in its sidecar, which the loader reads beside the file.)
  link(fs::path(kDepth).replace_extension(".json"), root / "annotators" / "depth_anything_v2_vitl.json");
  link(kPose, root / "annotators" / "body_pose_model.safetensors");
  fs::create_directories(root / "ControlNet");
  link(fixture_path("models/tiny-controlnet-sd15.safetensors"), root / "ControlNet" / "tiny-cn.safetensors");
  link(fixture_path("models/tiny-controlnet-sd15.json"), root / "ControlNet" / "tiny-cn.json");

  // i2i preprocess: the same map as with --annotator-model.
  auto r = run_i2i({"preprocess", "depth", kAstronaut, "--annotator-model", kDepth.string(), "--resolution",
                    "96", "-o", "given.png"},
                   dir);
  ASSERT_EQ(r.status, 0) << r.err;
  r = run_i2i({"preprocess", "depth", kAstronaut, "--models-dir", root.string(), "--resolution", "96", "-o",
               "found.png"},
              dir);
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(read_image(dir / "found.png").pixels, read_image(dir / "given.png").pixels);
  r = run_i2i({"preprocess", "depth", kAstronaut, "--resolution", "96", "-o", "none.png"}, dir);
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.err.find("give its file with --annotator-model"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(dir / "none.png"));

  // --control-preprocess without --annotator-model: the same picture as with it.
  const std::vector<std::string> common =
      with(test::fixture_args("img2img", "models/tiny-sd15.safetensors"),
           {"--precision", "fp32", "--sampler", "DDIM", "--strength", "0.6", "--steps", "3",
            "--control-model", "tiny-cn", "--models-dir", root.string(), "--control", kAstronaut,
            "--control-preprocess", "depth_anything_v2", "--control-resolution", "96"});
  r = run_i2i(with(common, {"-o", "unit_found.png"}), dir);
  ASSERT_EQ(r.status, 0) << r.err;
  r = run_i2i(with(common, {"--annotator-model", kDepth.string(), "-o", "unit_given.png"}), dir);
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(read_image(dir / "unit_found.png").pixels, read_image(dir / "unit_given.png").pixels);

  // i2i list: the annotators with their kind and what their tensors say they are.
  r = run_i2i({"list", "--json", "--models-dir", root.string()}, dir);
  ASSERT_EQ(r.status, 0) << r.err;
  const nlohmann::json j = nlohmann::json::parse(r.out);
  std::map<std::string, std::string> annotators;
  for (const auto& m : j.at("models"))
    if (m.at("kind") == "annotator") annotators[m.at("name")] = m.at("family");
  EXPECT_EQ(annotators, (std::map<std::string, std::string>{{"body_pose_model", "OpenPose body"},
                                                            {"depth_anything_v2_vitl", "Depth Anything"}}));
}

}  // namespace
}  // namespace i2i
