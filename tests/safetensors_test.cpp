#include "io/safetensors.h"

#include <gtest/gtest.h>

#include <cstring>
#include <ctime>
#include <fstream>

#include "core/error.h"
#include "support/fixtures.h"

namespace i2i {
namespace {

std::filesystem::path write_raw(const std::string& name, const std::string& header, size_t data_bytes,
                                int64_t header_len_override = -1) {
  auto dir = test::temp_dir("safetensors_" + name);
  auto path = dir / (name + ".safetensors");
  std::ofstream out(path, std::ios::binary);
  uint64_t len = header_len_override >= 0 ? static_cast<uint64_t>(header_len_override) : header.size();
  for (int i = 0; i < 8; ++i) out.put(static_cast<char>(len >> (8 * i)));
  out << header;
  out << std::string(data_bytes, '\0');
  return path;
}

void expect_rejected(const std::filesystem::path& path, const std::string& needle) {
  try {
    SafeTensors::open(path);
    ADD_FAILURE() << path << " was accepted";
  } catch (const Error& e) {
    std::string msg = e.what();
    EXPECT_NE(msg.find(path.string()), std::string::npos) << msg;
    EXPECT_NE(msg.find(needle), std::string::npos) << "message '" << msg << "' lacks '" << needle << "'";
    EXPECT_EQ(msg.find('\n'), std::string::npos) << "error must be one line: " << msg;
  }
}

TEST(SafeTensors, ReadsFixtureModelZeroCopy) {
  auto st = SafeTensors::open(test::fixtures_dir() / "models" / "tiny-sd15.fp16.safetensors");
  ASSERT_FALSE(st.names().empty());
  const std::string name = "model.diffusion_model.input_blocks.0.0.weight";
  ASSERT_TRUE(st.contains(name));
  Tensor w = st.get(name);
  EXPECT_EQ(w.dtype(), DType::F16);
  EXPECT_EQ(w.shape(), (Shape{16, 4, 3, 3}));
  auto full = SafeTensors::open(test::fixtures_dir() / "models" / "tiny-sd15.safetensors");
  Tensor w32 = full.get(name);
  EXPECT_EQ(w32.dtype(), DType::F32);
  // The fp16 file holds exactly the float32 weights (fixtures README).
  EXPECT_EQ(test::max_abs_diff(st.get_f32(name), w32).max_abs, 0.0);
}

TEST(SafeTensors, RoundTripsEveryDTypeAndMetadata) {
  auto dir = test::temp_dir("safetensors_roundtrip");
  Tensor a = Tensor::from_vector({2, 3}, {1, -2, 3.5f, 0, 1e-3f, -7});
  Tensor i64 = Tensor::empty({3}, DType::I64);
  for (int k = 0; k < 3; ++k) i64.data<int64_t>()[k] = 1000000000000LL * k - 5;
  write_safetensors(dir / "t.safetensors",
                    {{"a", a},
                     {"a16", a.to(DType::F16)},
                     {"abf", a.to(DType::BF16)},
                     {"ids", i64},
                     {"empty", Tensor::empty({0, 4})}},
                    {{"format", "pt"}});
  auto st = SafeTensors::open(dir / "t.safetensors");
  EXPECT_EQ(st.metadata().at("format"), "pt");
  EXPECT_EQ(test::max_abs_diff(st.get("a"), a).max_abs, 0.0);
  EXPECT_LT(test::max_abs_diff(st.get_f32("a16"), a).max_abs, 2e-3);
  EXPECT_LT(test::max_abs_diff(st.get_f32("abf"), a).max_abs, 2e-2);
  EXPECT_EQ(st.get("ids").data<int64_t>()[2], 2000000000000LL - 5);
  EXPECT_EQ(st.get("empty").numel(), 0);
  EXPECT_THROW(st.get("nope"), Error);
}

// A renamed view shares the mapped data, keeps order and metadata, and refuses two tensors of one name.
TEST(SafeTensors, RenamedViewSharesTheData) {
  auto dir = test::temp_dir("safetensors_renamed");
  Tensor a = Tensor::from_vector({2}, {1, 2}), b = Tensor::from_vector({3}, {3, 4, 5});
  write_safetensors(dir / "t.safetensors", {{"x.a", a}, {"y.b", b}}, {{"format", "pt"}});
  const auto st = SafeTensors::open(dir / "t.safetensors");
  const auto r = st.renamed([](const std::string& n) { return n[0] == 'x' ? "z" + n.substr(1) : n; });
  EXPECT_EQ(r.names(), (std::vector<std::string>{"z.a", "y.b"}));
  EXPECT_FALSE(r.contains("x.a"));
  EXPECT_EQ(r.get("z.a").raw(), st.get("x.a").raw());  // the same mapped bytes, not a copy
  EXPECT_EQ(r.get("y.b").to_vector(), b.to_vector());
  EXPECT_EQ(r.metadata().at("format"), "pt");
  EXPECT_EQ(r.path(), st.path());
  EXPECT_TRUE(st.contains("x.a"));  // the original is unchanged
  try {
    (void)st.renamed([](const std::string&) { return std::string("same"); });
    ADD_FAILURE() << "a name collision was accepted";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find((dir / "t.safetensors").string()), std::string::npos) << msg;
    EXPECT_NE(msg.find("'same'"), std::string::npos) << msg;
  }
}

TEST(SafeTensors, RejectsMissingFile) {
  expect_rejected(test::temp_dir("st_missing") / "none.safetensors", "cannot open");
}

TEST(SafeTensors, RejectsFileShorterThanLengthField) {
  auto p = test::temp_dir("st_short") / "short.safetensors";
  std::ofstream(p, std::ios::binary) << "abc";
  expect_rejected(p, "shorter than");
}

TEST(SafeTensors, RejectsHeaderLargerThanFile) {
  expect_rejected(write_raw("hdrbig", "{}", 0, 1000), "larger than the file");
}

TEST(SafeTensors, RejectsHugeHeaderLength) {
  expect_rejected(write_raw("hdrhuge", "{}", 0, int64_t{1} << 62), "too large");
}

TEST(SafeTensors, RejectsInvalidJson) {
  expect_rejected(write_raw("badjson", "{\"a\": [", 0), "not valid JSON");
}

TEST(SafeTensors, RejectsNonObjectHeader) {
  expect_rejected(write_raw("array", "[1, 2]", 0), "not a JSON object");
}

TEST(SafeTensors, RejectsUnknownDType) {
  expect_rejected(write_raw("dtype", R"({"w": {"dtype": "F33", "shape": [1], "data_offsets": [0, 4]}})", 4),
                  "unknown dtype");
}

TEST(SafeTensors, RejectsMissingFields) {
  expect_rejected(write_raw("nofields", R"({"w": {"dtype": "F32", "shape": [1]}})", 4), "data_offsets");
  expect_rejected(write_raw("noshape", R"({"w": {"dtype": "F32", "data_offsets": [0, 4]}})", 4), "shape");
}

TEST(SafeTensors, RejectsNegativeDimension) {
  expect_rejected(write_raw("negdim", R"({"w": {"dtype": "F32", "shape": [-1], "data_offsets": [0, 4]}})", 4),
                  "'w'");
}

TEST(SafeTensors, RejectsShapeProductOverflow) {
  expect_rejected(
      write_raw("overflow",
                R"({"w": {"dtype": "F32", "shape": [4294967296, 4294967296, 16], "data_offsets": [0, 4]}})",
                4),
      "overflows");
}

TEST(SafeTensors, RejectsSizeMismatch) {
  expect_rejected(
      write_raw("mismatch", R"({"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 4]}})", 8),
      "expected 8");
}

TEST(SafeTensors, RejectsDataPastEnd) {
  expect_rejected(
      write_raw("truncated", R"({"w": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}})", 8),
      "truncated");
}

TEST(SafeTensors, RejectsReversedOffsets) {
  expect_rejected(
      write_raw("reversed", R"({"w": {"dtype": "F32", "shape": [0], "data_offsets": [8, 0]}})", 8),
      "begin > end");
}

TEST(SafeTensors, RejectsOverlappingTensors) {
  expect_rejected(write_raw("overlap",
                            R"({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
                                "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}})",
                            12),
                  "overlap");
}

TEST(SafeTensors, RejectsBadMetadata) {
  expect_rejected(write_raw("meta", R"({"__metadata__": {"k": 1}})", 0), "__metadata__");
  expect_rejected(write_raw("meta2", R"({"__metadata__": [1]})", 0), "__metadata__");
}

TEST(SafeTensors, RejectsNonIntegerOffsets) {
  expect_rejected(
      write_raw("floatoff", R"({"w": {"dtype": "F32", "shape": [1], "data_offsets": [0.5, 4]}})", 4),
      "non-negative integers");
}

// Issue 14, item 4: a header of a million empty tensors took over a gigabyte to parse; the count is
// bounded while the header is read.
TEST(SafeTensors, HeaderWithTooManyTensorsIsRefusedWhileParsing) {
  std::string header = "{";
  for (int i = 0; i < 70000; ++i)
    header += (i ? ",\"t" : "\"t") + std::to_string(i) +
              "\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[0,0]}";
  header += "}";
  expect_rejected(write_raw("many_tensors", header, 0), "more than 65536 tensors");
}

double process_cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

// Just under the limit, the header reads in time linear in its entries (a parse callback that made every
// closing brace rescan the whole object took 4.6 s for 20,000 entries and minutes for 65,000).
TEST(SafeTensors, LargeHeadersReadInLinearTime) {
  std::string header = "{";
  for (int i = 0; i < 65000; ++i)
    header += (i ? ",\"t" : "\"t") + std::to_string(i) +
              "\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[" + std::to_string(4 * i) + "," +
              std::to_string(4 * i + 4) + "]}";
  header += "}";
  const auto path = write_raw("large_header", header, 4 * 65000);
  // CPU time, not wall time: on a loaded machine waiting for a core is not the parser's cost (the quadratic
  // parse took minutes of CPU; the linear one well under a second).
  const double c0 = process_cpu_seconds();
  EXPECT_EQ(SafeTensors::open(path).names().size(), 65000u);
  EXPECT_LT(process_cpu_seconds() - c0, 10.0);
}

}  // namespace
}  // namespace i2i
