// Reading textual-inversion files (models/embedding_file.h): the fixtures' three embeddings (emb_params
// float32, multi-vector, SDXL clip_l / clip_g float16), a file with one tensor under another key, bf16, and
// the bad input: pickled files, truncated files, files that are no embedding, widths that do not fit the
// model, an SDXL embedding on SD 1.x; the folder listing (embedding_cache.h).
#include "models/embedding_file.h"

#include <gtest/gtest.h>

#include <cmath>
#include <fstream>

#include "core/error.h"
#include "io/safetensors.h"
#include "pipelines/embedding_cache.h"
#include "support/fixtures.h"

namespace i2i {
namespace {
namespace fs = std::filesystem;

fs::path fixture_embedding(const std::string& name) {
  return test::models_dir() / "embeddings" / (name + ".safetensors");
}

TEST(EmbeddingFile, ReadsTheFixtureEmbeddings) {
  const TextualInversion tiny = read_embedding_file(fixture_embedding("tinymark"));
  EXPECT_EQ(tiny.name, "tinymark");
  EXPECT_EQ(tiny.vectors, 1);
  EXPECT_FALSE(tiny.sdxl());
  EXPECT_EQ(tiny.single.shape(), (Shape{1, 16}));
  const SafeTensors raw = SafeTensors::open(fixture_embedding("tinymark"));
  EXPECT_EQ(test::max_abs_diff(tiny.single, raw.get_f32("emb_params")).max_abs, 0.0);
  ASSERT_NE(tiny.vectors_for(16), nullptr);
  EXPECT_EQ(tiny.vectors_for(24), nullptr);

  const TextualInversion ink = read_embedding_file(fixture_embedding("inkstyle"));
  EXPECT_EQ(ink.vectors, 3);
  EXPECT_EQ(ink.single.shape(), (Shape{3, 16}));

  const TextualInversion xl = read_embedding_file(fixture_embedding("xlglow"));
  EXPECT_TRUE(xl.sdxl());
  EXPECT_EQ(xl.vectors, 2);
  EXPECT_EQ(xl.clip_l.shape(), (Shape{2, 16}));
  EXPECT_EQ(xl.clip_g.shape(), (Shape{2, 24}));
  EXPECT_EQ(xl.clip_l.dtype(), DType::F32);  // stored float16, read as float32
  const SafeTensors xraw = SafeTensors::open(fixture_embedding("xlglow"));
  EXPECT_EQ(test::max_abs_diff(xl.clip_g, xraw.get_f32("clip_g")).max_abs, 0.0);
  EXPECT_EQ(xl.vectors_for(16), &xl.clip_l);
  EXPECT_EQ(xl.vectors_for(24), &xl.clip_g);
  EXPECT_NO_THROW(check_embedding_fits(xl, {16, 24}));
  EXPECT_NO_THROW(check_embedding_fits(tiny, {16}));
}

// diffusers' learned_embeds.safetensors: one tensor named by its token, possibly 1-D; bf16 files.
TEST(EmbeddingFile, OneTensorUnderAnyKeyAndBf16) {
  const fs::path dir = test::temp_dir("embedding_one_tensor");
  const Tensor v = test::random_uniform({16}, 3);
  write_safetensors(dir / "concept.safetensors", {{"<concept>", v}});
  const TextualInversion e = read_embedding_file(dir / "concept.safetensors");
  EXPECT_EQ(e.name, "concept");
  EXPECT_EQ(e.single.shape(), (Shape{1, 16}));
  EXPECT_EQ(test::max_abs_diff(e.single.reshape({16}), v).max_abs, 0.0);

  const Tensor w = test::random_uniform({2, 16}, 4);
  write_safetensors(dir / "half.safetensors", {{"emb_params", w.to(DType::BF16)}, {"other", w}});
  const TextualInversion h = read_embedding_file(dir / "half.safetensors");  // emb_params wins
  EXPECT_EQ(h.vectors, 2);
  EXPECT_LT(test::max_abs_diff(h.single, w).max_abs, 1e-2);
  EXPECT_EQ(test::max_abs_diff(h.single, w.to(DType::BF16).to(DType::F32)).max_abs, 0.0);
}

std::string error_reading(const fs::path& f) {
  return test::error_of([&] { read_embedding_file(f); });
}

TEST(EmbeddingFile, RefusesPickles) {
  const fs::path dir = test::temp_dir("embedding_pickle");
  for (const char* ext : {".pt", ".bin", ".PT", ".ckpt"}) {
    const fs::path f = dir / (std::string("old") + ext);
    std::ofstream(f) << "\x80\x02}q\x00.";
    const std::string e = error_reading(f);
    EXPECT_NE(e.find(f.filename().string()), std::string::npos) << e;
    EXPECT_NE(e.find("pickle"), std::string::npos) << e;
    EXPECT_NE(e.find("runs code"), std::string::npos) << e;
    EXPECT_NE(e.find("convert it to .safetensors"), std::string::npos) << e;
    EXPECT_EQ(e.find('\n'), std::string::npos) << e;
  }
}

TEST(EmbeddingFile, BadFilesAreOneLineErrorsNamingTheFile) {
  const fs::path dir = test::temp_dir("embedding_bad");
  // Truncated: the download stopped half-way.
  {
    std::ifstream in(fixture_embedding("inkstyle"), std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::ofstream(dir / "cut.safetensors", std::ios::binary)
        .write(bytes.data(), static_cast<long>(bytes.size() - 40));
    const std::string e = error_reading(dir / "cut.safetensors");
    EXPECT_NE(e.find("cut.safetensors"), std::string::npos) << e;
    EXPECT_EQ(e.find('\n'), std::string::npos) << e;
  }
  const Tensor v = test::random_uniform({2, 16}, 5);
  write_safetensors(dir / "two.safetensors", {{"a", v}, {"b", v}});
  EXPECT_NE(error_reading(dir / "two.safetensors")
                .find("two.safetensors: not a textual-inversion embedding: 2 tensors (a, b)"),
            std::string::npos)
      << error_reading(dir / "two.safetensors");
  write_safetensors(dir / "halfxl.safetensors", {{"clip_l", v}});
  EXPECT_NE(error_reading(dir / "halfxl.safetensors").find("'clip_l' but no 'clip_g'"), std::string::npos);
  write_safetensors(dir / "mismatch.safetensors",
                    {{"clip_l", v}, {"clip_g", test::random_uniform({3, 24}, 6)}});
  EXPECT_NE(error_reading(dir / "mismatch.safetensors").find("2 clip_l vectors and 3 clip_g vectors"),
            std::string::npos);
  write_safetensors(dir / "cube.safetensors", {{"emb_params", test::random_uniform({1, 2, 16}, 7)}});
  EXPECT_NE(error_reading(dir / "cube.safetensors").find("expected [vectors, width]"), std::string::npos);
  write_safetensors(dir / "many.safetensors", {{"emb_params", test::random_uniform({76, 16}, 8)}});
  EXPECT_NE(error_reading(dir / "many.safetensors").find("76 vectors, more than the 75 tokens"),
            std::string::npos);
  Tensor ints = Tensor::zeros({1, 16}, DType::I64);
  write_safetensors(dir / "ints.safetensors", {{"emb_params", ints}});
  EXPECT_NE(error_reading(dir / "ints.safetensors").find("not floating point"), std::string::npos);
}

TEST(EmbeddingFile, WidthsMustFitTheModel) {
  const TextualInversion tiny = read_embedding_file(fixture_embedding("tinymark"));
  const TextualInversion xl = read_embedding_file(fixture_embedding("xlglow"));
  std::string e = test::error_of([&] { check_embedding_fits(tiny, {768}); });
  EXPECT_EQ(
      e,
      "tinymark.safetensors: embedding vectors are 16 wide, the model's text encoder 768; the embedding "
      "was made for another model family");
  e = test::error_of([&] { check_embedding_fits(xl, {16}); });
  EXPECT_EQ(
      e,
      "xlglow.safetensors: an SDXL embedding (clip_l 16, clip_g 24) used with an SD 1.x / 2.x model (one "
      "text encoder, 16 wide)");
  e = test::error_of([&] { check_embedding_fits(tiny, {16, 24}); });
  EXPECT_NE(e.find("tinymark.safetensors: an SD 1.x / 2.x embedding (16 wide) used with an SDXL model"),
            std::string::npos)
      << e;
  e = test::error_of([&] { check_embedding_fits(xl, {768, 1280}); });
  EXPECT_NE(e.find("xlglow.safetensors: SDXL embedding vectors are clip_l 16, clip_g 24 wide"),
            std::string::npos)
      << e;
}

TEST(EmbeddingFolder, ListsNamesRecursivelyPreferringSafetensors) {
  const fs::path dir = test::temp_dir("embedding_folder");
  fs::create_directories(dir / "sub");
  const Tensor v = test::random_uniform({1, 16}, 9);
  write_safetensors(dir / "a.safetensors", {{"emb_params", v}});
  std::ofstream(dir / "a.pt") << "x";
  std::ofstream(dir / "b.bin") << "x";
  write_safetensors(dir / "sub" / "c.safetensors", {{"emb_params", v}});
  std::ofstream(dir / "a.png") << "x";  // a preview picture: not an embedding
  std::ofstream(dir / "notes.txt") << "x";
  const auto files = list_embedding_files(dir);
  ASSERT_EQ(files.size(), 3u);
  EXPECT_EQ(files.at("a"), dir / "a.safetensors");
  EXPECT_EQ(files.at("b"), dir / "b.bin");
  EXPECT_EQ(files.at("c"), dir / "sub" / "c.safetensors");
  EXPECT_TRUE(list_embedding_files(dir / "missing").empty());
  EXPECT_TRUE(list_embedding_files({}).empty());
}

// Links to folders are not followed: two links back to the folder made the walk exponential (7 GB, a hang).
TEST(EmbeddingFolder, LinksBackUpDoNotLoop) {
  const fs::path dir = test::temp_dir("embedding_folder_loop");
  write_safetensors(dir / "a.safetensors", {{"emb_params", test::random_uniform({1, 16}, 9)}});
  fs::create_directory_symlink(".", dir / "loop1");
  fs::create_directory_symlink(".", dir / "loop2");
  const auto files = list_embedding_files(dir);
  ASSERT_EQ(files.size(), 1u);
  EXPECT_EQ(files.at("a"), dir / "a.safetensors");
}

// NaN or infinite vectors are refused when the file is read, naming it.
TEST(EmbeddingFile, NonFiniteVectorsAreRefused) {
  const fs::path dir = test::temp_dir("embedding_nan");
  Tensor v = test::random_uniform({2, 16}, 9);
  v.data<float>()[5] = std::nanf("");
  write_safetensors(dir / "nanvec.safetensors", {{"emb_params", v}});
  const std::string e = test::error_of([&] { read_embedding_file(dir / "nanvec.safetensors"); });
  EXPECT_NE(e.find("nanvec.safetensors"), std::string::npos) << e;
  EXPECT_NE(e.find("NaN or infinite"), std::string::npos) << e;
}

TEST(EmbeddingFolder, CacheReadsAFileOnceUntilItChanges) {
  const fs::path dir = test::temp_dir("embedding_cache");
  write_safetensors(dir / "a.safetensors", {{"emb_params", test::random_uniform({1, 16}, 10)}});
  EmbeddingCache cache;
  const auto first = cache.get(dir / "a.safetensors");
  EXPECT_EQ(cache.get(dir / "a.safetensors"), first);
  EXPECT_EQ(cache.reads(), 1);
  write_safetensors(dir / "a.safetensors", {{"emb_params", test::random_uniform({2, 16}, 11)}});
  const auto second = cache.get(dir / "a.safetensors");
  EXPECT_EQ(cache.reads(), 2);
  EXPECT_EQ(second->vectors, 2);
}

}  // namespace
}  // namespace i2i
