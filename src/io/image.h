// 8-bit images: reading PNG / JPEG / WebP (format detected from the file's magic bytes, EXIF orientation
// applied), writing PNG with text chunks (AUTOMATIC1111's `parameters`), and channel conversions that match
// PIL's `convert`.
//
// Every malformed or unsupported input is reported as a one-line i2i::Error naming the file and the problem.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace i2i {

// An 8-bit image with interleaved channels, rows top to bottom without padding:
// pixel (x, y) channel c is pixels[(y * width + x) * channels + c].
// channels: 1 grey, 2 grey + alpha, 3 RGB, 4 RGBA (alpha is straight, not premultiplied).
struct Image {
  int width = 0;
  int height = 0;
  int channels = 0;
  std::vector<uint8_t> pixels;

  Image() = default;
  // A zero-filled image; throws i2i::Error for a bad size or channel count.
  Image(int width, int height, int channels);

  size_t size() const { return pixels.size(); }
  uint8_t* row(int y) { return pixels.data() + static_cast<size_t>(y) * width * channels; }
  const uint8_t* row(int y) const { return pixels.data() + static_cast<size_t>(y) * width * channels; }
  uint8_t* pixel(int x, int y) { return row(y) + static_cast<size_t>(x) * channels; }
  const uint8_t* pixel(int x, int y) const { return row(y) + static_cast<size_t>(x) * channels; }
  uint8_t& at(int x, int y, int c) { return row(y)[static_cast<size_t>(x) * channels + c]; }
  uint8_t at(int x, int y, int c) const { return row(y)[static_cast<size_t>(x) * channels + c]; }
};

// Limits checked from the file's header, before any pixel memory is allocated (decompression bombs): at
// most kMaxImageSide pixels a side and max_image_pixels() in all - by default kMaxImagePixels (8192 x 8192,
// the largest generation size; a 67-megapixel RGBA picture is 256 MiB), raised or lowered with the
// environment variable I2I_MAX_IMAGE_PIXELS (1 .. kMaxImagePixelsCeiling). No PNG chunk may make the decoder
// allocate more than kMaxPngChunkBytes.
inline constexpr int kMaxImageSide = 65535;
inline constexpr int64_t kMaxImagePixels = int64_t{1} << 26;
inline constexpr int64_t kMaxImagePixelsCeiling = int64_t{1} << 30;
inline constexpr size_t kMaxPngChunkBytes = size_t{16} << 20;
// The pixel limit in force (read once from I2I_MAX_IMAGE_PIXELS; an unreadable value is an i2i::Error).
int64_t max_image_pixels();

// Throws i2i::Error (prefixed by `what`) unless the image is consistent: positive size within the limits,
// 1-4 channels and exactly width * height * channels bytes.
void validate_image(const Image& image, const std::string& what);

// Reads a PNG, JPEG or WebP file (detected by magic bytes, not by extension). PNG: 16-bit samples are reduced
// to 8 bits (high byte, as PIL does), palettes and tRNS transparency are expanded, low bit depths expanded,
// interlacing handled. JPEG: grey stays grey, CMYK (Adobe, inverted) is converted to RGB. WebP: lossy and
// lossless; animations give their first frame. The EXIF orientation (JPEG APP1, PNG eXIf, WebP EXIF) is
// applied, as PIL's ImageOps.exif_transpose does. The result has 1-4 channels.
Image read_image(const std::filesystem::path& path);
// The same for an in-memory file; `name` is used in error messages.
Image decode_image(const uint8_t* data, size_t size, const std::string& name);

// Returns the image as the EXIF orientation tag `orientation` (1-8) says it should be displayed.
// 1 (and any unknown value) leaves it unchanged.
Image apply_exif_orientation(const Image& image, int orientation);

bool has_alpha(const Image& image);
// 3 channels: grey is replicated, alpha is dropped (PIL convert("RGB")).
Image to_rgb(const Image& image);
// 3 channels: images with alpha are composited over `background` with PIL's 8-bit rounding
// (what AUTOMATIC1111's images.flatten does); others as to_rgb.
Image to_rgb(const Image& image, std::array<uint8_t, 3> background);
// 1 channel: PIL convert("L"), L = (R * 19595 + G * 38470 + B * 7471 + 0x8000) >> 16; alpha is dropped.
Image to_gray(const Image& image);

// Writes an 8-bit PNG (colour type from the channel count) with the given text chunks, in order, before the
// image data. Keys must be 1-79 Latin-1 characters (given as UTF-8). A value that is Latin-1 encodable is
// written as tEXt, any other (valid UTF-8) as uncompressed iTXt, as PIL's PngInfo.add_text does.
// The file is written to a temporary file in the same folder and renamed over `path` only when complete.
void write_png(const std::filesystem::path& path, const Image& image,
               const std::vector<std::pair<std::string, std::string>>& text = {});
// The bytes write_png writes (the same encoder and settings), in memory; `name` is used in error messages.
std::vector<uint8_t> encode_png(const Image& image,
                                const std::vector<std::pair<std::string, std::string>>& text,
                                const std::string& name);

// The text chunks (tEXt, zTXt, iTXt) of a PNG file, keys and values as UTF-8 (tEXt/zTXt are Latin-1 in the
// file). A key that appears twice keeps its first value. Throws i2i::Error if the file is not a valid PNG.
std::map<std::string, std::string> read_png_text(const std::filesystem::path& path);
// The same for an in-memory file; `name` is used in error messages.
std::map<std::string, std::string> read_png_text(const uint8_t* data, size_t size, const std::string& name);

}  // namespace i2i
