// fuzz_a1111_request: the server's reading of an AUTOMATIC1111 request body - parse_json_body as the routes
// read it, then map_a1111_request (server/a1111_request.h): every field's type and range, pictures decoded
// from base64 / data URLs under --max-pixels, ControlNet / IP-Adapter / reference / annotator units, models
// named by title in a models folder in A1111's layout (linked to the fixtures' tiny models). The bytes are
// the body of POST /sdapi/v1/img2img when they name init_images, else of /txt2img. No job runs and no
// library check is made (check_a1111_request's validate_request needs the whole engine). Bad bodies may only
// end in an i2i::Error (HttpError: 422 / 404); a mapped request keeps one picture slot per unit.
#include "server/a1111_request.h"

#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "fuzz_support.h"
#include "server/json_body.h"

namespace {
namespace fs = std::filesystem;

// A models folder (made once, removed at exit) holding the fixtures' checkpoint, ControlNet, IP-Adapter
// and an annotator under the names the server looks for.
const fs::path& models_dir() {
  static const fs::path dir = [] {
    char name[] = "/tmp/i2i-fuzz-models-XXXXXX";
    if (!mkdtemp(name)) std::abort();
    const fs::path d = name;
    const fs::path fixtures = I2I_FUZZ_FIXTURES_DIR;
    std::error_code ec;
    auto link = [&](const std::string& fixture, const fs::path& to) {
      fs::create_directories(to.parent_path(), ec);
      fs::create_symlink(fixtures / fixture, to, ec);
    };
    link("models/tiny-sd15.safetensors", d / "Stable-diffusion/tiny-sd15.safetensors");
    link("models/tiny-controlnet-sd15.safetensors", d / "ControlNet/tiny-controlnet-sd15.safetensors");
    link("models/tiny-ip-adapter/models/ip-adapter_sd15.safetensors",
         d / "ipadapter/ip-adapter_sd15.safetensors");
    link("models/annotators/tiny-lineart.safetensors", d / "annotators/sk_model.safetensors");
    std::atexit([] {
      std::error_code e;
      fs::remove_all(models_dir(), e);
    });
    return d;
  }();
  return dir;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using i2i::server::GenerationMode;
  static const i2i::server::ModelCatalog catalog(models_dir(),
                                                 models_dir() / "Stable-diffusion/tiny-sd15.safetensors");
  // (small pictures only: the decoders are fuzzed on their own by fuzz_image)
  static const i2i::server::RequestLimits limits{int64_t{256} * 256, models_dir().string()};
  i2i::fuzz::expect_only_errors([&] {
    const nlohmann::json body =
        i2i::server::parse_json_body(std::string(reinterpret_cast<const char*>(data), size));
    const GenerationMode mode =
        body.is_object() && body.contains("init_images") ? GenerationMode::Img2Img : GenerationMode::Txt2Img;
    const i2i::server::A1111Request r = i2i::server::map_a1111_request(body, mode, catalog, limits);
    const i2i::GenerationParams& p = r.request.params;
    const i2i::GenerationImages& images = r.request.images;
    i2i::fuzz::fuzz_check(
        images.controls.size() == p.controls.size() && r.control_from_init.size() == p.controls.size(),
        "one picture slot per ControlNet unit");
    i2i::fuzz::fuzz_check(images.ip_adapters.size() == p.ip_adapters.size() &&
                              r.ip_adapter_from_init.size() == p.ip_adapters.size(),
                          "one picture slot per IP-Adapter unit");
    i2i::fuzz::fuzz_check(!r.reference_from_init || p.reference,
                          "a reference picture only with a reference unit");
    i2i::fuzz::fuzz_check(p.controls.size() + p.ip_adapters.size() <= i2i::server::kMaxControlNetUnits,
                          "at most kMaxControlNetUnits units");
    i2i::fuzz::fuzz_check(mode == GenerationMode::Txt2Img || images.init.has_value(),
                          "img2img has its picture");
    for (const auto& picture : images.controls)
      i2i::fuzz::fuzz_check(!picture || int64_t{picture->width} * picture->height <= limits.max_pixels,
                            "control pictures within --max-pixels");
    i2i::fuzz::fuzz_check(int64_t{p.width} * p.height * p.batch_size <= limits.max_pixels,
                          "batch_size x width x height within --max-pixels");
    i2i::fuzz::fuzz_check(r.parameters.is_object(), "the echoed parameters are an object");
    (void)r.parameters.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  });
  return 0;
}
