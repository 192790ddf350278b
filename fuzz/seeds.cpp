// fuzz_seeds FIXTURES OUT: the harnesses' seed corpora, made from the fixtures at run time (nothing binary
// is kept in the repository): OUT/<harness>/ gets small slices of the fixtures' safetensors files, their
// 64x64 PNGs and the same picture re-encoded as small JPEG / WebP / PNG variants (EXIF orientations,
// 16-bit, palette, grey, alpha, interlaced), PNGs carrying a `parameters` text, the JSON configs, and the
// prompts and tokenizer texts of the cases, and A1111 request bodies (tests/data/server's clients, units).
// The hand-written text seeds in fuzz/seeds/ complement them. The pictures are made by the tests' builders
// (tests/support/picture_bytes.h, compiled in: it needs only the codec libraries).
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "core/error.h"
#include "io/image.h"
#include "io/parameters.h"
#include "io/python_json.h"
#include "io/safetensors.h"
#include "server/base64.h"
#include "support/picture_bytes.h"

namespace fs = std::filesystem;
using i2i::test::Bytes;
using i2i::test::encode_jpeg;
using i2i::test::encode_png_variant;
using i2i::test::encode_webp;
using i2i::test::exif_app1;
using i2i::test::exif_tiff;
using i2i::test::JpegOptions;
using i2i::test::webp_with_exif;

namespace {

void write_file(const fs::path& path, const Bytes& bytes) {
  fs::create_directories(path.parent_path());
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!out) throw i2i::Error(path.string() + ": cannot write");
}

Bytes read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return Bytes(std::istreambuf_iterator<char>(in), {});
}

std::vector<fs::path> files_under(const fs::path& dir, const std::string& ext, uintmax_t max_bytes) {
  std::vector<fs::path> out;
  if (!fs::is_directory(dir)) return out;
  for (const auto& e : fs::recursive_directory_iterator(dir))
    if (e.is_regular_file() && e.path().extension() == ext && e.file_size() <= max_bytes)
      out.push_back(e.path());
  std::sort(out.begin(), out.end());
  return out;
}

// `path` relative to `root` with '/' turned into '_': a unique, readable seed name.
std::string flat_name(const fs::path& path, const fs::path& root) {
  std::string s = fs::relative(path, root).string();
  std::replace(s.begin(), s.end(), '/', '_');
  return s;
}

i2i::Image crop(const i2i::Image& img, int w, int h) {
  i2i::Image out(w, h, img.channels);
  for (int y = 0; y < h; ++y) std::copy_n(img.row(y), static_cast<size_t>(w) * img.channels, out.row(y));
  return out;
}

void image_seeds(const fs::path& fixtures, const fs::path& out, const fs::path& tmp) {
  const fs::path dir = out / "image";
  for (const fs::path& p : files_under(fixtures / "images", ".png", 16 << 10))
    write_file(dir / p.filename(), read_file(p));
  for (const fs::path& p : files_under(fixtures / "cases" / "inputs", ".png", 16 << 10))
    write_file(dir / ("inputs_" + p.filename().string()), read_file(p));

  const i2i::Image full = i2i::to_rgb(i2i::read_image(fixtures / "images" / "astronaut_64.png"));
  const i2i::Image rgb = crop(full, 16, 12);
  i2i::Image rgba(rgb.width, rgb.height, 4);
  for (int y = 0; y < rgb.height; ++y)
    for (int x = 0; x < rgb.width; ++x) {
      std::copy_n(rgb.pixel(x, y), 3, rgba.pixel(x, y));
      rgba.pixel(x, y)[3] = static_cast<uint8_t>(x * 16);
    }
  const i2i::Image gray = i2i::to_gray(rgb);
  // (libjpeg's default 4:2:0 chroma, as cameras write it; the tests' JPEGs are 4:4:4.)
  const JpegOptions jpeg{.quality = 80, .subsampled = true};
  const JpegOptions progressive{.quality = 80, .progressive = true, .subsampled = true};
  write_file(dir / "rgb.jpg", encode_jpeg(rgb, jpeg));
  write_file(dir / "gray.jpg", encode_jpeg(gray, jpeg));
  write_file(dir / "progressive.jpg", encode_jpeg(rgb, progressive));
  write_file(dir / "exif6.jpg", encode_jpeg(rgb, {.quality = 80, .subsampled = true, .app1 = exif_app1(6)}));
  write_file(
      dir / "exif8_progressive.jpg",
      encode_jpeg(rgb, {.quality = 80, .progressive = true, .subsampled = true, .app1 = exif_app1(8)}));
  const Bytes lossy = encode_webp(rgb, false, 80), lossless = encode_webp(rgba, true);
  write_file(dir / "lossy.webp", lossy);
  write_file(dir / "lossless_alpha.webp", lossless);
  write_file(dir / "lossy_alpha.webp", encode_webp(rgba, false, 80));
  write_file(dir / "exif5.webp", webp_with_exif(lossy, rgb.width, rgb.height, false, exif_tiff(5)));
  write_file(dir / "exif3_alpha.webp", webp_with_exif(lossless, rgb.width, rgb.height, true, exif_tiff(3)));
  write_file(dir / "rgb16_interlaced_exif7.png",
             encode_png_variant(rgb, {.sixteen_bit = true, .interlace = true, .exif = exif_tiff(7)}));
  write_file(dir / "palette_trns.png", encode_png_variant(rgb, {.palette = true}));
  write_file(dir / "rgba_exif2.png", encode_png_variant(rgba, {.exif = exif_tiff(2)}));
  const fs::path gray_png = tmp / "gray.png";
  i2i::write_png(gray_png, gray);
  write_file(dir / "gray.png", read_file(gray_png));

  // PNGs with the text --from-png reads.
  const fs::path text_dir = out / "png_text";
  i2i::GenerationParameters params{"a cat, (masterpiece:1.2)",
                                   "blurry",
                                   {{"Steps", "20"},
                                    {"Sampler", "Euler a"},
                                    {"CFG scale", "7"},
                                    {"Seed", "1"},
                                    {"Size", "16x12"},
                                    {"Denoising strength", "0.5"}}};
  const fs::path with_text = tmp / "text.png";
  i2i::write_png(with_text, crop(rgb, 4, 4), {{"parameters", i2i::format_parameters(params)}});
  write_file(text_dir / "parameters.png", read_file(with_text));
  params.prompt = "\xe7\x8c\xab, caf\xc3\xa9";  // not Latin-1: written as iTXt
  i2i::write_png(with_text, crop(gray, 4, 4),
                 {{"parameters", i2i::format_parameters(params)}, {"Software", "i2i"}});
  write_file(text_dir / "parameters_itxt.png", read_file(with_text));
  write_file(text_dir / "palette_trns.png",
             encode_png_variant(crop(rgb, 4, 4), {.palette = true, .interlace = true}));
}

// Each small fixture safetensors file cut down to its (up to) 4 smallest tensors of at most 4 KiB each,
// metadata kept: every dtype and header shape the fixtures use, in files of a few KiB.
void safetensors_seeds(const fs::path& fixtures, const fs::path& out) {
  fs::create_directories(out / "safetensors");
  for (const fs::path& p : files_under(fixtures, ".safetensors", uintmax_t{64} << 20)) {
    const i2i::SafeTensors st = i2i::SafeTensors::open(p);
    std::vector<std::pair<size_t, std::string>> by_size;
    for (const std::string& name : st.names()) {
      const i2i::TensorInfo& info = st.info(name);
      if (info.end - info.begin <= 4096) by_size.emplace_back(info.end - info.begin, name);
    }
    std::sort(by_size.begin(), by_size.end());
    std::vector<std::pair<std::string, i2i::Tensor>> keep;
    for (size_t i = 0; i < by_size.size() && i < 4; ++i)
      keep.emplace_back(by_size[i].second, st.get(by_size[i].second));
    i2i::write_safetensors(out / "safetensors" / flat_name(p, fixtures), keep, st.metadata());
  }
}

void json_seeds(const fs::path& fixtures, const fs::path& out) {
  for (const fs::path& p : files_under(fixtures / "models", ".json", 16 << 10))
    write_file(out / "json" / flat_name(p, fixtures), read_file(p));
}

// Every string field named `key` anywhere in `j`.
void collect_strings(const nlohmann::json& j, const std::string& key, std::set<std::string>& out) {
  if (j.is_object()) {
    for (auto it = j.begin(); it != j.end(); ++it) {
      if (it.key() == key && it.value().is_string()) out.insert(it.value().get<std::string>());
      collect_strings(it.value(), key, out);
    }
  } else if (j.is_array()) {
    for (const auto& v : j) collect_strings(v, key, out);
  }
}

void text_seeds(const fs::path& fixtures, const fs::path& out) {
  std::set<std::string> prompts, texts;
  for (const fs::path& p : files_under(fixtures / "cases", ".json", uintmax_t{64} << 20)) {
    const nlohmann::json j = i2i::parse_python_json(read_file(p), p.string());
    collect_strings(j, "prompt", prompts);
    collect_strings(j, "negative_prompt", prompts);
  }
  collect_strings(nlohmann::json::parse(read_file(fixtures / "tokenizer" / "tokenizer_cases.json")), "text",
                  texts);
  int i = 0;
  for (const std::string& s : prompts) {
    write_file(out / "prompt" / ("case_" + std::to_string(i)), s);
    write_file(out / "tokenizer" / ("prompt_" + std::to_string(i++)), s);
  }
  i = 0;
  for (const std::string& s : texts) write_file(out / "tokenizer" / ("case_" + std::to_string(i++)), s);
}

}  // namespace

// fuzz_a1111_request: the real clients' bodies of tests/data/server with a fixture picture in their
// placeholders, and bodies with IP-Adapter, reference and annotator units.
void a1111_request_seeds(const fs::path& fixtures, const fs::path& out) {
  const fs::path dir = out / "a1111_request";
  fs::create_directories(dir);
  const Bytes png = read_file(fixtures / "cases/inputs/astronaut_64.png");
  const std::string picture =
      i2i::server::base64_encode(reinterpret_cast<const uint8_t*>(png.data()), png.size());
  for (const fs::path& p :
       files_under(fs::path(I2I_FUZZ_SOURCE_DIR) / "tests/data/server", ".json", 1 << 20)) {
    std::string text = read_file(p);
    for (size_t open = text.find("\"{"); open != std::string::npos; open = text.find("\"{", open + 1)) {
      const size_t close = text.find("}\"", open);
      if (close == std::string::npos) break;
      text.replace(open, close + 2 - open, "\"data:image/png;base64," + picture + "\"");
    }
    write_file(dir / p.filename(), text);
  }
  using nlohmann::json;
  const json base = {
      {"init_images", {picture}}, {"steps", 2}, {"width", 64}, {"height", 64}, {"prompt", "a cat"}};
  const std::vector<json> units = {
      {{"module", "ip-adapter_clip_sd15"}, {"model", "ip-adapter_sd15"}, {"weight", 0.7}, {"image", picture}},
      {{"module", "reference_adain+attn"},
       {"threshold_a", 0.3},
       {"control_mode", "ControlNet is more important"}},
      {{"module", "lineart"},
       {"model", "tiny-controlnet-sd15"},
       {"pixel_perfect", true},
       {"processor_res", 128}},
      {{"module", "canny"},
       {"model", "tiny-controlnet-sd15"},
       {"threshold_a", 50},
       {"resize_mode", "Crop and Resize"}}};
  for (size_t i = 0; i < units.size(); ++i) {
    json body = base;
    body["alwayson_scripts"] = {{"controlnet", {{"args", json::array({units[i]})}}}};
    write_file(dir / ("unit_" + std::to_string(i) + ".json"), body.dump());
  }
}

int main(int argc, char** argv) {
  if (argc != 3) {
    std::cerr << "usage: fuzz_seeds FIXTURES_DIR OUT_DIR\n";
    return 2;
  }
  try {
    const fs::path fixtures = argv[1], out = argv[2];
    fs::remove_all(out);
    const fs::path tmp = out / ".tmp";
    fs::create_directories(tmp);
    image_seeds(fixtures, out, tmp);
    safetensors_seeds(fixtures, out);
    // The fixtures' LoRA (kohya, LoCon, SDXL, diffusers) and embedding files, whole: all under 400 KB.
    for (const auto& [dir, harness] :
         {std::pair{"models/loras", "lora"}, {"models/embeddings", "embedding"}}) {
      fs::create_directories(out / harness);
      for (const fs::path& p : files_under(fixtures / dir, ".safetensors", uintmax_t{1} << 20))
        fs::copy_file(p, out / harness / flat_name(p, fixtures), fs::copy_options::overwrite_existing);
    }
    json_seeds(fixtures, out);
    text_seeds(fixtures, out);
    a1111_request_seeds(fixtures, out);
    fs::remove_all(tmp);
  } catch (const std::exception& e) {
    std::cerr << "fuzz_seeds: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
