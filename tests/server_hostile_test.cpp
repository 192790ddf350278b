// `i2i serve` against hostile clients (issue 13's probe): bodies past --max-body-mb in chunked framing and
// compressed bodies, ControlNet units past the cap, decode bombs (a 30-byte WebP declaring 8192x8192, a
// 64x64 PNG whose IDAT inflates to megabytes of zeros), requests whose total work is past the budget,
// prompt LoRAs looked up in --models-dir, slow and streaming connections that must not starve /progress,
// SIGTERM with connections left open, cross-site requests and foreign Host names on a local server, and
// the lows (1e999, 2^64-1 seeds, NUL prompts, malformed Content-Length, --queue-size 0). The server runs
// in-process on port 0 on the tiny fixture model (a subprocess for SIGTERM); no test runs a long job.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <functional>
#include <nlohmann/json.hpp>
#include <thread>

#include "io/image.h"
#include "io/image_limits.h"
#include "server/a1111_request.h"
#include "server/base64.h"
#include "server/error_paths.h"
#include "server/http_error.h"
#include "server/model_catalog.h"
#include "server/routes.h"
#include "server/server.h"
#include "support/cli_run.h"
#include "support/fixtures.h"
#include "support/running_server.h"

namespace i2i {
namespace {
namespace fs = std::filesystem;
using nlohmann::json;
using server::base64_encode;
using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

// The fixture checkpoint, ControlNet and a LoRA in A1111's layout.
fs::path models_dir() {
  static const fs::path dir = test::a1111_models_dir("server_hostile_models");
  return dir;
}

server::ServerOptions base_options() {
  return test::test_server_options(models_dir());
}

using test::RunningServer;

RunningServer& shared_server() {
  server::ServerOptions o = base_options();
  o.max_body_bytes = 1 << 20;
  return test::shared_running_server(o, 60);
}

int connect_to(int port) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    close(fd);
    return -1;
  }
  timeval tv{5, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  return fd;
}

// Sends `request` on a new connection and returns the first answer's status line ("" if none in 5 s).
std::string raw_status(int port, const std::string& request) {
  const int fd = connect_to(port);
  if (fd < 0) return "";
  (void)!write(fd, request.data(), request.size());
  std::string got;
  char buf[512];
  ssize_t n = 0;
  while (got.find("\r\n") == std::string::npos && (n = read(fd, buf, sizeof buf)) > 0) got.append(buf, n);
  close(fd);
  return got.substr(0, got.find("\r\n"));
}

// ---- Pictures that cost more to decode than they weigh ----

// A VP8L (lossless WebP) file whose prefix codes have one symbol each: 0 bits per pixel, any size.
std::vector<uint8_t> flat_webp(uint32_t w, uint32_t h) {
  uint64_t bits = 0;
  int n = 0;
  auto put = [&](uint64_t v, int count) {
    bits |= (v & ((uint64_t{1} << count) - 1)) << n;
    n += count;
  };
  put(0x2f, 8);
  put(w - 1, 14);
  put(h - 1, 14);
  put(1, 1);  // alpha
  put(0, 3);  // version
  put(0, 1);  // no transform
  put(0, 1);  // no colour cache
  put(0, 1);  // no meta prefix codes
  std::vector<uint8_t> data;
  for (int sym : {0, 0, 0, 255, 0}) {  // green, red, blue, alpha, distance: one symbol each
    put(1, 1);
    put(0, 1);
    if (sym < 2) {
      put(0, 1);
      put(static_cast<uint64_t>(sym), 1);
    } else {
      put(1, 1);
      put(static_cast<uint64_t>(sym), 8);
    }
  }
  for (int k = 0; k < (n + 7) / 8; ++k) data.push_back(static_cast<uint8_t>(bits >> (8 * k)));
  const uint32_t payload = static_cast<uint32_t>(data.size());
  if (data.size() % 2) data.push_back(0);
  auto le32 = [](std::vector<uint8_t>& v, uint32_t x) {
    for (int k = 0; k < 4; ++k) v.push_back(static_cast<uint8_t>(x >> (8 * k)));
  };
  std::vector<uint8_t> out = {'R', 'I', 'F', 'F'};
  le32(out, static_cast<uint32_t>(4 + 8 + data.size()));
  out.insert(out.end(), {'W', 'E', 'B', 'P', 'V', 'P', '8', 'L'});
  le32(out, payload);
  out.insert(out.end(), data.begin(), data.end());
  return out;
}

uint32_t crc32_of(const uint8_t* p, size_t n) {
  uint32_t c = 0xffffffffu;
  for (size_t i = 0; i < n; ++i) {
    c ^= p[i];
    for (int k = 0; k < 8; ++k) c = (c >> 1) ^ (0xedb88320u & (0u - (c & 1)));
  }
  return ~c;
}

// A zlib stream of `count` zero bytes, ~160:1 (fixed Huffman codes: <length 258, distance 1> repeats).
std::vector<uint8_t> zlib_zeros(uint64_t count) {
  std::vector<uint8_t> out = {0x78, 0x01};
  uint32_t acc = 0;
  int n = 0;
  auto bit = [&](uint32_t b) {
    acc |= b << n;
    if (++n == 8) {
      out.push_back(static_cast<uint8_t>(acc));
      acc = 0;
      n = 0;
    }
  };
  auto code = [&](uint32_t c, int len) {  // Huffman codes go most significant bit first
    for (int i = len - 1; i >= 0; --i) bit((c >> i) & 1);
  };
  bit(1);  // final block
  bit(1);  // fixed codes (BTYPE 01, least significant bit first)
  bit(0);
  uint64_t left = count;
  if (left > 0) {
    code(0x30, 8);  // literal 0
    --left;
  }
  while (left >= 258) {
    code(0xc5, 8);  // length 258 (symbol 285)
    code(0, 5);     // distance 1
    left -= 258;
  }
  for (; left > 0; --left) code(0x30, 8);
  code(0, 7);  // end of block
  if (n > 0) out.push_back(static_cast<uint8_t>(acc));
  const uint32_t a = 1, b = static_cast<uint32_t>(count % 65521);  // Adler-32 of zeros
  const uint32_t adler = (b << 16) | a;
  for (int k = 3; k >= 0; --k) out.push_back(static_cast<uint8_t>(adler >> (8 * k)));
  return out;
}

// A 64x64 grey PNG whose image data is `zeros` zero bytes (64 x 65 are the rows; more is trailing data).
std::vector<uint8_t> grey_png_with_zeros(uint64_t zeros) {
  std::vector<uint8_t> png = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  auto chunk = [&png](const char* type, const std::vector<uint8_t>& data) {
    const uint32_t len = static_cast<uint32_t>(data.size());
    for (int k = 3; k >= 0; --k) png.push_back(static_cast<uint8_t>(len >> (8 * k)));
    const size_t start = png.size();
    png.insert(png.end(), type, type + 4);
    png.insert(png.end(), data.begin(), data.end());
    const uint32_t crc = crc32_of(png.data() + start, png.size() - start);
    for (int k = 3; k >= 0; --k) png.push_back(static_cast<uint8_t>(crc >> (8 * k)));
  };
  chunk("IHDR", {0, 0, 0, 64, 0, 0, 0, 64, 8, 0, 0, 0, 0});
  chunk("IDAT", zlib_zeros(zeros));
  chunk("IEND", {});
  return png;
}

TEST(ServerDecodeBombs, PngWithInflatingTrailingImageDataIsRefusedBeforeInflating) {
  // The builder makes a valid picture when the data is just the rows.
  const std::vector<uint8_t> ok = grey_png_with_zeros(64 * 65);
  const Image img = decode_image(ok.data(), ok.size(), "rows");
  EXPECT_EQ(img.width, 64);
  EXPECT_EQ(img.channels, 1);
  // 64 MB of zeros behind the rows (~400 KB of file): refused from the chunk lengths, not inflated.
  const std::vector<uint8_t> bomb = grey_png_with_zeros(uint64_t{64} << 20);
  const auto start = Clock::now();
  try {
    decode_image(bomb.data(), bomb.size(), "bomb.png");
    FAIL() << "decoded";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("more image data than a 64x64 picture"), std::string::npos)
        << e.what();
  }
  EXPECT_THROW(read_png_text(bomb.data(), bomb.size(), "bomb.png"), Error);
  EXPECT_LT(seconds_since(start), 0.2);
}

TEST(ServerDecodeBombs, PicturesAreBoundedByMaxPixelsFromTheirHeader) {
  const std::vector<uint8_t> small = flat_webp(64, 64);
  EXPECT_EQ(decode_image(small.data(), small.size(), "small.webp", 64 * 64).width, 64);
  const std::vector<uint8_t> big = flat_webp(8192, 8192);  // 30 bytes
  const auto start = Clock::now();
  EXPECT_THROW(decode_image(big.data(), big.size(), "big.webp", 2048 * 2048), Error);
  EXPECT_LT(seconds_since(start), 0.2);  // (decoding it took 4 s and 512 MB)

  httplib::Client c = shared_server().client();
  const std::string webp = base64_encode(big);
  auto r = c.Post("/sdapi/v1/img2img",
                  json({{"init_images", {webp}}, {"steps", 1}, {"width", 64}, {"height", 64}}).dump(),
                  "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 422) << r->body;
  EXPECT_NE(r->body.find("8192x8192"), std::string::npos) << r->body;
  // png-info reads the text after the pixels: the same limit.
  std::vector<uint8_t> huge = encode_png(Image(1, 1, 1), {}, "huge");
  for (int k = 0; k < 4; ++k) huge[16 + k] = huge[20 + k] = static_cast<uint8_t>(8192u >> (24 - 8 * k));
  r = c.Post("/sdapi/v1/png-info", json({{"image", base64_encode(huge)}}).dump(), "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 422) << r->body;
}

// ---- Request bodies ----

TEST(ServerBodies, ChunkedBodiesCountAgainstTheLimitAndEncodedBodiesAreRefused) {
  httplib::Client c = shared_server().client();
  // A chunked body of 4 MB (the limit is 1 MB): 413 before it is all read.
  size_t sent = 0;
  auto r = c.Post(
      "/sdapi/v1/png-info",
      [&sent](size_t, httplib::DataSink& sink) {
        const std::string piece(64 << 10, ' ');
        if (sent >= (size_t{4} << 20)) {
          sink.done();
          return true;
        }
        sent += piece.size();
        return sink.write(piece.data(), piece.size());
      },
      "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 413);
  // A chunked body under the limit is read as usual.
  httplib::Client c2 = shared_server().client();
  const std::string small = json({{"image", base64_encode(encode_png(Image(8, 8, 3), {}, "x"))}}).dump();
  r = c2.Post(
      "/sdapi/v1/png-info",
      [&small](size_t offset, httplib::DataSink& sink) {
        if (offset >= small.size()) {
          sink.done();
          return true;
        }
        return sink.write(small.data() + offset, std::min<size_t>(100, small.size() - offset));
      },
      "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200) << r->body;
  // Request bodies are never inflated: gzip (a 1000:1 bomb in a small body) is refused unread.
  httplib::Client c3 = shared_server().client();
  r = c3.Post("/sdapi/v1/png-info", {{"Content-Encoding", "gzip"}}, std::string(100, 'x'),
              "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 415);
  // Malformed framing is answered at once (it hung for the read timeout).
  const auto start = Clock::now();
  EXPECT_EQ(raw_status(shared_server().port(),
                       "POST /sdapi/v1/img2img HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: -1\r\n\r\n"),
            "HTTP/1.1 400 Bad Request");
  EXPECT_EQ(raw_status(shared_server().port(),
                       "POST /sdapi/v1/img2img HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                       "Content-Length: 99999999999999999999999\r\n\r\n"),
            "HTTP/1.1 400 Bad Request");
  EXPECT_LT(seconds_since(start), 2.0);
}

// ---- Request mapping ----

server::A1111Request parse(const json& body, server::GenerationMode mode = server::GenerationMode::Txt2Img) {
  static const server::ModelCatalog catalog(models_dir(),
                                            models_dir() / "Stable-diffusion/tiny-sd15.safetensors");
  return server::parse_a1111_request(body, mode, catalog, {int64_t{2048} * 2048, models_dir().string()});
}

int status_of(const json& body, server::GenerationMode mode = server::GenerationMode::Txt2Img,
              std::string* message = nullptr) {
  try {
    parse(body, mode);
    return 200;
  } catch (const server::HttpError& e) {
    if (message) *message = e.body().dump();
    return e.status();
  }
}

TEST(ServerRequestLimits, ControlNetUnitsAreCappedAndShareTheInitPicture) {
  const std::string init = base64_encode(encode_png(Image(64, 64, 3), {}, "init"));
  const json unit = {{"module", "none"}, {"model", "tiny-controlnet-sd15"}};
  json body = {{"init_images", {init}},
               {"steps", 2},
               {"width", 64},
               {"height", 64},
               {"alwayson_scripts", {{"controlnet", {{"args", json::array()}}}}}};
  for (size_t i = 0; i < server::kMaxControlNetUnits; ++i)
    body["alwayson_scripts"]["controlnet"]["args"].push_back(unit);
  const server::A1111Request r = parse(body, server::GenerationMode::Img2Img);
  ASSERT_EQ(r.request.params.controls.size(), server::kMaxControlNetUnits);
  // No copy of the init picture per unit: the worker hands it to them when the job runs.
  EXPECT_EQ(std::count(r.control_from_init.begin(), r.control_from_init.end(), true),
            static_cast<std::ptrdiff_t>(server::kMaxControlNetUnits));
  for (const auto& picture : r.request.images.controls) EXPECT_FALSE(picture.has_value());
  body["alwayson_scripts"]["controlnet"]["args"].push_back(unit);
  std::string msg;
  EXPECT_EQ(status_of(body, server::GenerationMode::Img2Img, &msg), 422);
  EXPECT_NE(msg.find("at most 8 ControlNet units"), std::string::npos) << msg;
}

json with_units(json body, const std::vector<json>& units) {
  body["alwayson_scripts"] = {{"controlnet", {{"args", json(units)}}}};
  return body;
}

TEST(ServerUnits, ReferenceUnitReadsItsFieldsAsTheExtensionsHook) {
  const std::string init = base64_encode(encode_png(Image(64, 64, 3), {}, "init"));
  const json img2img = {{"init_images", {init}}, {"steps", 2}, {"width", 64}, {"height", 64}};
  auto reference = [&](const json& unit) {
    const server::A1111Request r = parse(with_units(img2img, {unit}), server::GenerationMode::Img2Img);
    EXPECT_TRUE(r.request.params.reference.has_value());
    EXPECT_TRUE(r.reference_from_init);                    // the init picture, given in the worker
    EXPECT_FALSE(r.request.images.reference.has_value());  // (not copied at parse time)
    return r.request.params.reference.value_or(ReferenceParams{});
  };
  ReferenceParams r = reference({{"module", "reference_only"}, {"threshold_a", 0.7}, {"weight", 0.4}});
  EXPECT_EQ(r.mode, ReferenceMode::Attn);
  EXPECT_DOUBLE_EQ(r.style_fidelity, 0.7);
  EXPECT_DOUBLE_EQ(r.attn_weight, 0.4);
  EXPECT_DOUBLE_EQ(r.adain_weight, 1.0);
  r = reference({{"module", "reference_adain"}, {"threshold_a", 3}, {"weight", 0.4}});
  EXPECT_EQ(r.mode, ReferenceMode::Adain);
  EXPECT_DOUBLE_EQ(r.style_fidelity, 1.0);  // clamped to [0, 1] as the extension does
  EXPECT_DOUBLE_EQ(r.adain_weight, 0.4);
  EXPECT_DOUBLE_EQ(reference({{"module", "reference_adain+attn"}}).style_fidelity, 0.5);  // unset: 0.5
  EXPECT_DOUBLE_EQ(reference({{"module", "reference_only"}, {"threshold_a", -1}}).style_fidelity, 0.5);
  // "My prompt is more important" is the extension's soft injection (fidelity 0), "ControlNet is more
  // important" its CFG injection (1).
  EXPECT_DOUBLE_EQ(reference({{"module", "reference_only"}, {"control_mode", "My prompt is more important"}})
                       .style_fidelity,
                   0.0);
  EXPECT_DOUBLE_EQ(reference({{"module", "reference_only"}, {"control_mode", 2}}).style_fidelity, 1.0);
  // The unit's picture when it has one.
  const server::A1111Request own =
      parse(with_units(img2img, {{{"module", "reference_only"}, {"image", init}}}),
            server::GenerationMode::Img2Img);
  EXPECT_TRUE(own.request.images.reference.has_value());
  EXPECT_FALSE(own.reference_from_init);

  std::string msg;
  EXPECT_EQ(status_of(with_units(img2img, {{{"module", "reference_only"}}, {{"module", "reference_adain"}}}),
                      server::GenerationMode::Img2Img, &msg),
            422);
  EXPECT_NE(msg.find("one reference unit"), std::string::npos) << msg;
  EXPECT_EQ(status_of(with_units({{"steps", 2}}, {{{"module", "reference_only"}}}),
                      server::GenerationMode::Txt2Img, &msg),
            422);  // txt2img: no init picture to take
  EXPECT_NE(msg.find("needs an image"), std::string::npos) << msg;
  EXPECT_EQ(status_of(with_units(img2img, {{{"module", "reference_only"}, {"control_mode", "Loud"}}}),
                      server::GenerationMode::Img2Img, &msg),
            422);
  EXPECT_NE(msg.find("\"control_mode\""), std::string::npos) << msg;
}

TEST(ServerUnits, IpAdapterUnitsNameAnAdapterOfTheModelsFolder) {
  const std::string init = base64_encode(encode_png(Image(64, 64, 3), {}, "init"));
  const json img2img = {{"init_images", {init}}, {"steps", 2}, {"width", 64}, {"height", 64}};
  const server::A1111Request r =
      parse(with_units(img2img,
                       {{{"module", "ip-adapter_clip_sd15"}, {"model", "ip-adapter_sd15"}, {"weight", 0.6}},
                        {{"module", "ip-adapter_clip_h"}, {"model", "ip-adapter_sd15"}, {"image", init}}}),
            server::GenerationMode::Img2Img);
  ASSERT_EQ(r.request.params.ip_adapters.size(), 2u);
  EXPECT_EQ(fs::path(r.request.params.ip_adapters[0].model).filename(), "ip-adapter_sd15.safetensors");
  EXPECT_DOUBLE_EQ(r.request.params.ip_adapters[0].scale, 0.6);
  EXPECT_EQ(r.ip_adapter_from_init, (std::vector<bool>{true, false}));
  EXPECT_FALSE(r.request.images.ip_adapters[0].has_value());
  EXPECT_TRUE(r.request.images.ip_adapters[1].has_value());

  std::string msg;
  EXPECT_EQ(status_of(with_units(img2img, {{{"module", "ip-adapter_clip_sd15"}}}),
                      server::GenerationMode::Img2Img, &msg),
            422);  // no adapter named
  EXPECT_NE(msg.find("\"model\""), std::string::npos) << msg;
  EXPECT_EQ(
      status_of(with_units(img2img, {{{"module", "ip-adapter_clip_sd15"}, {"model", "../../etc/passwd"}}}),
                server::GenerationMode::Img2Img, &msg),
      404);
  // A checkpoint is no adapter (only ipadapter/ and ControlNet/ are looked in).
  EXPECT_EQ(status_of(with_units(img2img, {{{"module", "ip-adapter_clip_sd15"}, {"model", "tiny-sd15"}}}),
                      server::GenerationMode::Img2Img),
            404);
  EXPECT_EQ(status_of(with_units(img2img, {{{"module", "ip-adapter_face_id"}, {"model", "ip-adapter_sd15"}}}),
                      server::GenerationMode::Img2Img, &msg),
            422);
  EXPECT_NE(msg.find("not supported"), std::string::npos) << msg;
}

TEST(ServerUnits, UnitWeightsAndGuidanceOutOfRangeNameTheUnitsField) {
  const std::string init = base64_encode(encode_png(Image(64, 64, 3), {}, "init"));
  const json img2img = {{"init_images", {init}}, {"steps", 2}, {"width", 64}, {"height", 64}};
  for (const auto& [unit, field] : std::vector<std::pair<json, std::string>>{
           {{{"module", "none"}, {"model", "tiny-controlnet-sd15"}, {"weight", 11}}, "weight"},
           {{{"module", "ip-adapter_clip_sd15"}, {"model", "ip-adapter_sd15"}, {"weight", -1}}, "weight"},
           {{{"module", "reference_only"}, {"guidance_end", 1.5}}, "guidance_end"},
           {{{"module", "none"},
             {"model", "tiny-controlnet-sd15"},
             {"guidance_start", 0.8},
             {"guidance_end", 0.2}},
            "guidance_start"}}) {
    std::string msg;
    EXPECT_EQ(status_of(with_units(img2img, {unit}), server::GenerationMode::Img2Img, &msg), 422)
        << unit.dump();
    const json detail = json::parse(msg)["detail"];
    EXPECT_EQ(detail[0]["loc"], json::array({"body", "alwayson_scripts", "controlnet", "args", 0, field}))
        << msg;
  }
}

TEST(ServerUnits, AnnotatorModulesRunOnlyWithTheirFile) {
  const std::string init = base64_encode(encode_png(Image(64, 64, 3), {}, "init"));
  const json img2img = {{"init_images", {init}}, {"steps", 2}, {"width", 64}, {"height", 64}};
  // A models folder without annotators/: the modules are not listed, and a unit naming one is a 422 that
  // names no server path.
  const fs::path bare = test::temp_dir("server_bare_models");
  fs::create_directories(bare / "ControlNet");
  std::error_code ec;
  fs::create_symlink(test::fixture_path("models/tiny-controlnet-sd15.safetensors"),
                     bare / "ControlNet/tiny-controlnet-sd15.safetensors", ec);
  const server::ModelCatalog catalog(bare, "");
  const json modules = server::controlnet_module_list(catalog, false)["module_list"];
  EXPECT_EQ(std::find(modules.begin(), modules.end(), "openpose"), modules.end()) << modules.dump();
  try {
    server::parse_a1111_request(
        with_units(img2img, {{{"module", "openpose"}, {"model", "tiny-controlnet-sd15"}}}),
        server::GenerationMode::Img2Img, catalog, {int64_t{2048} * 2048, bare.string()});
    ADD_FAILURE() << "a module without its annotator file was accepted";
  } catch (const server::HttpError& e) {
    EXPECT_EQ(e.status(), 422);
    const std::string body = e.body().dump();
    EXPECT_NE(body.find("annotators/"), std::string::npos) << body;
    EXPECT_EQ(body.find(bare.string()), std::string::npos) << body;
  }
  // With the files (the test models folder): the preprocessor, its file and processor_res.
  const server::A1111Request r = parse(
      with_units(img2img, {{{"module", "hed"}, {"model", "tiny-controlnet-sd15"}, {"processor_res", 256}}}),
      server::GenerationMode::Img2Img);
  ASSERT_EQ(r.request.params.controls.size(), 1u);
  EXPECT_EQ(r.request.params.controls[0].preprocess, "softedge_hed");
  EXPECT_EQ(fs::path(r.request.params.controls[0].annotator_model).filename(), "ControlNetHED.safetensors");
  EXPECT_EQ(r.request.params.controls[0].resolution, 256);
  // Pixel perfect: a 64 x 64 picture for 128 x 96 -> max(96 / 64, 128 / 64) x 64 = 128 (Just Resize);
  // "Resize and Fill" fits inside: min(...) x 64 = 96.
  json pp = img2img;
  pp["width"] = 128;
  pp["height"] = 96;
  const json unit = {
      {"module", "lineart_realistic"}, {"model", "tiny-controlnet-sd15"}, {"pixel_perfect", true}};
  EXPECT_EQ(
      parse(with_units(pp, {unit}), server::GenerationMode::Img2Img).request.params.controls[0].resolution,
      128);
  pp["resize_mode"] = 2;
  EXPECT_EQ(
      parse(with_units(pp, {unit}), server::GenerationMode::Img2Img).request.params.controls[0].resolution,
      96);
  std::string msg;
  EXPECT_EQ(
      status_of(
          with_units(img2img,
                     {{{"module", "openpose"}, {"model", "tiny-controlnet-sd15"}, {"processor_res", 10}}}),
          server::GenerationMode::Img2Img, &msg),
      422);
  EXPECT_NE(msg.find("\"processor_res\""), std::string::npos) << msg;
}

// Numbers as pydantic reads them, not as strtod does (probe13 L4): no hex, spaces, trailing text, booleans,
// or fractions for integer fields.
TEST(ServerRequestLimits, NumbersAreNotCoercedLaxly) {
  for (const auto& [field, value] : std::vector<std::pair<std::string, json>>{{"cfg_scale", "0x10"},
                                                                              {"cfg_scale", " 5"},
                                                                              {"cfg_scale", "12abc"},
                                                                              {"cfg_scale", "inf"},
                                                                              {"cfg_scale", true},
                                                                              {"steps", 3.7},
                                                                              {"steps", true},
                                                                              {"steps", "2 "},
                                                                              {"seed", false}}) {
    std::string msg;
    EXPECT_EQ(
        status_of({{"width", 64}, {"height", 64}, {field, value}}, server::GenerationMode::Txt2Img, &msg),
        422)
        << field << " = " << value.dump();
    EXPECT_NE(msg.find("[\"body\",\"" + field + "\"]"), std::string::npos) << msg;
  }
  // What pydantic does take.
  const server::A1111Request r =
      parse({{"cfg_scale", "7.5"}, {"steps", "3"}, {"seed", 12.0}, {"width", "64"}});
  EXPECT_DOUBLE_EQ(r.request.params.cfg_scale, 7.5);
  EXPECT_EQ(r.request.params.steps, 3);
  EXPECT_EQ(r.request.params.seed, 12);
  EXPECT_EQ(r.request.params.width, 64);
  const std::string init = base64_encode(encode_png(Image(64, 64, 3), {}, "init"));
  EXPECT_TRUE(parse({{"init_images", {init}}, {"mask", init}, {"inpainting_mask_invert", true}},
                    server::GenerationMode::Img2Img)
                  .request.params.mask_options.invert);
}

TEST(ServerRequestLimits, WorkPerRequestIsBounded) {
  std::string msg;
  // 64 x 512 x 512 pictures at once: more than --max-pixels in all.
  EXPECT_EQ(
      status_of({{"batch_size", 64}, {"width", 512}, {"height", 512}}, server::GenerationMode::Txt2Img, &msg),
      422);
  EXPECT_NE(msg.find("batch_size x width x height"), std::string::npos) << msg;
  EXPECT_EQ(status_of({{"batch_size", 16}, {"width", 512}, {"height", 512}}), 200);
  // 1000 x 50 steps: more than a request may run.
  EXPECT_EQ(
      status_of({{"n_iter", 1000}, {"width", 64}, {"height", 64}}, server::GenerationMode::Txt2Img, &msg),
      422);
  EXPECT_NE(msg.find("n_iter x batch_size x steps"), std::string::npos) << msg;
  EXPECT_EQ(status_of({{"n_iter", 100}, {"width", 64}, {"height", 64}}), 200);
}

TEST(ServerRequestLimits, PromptLorasAreLookedUpInTheModelsDir) {
  EXPECT_EQ(status_of({{"prompt", "a <lora:tiny-style:1>"}, {"width", 64}, {"height", 64}}), 200);
  std::string msg;
  EXPECT_EQ(status_of({{"prompt", "a <lora:not-there:1>"}, {"width", 64}, {"height", 64}},
                      server::GenerationMode::Txt2Img, &msg),
            422);
  EXPECT_NE(msg.find(models_dir().string()), std::string::npos) << msg;
}

TEST(ServerRequestLimits, OutOfRangeNumbersSeedsAndNulPromptsAre422) {
  // 2^64-1 wrapped to -1 (a random seed); now refused as 2^63 and 2^64 are.
  EXPECT_EQ(status_of(json::parse(R"({"seed": 18446744073709551615})")), 422);
  EXPECT_EQ(status_of(json::parse(R"({"subseed": 18446744073709551615})")), 422);
  // A NUL cannot go into the pictures' parameters text: refused before the job runs.
  EXPECT_EQ(status_of({{"prompt", std::string("a\0b", 3)}}), 422);
  httplib::Client c = shared_server().client();
  auto r = c.Post("/sdapi/v1/img2img", R"({"steps": 1e999})", "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 422) << r->body;
  for (const char* mode : {"5", "null", "[1]"}) {
    r = c.Post("/i2i/v1/jobs",
               std::string(R"({"width": 64, "height": 64, "steps": 1, "mode": )") + mode + "}",
               "application/json");
    ASSERT_TRUE(r);
    // (null: the default mode, a txt2img job: accepted)
    EXPECT_EQ(r->status, std::string(mode) == "null" ? 202 : 422) << mode << ": " << r->body;
  }
}

// What only the loaded model can tell is a 422 naming the field too, not a 500 (probe13 L3, L11): a clip
// skip beyond the text encoder's layers, a prompt of more chunks than i2i encodes.
TEST(ServerErrors, ModelLimitsAre422NamingTheField) {
  httplib::Client c = shared_server().client();
  auto r = c.Post("/sdapi/v1/txt2img",
                  json({{"steps", 1},
                        {"width", 64},
                        {"height", 64},
                        {"override_settings", {{"CLIP_stop_at_last_layers", 12}}}})
                      .dump(),
                  "application/json");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 422) << r->body;
  json detail = json::parse(r->body)["detail"];
  EXPECT_EQ(detail[0]["loc"], json::array({"body", "override_settings", "CLIP_stop_at_last_layers"}))
      << r->body;
  std::string breaks = "a";
  for (int i = 0; i < 70; ++i) breaks += " BREAK b";
  r = c.Post("/sdapi/v1/txt2img",
             json({{"steps", 1}, {"width", 64}, {"height", 64}, {"prompt", breaks}}).dump(),
             "application/json");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 422) << r->body;
  detail = json::parse(r->body)["detail"];
  EXPECT_EQ(detail[0]["loc"], json::array({"body", "prompt"})) << r->body;
  EXPECT_NE(detail[0]["msg"].get<std::string>().find("64 chunks"), std::string::npos) << r->body;
}

// Error answers name no folder of the server's machine (probe13 L6), only the file or folder's own name.
TEST(ServerErrors, AnswersNameNoServerPaths) {
  httplib::Client c = shared_server().client();
  auto r =
      c.Post("/sdapi/v1/txt2img",
             json({{"steps", 1}, {"width", 64}, {"height", 64}, {"prompt", "a <lora:not-there:1>"}}).dump(),
             "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 422) << r->body;
  EXPECT_EQ(r->body.find(models_dir().parent_path().string()), std::string::npos) << r->body;
  EXPECT_NE(r->body.find("Lora"), std::string::npos) << r->body;  // (still says where it looked)
  const std::string tmp = models_dir().string();
  EXPECT_EQ(server::without_server_paths("LoRA 'x' not found in " + tmp + "/Lora."),
            "LoRA 'x' not found in Lora.");
  EXPECT_EQ(server::without_server_paths("cannot read '" + tmp + "/a b.png': gone"),
            "cannot read 'a b.png': gone");
  // API routes and relative paths are not the machine's folders.
  EXPECT_EQ(server::without_server_paths("poll GET /i2i/v1/jobs/{id} instead"),
            "poll GET /i2i/v1/jobs/{id} instead");
  EXPECT_EQ(server::without_server_paths("see Lora/x.safetensors"), "see Lora/x.safetensors");
}

TEST(ServerRequestLimits, QueueSizeZeroIsRefusedAtStart) {
  server::ServerOptions o = base_options();
  o.queue_size = 0;
  EXPECT_THROW(server::Server s(o), Error);
}

// ---- Cross-site requests (a local server without credentials) ----

TEST(ServerCrossSite, ForeignOriginsHostsAndContentTypesAreRefused) {
  const int port = shared_server().port();
  httplib::Client c = shared_server().client();
  const std::string body = json({{"image", 5}}).dump();  // (not a picture: 422 once accepted)
  // A "simple" cross-site POST (text/plain or a form: no preflight) is not taken as JSON.
  auto r = c.Post("/sdapi/v1/png-info", body, "text/plain");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 415);
  r = c.Post("/sdapi/v1/options", "sd_model_checkpoint=x", "application/x-www-form-urlencoded");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 415);
  // Another site's page.
  r = c.Post("/sdapi/v1/png-info", {{"Origin", "http://evil.example"}}, body, "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 403);
  r = c.Post("/sdapi/v1/interrupt", {{"Origin", "http://evil.example"}}, "", "text/plain");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 403);
  // The server's own page.
  const std::string self = "http://127.0.0.1:" + std::to_string(port);
  r = c.Post("/sdapi/v1/png-info", {{"Origin", self}}, body, "application/json; charset=utf-8");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 422);
  // DNS rebinding: a foreign name for this address.
  EXPECT_EQ(raw_status(port, "GET /sdapi/v1/sd-models HTTP/1.1\r\nHost: attacker.rebind.example:" +
                                 std::to_string(port) + "\r\n\r\n"),
            "HTTP/1.1 403 Forbidden");
  EXPECT_EQ(raw_status(port, "GET /sdapi/v1/samplers HTTP/1.1\r\nHost: localhost:" + std::to_string(port) +
                                 "\r\n\r\n"),
            "HTTP/1.1 200 OK");
}

TEST(ServerCrossSite, AllowedOriginsAndAnyOriginWithoutCredentials) {
  server::ServerOptions o = base_options();
  o.cors_origins = {"*"};
  RunningServer s(o, 60);
  httplib::Client c = s.client();
  auto r = c.Get("/sdapi/v1/samplers", {{"Origin", "http://elsewhere.example"}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->get_header_value("Access-Control-Allow-Origin"), "http://elsewhere.example");
  EXPECT_FALSE(r->has_header("Access-Control-Allow-Credentials"));  // ('*': never with credentials)
  r = c.Post("/sdapi/v1/png-info", {{"Origin", "http://elsewhere.example"}}, json({{"image", 5}}).dump(),
             "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 422);
}

// ---- Connections ----

TEST(ServerConnections, SlowClientsAndEventStreamsDoNotStarveProgressAndInterrupt) {
  RunningServer s(base_options(), 60);
  // 40 clients trickling their headers (more than the old pool's 32 threads; the probe's number).
  std::vector<int> slow;
  for (int i = 0; i < 40; ++i) {
    const int fd = connect_to(s.port());
    ASSERT_GE(fd, 0);
    const std::string part = "GET /sdapi/v1/progress HTTP/1.1\r\nHost: 127.0.0.1\r\n";
    (void)!write(fd, part.data(), part.size());
    slow.push_back(fd);
  }
  httplib::Client c = s.client();
  c.set_read_timeout(3);
  auto start = Clock::now();
  auto r = c.Get("/sdapi/v1/progress");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_LT(seconds_since(start), 2.5);  // (starved, it did not answer in 40 s)

  // A running job with the most event streams open: one more is refused, progress and interrupt answer.
  r = c.Post("/i2i/v1/jobs", json({{"steps", 1000}, {"width", 64}, {"height", 64}}).dump(),
             "application/json");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 202) << r->body;
  const std::string id = json::parse(r->body)["id"];
  std::atomic<int> streaming{0};
  std::vector<std::thread> streams;
  for (int i = 0; i < server::kMaxEventStreams; ++i)
    streams.emplace_back([&] {
      httplib::Client sc("127.0.0.1", s.port());
      sc.set_read_timeout(30);
      bool counted = false;
      sc.Get(("/i2i/v1/jobs/" + id + "/events").c_str(), [&](const char*, size_t) {
        if (!counted) ++streaming;
        counted = true;
        return true;
      });
    });
  for (int i = 0; i < 3000 && streaming < server::kMaxEventStreams; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  ASSERT_EQ(streaming.load(), server::kMaxEventStreams);
  r = c.Get(("/i2i/v1/jobs/" + id + "/events").c_str());
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 429);
  start = Clock::now();
  r = c.Get("/sdapi/v1/progress");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  r = c.Post("/sdapi/v1/interrupt", "", "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_LT(seconds_since(start), 2.5);          // (starved, it did not answer in 40 s)
  r = c.Delete(("/i2i/v1/jobs/" + id).c_str());  // (the job may not have started: interrupt acts on a run)
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  for (auto& t : streams) t.join();  // (the ended job ends the streams)
  for (int fd : slow) close(fd);
}

// A sync client that goes away cancels its job, running or queued (probe13 L9), and /progress names the
// running job without its id, the native API's capability (L8).
TEST(ServerConnections, SyncClientsThatGoAwayCancelTheirJobsAndProgressHidesJobIds) {
  RunningServer s(base_options(), 60);
  httplib::Client c = s.client();
  auto progress = [&c] {
    auto r = c.Get("/sdapi/v1/progress?skip_current_image=true");
    return r ? json::parse(r->body) : json();
  };
  // Polls /progress until `done` holds (false after `seconds`).
  auto wait_until = [&](const std::function<bool(const json&)>& done, double seconds) {
    const auto start = Clock::now();
    while (seconds_since(start) < seconds) {
      if (done(progress())) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return false;
  };
  const std::string body = json({{"steps", 1000}, {"width", 128}, {"height", 128}}).dump();
  const std::string sync_request =
      "POST /sdapi/v1/txt2img HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(s.port()) +
      "\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" +
      body;
  // Running: the job stops soon after its client closes the connection.
  int fd = connect_to(s.port());
  ASSERT_GE(fd, 0);
  ASSERT_EQ(write(fd, sync_request.data(), sync_request.size()), static_cast<ssize_t>(sync_request.size()));
  ASSERT_TRUE(wait_until([](const json& p) { return p["state"]["sampling_step"].get<int>() >= 1; }, 60));
  const json running = progress();
  EXPECT_EQ(running["state"]["job"], "scripts_txt2img");
  EXPECT_EQ(running["current_task"].get<std::string>().rfind("task(", 0), 0u);
  close(fd);
  EXPECT_TRUE(wait_until([](const json& p) { return p["state"]["job"] == ""; }, 20))
      << "the job of a client that went away still runs: " << progress().dump();

  // Queued behind an async job: taken out of the queue.
  auto r = c.Post("/i2i/v1/jobs", body, "application/json");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 202) << r->body;
  const std::string id = json::parse(r->body)["id"];
  ASSERT_TRUE(wait_until([](const json& p) { return p["state"]["sampling_step"].get<int>() >= 1; }, 60));
  const std::string shown = c.Get("/sdapi/v1/progress")->body;
  EXPECT_EQ(shown.find(id), std::string::npos) << "/progress shows the async job's id: " << shown;
  fd = connect_to(s.port());
  ASSERT_GE(fd, 0);
  ASSERT_EQ(write(fd, sync_request.data(), sync_request.size()), static_cast<ssize_t>(sync_request.size()));
  ASSERT_TRUE(wait_until([](const json& p) { return p["state"]["queue_waiting"] == 1; }, 20));
  close(fd);
  EXPECT_TRUE(wait_until([](const json& p) { return p["state"]["queue_waiting"] == 0; }, 10))
      << "the queued job of a client that went away still waits: " << progress().dump();
  r = c.Delete(("/i2i/v1/jobs/" + id).c_str());
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
}

TEST(ServerProcess, SigtermWithIdleAndTricklingConnectionsExitsWithinTwoSeconds) {
  int out[2];
  ASSERT_EQ(pipe(out), 0);
  const std::string model = (models_dir() / "Stable-diffusion/tiny-sd15.safetensors").string();
  const std::string tokenizer = test::fixture_path("tokenizer").string();
  const std::string dir = models_dir().string();
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    dup2(out[1], 1);
    close(out[0]);
    execl(I2I_BINARY, I2I_BINARY, "serve", "--model", model.c_str(), "--tokenizer", tokenizer.c_str(),
          "--models-dir", dir.c_str(), "--port", "0", static_cast<char*>(nullptr));
    _exit(127);
  }
  close(out[1]);
  std::string line;
  char ch;
  while (read(out[0], &ch, 1) == 1 && ch != '\n') line += ch;
  close(out[0]);
  const size_t colon = line.rfind(':');
  ASSERT_NE(colon, std::string::npos) << line;
  const int port = std::stoi(line.substr(colon + 1));
  // An idle keep-alive connection after one answer, and one trickling header lines.
  const int idle = connect_to(port);
  const std::string get = "GET /sdapi/v1/samplers HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
  (void)!write(idle, get.data(), get.size());
  char buf[4096];
  EXPECT_GT(read(idle, buf, sizeof buf), 0);
  const int trickle = connect_to(port);
  std::atomic<bool> stop{false};
  std::thread trickler([&] {
    const std::string start = "GET /sdapi/v1/progress HTTP/1.1\r\nHost: 127.0.0.1\r\n";
    (void)!write(trickle, start.data(), start.size());
    while (!stop) {
      (void)!write(trickle, "X: y\r\n", 6);
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  const auto start = Clock::now();
  kill(pid, SIGTERM);
  int wstatus = 0;
  pid_t done = 0;
  while ((done = waitpid(pid, &wstatus, WNOHANG)) == 0 && seconds_since(start) < 10)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  const double took = seconds_since(start);
  if (done == 0) {
    kill(pid, SIGKILL);
    waitpid(pid, &wstatus, 0);
  }
  stop = true;
  trickler.join();
  close(idle);
  close(trickle);
  EXPECT_EQ(done, pid);
  EXPECT_LT(took, 2.0);
  EXPECT_TRUE(WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 0);
}

}  // namespace
}  // namespace i2i
