// Pictures as bytes, for the tests and the fuzz seeds that need files i2i's own writers do not make: JPEG
// (quality, progressive, Adobe CMYK, an APP1 payload), WebP (lossy, lossless, rewrapped in an extended
// container with EXIF), PNG chunks built by hand (header-only bombs, text chunks, eXIf) and libpng-written
// PNG variants (16-bit, palette with transparency, interlaced, eXIf), and the EXIF orientation blocks they
// carry. The one copy of these builders: tests/ (hostile_files, image_test) and fuzz/seeds.cpp use it, so it
// depends on the codec libraries and io/image.h only (no gtest).
#pragma once

#include <cstdint>
#include <string>

#include "io/image.h"

namespace i2i::test {

using Bytes = std::string;

// `v`'s low `n` bytes appended little-endian / big-endian.
void put_le(Bytes& b, uint64_t v, int n);
void put_be(Bytes& b, uint64_t v, int n);

// A TIFF structure whose IFD0 holds just the Orientation tag (0x0112, SHORT, one value): what a PNG eXIf or
// a WebP EXIF chunk holds. exif_app1: the same behind "Exif\0\0", as a JPEG APP1 segment (and some WebP
// writers) hold it.
Bytes exif_tiff(int orientation, bool big_endian = false);
Bytes exif_app1(int orientation, bool big_endian = false);

struct JpegOptions {
  int quality = 90;
  bool progressive = false;
  // false: 4:4:4 (every component at full resolution); true: libjpeg's default (4:2:0 chroma).
  bool subsampled = false;
  Bytes app1;  // an APP1 payload, written verbatim after the JFIF marker
};
// 1 channel: greyscale; 3: RGB (stored as YCbCr); 4: Adobe CMYK.
Bytes encode_jpeg(const Image& img, const JpegOptions& options = {});

// 3 or 4 channels (RGBA); `quality` for lossy only.
Bytes encode_webp(const Image& img, bool lossless, float quality = 90);
// A simple-format WebP (`simple`, of a w x h picture) rewrapped in an extended (VP8X) container with an
// EXIF chunk holding `exif`.
Bytes webp_with_exif(const Bytes& simple, int w, int h, bool alpha, const Bytes& exif);

// One PNG chunk: length, type, data, CRC.
Bytes png_chunk(const char* type, const Bytes& data);
// The IHDR chunk of a w x h 8-bit PNG of `color_type` (2: RGB, 6: RGBA).
Bytes png_ihdr(uint32_t w, uint32_t h, char color_type = 2);
// A PNG that is all header: IHDR declaring w x h (RGB), an empty IDAT and IEND (about 70 bytes).
Bytes png_header_only(uint32_t w, uint32_t h);
// `png` with `chunk` right after its IHDR (signature 8 bytes + IHDR 25 bytes).
Bytes png_insert_after_ihdr(const Bytes& png, const Bytes& chunk);

struct PngVariant {
  bool sixteen_bit = false;  // 16-bit samples, v * 257 (the same picture)
  bool palette = false;      // 8 grey levels from channel 0 (v / 32), the first transparent (tRNS)
  bool interlace = false;    // Adam7
  Bytes exif;                // an eXIf chunk (exif_tiff), when not empty
};
// A PNG of `img` (RGB or RGBA) written by libpng in `variant`: the forms write_png does not make. Throws
// i2i::Error if libpng fails.
Bytes encode_png_variant(const Image& img, const PngVariant& variant);

}  // namespace i2i::test
