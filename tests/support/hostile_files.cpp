#include "support/hostile_files.h"

#include <sys/stat.h>

#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>

#include "io/safetensors.h"
#include "preprocess/canny.h"
#include "support/cli_run.h"
#include "support/fixtures.h"
#include "support/picture_bytes.h"

namespace i2i::test {
namespace fs = std::filesystem;
namespace {

using Args = std::vector<std::string>;

void write(const fs::path& p, const Bytes& b) {
  std::ofstream(p, std::ios::binary) << b;
}

Bytes slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return Bytes(std::istreambuf_iterator<char>(in), {});
}

// ---- the command lines ------------------------------------------------------------------------------

std::string fixture(const std::string& rel) {
  return fixture_path(rel).string();
}

// An img2img of the tiny SD 1.5 model (2 steps) writing out.png; `more` overrides (a later flag wins).
Args img2img(const Args& more = {}) {
  Args a = {"img2img",
            "--model",
            fixture("models/tiny-sd15.safetensors"),
            "--tokenizer",
            fixture("tokenizer"),
            "--init",
            fixture("cases/inputs/astronaut_64.png"),
            "--prompt",
            "a cat",
            "--steps",
            "2",
            "--seed",
            "1",
            "--quiet",
            "-o",
            "out.png"};
  a.insert(a.end(), more.begin(), more.end());
  return a;
}
Args inpaint(const Args& more) {
  Args a = img2img(more);
  a[0] = "inpaint";
  return a;
}

// ---- files ------------------------------------------------------------------------------------------

// A safetensors file: the 8-byte length, `header`, then `data` bytes.
Bytes safetensors(const std::string& header, const Bytes& data = {}) {
  Bytes b;
  put_le(b, header.size(), 8);
  return b + header + data;
}

// The ground truth of the valid odd pictures: shapes with sharp edges (so Canny finds the same edges
// after JPEG's loss), not symmetric (so a wrong rotation shows).
Image truth() {
  Image im(64, 48, 3);
  for (int y = 0; y < im.height; ++y)
    for (int x = 0; x < im.width; ++x) {
      uint8_t* p = im.pixel(x, y);
      const bool a = x >= 8 && x < 28 && y >= 6 && y < 22, b = x >= 36 && x < 56 && y >= 26 && y < 40;
      p[0] = a ? 240 : b ? 30 : 10;
      p[1] = a ? 230 : b ? 200 : 10;
      p[2] = a ? 220 : b ? 90 : 10;
    }
  return im;
}

// `t` stored so that EXIF orientation 6 (rotate 90 degrees clockwise to display) shows `t`.
Image stored_for_orientation_6(const Image& t) {
  Image s(t.height, t.width, t.channels);
  for (int y = 0; y < s.height; ++y)
    for (int x = 0; x < s.width; ++x)
      for (int c = 0; c < t.channels; ++c) s.pixel(x, y)[c] = t.pixel(t.width - 1 - y, x)[c];
  return s;
}

// Baseline JPEG, 4:4:4, quality 100; 4 channels are written as (Adobe) CMYK; `app1` after the JFIF marker.
Bytes jpeg(const Image& img, const Bytes& app1 = {}) {
  return encode_jpeg(img, {.quality = 100, .app1 = app1});
}

// An 8-bit RGB image as a 16-bit PNG (v * 257: the same picture) with an optional eXIf chunk.
Bytes png16(const Image& img, const Bytes& exif = {}) {
  return encode_png_variant(img, {.sixteen_bit = true, .exif = exif});
}

// A small PNG written by i2i, with a `parameters` text.
fs::path params_png(const fs::path& dir, const std::string& parameters) {
  const fs::path p = dir / "p.png";
  write_png(p, truth(), {{"parameters", parameters}});
  return p;
}

const char* const kParams = "a cat\nSteps: 4, Sampler: Euler a, CFG scale: 7, Seed: 1, Size: 64x64, ";

// A JPEG whose frame header (SOF0) declares w x h; the scan data is the small picture's.
Bytes jpeg_declaring(uint16_t w, uint16_t h) {
  Bytes b = jpeg(truth());
  for (size_t i = 2; i + 9 < b.size(); ++i)
    if (static_cast<uint8_t>(b[i]) == 0xFF && static_cast<uint8_t>(b[i + 1]) == 0xC0) {
      b[i + 5] = static_cast<char>(h >> 8), b[i + 6] = static_cast<char>(h & 0xFF);
      b[i + 7] = static_cast<char>(w >> 8), b[i + 8] = static_cast<char>(w & 0xFF);
      break;
    }
  return b;
}

Bytes encode_webp_lossless(const Image& img) {
  return encode_webp(img, true);
}

// An extended WebP: VP8X declaring a canvas of w x h (and animation with ANIM + one ANMF per frame, or the
// still image's chunk as it is).
Bytes webp_extended(uint32_t w, uint32_t h, const std::vector<Bytes>& frames, bool animated) {
  Bytes body = "WEBP";
  body += "VP8X";
  put_le(body, 10, 4);
  body.push_back(static_cast<char>(animated ? 0x02 : 0));
  put_le(body, 0, 3);
  put_le(body, w - 1, 3);
  put_le(body, h - 1, 3);
  if (animated) {
    body += "ANIM";
    put_le(body, 6, 4);
    put_le(body, 0, 4);  // background colour
    put_le(body, 0, 2);  // loop forever
  }
  for (const Bytes& simple : frames) {
    const Bytes chunk = simple.substr(12);  // after "RIFF" size "WEBP": the VP8L chunk
    if (!animated) {
      body += chunk;
      continue;
    }
    // Frame width / height from the VP8L header: 14 bits each after the signature byte.
    const auto* d = reinterpret_cast<const uint8_t*>(chunk.data() + 8);
    const uint32_t bits = d[1] | d[2] << 8 | d[3] << 16 | static_cast<uint32_t>(d[4]) << 24;
    const uint32_t fw = (bits & 0x3FFF) + 1, fh = ((bits >> 14) & 0x3FFF) + 1;
    Bytes anmf;
    put_le(anmf, 0, 3);  // x / 2
    put_le(anmf, 0, 3);  // y / 2
    put_le(anmf, fw - 1, 3);
    put_le(anmf, fh - 1, 3);
    put_le(anmf, 100, 3);  // duration (ms)
    anmf.push_back(0);     // blend, no dispose
    anmf += chunk;
    body += "ANMF";
    put_le(body, anmf.size(), 4);
    body += anmf;
    if (anmf.size() % 2) body.push_back('\0');
  }
  Bytes out = "RIFF";
  put_le(out, body.size(), 4);
  return out + body;
}

// The tiny SD 1.5 VAE as one diffusers-named file, with `edit` applied to its tensors.
void vae_file(const fs::path& to, const std::function<void(const std::string&, Tensor&)>& edit) {
  SafeTensors st =
      SafeTensors::open(fixture_path("models/tiny-sd15/vae/diffusion_pytorch_model.safetensors"));
  std::vector<std::pair<std::string, Tensor>> tensors;
  for (const std::string& n : st.names()) {
    Tensor t = st.get_f32(n).clone();
    edit(n, t);
    tensors.emplace_back(n, std::move(t));
  }
  write_safetensors(to, tensors);
}

// The model as a link in `dir` (m.safetensors), so that a sidecar can sit beside it.
std::string linked_model(const fs::path& dir) {
  fs::create_symlink(fixture_path("models/tiny-sd15.safetensors"), dir / "m.safetensors");
  return (dir / "m.safetensors").string();
}

// The fixture model's sidecar (tiny-sd15.json: the tiny shapes' config) with `key` set to the JSON text
// `value`, so that only that value is wrong.
Bytes sidecar_with(const std::string& key, const std::string& value) {
  nlohmann::json j = nlohmann::json::parse(slurp(fixture_path("models/tiny-sd15.json")));
  j[key] = nlohmann::json::parse(value);
  return j.dump();
}

Image canny_of(const Image& im) {
  return to_rgb(canny(im, 100, 200));
}

// ---- the probes -------------------------------------------------------------------------------------

HostileProbe hostile(std::string name, std::string expect, std::function<Args(const fs::path&)> make) {
  HostileProbe p;
  p.name = std::move(name);
  p.expect = std::move(expect);
  p.make = std::move(make);
  return p;
}

HostileProbe valid(std::string name, std::function<Bytes()> file, double tolerance = 0) {
  HostileProbe p;
  p.name = std::move(name);
  p.make = [file](const fs::path& dir) {
    write(dir / "in.img", file());
    return Args{"preprocess", "canny", "in.img", "-o", "out.png"};
  };
  p.want = [] { return canny_of(truth()); };
  p.tolerance = tolerance;
  return p;
}

// A model probe: m.safetensors holding `bytes`.
HostileProbe model(std::string name, std::string expect, std::function<Bytes()> bytes) {
  return hostile(std::move(name), std::move(expect), [bytes](const fs::path& dir) {
    write(dir / "m.safetensors", bytes());
    return img2img({"--model", "m.safetensors"});
  });
}

// An init-image probe: init.png holding `bytes` (the name says PNG; the content decides).
HostileProbe init(std::string name, std::string expect, std::function<Bytes()> bytes) {
  return hostile(std::move(name), std::move(expect), [bytes](const fs::path& dir) {
    write(dir / "init.png", bytes());
    return img2img({"--init", "init.png"});
  });
}

// img2img --from-png p.png with only what the picture cannot record (its values are not overridden).
Args from_png_args() {
  return Args{"img2img",
              "--from-png",
              "p.png",
              "--model",
              fixture("models/tiny-sd15.safetensors"),
              "--tokenizer",
              fixture("tokenizer"),
              "--init",
              fixture("cases/inputs/astronaut_64.png"),
              "--quiet",
              "-o",
              "out.png"};
}

// A --from-png probe: p.png carrying `text`.
HostileProbe from_png(std::string name, std::string expect, std::string text) {
  return hostile(std::move(name), std::move(expect), [text](const fs::path& dir) {
    params_png(dir, text);
    return from_png_args();
  });
}

std::vector<HostileProbe> make_probes() {
  std::vector<HostileProbe> v;
  // -- checkpoints: the safetensors header and data
  v.push_back(model("ModelHeaderLengthHuge", "m.safetensors", [] {
    Bytes b;
    put_le(b, uint64_t{1} << 62, 8);
    return b + "{}";
  }));
  v.push_back(model("ModelHeaderPastTheEnd", "m.safetensors", [] {
    Bytes b;
    put_le(b, 1000, 8);
    return b + "{\"a\": 1}";
  }));
  v.push_back(model("ModelHeaderNotJson", "m.safetensors", [] { return safetensors("not json"); }));
  v.push_back(model("ModelOffsetsOutsideTheFile", "m.safetensors", [] {
    return safetensors(R"({"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8000]}})", Bytes(8, '\0'));
  }));
  v.push_back(model("ModelUnknownDtype", "m.safetensors", [] {
    return safetensors(R"({"w": {"dtype": "Q7", "shape": [2], "data_offsets": [0, 8]}})", Bytes(8, '\0'));
  }));
  v.push_back(model("ModelShapeOverflow", "m.safetensors", [] {
    return safetensors(
        R"({"w": {"dtype": "F32", "shape": [4294967296, 4294967296, 16], "data_offsets": [0, 8]}})",
        Bytes(8, '\0'));
  }));
  v.push_back(model("ModelTruncated", "m.safetensors", [] {
    const Bytes whole = slurp(fixture_path("models/tiny-sd15.safetensors"));
    return whole.substr(0, whole.size() / 2);
  }));
  v.push_back(model("ModelEmptyFile", "m.safetensors", [] { return Bytes(); }));
  v.push_back(model("ModelManyEmptyTensors", "m.safetensors", [] {
    std::string h = "{";
    for (int i = 0; i < 100000; ++i)
      h += (i ? ",\"t" : "\"t") + std::to_string(i) +
           "\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[0,0]}";
    return safetensors(h + "}");
  }));
  v.push_back(hostile("ModelIsAFifo", "not a regular file", [](const fs::path& dir) {
    mkfifo((dir / "m.safetensors").c_str(), 0644);
    return img2img({"--model", "m.safetensors"});
  }));
  v.push_back(hostile("ModelIsASymlinkLoop", "a symbolic link loop", [](const fs::path& dir) {
    fs::create_symlink("m.safetensors", dir / "m.safetensors");
    return img2img({"--model", "m.safetensors"});
  }));
  v.push_back(hostile("ModelIsADanglingLink", "a symbolic link to gone.safetensors, which does not exist",
                      [](const fs::path& dir) {
                        fs::create_symlink("gone.safetensors", dir / "m.safetensors");
                        return img2img({"--model", "m.safetensors"});
                      }));
  v.push_back(hostile("VaeWithI32Weight", "tensor 'decoder.conv_in.weight' is I32", [](const fs::path& dir) {
    vae_file(dir / "v.safetensors", [](const std::string& n, Tensor& t) {
      if (n == "decoder.conv_in.weight") t = Tensor::zeros(t.shape(), DType::I32);
    });
    return img2img({"--vae", "v.safetensors"});
  }));
  v.push_back(
      hostile("VaeWithNanWeights", "the decoded pictures (VAE decoder) hold NaN", [](const fs::path& dir) {
        // A diffusers VAE folder (its config gives the tiny VAE's group count).
        fs::create_directory(dir / "v");
        fs::create_symlink(fixture_path("models/tiny-sd15/vae/config.json"), dir / "v" / "config.json");
        vae_file(dir / "v" / "diffusion_pytorch_model.safetensors", [](const std::string& n, Tensor& t) {
          if (n == "decoder.conv_out.bias")
            for (int64_t k = 0; k < t.numel(); ++k) t.data<float>()[k] = std::nanf("");
        });
        return img2img({"--vae", "v", "--precision", "fp32"});
      }));
  // -- sidecars beside a checkpoint
  v.push_back(hostile("SidecarScalingFactorHuge", "'vae_scaling_factor' 1e+300 is not a usable",
                      [](const fs::path& dir) {
                        const std::string m = linked_model(dir);
                        write(dir / "m.json", sidecar_with("vae_scaling_factor", "1e300"));
                        return img2img({"--model", m});
                      }));
  v.push_back(
      hostile("SidecarScalingFactorZero", "'vae_scaling_factor' 0 is not a usable", [](const fs::path& dir) {
        const std::string m = linked_model(dir);
        write(dir / "m.json", sidecar_with("vae_scaling_factor", "0"));
        return img2img({"--model", m});
      }));
  v.push_back(hostile("YamlScaleFactorNegative", "model.params.scale_factor -1 is not a usable",
                      [](const fs::path& dir) {
                        const std::string m = linked_model(dir);
                        write(dir / "m.yaml", "model:\n  params:\n    scale_factor: -1\n");
                        return img2img({"--model", m});
                      }));
  v.push_back(hostile("SidecarIsAFifo", "not a regular file", [](const fs::path& dir) {
    const std::string m = linked_model(dir);
    mkfifo((dir / "m.json").c_str(), 0644);
    return img2img({"--model", m});
  }));
  // -- pictures: bombs, truncation, odd formats
  v.push_back(
      init("PngHeaderDeclaring60000Squared", "init.png", [] { return png_header_only(60000, 60000); }));
  v.push_back(init("JpegDeclaring60000x4000", "init.png", [] { return jpeg_declaring(60000, 4000); }));
  v.push_back(init("WebpCanvas16384Squared", "init.png",
                   [] { return webp_extended(16384, 16384, {encode_webp_lossless(truth())}, false); }));
  v.push_back(init("PngTruncated", "init.png", [] {
    Bytes b = png16(truth());
    return b.substr(0, b.size() / 2);
  }));
  v.push_back(init("TextAsPicture", "init.png", [] { return Bytes("just some text, not a picture\n"); }));
  v.push_back(
      init("GifPicture", "init.png", [] { return Bytes("GIF89a\x01\x00\x01\x00\x00\x00\x00;", 13); }));
  v.push_back(init("BmpPicture", "init.png", [] { return Bytes("BM") + Bytes(60, '\0'); }));
  v.push_back(init("EmptyPicture", "init.png", [] { return Bytes(); }));
  v.push_back(hostile("PictureIsAFolder", "init.png", [](const fs::path& dir) {
    fs::create_directory(dir / "init.png");
    return img2img({"--init", "init.png"});
  }));
  // -- masks
  v.push_back(hostile("MaskBomb", "mask.png", [](const fs::path& dir) {
    write(dir / "mask.png", png_header_only(60000, 60000));
    return inpaint({"--mask", "mask.png"});
  }));
  v.push_back(hostile("MaskNotAPicture", "mask.png", [](const fs::path& dir) {
    write(dir / "mask.png", "not a mask");
    return inpaint({"--mask", "mask.png"});
  }));
  v.push_back(hostile("InpaintPaddingHuge", "--padding", [](const fs::path&) {
    return inpaint({"--mask", fixture("cases/inputs/astronaut_64.png"), "--padding", "2147483647"});
  }));
  // -- PNG parameters texts (--from-png): values are named by their key in the picture
  v.push_back(
      from_png("FromPngStepsNegative", "'Steps' in p.png must be at least 1",
               std::string("a cat\nSteps: -5, Sampler: Euler a, CFG scale: 7, Seed: 1, Size: 64x64")));
  v.push_back(from_png("FromPngSteps1e300", "p.png: infotext: 'Steps' value '1e300'",
                       std::string(kParams) + "Denoising strength: 0.5, Clip skip: 1, Steps: 1e300"));
  v.push_back(from_png("FromPngCfgInfinite", "'CFG scale' has an unreadable value 'inf'",
                       std::string(kParams) + "Denoising strength: 0.5, CFG scale: inf"));
  v.push_back(from_png("FromPngCfgTooLarge", "'CFG scale' in p.png 1000 is too large",
                       std::string(kParams) + "Denoising strength: 0.5, CFG scale: 1000"));
  v.push_back(from_png("FromPngControlNet999Image", "'ControlNet 999 image' belongs to no unit",
                       std::string(kParams) + "Denoising strength: 0.5, ControlNet 999 image: x.png"));
  v.push_back(hostile(
      "FromPngInvalidUtf8", "p.png: generation parameters: text is not valid UTF-8", [](const fs::path& dir) {
        // An iTXt chunk (UTF-8 by definition) that is not UTF-8, before IEND.
        write_png(dir / "p.png", truth());
        Bytes png = slurp(dir / "p.png");
        const Bytes text = std::string(kParams) + "Denoising strength: 0.5, Sampler: \xC3\x28";
        png.insert(png.size() - 12, png_chunk("iTXt", Bytes("parameters\0\0\0\0\0", 15) + text));
        write(dir / "p.png", png);
        return from_png_args();
      }));
  v.push_back(from_png("FromPngHugeTextWithoutColon", "bytes long", std::string(1000000, 'a')));
  {
    std::string breaks = "a cat";
    for (int i = 0; i < 3000; ++i) breaks += " BREAK x";  // (24 KB: under the prompt length limit)
    v.push_back(from_png("FromPngThreeThousandBreaks", "chunks",
                         breaks + "\n" + kParams + "Denoising strength: 0.5"));
  }
  // -- flags
  v.push_back(hostile("PromptInvalidUtf8", "--prompt is not valid UTF-8", [](const fs::path&) {
    return img2img({"--prompt", "a \xFF cat"});
  }));
  v.push_back(
      hostile("NegativePromptInvalidUtf8", "--negative-prompt is not valid UTF-8", [](const fs::path&) {
        return img2img({"--negative-prompt", "\xE2\x82"});
      }));
  v.push_back(hostile("CfgScale1e308", "--cfg-scale", [](const fs::path&) {
    return img2img({"--cfg-scale", "1e308"});
  }));
  v.push_back(hostile("SeedPastTheLastWithABatch", "--seed", [](const fs::path&) {
    return img2img({"--seed", "4294967295", "--batch-size", "2"});
  }));
  // -- output paths (checked before any work)
  v.push_back(hostile("OutputOverwriteOntoAFolder", "is a folder", [](const fs::path& dir) {
    fs::create_directory(dir / "out.png");
    return img2img({"--overwrite"});
  }));
  v.push_back(hostile("OutputJpegName", "use a .png name", [](const fs::path&) {
    return img2img({"-o", "x.jpg"});
  }));
  v.push_back(
      hostile("OutputUnwritableFolder", "cannot create a temporary file in /proc", [](const fs::path&) {
        return img2img({"-o", "/proc/out.png"});
      }));
  v.push_back(hostile("OutputNameTooLong", "bytes long, more than the", [](const fs::path&) {
    return img2img({"-o", std::string(300, 'n') + ".png"});
  }));
  v.push_back(hostile("OutputNoFolder", "no folder", [](const fs::path&) {
    return img2img({"-o", "no/out.png"});
  }));
  v.push_back(hostile("PreprocessIntoAFolder", "is a folder", [](const fs::path& dir) {
    fs::create_directory(dir / "maps");
    return Args{"preprocess", "canny", fixture("cases/inputs/astronaut_64.png"), "-o", "maps"};
  }));
  // -- valid odd pictures: decoded correctly
  v.push_back(valid("Valid16BitPng", [] { return png16(truth()); }));
  v.push_back(
      valid("ValidExifRotatedPng", [] { return png16(stored_for_orientation_6(truth()), exif_tiff(6)); }));
  v.push_back(valid(
      "ValidExifRotatedJpeg", [] { return jpeg(stored_for_orientation_6(truth()), exif_app1(6)); }, 0.01));
  v.push_back(valid(
      "ValidCmykJpeg",
      [] {
        // Adobe CMYK as libjpeg stores it: RGB = C * K / 255 with K = 255 (image_test's convention).
        const Image t = truth();
        Image cmyk(t.width, t.height, 4);
        for (int y = 0; y < t.height; ++y)
          for (int x = 0; x < t.width; ++x) {
            for (int c = 0; c < 3; ++c) cmyk.pixel(x, y)[c] = t.pixel(x, y)[c];
            cmyk.pixel(x, y)[3] = 255;
          }
        return jpeg(cmyk);
      },
      0.01));
  v.push_back(valid("ValidAnimatedWebp", [] {
    Image second = truth();
    for (auto& p : second.pixels) p = static_cast<uint8_t>(255 - p);  // a different second frame
    return webp_extended(64, 48, {encode_webp_lossless(truth()), encode_webp_lossless(second)}, true);
  }));
  return v;
}

}  // namespace

const std::vector<HostileProbe>& hostile_probes() {
  static const std::vector<HostileProbe> probes = make_probes();
  return probes;
}

}  // namespace i2i::test
