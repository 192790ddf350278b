// Image I/O: fixture PNGs, PNG/JPEG/WebP round trips, EXIF orientation, PNG text chunks, atomic writes,
// channel conversions, PIL-compatible resizing and the A1111 resize modes, and every malformed-input case.
#include "io/image.h"

#include <gtest/gtest.h>
#include <png.h>
#include <sys/resource.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <random>

#include "core/error.h"
#include "io/image_resize.h"
#include "support/fixtures.h"
#include "support/picture_bytes.h"

namespace i2i {
namespace {

namespace fs = std::filesystem;
using test::Bytes;
using test::encode_jpeg;
using test::encode_webp;
using test::exif_app1;
using test::exif_tiff;
using test::png_chunk;
using test::png_ihdr;
using test::png_insert_after_ihdr;
using test::put_be;
using test::put_le;
using test::webp_with_exif;

fs::path images_dir() {
  return test::fixtures_dir() / "images";
}

Bytes read_bytes(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return Bytes(std::istreambuf_iterator<char>(in), {});
}

void write_bytes(const fs::path& p, const Bytes& b) {
  std::ofstream out(p, std::ios::binary);
  out.write(b.data(), static_cast<std::streamsize>(b.size()));
}

Image make_image(int w, int h, int c, uint32_t seed) {
  Image img(w, h, c);
  std::mt19937 rng(seed);
  for (auto& v : img.pixels) v = static_cast<uint8_t>(rng() & 0xFF);
  return img;
}

// A smooth RGB image (gradients) that JPEG and lossy WebP reproduce closely.
Image smooth_rgb(int w, int h) {
  Image img(w, h, 3);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) {
      img.at(x, y, 0) = static_cast<uint8_t>(40 + 160 * x / (w - 1));
      img.at(x, y, 1) = static_cast<uint8_t>(30 + 180 * y / (h - 1));
      img.at(x, y, 2) = static_cast<uint8_t>(128 + 60 * std::sin(0.1 * (x + y)));
    }
  return img;
}

struct DiffStats {
  int max_abs = 0;
  double mean_abs = 0;
};

DiffStats diff(const Image& a, const Image& b) {
  EXPECT_EQ(a.width, b.width);
  EXPECT_EQ(a.height, b.height);
  EXPECT_EQ(a.channels, b.channels);
  DiffStats d;
  if (a.pixels.size() != b.pixels.size()) {
    d.max_abs = 256;
    return d;
  }
  double sum = 0;
  for (size_t i = 0; i < a.pixels.size(); ++i) {
    int e = std::abs(int(a.pixels[i]) - int(b.pixels[i]));
    d.max_abs = std::max(d.max_abs, e);
    sum += e;
  }
  d.mean_abs = sum / static_cast<double>(a.pixels.size());
  return d;
}

void expect_same(const Image& got, const Image& want, const std::string& what) {
  ASSERT_EQ(got.width, want.width) << what;
  ASSERT_EQ(got.height, want.height) << what;
  ASSERT_EQ(got.channels, want.channels) << what;
  EXPECT_EQ(diff(got, want).max_abs, 0) << what;
}

// ---- PNGs written by libpng row by row (the other encoders: support/picture_bytes.h) ----------------

// A PNG written with libpng directly, for the formats write_png does not produce.
struct RawPng {
  int width = 0, height = 0, color_type = 0, bit_depth = 8, interlace = PNG_INTERLACE_NONE;
  std::vector<Bytes> rows;  // packed as the PNG format stores them
  std::vector<png_color> palette;
  Bytes trns;  // palette alpha
  std::vector<std::pair<std::string, std::string>> ztxt;
};

void write_raw_png(const fs::path& path, const RawPng& p) {
  FILE* f = std::fopen(path.c_str(), "wb");
  ASSERT_NE(f, nullptr);
  png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, nullptr, nullptr, nullptr);
  png_infop info = png_create_info_struct(png);
  png_init_io(png, f);
  png_set_IHDR(png, info, p.width, p.height, p.bit_depth, p.color_type, p.interlace,
               PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  if (!p.palette.empty()) png_set_PLTE(png, info, p.palette.data(), static_cast<int>(p.palette.size()));
  if (!p.trns.empty())
    png_set_tRNS(png, info, reinterpret_cast<png_const_bytep>(p.trns.data()), static_cast<int>(p.trns.size()),
                 nullptr);
  std::vector<png_text> texts;
  for (const auto& [k, v] : p.ztxt) {
    png_text t{};
    t.compression = PNG_TEXT_COMPRESSION_zTXt;
    t.key = const_cast<char*>(k.c_str());
    t.text = const_cast<char*>(v.c_str());
    t.text_length = v.size();
    texts.push_back(t);
  }
  if (!texts.empty()) png_set_text(png, info, texts.data(), static_cast<int>(texts.size()));
  png_write_info(png, info);
  std::vector<png_bytep> rows;
  for (const auto& r : p.rows) rows.push_back(reinterpret_cast<png_bytep>(const_cast<char*>(r.data())));
  png_write_image(png, rows.data());
  png_write_end(png, info);
  png_destroy_write_struct(&png, &info);
  std::fclose(f);
}

void expect_rejected(const fs::path& path, const std::string& needle) {
  try {
    Image img = read_image(path);
    ADD_FAILURE() << path << " was accepted as " << img.width << "x" << img.height;
  } catch (const Error& e) {
    std::string msg = e.what();
    EXPECT_NE(msg.find(path.string()), std::string::npos) << msg;
    EXPECT_NE(msg.find(needle), std::string::npos) << "message '" << msg << "' lacks '" << needle << "'";
    EXPECT_EQ(msg.find('\n'), std::string::npos) << "error must be one line: " << msg;
  }
}

// ---- reading the fixtures
// ------------------------------------------------------------------------------------

TEST(ImageRead, FixturePngsHaveTheDocumentedShapes) {
  for (const char* name : {"astronaut", "chelsea", "coffee"}) {
    Image big = read_image(images_dir() / (std::string(name) + "_512.png"));
    EXPECT_EQ(big.width, 512);
    EXPECT_EQ(big.height, 512);
    EXPECT_EQ(big.channels, 3);
    Image small = read_image(images_dir() / (std::string(name) + "_64.png"));
    EXPECT_EQ(small.width, 64);
    EXPECT_EQ(small.channels, 3);
  }
  Image mask = read_image(test::fixtures_dir() / "cases" / "inputs" / "mask_64.png");
  EXPECT_EQ(mask.width, 64);
  EXPECT_EQ(mask.height, 64);
  EXPECT_EQ(mask.channels, 1);
  int white = 0;
  for (uint8_t v : mask.pixels) white += v >= 128;
  EXPECT_GT(white, 0);  // some area to repaint
  EXPECT_LT(white, 64 * 64);
}

// The VAE fixtures hold astronaut_64.png as float32 x / 255 * 2 - 1 (NCHW): the decoded pixels must match.
TEST(ImageRead, AstronautPixelsMatchTheVaeInputTensor) {
  // Opened directly (key "vae/tiny-sd15/image" of cases.json group "vae"): cases.json holds -Infinity
  // literals that test::cases_json() cannot parse at the time of writing.
  SafeTensors vae = SafeTensors::open(test::fixtures_dir() / "cases" / "vae.safetensors");
  Tensor want = vae.get("vae/tiny-sd15/image").to(DType::F32);
  Image img = read_image(test::fixtures_dir() / "cases" / "inputs" / "astronaut_64.png");
  ASSERT_EQ(img.channels, 3);
  Tensor got = Tensor::zeros({1, 3, img.height, img.width});
  float* g = got.data<float>();
  for (int ch = 0; ch < 3; ++ch)
    for (int y = 0; y < img.height; ++y)
      for (int x = 0; x < img.width; ++x)
        g[(ch * img.height + y) * img.width + x] =
            static_cast<float>(img.at(x, y, ch)) / 255.0f * 2.0f - 1.0f;
  // One 8-bit level is 2/255 = 0.0078 here; 1e-6 only allows float32 rounding of the same formula.
  EXPECT_TRUE(test::all_close(got, want, 1e-6, "astronaut_64 as [-1, 1]"));
  // The copy in images/ is the same picture.
  expect_same(read_image(images_dir() / "astronaut_64.png"), img, "images/astronaut_64.png");
}

// ---- PNG
// -------------------------------------------------------------------------------------------------------

TEST(ImagePng, RoundTripsEveryChannelCountExactly) {
  auto dir = test::temp_dir("image_png_roundtrip");
  for (int c = 1; c <= 4; ++c) {
    Image img = make_image(37, 23, c, 100 + c);
    auto path = dir / ("img" + std::to_string(c) + ".png");
    write_png(path, img);
    expect_same(read_image(path), img, "channels " + std::to_string(c));
  }
}

TEST(ImagePng, Reduces16BitToTheHighByte) {
  auto dir = test::temp_dir("image_png_16");
  RawPng p;
  p.width = 3;
  p.height = 2;
  p.color_type = PNG_COLOR_TYPE_RGB;
  p.bit_depth = 16;
  Image want(3, 2, 3);
  for (int y = 0; y < 2; ++y) {
    Bytes row;
    for (int x = 0; x < 3; ++x)
      for (int c = 0; c < 3; ++c) {
        uint32_t v = static_cast<uint32_t>(1000 * (y * 9 + x * 3 + c) + 0x00FF);  // low byte must be ignored
        put_be(row, v, 2);
        want.at(x, y, c) = static_cast<uint8_t>(v >> 8);
      }
    p.rows.push_back(row);
  }
  write_raw_png(dir / "rgb16.png", p);
  expect_same(read_image(dir / "rgb16.png"), want, "16-bit RGB");
}

TEST(ImagePng, ExpandsPaletteWithTransparencyAndLowBitGrey) {
  auto dir = test::temp_dir("image_png_palette");
  RawPng p;
  p.width = 4;
  p.height = 1;
  p.color_type = PNG_COLOR_TYPE_PALETTE;
  p.bit_depth = 2;
  p.palette = {{255, 0, 0}, {0, 255, 0}, {0, 0, 255}, {10, 20, 30}};
  p.trns = Bytes("\xff\x80\x00", 3);                   // index 3 has no entry: opaque
  p.rows = {Bytes(1, static_cast<char>(0b00011011))};  // indices 0 1 2 3
  write_raw_png(dir / "pal.png", p);
  Image got = read_image(dir / "pal.png");
  Image want(4, 1, 4);
  const uint8_t px[16] = {255, 0, 0, 255, 0, 255, 0, 128, 0, 0, 255, 0, 10, 20, 30, 255};
  std::memcpy(want.pixels.data(), px, 16);
  expect_same(got, want, "2-bit palette + tRNS");

  RawPng g;
  g.width = 8;
  g.height = 1;
  g.color_type = PNG_COLOR_TYPE_GRAY;
  g.bit_depth = 1;
  g.rows = {Bytes(1, static_cast<char>(0b10110001))};
  write_raw_png(dir / "grey1.png", g);
  Image got1 = read_image(dir / "grey1.png");
  ASSERT_EQ(got1.channels, 1);
  const uint8_t bits[8] = {255, 0, 255, 255, 0, 0, 0, 255};
  for (int x = 0; x < 8; ++x) EXPECT_EQ(got1.at(x, 0, 0), bits[x]) << x;
}

TEST(ImagePng, ReadsInterlacedImages) {
  auto dir = test::temp_dir("image_png_interlaced");
  Image img = make_image(19, 13, 3, 7);
  RawPng p;
  p.width = img.width;
  p.height = img.height;
  p.color_type = PNG_COLOR_TYPE_RGB;
  p.interlace = PNG_INTERLACE_ADAM7;
  for (int y = 0; y < img.height; ++y)
    p.rows.emplace_back(reinterpret_cast<const char*>(img.row(y)), img.width * 3);
  write_raw_png(dir / "adam7.png", p);
  expect_same(read_image(dir / "adam7.png"), img, "Adam7");
}

TEST(ImagePng, TextChunksRoundTripAsTextOrInternationalText) {
  auto dir = test::temp_dir("image_png_text");
  const std::string params =
      "a cat, \"quoted\": yes\nNegative prompt: blurry\nSteps: 20, Sampler: Euler a, CFG scale: 7, Seed: 1";
  const std::string latin = "caf\xc3\xa9 cr\xc3\xa8me";              // café crème: Latin-1 encodable
  const std::string cjk = "\xe7\x8c\xab \xf0\x9f\x90\x88 \xc3\xa9";  // 猫 🐈 é: needs iTXt
  write_png(dir / "t.png", make_image(4, 4, 3, 1),
            {{"parameters", params}, {"latin", latin}, {"unicode", cjk}, {"empty", ""}});
  auto text = read_png_text(dir / "t.png");
  EXPECT_EQ(text.size(), 4u);
  EXPECT_EQ(text["parameters"], params);
  EXPECT_EQ(text["latin"], latin);
  EXPECT_EQ(text["unicode"], cjk);
  EXPECT_EQ(text["empty"], "");
  // Chunk types as PIL would write them: Latin-1 text as tEXt with Latin-1 bytes, the rest as iTXt.
  Bytes file = read_bytes(dir / "t.png");
  EXPECT_NE(file.find(Bytes("tEXtlatin\0caf\xe9 cr\xe8me", 20)), Bytes::npos);
  EXPECT_NE(file.find("iTXtunicode"), Bytes::npos);
  EXPECT_NE(file.find("tEXtparameters"), Bytes::npos);
}

TEST(ImagePng, ReadsCompressedTextChunks) {
  auto dir = test::temp_dir("image_png_ztxt");
  RawPng p;
  p.width = 1;
  p.height = 1;
  p.color_type = PNG_COLOR_TYPE_GRAY;
  p.rows = {Bytes(1, '\x7f')};
  const std::string long_text(5000, 'x');
  p.ztxt = {{"parameters", long_text + "\xe9"}};  // Latin-1 byte in the file
  write_raw_png(dir / "z.png", p);
  auto text = read_png_text(dir / "z.png");
  EXPECT_EQ(text["parameters"], long_text + "\xc3\xa9");
  EXPECT_EQ(read_image(dir / "z.png").at(0, 0, 0), 0x7f);
}

TEST(ImagePng, WriteIsAtomicAndValidatesText) {
  auto dir = test::temp_dir("image_png_atomic");
  auto path = dir / "out.png";
  Image a = make_image(8, 8, 3, 1), b = make_image(8, 8, 3, 2);
  write_png(path, a, {{"k", "v"}});
  write_png(path, b);  // replaces
  expect_same(read_image(path), b, "overwritten");
  const Bytes before = read_bytes(path);
  // Failures leave the existing file untouched and no temporary file behind.
  EXPECT_THROW(write_png(path, a, {{"", "v"}}), Error);
  EXPECT_THROW(write_png(path, a, {{"\xe7\x8c\xab", "v"}}), Error);  // key not Latin-1
  EXPECT_THROW(write_png(path, a, {{std::string(80, 'k'), "v"}}), Error);
  EXPECT_THROW(write_png(path, a, {{"k", "bad \xff utf-8"}}), Error);
  Image broken = a;
  broken.pixels.pop_back();
  EXPECT_THROW(write_png(path, broken), Error);
  EXPECT_EQ(read_bytes(path), before);
  int files = 0;
  for ([[maybe_unused]] const auto& e : fs::directory_iterator(dir)) ++files;
  EXPECT_EQ(files, 1);
  // A folder that does not exist: an error naming the file, nothing created.
  try {
    write_png(dir / "missing" / "x.png", a);
    ADD_FAILURE() << "write into a missing folder succeeded";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("x.png"), std::string::npos) << e.what();
  }
}

// ---- JPEG
// ------------------------------------------------------------------------------------------------------

// Quality 95 4:4:4 JPEG of a smooth image: the DCT quantisation error. Measured here about 1 level on
// average; the bounds (mean 1.5, max 10) leave room for libjpeg's IDCT choice but catch any colour / layout
// mistake.
TEST(ImageJpeg, ReadsRgbAndGreyWithinJpegLoss) {
  auto dir = test::temp_dir("image_jpeg");
  Image rgb = smooth_rgb(48, 40);
  write_bytes(dir / "rgb.jpg", encode_jpeg(rgb, {.quality = 95, .app1 = {}}));
  DiffStats d = diff(read_image(dir / "rgb.jpg"), rgb);
  EXPECT_LE(d.mean_abs, 1.5);
  EXPECT_LE(d.max_abs, 10);
  Image grey = to_gray(rgb);
  write_bytes(dir / "grey.jpg", encode_jpeg(grey, {.quality = 95, .app1 = {}}));
  Image got = read_image(dir / "grey.jpg");
  EXPECT_EQ(got.channels, 1);
  d = diff(got, grey);
  EXPECT_LE(d.mean_abs, 1.5);
  EXPECT_LE(d.max_abs, 10);
}

// libjpeg writes CMYK with an Adobe marker and stores the values as given, which readers take as inverted ink
// (Photoshop's convention): RGB = stored C * stored K / 255. Flat colours, so the JPEG loss is about 1 level.
TEST(ImageJpeg, ConvertsAdobeCmykToRgb) {
  auto dir = test::temp_dir("image_jpeg_cmyk");
  Image cmyk(16, 16, 4);  // 4 channels given to encode_jpeg = CMYK
  for (int y = 0; y < 16; ++y)
    for (int x = 0; x < 16; ++x) {
      uint8_t* p = cmyk.pixel(x, y);
      p[0] = 255, p[1] = 128, p[2] = 0, p[3] = 200;
    }
  write_bytes(dir / "cmyk.jpg", encode_jpeg(cmyk, {.quality = 95, .app1 = {}}));
  Image got = read_image(dir / "cmyk.jpg");
  ASSERT_EQ(got.channels, 3);
  const int want[3] = {200, 100, 0};  // 255*200/255, 128*200/255 = 100.4, 0
  for (int c = 0; c < 3; ++c) EXPECT_NEAR(got.at(8, 8, c), want[c], 2) << c;
}

TEST(ImageJpeg, DetectsFormatByContentNotExtension) {
  auto dir = test::temp_dir("image_magic");
  Image rgb = smooth_rgb(16, 16);
  write_bytes(dir / "actually_jpeg.png", encode_jpeg(rgb, {.quality = 95, .app1 = {}}));
  EXPECT_EQ(read_image(dir / "actually_jpeg.png").channels, 3);
  write_png(dir / "actually_png.jpg", rgb);
  expect_same(read_image(dir / "actually_png.jpg"), rgb, "PNG named .jpg");
}

// ---- EXIF orientation
// -------------------------------------------------------------------------------------------

TEST(ImageExif, OrientationMapsPixelsLikeExifTranspose) {
  Image img(3, 2, 1);
  for (int i = 0; i < 6; ++i) img.pixels[i] = static_cast<uint8_t>(i + 1);  // 1 2 3 / 4 5 6
  // Expected displays (PIL exif_transpose: 2 FLIP_LEFT_RIGHT, 3 ROTATE_180, 4 FLIP_TOP_BOTTOM, 5 TRANSPOSE,
  // 6 ROTATE_270, 7 TRANSVERSE, 8 ROTATE_90), row by row.
  const std::vector<std::vector<uint8_t>> want = {{},
                                                  {1, 2, 3, 4, 5, 6},
                                                  {3, 2, 1, 6, 5, 4},
                                                  {6, 5, 4, 3, 2, 1},
                                                  {4, 5, 6, 1, 2, 3},
                                                  {1, 4, 2, 5, 3, 6},
                                                  {4, 1, 5, 2, 6, 3},
                                                  {6, 3, 5, 2, 4, 1},
                                                  {3, 6, 2, 5, 1, 4}};
  for (int o = 1; o <= 8; ++o) {
    Image got = apply_exif_orientation(img, o);
    EXPECT_EQ(got.width, o >= 5 ? 2 : 3) << o;
    EXPECT_EQ(got.height, o >= 5 ? 3 : 2) << o;
    EXPECT_EQ(got.pixels, want[o]) << "orientation " << o;
  }
  EXPECT_EQ(apply_exif_orientation(img, 0).pixels, want[1]);
  EXPECT_EQ(apply_exif_orientation(img, 9).pixels, want[1]);
}

TEST(ImageExif, JpegApp1OrientationIsApplied) {
  auto dir = test::temp_dir("image_exif_jpeg");
  Image src = smooth_rgb(24, 16);
  write_bytes(dir / "plain.jpg", encode_jpeg(src, {.quality = 90, .app1 = {}}));
  const Image plain = read_image(dir / "plain.jpg");
  for (bool big_endian : {false, true}) {
    for (int o = 1; o <= 8; ++o) {
      std::string file = std::to_string(o);
      file += big_endian ? "_mm.jpg" : "_ii.jpg";
      auto path = dir / file;
      write_bytes(path, encode_jpeg(src, {.quality = 90, .app1 = exif_app1(o, big_endian)}));
      // Same entropy-coded data as plain.jpg, so the decoded pixels are identical before orientation.
      expect_same(read_image(path), apply_exif_orientation(plain, o), path.filename().string());
    }
  }
}

TEST(ImageExif, PngExifChunkOrientationIsApplied) {
  auto dir = test::temp_dir("image_exif_png");
  Image src = make_image(5, 3, 3, 9);
  write_png(dir / "plain.png", src);
  const Bytes plain = read_bytes(dir / "plain.png");
  for (int o : {3, 6, 8}) {
    auto path = dir / ("o" + std::to_string(o) + ".png");
    write_bytes(path, png_insert_after_ihdr(plain, png_chunk("eXIf", exif_tiff(o, o == 6))));
    expect_same(read_image(path), apply_exif_orientation(src, o), path.filename().string());
  }
}

TEST(ImageExif, WebpExifChunkOrientationIsApplied) {
  auto dir = test::temp_dir("image_exif_webp");
  Image src = make_image(6, 4, 4, 11);
  Bytes simple = encode_webp(src, true);
  for (int o : {2, 6, 7}) {
    auto path = dir / ("o" + std::to_string(o) + ".webp");
    write_bytes(path, webp_with_exif(simple, src.width, src.height, true, exif_tiff(o, false)));
    expect_same(read_image(path), apply_exif_orientation(src, o), path.filename().string());
  }
  // With the "Exif\0\0" prefix some writers put in the chunk.
  write_bytes(dir / "prefixed.webp", webp_with_exif(simple, src.width, src.height, true, exif_app1(5, true)));
  expect_same(read_image(dir / "prefixed.webp"), apply_exif_orientation(src, 5), "prefixed");
}

// ---- WebP
// ------------------------------------------------------------------------------------------------------

TEST(ImageWebp, LosslessIsExactAndLossyIsClose) {
  auto dir = test::temp_dir("image_webp");
  Image rgba = make_image(17, 9, 4, 3);
  // The encoder may change the colour of fully transparent pixels (WebPConfig::exact is off in the simple
  // API).
  for (size_t i = 3; i < rgba.pixels.size(); i += 4) rgba.pixels[i] = std::max<uint8_t>(rgba.pixels[i], 1);
  write_bytes(dir / "rgba.webp", encode_webp(rgba, true));
  expect_same(read_image(dir / "rgba.webp"), rgba, "lossless RGBA");
  Image rgb = make_image(17, 9, 3, 4);
  write_bytes(dir / "rgb.webp", encode_webp(rgb, true));
  expect_same(read_image(dir / "rgb.webp"), rgb, "lossless RGB");
  // Lossy VP8 at quality 95 with 4:2:0 chroma: a few levels on a smooth image (mean measured about 1-2).
  Image smooth = smooth_rgb(64, 48);
  write_bytes(dir / "lossy.webp", encode_webp(smooth, false, 95));
  Image got = read_image(dir / "lossy.webp");
  EXPECT_EQ(got.channels, 3);
  DiffStats d = diff(got, smooth);
  EXPECT_LE(d.mean_abs, 3.0);
  EXPECT_LE(d.max_abs, 24);
}

// ---- conversions
// -----------------------------------------------------------------------------------------------

TEST(ImageConvert, RgbGreyAndAlphaCompositing) {
  Image la(2, 1, 2);
  la.pixels = {10, 255, 200, 0};
  EXPECT_TRUE(has_alpha(la));
  EXPECT_EQ(to_rgb(la).pixels, (std::vector<uint8_t>{10, 10, 10, 200, 200, 200}));
  Image rgba(2, 1, 4);
  rgba.pixels = {255, 0, 0, 128, 0, 0, 255, 255};
  EXPECT_EQ(to_rgb(rgba).pixels, (std::vector<uint8_t>{255, 0, 0, 0, 0, 255}));
  // Over white: 255*127/255 + 255*128/255 rounded -> red stays 255, green/blue 127.
  EXPECT_EQ(to_rgb(rgba, {255, 255, 255}).pixels, (std::vector<uint8_t>{255, 127, 127, 0, 0, 255}));
  EXPECT_EQ(to_rgb(rgba, {0, 0, 0}).pixels, (std::vector<uint8_t>{128, 0, 0, 0, 0, 255}));
  // PIL "L": (R*19595 + G*38470 + B*7471 + 0x8000) >> 16.
  Image rgb(3, 1, 3);
  rgb.pixels = {255, 0, 0, 0, 255, 0, 12, 200, 77};
  EXPECT_EQ(to_gray(rgb).pixels,
            (std::vector<uint8_t>{76, 150, (12 * 19595 + 200 * 38470 + 77 * 7471 + 0x8000) >> 16}));
  EXPECT_EQ(to_gray(la).pixels, (std::vector<uint8_t>{10, 200}));
  EXPECT_FALSE(has_alpha(rgb));
}

// ---- resizing
// --------------------------------------------------------------------------------------------------

// The fixture 64x64 images are PIL LANCZOS resizes of the 512x512 ones (fixtures README, "Images").
TEST(ImageResize, LanczosMatchesPilOnTheFixtures) {
  for (const char* name : {"astronaut", "chelsea", "coffee"}) {
    Image big = read_image(images_dir() / (std::string(name) + "_512.png"));
    Image want = read_image(images_dir() / (std::string(name) + "_64.png"));
    Image got = resize(big, 64, 64);
    DiffStats d = diff(got, want);
    EXPECT_EQ(d.max_abs, 0) << name << ": mean abs diff " << d.mean_abs;
  }
}

TEST(ImageResize, SameSizeIsACopyAndConstantsStayConstant) {
  Image img = make_image(20, 10, 3, 5);
  expect_same(resize(img, 20, 10), img, "same size");
  Image flat(7, 5, 1);
  std::fill(flat.pixels.begin(), flat.pixels.end(), 173);
  for (auto [w, h] : {std::pair{3, 2}, {31, 17}, {7, 40}, {1, 1}}) {
    Image r = resize(flat, w, h);
    EXPECT_EQ(r.width, w);
    EXPECT_EQ(r.height, h);
    for (uint8_t v : r.pixels) ASSERT_EQ(v, 173) << w << "x" << h;
  }
  EXPECT_THROW(resize(img, 0, 10), Error);
  EXPECT_THROW(resize(img, 10, 70000), Error);
}

// RGBA is resized premultiplied (as PIL does): colour under alpha 0 must not bleed into visible pixels.
TEST(ImageResize, AlphaIsPremultiplied) {
  Image img(16, 4, 4);
  for (int y = 0; y < 4; ++y)
    for (int x = 0; x < 16; ++x) {
      uint8_t* p = img.pixel(x, y);
      if (x < 8) {
        p[0] = 200, p[1] = 0, p[2] = 0, p[3] = 255;
      } else {
        p[0] = 0, p[1] = 255, p[2] = 0, p[3] = 0;  // invisible green
      }
    }
  Image r = resize(img, 6, 3);
  for (int y = 0; y < 3; ++y)
    for (int x = 0; x < 6; ++x) {
      const uint8_t* p = r.pixel(x, y);
      if (p[3] > 0) {
        EXPECT_EQ(p[1], 0) << x << "," << y;  // no green where anything is visible
      }
    }
}

TEST(ImageResize, CropAndResizeTakesTheCentre) {
  Image img = make_image(128, 64, 3, 12);
  Image got = resize_image(ResizeMode::CropAndResize, img, 64, 64);  // scale 1: a pure centre crop
  Image want(64, 64, 3);
  for (int y = 0; y < 64; ++y) std::memcpy(want.row(y), img.pixel(32, y), 64 * 3);
  expect_same(got, want, "centre crop");
  Image tall = make_image(30, 90, 1, 13);
  got = resize_crop(tall, 40, 40);
  EXPECT_EQ(got.width, 40);
  EXPECT_EQ(got.height, 40);
  // The crop of the scaled image: resized to 40x120, rows 40..80.
  Image scaled = resize(tall, 40, 120);
  for (int y = 0; y < 40; ++y) EXPECT_EQ(0, std::memcmp(got.row(y), scaled.row(y + 40), 40)) << y;
}

// A1111 "resize and fill": the bands are PIL BICUBIC resizes of a zero-height box at the edge, i.e. every
// band row is 1.125 * edge - 0.125 * next (weights 0.5625 and -0.0625 normalised), exact in 22-bit fixed
// point.
TEST(ImageResize, ResizeAndFillExtrapolatesTheEdges) {
  Image img = make_image(64, 32, 3, 14);
  Image got = resize_image(ResizeMode::ResizeAndFill, img, 64, 64);
  ASSERT_EQ(got.height, 64);
  auto extrapolate = [](int edge, int next) {
    double v = std::floor(1.125 * edge - 0.125 * next + 0.5);
    return static_cast<uint8_t>(std::clamp(v, 0.0, 255.0));
  };
  for (int y = 0; y < 64; ++y)
    for (int x = 0; x < 64; ++x)
      for (int c = 0; c < 3; ++c) {
        uint8_t want;
        if (y < 16)
          want = extrapolate(img.at(x, 0, c), img.at(x, 1, c));
        else if (y < 48)
          want = img.at(x, y - 16, c);
        else
          want = extrapolate(img.at(x, 31, c), img.at(x, 30, c));
        ASSERT_EQ(got.at(x, y, c), want) << x << "," << y << "," << c;
      }
  // Side bands for a tall image; an odd free width leaves the last column black as in A1111.
  Image tall = make_image(20, 63, 1, 15);
  got = resize_fill(tall, 41, 63);  // fits at 20x63, fill = 20 // 2 ... 41 // 2 - 20 // 2 = 10
  ASSERT_EQ(got.width, 41);
  for (int y = 0; y < 63; ++y) {
    EXPECT_EQ(got.at(0, y, 0), extrapolate(tall.at(0, y, 0), tall.at(1, y, 0))) << y;
    EXPECT_EQ(got.at(9, y, 0), got.at(0, y, 0)) << y;
    EXPECT_EQ(got.at(10, y, 0), tall.at(0, y, 0)) << y;
    EXPECT_EQ(got.at(29, y, 0), tall.at(19, y, 0)) << y;
    EXPECT_EQ(got.at(30, y, 0), extrapolate(tall.at(19, y, 0), tall.at(18, y, 0))) << y;
    EXPECT_EQ(got.at(39, y, 0), got.at(30, y, 0)) << y;
    EXPECT_EQ(got.at(40, y, 0), 0) << y;
  }
}

TEST(ImageResize, ModeNames) {
  EXPECT_EQ(parse_resize_mode("Just resize"), ResizeMode::JustResize);
  EXPECT_EQ(parse_resize_mode("crop_and_resize"), ResizeMode::CropAndResize);
  EXPECT_EQ(parse_resize_mode("2"), ResizeMode::ResizeAndFill);
  EXPECT_THROW(parse_resize_mode("zoom"), Error);
  Image img = make_image(10, 10, 3, 1);
  expect_same(resize_image(ResizeMode::JustResize, img, 7, 3), resize(img, 7, 3), "just resize");
}

// ---- malformed input
// -------------------------------------------------------------------------------------------

class ImageMalformed : public ::testing::Test {
 protected:
  void SetUp() override {
    dir = test::temp_dir("image_malformed");
    write_png(dir / "good.png", make_image(64, 64, 3, 21));
    png = read_bytes(dir / "good.png");
    jpeg = encode_jpeg(smooth_rgb(64, 64), {.quality = 90, .app1 = {}});
    webp = encode_webp(make_image(32, 32, 3, 22), false, 80);
  }
  fs::path put(const std::string& name, const Bytes& b) {
    write_bytes(dir / name, b);
    return dir / name;
  }
  fs::path dir;
  Bytes png, jpeg, webp;
};

TEST_F(ImageMalformed, MissingFileAndDirectory) {
  expect_rejected(dir / "nope.png", "no such file");
  expect_rejected(dir, "directory");
}

TEST_F(ImageMalformed, EmptyAndGarbageFiles) {
  expect_rejected(put("empty.png", ""), "empty");
  expect_rejected(put("garbage.png", "this is not an image at all, just some text\n"), "PNG, JPEG, WebP");
  expect_rejected(put("gif.png", "GIF89a\x01\x00\x01\x00"), "unsupported image format GIF");
  expect_rejected(put("tiny.png", png.substr(0, 5)), "truncated");
  expect_rejected(put("sig_only.png", png.substr(0, 8)), "invalid PNG");
}

TEST_F(ImageMalformed, TruncatedFiles) {
  expect_rejected(put("half.png", png.substr(0, png.size() / 2)), "truncated");
  expect_rejected(put("no_iend.png", png.substr(0, png.size() - 12)), "invalid PNG");
  expect_rejected(put("half.jpg", jpeg.substr(0, jpeg.size() / 2)), "truncated");
  expect_rejected(put("header.jpg", jpeg.substr(0, 30)), "invalid JPEG");
  expect_rejected(put("half.webp", webp.substr(0, webp.size() / 2)), "WebP");
  expect_rejected(put("riff.webp", webp.substr(0, 16)), "WebP");
}

TEST_F(ImageMalformed, CorruptData) {
  Bytes bad = png;
  bad[bad.size() / 2] ^= 0x55;  // inside IDAT: CRC mismatch
  expect_rejected(put("crc.png", bad), "invalid PNG");
  Bytes noise = jpeg.substr(0, 20);  // SOI and the JFIF header, then noise
  for (int i = 0; i < 2000; ++i) noise.push_back(static_cast<char>((i * 7919) & 0xFF));
  expect_rejected(put("noise.jpg", noise), "invalid JPEG");
}

// Decompression bombs: huge headers must be rejected before any pixel memory is allocated.
TEST_F(ImageMalformed, HugeDimensionsAreRejectedBeforeAllocating) {
  auto ihdr = [](uint32_t w, uint32_t h) { return png_ihdr(w, h, 2); };
  const Bytes rest = png.substr(33);
  expect_rejected(put("wide.png", png.substr(0, 8) + ihdr(100000, 10) + rest), "larger than supported");
  expect_rejected(put("bomb.png", png.substr(0, 8) + ihdr(20000, 20000) + rest), "I2I_MAX_IMAGE_PIXELS");
  expect_rejected(put("zero.png", png.substr(0, 8) + ihdr(0, 10) + rest), "invalid PNG");
  // JPEG: patch the SOF0 frame size to 60000x60000.
  Bytes big = jpeg;
  size_t sof = big.find("\xff\xc0");
  ASSERT_NE(sof, Bytes::npos);
  big[sof + 5] = static_cast<char>(0xEA), big[sof + 6] = static_cast<char>(0x60);
  big[sof + 7] = static_cast<char>(0xEA), big[sof + 8] = static_cast<char>(0x60);
  expect_rejected(put("bomb.jpg", big), "I2I_MAX_IMAGE_PIXELS");
}

// Issue 14, items 3 and 4: the default pixel limit is the largest generation size (8192 x 8192), read from
// the header: a 60000x4000 JPEG (240 megapixels) is refused before decoding.
TEST_F(ImageMalformed, PictureOverThePixelLimitIsRefusedFromItsHeader) {
  EXPECT_EQ(max_image_pixels(), int64_t{8192} * 8192);
  Bytes big = jpeg;
  const size_t sof = big.find("\xff\xc0");
  ASSERT_NE(sof, Bytes::npos);
  big[sof + 5] = static_cast<char>(0x0F), big[sof + 6] = static_cast<char>(0xA0);  // height 4000
  big[sof + 7] = static_cast<char>(0xEA), big[sof + 8] = static_cast<char>(0x60);  // width 60000
  expect_rejected(put("wide.jpg", big), "more than the limit of 67108864 pixels");
}

// A PNG whose header promises far more pixels than its data could hold (deflate compresses at most 1032:1)
// is truncated: refused before the pixel buffer is allocated, and a chunk whose length field says 2 GiB
// makes libpng allocate nothing like it.
TEST_F(ImageMalformed, PngsThatLieAboutTheirSizeAllocateNothing) {
  auto ihdr = [](uint32_t w, uint32_t h) { return png_ihdr(w, h, 6); };
  const Bytes rest = png.substr(33);
  expect_rejected(put("liar.png", png.substr(0, 8) + ihdr(8000, 8000) + rest), "too little image data");
  Bytes huge_chunk;
  put_be(huge_chunk, 0x7fffffffu, 4);
  huge_chunk += Bytes("tEXt", 4) + Bytes(64, 'a');
  expect_rejected(put("huge_chunk.png", png.substr(0, 33) + huge_chunk + rest),
                  "truncated (a tEXt chunk of 2147483647 bytes");
  struct rusage usage {};
  getrusage(RUSAGE_SELF, &usage);
  EXPECT_LT(usage.ru_maxrss, 512 * 1024) << "peak RSS " << usage.ru_maxrss << " KiB";
}

// --from-png reads only the text: the pixels are decoded a row at a time and dropped.
TEST_F(ImageMalformed, TextIsReadWithoutKeepingThePixels) {
  write_png(dir / "with_text.png", make_image(64, 48, 3, 5),
            {{"parameters", "a cat\nSteps: 3, Seed: 1, Size: 64x48"}});
  const auto text = read_png_text(dir / "with_text.png");
  ASSERT_EQ(text.count("parameters"), 1u);
  EXPECT_EQ(text.at("parameters"), "a cat\nSteps: 3, Seed: 1, Size: 64x48");
}

// A tiny file declaring a huge ancillary chunk (found by fuzz/png_text.cpp: a 260-byte PNG whose tEXt chunk
// claimed 1.9 GB): libpng allocated the declared length before finding the data missing. Now no allocation
// past the file's size is made, and the error names the oversized chunk; text reading goes the same way.
TEST_F(ImageMalformed, HugeChunkLengthsAreRejectedBeforeAllocating) {
  Bytes text = png_chunk("tEXt", Bytes("Software\0i2i", 12));
  text[0] = 0x74, text[1] = 0x00, text[2] = 0x00, text[3] = 0x0c;  // length 1946157068, 12 bytes present
  const fs::path path = put("huge_text.png", png_insert_after_ihdr(png, text));
  expect_rejected(path, "a tEXt chunk of 1946157068 bytes");
  try {
    read_png_text(path);
    ADD_FAILURE() << "the text of a PNG with a 1.9 GB chunk was read";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("a tEXt chunk of 1946157068 bytes"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace i2i
