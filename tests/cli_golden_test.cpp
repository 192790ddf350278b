// The command line's outputs stay what they were before generation moved from cli/ into the library: for
// each case of tests/data/cli_golden_cases.json the PNGs written must decode to the same RGB bytes and
// carry the same `parameters` text, and stdout must be the same, as recorded by the i2i of commit 2369813
// (the texts re-recorded for issue 17: models by name and short hash, no paths). PNG bytes are a function of
// exactly these (the writer is unchanged); pixels and text are compared separately, after the fixtures
// folder and the scratch folder are written as {fx} and {dir} (paths that differ between checkouts, in
// stdout and in texts made with --infotext-paths).
//
// The recorded values are only ever rewritten on purpose: I2I_UPDATE_GOLDEN=1 build/tests/cli_golden_test
// records what this build writes (and then the test cannot fail: never in CI).
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>

#include "io/image.h"
#include "support/cli_run.h"
#include "support/fixtures.h"

namespace i2i {
namespace {
namespace fs = std::filesystem;

const fs::path kCasesFile = fs::path(I2I_SOURCE_DIR) / "tests/data/cli_golden_cases.json";

nlohmann::json& cases_file() {
  static nlohmann::json j = [] {
    std::ifstream in(kCasesFile);
    return nlohmann::json::parse(in);
  }();
  return j;
}

bool updating() {
  const char* v = std::getenv("I2I_UPDATE_GOLDEN");
  return v && std::string(v) == "1";
}

std::string replace_all(std::string s, const std::string& from, const std::string& to) {
  if (from.empty()) return s;
  for (size_t pos = s.find(from); pos != std::string::npos; pos = s.find(from, pos + to.size()))
    s.replace(pos, from.size(), to);
  return s;
}

std::string expand(const std::string& arg, const fs::path& dir) {
  return replace_all(replace_all(arg, "{fx}", test::fixtures_dir().string()), "{dir}", dir.string());
}

std::string normalise(const std::string& text, const fs::path& dir) {
  return replace_all(replace_all(text, test::fixtures_dir().string(), "{fx}"), dir.string(), "{dir}");
}

// FNV-1a, 64 bit, over the decoded picture's size and RGB(A) bytes.
std::string picture_hash(const Image& img) {
  uint64_t h = 1469598103934665603ULL;
  auto mix = [&h](uint8_t b) {
    h ^= b;
    h *= 1099511628211ULL;
  };
  for (int v : {img.width, img.height, img.channels})
    for (int k = 0; k < 4; ++k) mix(static_cast<uint8_t>(v >> (8 * k)));
  for (uint8_t b : img.pixels) mix(b);
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h));
  return buf;
}

// The PNG files a run wrote, in name order (out.png, out-1.png, ...: the CLI's numbering).
std::vector<fs::path> written_pngs(const fs::path& dir) {
  std::vector<fs::path> out;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.path().extension() == ".png" && e.path().filename() != "black.png") out.push_back(e.path());
  std::sort(out.begin(), out.end(), [](const fs::path& a, const fs::path& b) {
    const auto sa = a.filename().string(), sb = b.filename().string();
    return sa.size() != sb.size() ? sa.size() < sb.size() : sa < sb;
  });
  return out;
}

class CliGolden : public ::testing::TestWithParam<std::string> {};

TEST_P(CliGolden, SameOutputsAsBeforeTheLibraryMove) {
  nlohmann::json* found = nullptr;
  for (auto& c : cases_file()["cases"])
    if (c["id"] == GetParam()) found = &c;
  ASSERT_NE(found, nullptr);
  nlohmann::json& c = *found;
  const fs::path dir = test::temp_dir("golden_" + GetParam());
  if (c.value("black_mask", false)) write_png(dir / "black.png", Image(64, 64, 1), {});
  std::vector<std::string> args;
  for (const auto& a : c["args"]) args.push_back(expand(a.get<std::string>(), dir));
  for (const auto& a : cases_file()["common"]) {
    const std::string flag = a.get<std::string>();
    args.push_back(expand(flag, dir));
  }
  // A flag given in the case wins over the common one (the CLI takes the last value): case flags go last.
  std::vector<std::string> ordered = {args[0]};
  const size_t n_case = c["args"].size();
  ordered.insert(ordered.end(), args.begin() + static_cast<std::ptrdiff_t>(n_case), args.end());
  ordered.insert(ordered.end(), args.begin() + 1, args.begin() + static_cast<std::ptrdiff_t>(n_case));
  test::CmdResult r = test::run_i2i(ordered, dir);
  ASSERT_EQ(r.status, 0) << r.err;

  nlohmann::json got = nlohmann::json::array();
  for (const fs::path& png : written_pngs(dir)) {
    const auto text = read_png_text(png);
    const auto it = text.find("parameters");
    got.push_back({{"file", png.filename().string()},
                   {"pixels", picture_hash(read_image(png))},
                   {"parameters", it == text.end() ? "" : normalise(it->second, dir)}});
  }
  const std::string out = normalise(r.out, dir);
  if (updating()) {
    c["expected"] = {{"outputs", got}, {"stdout", out}};
    std::ofstream(kCasesFile) << cases_file().dump(1, ' ', false) << "\n";
    GTEST_SKIP() << "recorded";
  }
  ASSERT_TRUE(c.contains("expected")) << "no recorded outputs for " << GetParam();
  EXPECT_EQ(out, c["expected"]["stdout"].get<std::string>());
  const auto& want = c["expected"]["outputs"];
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    EXPECT_EQ(got[i]["file"], want[i]["file"]);
    EXPECT_EQ(got[i]["pixels"], want[i]["pixels"]) << got[i]["file"];
    EXPECT_EQ(got[i]["parameters"], want[i]["parameters"]) << got[i]["file"];
  }
}

std::vector<std::string> case_ids() {
  std::vector<std::string> ids;
  for (const auto& c : cases_file()["cases"]) ids.push_back(c["id"].get<std::string>());
  return ids;
}

INSTANTIATE_TEST_SUITE_P(Recorded, CliGolden, ::testing::ValuesIn(case_ids()),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace i2i
