#include "support/picture_bytes.h"

// clang-format off
#include <cstddef>
#include <cstdio>  // before jpeglib.h, which uses size_t and FILE
#include <jpeglib.h>
// clang-format on
#include <png.h>
#include <webp/encode.h>
#include <zlib.h>

#include <csetjmp>
#include <cstdlib>
#include <vector>

#include "core/error.h"

namespace i2i::test {

void put_le(Bytes& b, uint64_t v, int n) {
  for (int i = 0; i < n; ++i) b.push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
}

void put_be(Bytes& b, uint64_t v, int n) {
  for (int i = n - 1; i >= 0; --i) b.push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
}

Bytes exif_tiff(int orientation, bool big_endian) {
  Bytes b = big_endian ? "MM" : "II";
  auto put = [&](uint64_t v, int n) { big_endian ? put_be(b, v, n) : put_le(b, v, n); };
  put(42, 2);
  put(8, 4);       // IFD0 at offset 8
  put(1, 2);       // one entry
  put(0x0112, 2);  // Orientation
  put(3, 2);       // SHORT
  put(1, 4);       // one value
  put(static_cast<uint64_t>(orientation), 2);
  put(0, 2);  // the rest of the 4-byte value field
  put(0, 4);  // no next IFD
  return b;
}

Bytes exif_app1(int orientation, bool big_endian) {
  return Bytes("Exif\0\0", 6) + exif_tiff(orientation, big_endian);
}

Bytes encode_jpeg(const Image& img, const JpegOptions& options) {
  jpeg_compress_struct cinfo{};
  jpeg_error_mgr err{};
  cinfo.err = jpeg_std_error(&err);
  jpeg_create_compress(&cinfo);
  unsigned char* buf = nullptr;
  unsigned long size = 0;
  jpeg_mem_dest(&cinfo, &buf, &size);
  cinfo.image_width = static_cast<JDIMENSION>(img.width);
  cinfo.image_height = static_cast<JDIMENSION>(img.height);
  cinfo.input_components = img.channels;
  cinfo.in_color_space = img.channels == 1 ? JCS_GRAYSCALE : img.channels == 4 ? JCS_CMYK : JCS_RGB;
  jpeg_set_defaults(&cinfo);
  jpeg_set_quality(&cinfo, options.quality, TRUE);
  if (!options.subsampled)
    for (int c = 0; c < cinfo.num_components; ++c)
      cinfo.comp_info[c].h_samp_factor = cinfo.comp_info[c].v_samp_factor = 1;
  if (options.progressive) jpeg_simple_progression(&cinfo);
  jpeg_start_compress(&cinfo, TRUE);
  if (!options.app1.empty())
    jpeg_write_marker(&cinfo, JPEG_APP0 + 1, reinterpret_cast<const JOCTET*>(options.app1.data()),
                      static_cast<unsigned>(options.app1.size()));
  while (cinfo.next_scanline < cinfo.image_height) {
    JSAMPROW row = const_cast<JSAMPROW>(img.row(static_cast<int>(cinfo.next_scanline)));
    jpeg_write_scanlines(&cinfo, &row, 1);
  }
  jpeg_finish_compress(&cinfo);
  jpeg_destroy_compress(&cinfo);
  Bytes out(reinterpret_cast<const char*>(buf), size);
  std::free(buf);
  return out;
}

Bytes encode_webp(const Image& img, bool lossless, float quality) {
  uint8_t* out = nullptr;
  size_t n = 0;
  const int stride = img.width * img.channels;
  if (img.channels == 4)
    n = lossless ? WebPEncodeLosslessRGBA(img.pixels.data(), img.width, img.height, stride, &out)
                 : WebPEncodeRGBA(img.pixels.data(), img.width, img.height, stride, quality, &out);
  else
    n = lossless ? WebPEncodeLosslessRGB(img.pixels.data(), img.width, img.height, stride, &out)
                 : WebPEncodeRGB(img.pixels.data(), img.width, img.height, stride, quality, &out);
  Bytes b(reinterpret_cast<const char*>(out), n);
  WebPFree(out);
  return b;
}

Bytes webp_with_exif(const Bytes& simple, int w, int h, bool alpha, const Bytes& exif) {
  Bytes body = "WEBPVP8X";
  put_le(body, 10, 4);
  body.push_back(static_cast<char>(0x08 | (alpha ? 0x10 : 0)));
  put_le(body, 0, 3);
  put_le(body, static_cast<uint64_t>(w - 1), 3);
  put_le(body, static_cast<uint64_t>(h - 1), 3);
  body += simple.substr(12);  // the image chunk, after "RIFF" size "WEBP"
  body += "EXIF";
  put_le(body, exif.size(), 4);
  body += exif;
  if (exif.size() % 2) body.push_back('\0');
  Bytes out = "RIFF";
  put_le(out, body.size(), 4);
  return out + body;
}

Bytes png_chunk(const char* type, const Bytes& data) {
  Bytes b;
  put_be(b, data.size(), 4);
  const Bytes td = Bytes(type, 4) + data;
  b += td;
  put_be(b, crc32(0, reinterpret_cast<const Bytef*>(td.data()), static_cast<uInt>(td.size())), 4);
  return b;
}

Bytes png_ihdr(uint32_t w, uint32_t h, char color_type) {
  Bytes d;
  put_be(d, w, 4);
  put_be(d, h, 4);
  d += Bytes("\x08", 1) + Bytes(1, color_type) + Bytes("\x00\x00\x00", 3);
  return png_chunk("IHDR", d);
}

Bytes png_header_only(uint32_t w, uint32_t h) {
  return Bytes("\x89PNG\r\n\x1a\n", 8) + png_ihdr(w, h) + png_chunk("IDAT", "") + png_chunk("IEND", "");
}

Bytes png_insert_after_ihdr(const Bytes& png, const Bytes& chunk) {
  return png.substr(0, 33) + chunk + png.substr(33);
}

Bytes encode_png_variant(const Image& img, const PngVariant& variant) {
  png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, nullptr, nullptr, nullptr);
  png_infop info = png_create_info_struct(png);
  Bytes out;
  // (Everything libpng's longjmp could skip is made before setjmp or lives in `out` / `rows`.)
  std::vector<std::vector<uint8_t>> rows(static_cast<size_t>(img.height));
  std::vector<png_bytep> row_ptrs;
  if (setjmp(png_jmpbuf(png))) {
    png_destroy_write_struct(&png, &info);
    throw Error("encode_png_variant: libpng failed");
  }
  png_set_write_fn(
      png, &out,
      [](png_structp p, png_bytep d, size_t n) {
        static_cast<Bytes*>(png_get_io_ptr(p))->append(reinterpret_cast<const char*>(d), n);
      },
      nullptr);
  const int interlace = variant.interlace ? PNG_INTERLACE_ADAM7 : PNG_INTERLACE_NONE;
  const auto w = static_cast<png_uint_32>(img.width), h = static_cast<png_uint_32>(img.height);
  if (variant.palette) {
    png_color colours[8];
    for (int i = 0; i < 8; ++i) colours[i] = {png_byte(i * 36), png_byte(i * 36), png_byte(i * 36)};
    png_set_IHDR(png, info, w, h, 8, PNG_COLOR_TYPE_PALETTE, interlace, PNG_COMPRESSION_TYPE_DEFAULT,
                 PNG_FILTER_TYPE_DEFAULT);
    png_set_PLTE(png, info, colours, 8);
    png_byte alpha = 0;
    png_set_tRNS(png, info, &alpha, 1, nullptr);
    for (int y = 0; y < img.height; ++y)
      for (int x = 0; x < img.width; ++x) rows[y].push_back(img.pixel(x, y)[0] / 32);
  } else {
    const int colour = img.channels == 4 ? PNG_COLOR_TYPE_RGBA : PNG_COLOR_TYPE_RGB;
    png_set_IHDR(png, info, w, h, variant.sixteen_bit ? 16 : 8, colour, interlace,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    for (int y = 0; y < img.height; ++y)
      for (size_t i = 0; i < static_cast<size_t>(img.width) * img.channels; ++i) {
        rows[y].push_back(img.row(y)[i]);
        if (variant.sixteen_bit) rows[y].push_back(img.row(y)[i]);  // big-endian v * 257
      }
  }
  if (!variant.exif.empty())
    png_set_eXIf_1(png, info, static_cast<png_uint_32>(variant.exif.size()),
                   reinterpret_cast<png_bytep>(const_cast<char*>(variant.exif.data())));
  for (auto& r : rows) row_ptrs.push_back(r.data());
  png_set_rows(png, info, row_ptrs.data());
  png_write_png(png, info, PNG_TRANSFORM_IDENTITY, nullptr);
  png_destroy_write_struct(&png, &info);
  return out;
}

}  // namespace i2i::test
