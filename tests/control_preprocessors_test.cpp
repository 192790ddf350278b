// The ControlNet preprocessor table (preprocess/control_preprocessors.h): lookup by A1111 module name, the
// unit settings it validates, and what the parameters text records of a unit's preprocessor.
#include "preprocess/control_preprocessors.h"

#include <gtest/gtest.h>

#include "core/error.h"
#include "io/parameters.h"
#include "pipelines/generation_params.h"
#include "pipelines/infotext.h"
#include "preprocess/canny.h"
#include "support/cli_run.h"

namespace i2i {
namespace {

TEST(ControlPreprocessors, RowsAreFoundByTheirA1111ModuleName) {
  const ControlPreprocessor* none = find_control_preprocessor("none");
  ASSERT_NE(none, nullptr);
  EXPECT_EQ(none->run, nullptr);
  EXPECT_FALSE(none->needs_annotator);
  const ControlPreprocessor& canny_row = control_preprocessor("canny");
  EXPECT_STREQ(canny_row.threshold_a, "Low Threshold");
  EXPECT_EQ(canny_row.default_threshold_a, 100);
  EXPECT_EQ(canny_row.default_threshold_b, 200);
  EXPECT_FALSE(canny_row.needs_annotator);
  EXPECT_EQ(find_control_preprocessor("Canny"), nullptr);  // exact names, as the extension's
  EXPECT_EQ(control_preprocessor_names().rfind("none, canny", 0), 0u) << control_preprocessor_names();
  try {
    control_preprocessor("sobel");
    FAIL() << "no error";
  } catch (const ParameterError& e) {
    const std::string msg = e.render([](const std::string& n) { return "<" + n + ">"; });
    EXPECT_NE(msg.find("unknown <control_preprocess> 'sobel' (none, canny"), std::string::npos) << msg;
  }
}

TEST(ControlPreprocessors, TheCannyRowIsTheCannyMapAsRgb) {
  const Image source = read_image(test::fixture_path("images/astronaut_64.png"));
  ControlPreprocessSettings s;
  s.threshold_a = 50;
  s.threshold_b = 120;
  const Image map = control_preprocessor("canny").run(source, s);
  EXPECT_EQ(map.channels, 3);
  EXPECT_EQ(map.pixels, to_rgb(canny(source, 50, 120)).pixels);
}

GenerationParams with_unit(const ControlParams& c) {
  GenerationParams p;
  p.model = "/m/model.safetensors";
  p.init_image = "/img/init.png";
  p.prompt = "a cat";
  p.controls.push_back(c);
  return p;
}

ControlParams unit(const std::string& preprocess) {
  ControlParams c;
  c.image = "/img/source.png";
  c.model = "/m/control.safetensors";
  c.preprocess = preprocess;
  return c;
}

std::string validation_error(const GenerationParams& p) {
  try {
    p.validate();
  } catch (const ParameterError& e) {
    return e.render([](const std::string& n) { return "<" + n + ">"; });
  }
  return "";
}

TEST(ControlPreprocessors, UnitsAreValidatedAgainstTheTable) {
  EXPECT_EQ(validation_error(with_unit(unit("canny"))), "");
  EXPECT_EQ(validation_error(with_unit(unit("none"))), "");
  const std::string msg = validation_error(with_unit(unit("depth")));
  EXPECT_NE(msg.find("ControlNet 0: unknown preprocessor 'depth' (<control_preprocess>: none, canny"),
            std::string::npos)
      << msg;
  // Processor Res only matters to the rows that use one: canny ignores it.
  ControlParams c = unit("canny");
  c.resolution = 0;
  EXPECT_EQ(validation_error(with_unit(c)), "");
}

TEST(ControlPreprocessors, ParametersTextRecordsTheModuleAndItsSliders) {
  ControlParams c = unit("canny");
  c.canny_low = 30;
  c.canny_high = 90;
  c.annotator_model = "/m/annotators/some-annotator.safetensors";
  GenerationParams p = with_unit(c);
  const std::string shared = format_parameters(make_infotext(p, 1, 64, 64, 0, {true, false}));
  EXPECT_NE(shared.find("\"Module: canny, Model: control, Weight: 1, Resize Mode: Just Resize, Low Vram: "
                        "False, Threshold A: 30, Threshold B: 90, Guidance Start: 0,"),
            std::string::npos)
      << shared;
  EXPECT_EQ(shared.find("Processor Res"), std::string::npos) << shared;  // canny runs at the output size
  EXPECT_EQ(shared.find("annotator"), std::string::npos) << shared;      // no paths by default
  p.infotext_paths = true;
  const std::string text = format_parameters(make_infotext(p, 1, 64, 64, 0, {true, false}));
  EXPECT_NE(text.find("ControlNet 0 annotator path: /m/annotators/some-annotator.safetensors"),
            std::string::npos)
      << text;
  GenerationParams back;
  apply_infotext(parse_parameters(text), back);
  ASSERT_EQ(back.controls.size(), 1u);
  EXPECT_EQ(back.controls[0].preprocess, "canny");
  EXPECT_EQ(back.controls[0].canny_low, 30);
  EXPECT_EQ(back.controls[0].canny_high, 90);
  EXPECT_EQ(back.controls[0].annotator_model, c.annotator_model);

  // A module i2i does not have reads as none (the picture is then taken as the map), Processor Res as given.
  GenerationParams other;
  apply_infotext(
      parse_parameters(
          "a cat\nSteps: 20, Sampler: Euler, Seed: 1, ControlNet 0: \"Module: mlsd, Model: x, Weight: 1, "
          "Processor Res: 768, Threshold A: 0.1, Threshold B: 0.1\""),
      other);
  ASSERT_EQ(other.controls.size(), 1u);
  EXPECT_EQ(other.controls[0].preprocess, "none");
  EXPECT_EQ(other.controls[0].resolution, 768);
}

}  // namespace
}  // namespace i2i
