// Image file I/O with libpng, libjpeg-turbo, libwebp(+demux) and libexif.
//
// libpng and libjpeg report fatal errors through a callback that must not return: here it records the message
// and longjmp()s back to the setjmp() of the small "phase" function that made the library call. Those phase
// functions hold no C++ objects with destructors (all buffers are owned by the caller and only written
// through pointers), so nothing is skipped by the longjmp; the library structs are released by RAII guards
// in the caller, which then throws the i2i::Error.
#include "io/image.h"

#include <fcntl.h>
#include <jpeglib.h>
#include <libexif/exif-data.h>
#include <png.h>
#include <sys/stat.h>
#include <unistd.h>
#include <webp/decode.h>
#include <webp/demux.h>

#include "io/image_limits.h"

// jpeglib.h needs <cstdio> first; jerror.h gives the warning codes.
#include <jerror.h>

#include <algorithm>
#include <cerrno>
#include <csetjmp>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "core/error.h"
#include "io/regular_file.h"
#include "io/temp_files.h"

namespace i2i {

namespace {

std::string one_line(std::string s) {
  for (char& c : s)
    if (c == '\n' || c == '\r') c = ' ';
  while (!s.empty() && s.back() == ' ') s.pop_back();
  return s;
}

int64_t pixel_limit_from_environment() {
  const char* v = std::getenv("I2I_MAX_IMAGE_PIXELS");
  if (v == nullptr || *v == 0) return kMaxImagePixels;
  char* end = nullptr;
  errno = 0;
  const long long n = std::strtoll(v, &end, 10);
  if (errno != 0 || *end != 0 || n < 1 || n > kMaxImagePixelsCeiling)
    throw Error("I2I_MAX_IMAGE_PIXELS='" + one_line(v) + "' is not a pixel count between 1 and " +
                std::to_string(kMaxImagePixelsCeiling));
  return n;
}

[[noreturn]] void fail(const std::string& name, const std::string& problem) {
  throw Error(one_line(name + ": " + problem));
}

// `limit`: the caller's pixel limit (0: max_image_pixels() only).
void check_dimensions(const std::string& name, const char* format, uint64_t width, uint64_t height,
                      int64_t limit) {
  if (width == 0 || height == 0)
    fail(name, std::string(format) + " image has zero size (" + std::to_string(width) + "x" +
                   std::to_string(height) + ")");
  const std::string size =
      std::string(format) + " image is " + std::to_string(width) + "x" + std::to_string(height);
  if (width > static_cast<uint64_t>(kMaxImageSide) || height > static_cast<uint64_t>(kMaxImageSide))
    fail(name,
         size + ", larger than supported (at most " + std::to_string(kMaxImageSide) + " pixels a side)");
  if (width * height > static_cast<uint64_t>(max_image_pixels()))
    fail(name, size + " (" + std::to_string(width * height) + " pixels), more than the limit of " +
                   std::to_string(max_image_pixels()) +
                   " pixels: resize it first, or raise the limit with I2I_MAX_IMAGE_PIXELS");
  if (limit > 0 && width * height > static_cast<uint64_t>(limit))
    fail(name, size + " (" + std::to_string(width * height) + " pixels), more than the limit of " +
                   std::to_string(limit) + " pixels");
}

// ---------------------------------------------------------------------------------------------------------
// EXIF orientation

int exif_orientation(const uint8_t* data, size_t size) {
  static const uint8_t kHeader[6] = {'E', 'x', 'i', 'f', 0, 0};
  if (data == nullptr || size < 8) return 1;
  // libexif wants the APP1 payload ("Exif\0\0" + TIFF); PNG eXIf and WebP EXIF usually hold bare TIFF.
  std::vector<uint8_t> buf;
  if (std::memcmp(data, kHeader, 6) != 0) {
    buf.assign(kHeader, kHeader + 6);
    buf.insert(buf.end(), data, data + size);
    data = buf.data();
    size = buf.size();
  }
  if (size > 0xFFFFFFFFu) return 1;
  ExifData* ed = exif_data_new();
  if (ed == nullptr) return 1;
  // Read only: do not let libexif add or "fix" tags.
  exif_data_unset_option(ed, EXIF_DATA_OPTION_FOLLOW_SPECIFICATION);
  exif_data_load_data(ed, data, static_cast<unsigned int>(size));
  int orientation = 1;
  ExifEntry* e = exif_content_get_entry(ed->ifd[EXIF_IFD_0], EXIF_TAG_ORIENTATION);
  if (e != nullptr && e->format == EXIF_FORMAT_SHORT && e->components >= 1 && e->size >= 2 && e->data)
    orientation = exif_get_short(e->data, exif_data_get_byte_order(ed));
  exif_data_unref(ed);
  return orientation;
}

// ---------------------------------------------------------------------------------------------------------
// PNG reading

// libpng allocates a chunk's declared length before reading its data, and a length past its chunk limit
// is only a "benign" error (a warning when reading): a 260-byte file declaring a 1.9 GB tEXt chunk got a
// 1.9 GB allocation (found by fuzz/png_text.cpp). For a file held in memory no allocation libpng makes
// needs more than the file's size (a chunk's data) plus this slack: zTXt / iTXt / iCCP decompression stops
// at libpng's 8 MB chunk limit, and row buffers are under 1 MiB for the widths check_dimensions allows.
constexpr size_t kPngAllocationSlack = size_t{16} << 20;

struct PngRead {
  const uint8_t* data = nullptr;
  size_t size = 0;
  size_t pos = 0;
  char message[256] = {};
  size_t refused_allocation = 0;  // the largest allocation refused by png_malloc_cb (0: none)
  png_structp png = nullptr;
  png_infop info = nullptr;
  png_infop end_info = nullptr;
  // Header values.
  png_uint_32 width = 0, height = 0;
  int bit_depth = 0, color_type = 0, interlace = 0;
  int channels = 0;
  size_t rowbytes = 0;

  PngRead() = default;
  PngRead(const PngRead&) = delete;
  PngRead& operator=(const PngRead&) = delete;
  ~PngRead() {
    if (png != nullptr) png_destroy_read_struct(&png, &info, &end_info);
  }
};

void png_error_cb(png_structp png, png_const_charp msg) {
  auto* r = static_cast<PngRead*>(png_get_error_ptr(png));
  std::snprintf(r->message, sizeof r->message, "%s", msg ? msg : "unknown error");
  png_longjmp(png, 1);
}

void png_warning_cb(png_structp, png_const_charp) {}

// libpng's allocator: refuses what no chunk of this file can need (libpng then skips the chunk or fails;
// either way reading stops at the truncated data).
png_voidp png_malloc_cb(png_structp png, png_alloc_size_t n) {
  auto* r = static_cast<PngRead*>(png_get_mem_ptr(png));
  if (n > r->size + kPngAllocationSlack) {
    r->refused_allocation = std::max<size_t>(r->refused_allocation, n);
    return nullptr;
  }
  return std::malloc(n);
}

void png_free_cb(png_structp, png_voidp p) {
  std::free(p);
}

// The libpng error, and the oversized chunk behind it when there was one.
std::string png_problem(const PngRead& r) {
  std::string problem = std::string("invalid PNG: ") + r.message;
  if (r.refused_allocation > 0)
    problem += " (a chunk needs " + std::to_string(r.refused_allocation) + " bytes, more than the file's " +
               std::to_string(r.size) + ")";
  return problem;
}

void png_read_cb(png_structp png, png_bytep out, size_t n) {
  auto* r = static_cast<PngRead*>(png_get_io_ptr(png));
  if (n > r->size - r->pos) png_error(png, "file is truncated");
  std::memcpy(out, r->data + r->pos, n);
  r->pos += n;
}

// Phase 1: signature and chunks up to the image data.
bool png_phase_info(PngRead* r) {
  if (setjmp(png_jmpbuf(r->png))) return false;
  png_read_info(r->png, r->info);
  png_get_IHDR(r->png, r->info, &r->width, &r->height, &r->bit_depth, &r->color_type, &r->interlace, nullptr,
               nullptr);
  return true;
}

// Phase 2: transformations to 8-bit grey / grey+alpha / RGB / RGBA.
bool png_phase_transform(PngRead* r) {
  if (setjmp(png_jmpbuf(r->png))) return false;
  if (r->color_type == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(r->png);
  if (r->color_type == PNG_COLOR_TYPE_GRAY && r->bit_depth < 8) png_set_expand_gray_1_2_4_to_8(r->png);
  if (png_get_valid(r->png, r->info, PNG_INFO_tRNS)) png_set_tRNS_to_alpha(r->png);
  if (r->bit_depth == 16) png_set_strip_16(r->png);
  png_set_interlace_handling(r->png);
  png_read_update_info(r->png, r->info);
  r->channels = png_get_channels(r->png, r->info);
  r->rowbytes = png_get_rowbytes(r->png, r->info);
  return true;
}

// Phase 3: the pixels and the chunks after them. `rows` null: every row (every pass of an interlaced
// image) is decoded into `scratch`, one row of memory, and dropped - for the text chunks after the pixels.
bool png_phase_pixels(PngRead* r, png_bytepp rows, png_bytep scratch) {
  if (setjmp(png_jmpbuf(r->png))) return false;
  if (rows != nullptr) {
    png_read_image(r->png, rows);
  } else {
    const int passes = r->interlace == PNG_INTERLACE_NONE ? 1 : 7;
    for (int pass = 0; pass < passes; ++pass)
      for (png_uint_32 y = 0; y < r->height; ++y) png_read_row(r->png, scratch, nullptr);
  }
  png_read_end(r->png, r->end_info);
  return true;
}

// Walks the chunk headers after the signature, before libpng reads anything: a chunk whose length field
// runs past the end of the file (libpng would allocate that much before noticing) is truncation, and no
// chunk but IDAT may be larger than kMaxPngChunkBytes. Stops at IEND or the end of the data.
void check_png_chunk_lengths(const uint8_t* data, size_t size, const std::string& name) {
  size_t pos = 8;
  while (pos + 8 <= size) {
    const uint32_t length = (uint32_t{data[pos]} << 24) | (uint32_t{data[pos + 1]} << 16) |
                            (uint32_t{data[pos + 2]} << 8) | uint32_t{data[pos + 3]};
    const std::string type(reinterpret_cast<const char*>(data + pos + 4), 4);
    const size_t left = size - pos - 8;
    if (length > left || left - length < 4)
      fail(name, "file is truncated (a " + one_line(type) + " chunk of " + std::to_string(length) +
                     " bytes, " + std::to_string(left) + " left in the file)");
    if (length > kMaxPngChunkBytes && type != "IDAT")
      fail(name, "invalid PNG: a " + one_line(type) + " chunk of " + std::to_string(length) +
                     " bytes (at most " + std::to_string(kMaxPngChunkBytes) + " are read)");
    if (type == "IEND") return;
    pos += 12 + size_t{length};
  }
}

// The bytes of all IDAT chunks (the chunk walk above has checked every length fits in the file).
uint64_t png_idat_bytes(const uint8_t* data, size_t size) {
  uint64_t total = 0;
  for (size_t pos = 8; pos + 8 <= size;) {
    const uint32_t length = (uint32_t{data[pos]} << 24) | (uint32_t{data[pos + 1]} << 16) |
                            (uint32_t{data[pos + 2]} << 8) | uint32_t{data[pos + 3]};
    if (std::memcmp(data + pos + 4, "IDAT", 4) == 0) total += length;
    if (std::memcmp(data + pos + 4, "IEND", 4) == 0) break;
    pos += 12 + size_t{length};
  }
  return total;
}

// The most image data any deflate encoder writes for the rows of a width x height picture (with Adam7's
// extra rows and filter bytes): stored blocks add 5 bytes per 64 KiB, fixed Huffman codes at most 1/8.
// libpng inflates IDAT to the end of the zlib stream after the last row (png_read_end), so data past this
// is a decompression bomb behind a small header (64x64 declared, 500 MB of zeros inflated) and is refused.
uint64_t png_max_compressed_bytes(uint64_t width, uint64_t height, uint64_t bits) {
  const uint64_t rows = height * ((width * bits + 7) / 8 + 1) + 16 * (height + 8);
  return rows + rows / 8 + 65536;
}

// Deflate cannot compress better than 1032:1, so image data needs at least this many bytes for the rows
// (a filter byte each) of a width x height picture of `bits` bits per pixel: a smaller file is truncated or
// lies about its size, and is refused before any pixel memory is allocated.
uint64_t png_min_compressed_bytes(uint64_t width, uint64_t height, uint64_t bits) {
  return height * ((width * bits + 7) / 8 + 1) / 1032;
}

std::string latin1_to_utf8(const char* s, size_t n) {
  std::string out;
  out.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back(static_cast<char>(0xC0 | (c >> 6)));
      out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
    }
  }
  return out;
}

void collect_png_text(png_structp png, png_infop info, std::map<std::string, std::string>* text) {
  png_textp chunks = nullptr;
  int n = 0;
  png_get_text(png, info, &chunks, &n);
  for (int i = 0; i < n; ++i) {
    const png_text& t = chunks[i];
    if (t.key == nullptr) continue;
    std::string key = latin1_to_utf8(t.key, std::strlen(t.key));
    std::string value;
    if (t.compression >= PNG_ITXT_COMPRESSION_NONE)  // iTXt: UTF-8
      value.assign(t.text ? t.text : "", t.text ? t.itxt_length : 0);
    else  // tEXt, zTXt: Latin-1
      value = latin1_to_utf8(t.text ? t.text : "", t.text ? t.text_length : 0);
    (*text)[key] = value;  // a repeated key keeps its last value, as PIL does
  }
}

void collect_png_exif(png_structp png, png_infop info, std::vector<uint8_t>* exif) {
  png_uint_32 n = 0;
  png_bytep data = nullptr;
  if (exif->empty() && png_get_eXIf_1(png, info, &n, &data) != 0 && data != nullptr && n > 0)
    exif->assign(data, data + n);
}

Image decode_png(const uint8_t* data, size_t size, const std::string& name,
                 std::map<std::string, std::string>* text, int64_t max_pixels) {
  PngRead r;
  r.data = data;
  r.size = size;
  r.png = png_create_read_struct_2(PNG_LIBPNG_VER_STRING, &r, png_error_cb, png_warning_cb, &r, png_malloc_cb,
                                   png_free_cb);
  if (r.png == nullptr) fail(name, "cannot initialise libpng");
  r.info = png_create_info_struct(r.png);
  r.end_info = png_create_info_struct(r.png);
  if (r.info == nullptr || r.end_info == nullptr) fail(name, "cannot initialise libpng");
  check_png_chunk_lengths(data, size, name);
  png_set_read_fn(r.png, &r, png_read_cb);
  // No chunk (text, ICC profile, unknown) may make libpng allocate more than this, whatever its length
  // field says; a zTXt / iTXt text inflating past it is dropped.
  png_set_chunk_malloc_max(r.png, kMaxPngChunkBytes);

  if (!png_phase_info(&r)) fail(name, png_problem(r));
  check_dimensions(name, "PNG", r.width, r.height, max_pixels);
  const int png_channels = png_get_channels(r.png, r.info);
  if (png_idat_bytes(data, size) >
      png_max_compressed_bytes(r.width, r.height, static_cast<uint64_t>(r.bit_depth) * png_channels))
    fail(name, "invalid PNG: more image data than a " + std::to_string(r.width) + "x" +
                   std::to_string(r.height) + " picture can need");
  if (size < png_min_compressed_bytes(r.width, r.height, static_cast<uint64_t>(r.bit_depth) * png_channels))
    fail(name, "file is truncated (too little image data for a " + std::to_string(r.width) + "x" +
                   std::to_string(r.height) + " PNG)");
  if (!png_phase_transform(&r)) fail(name, png_problem(r));
  if (r.channels < 1 || r.channels > 4 || r.rowbytes != static_cast<size_t>(r.width) * r.channels)
    fail(name, "unsupported PNG pixel layout");

  if (text != nullptr) {  // only the text: the pixels are decoded (to find the chunks after them) and dropped
    std::vector<png_byte> scratch(r.rowbytes);
    if (!png_phase_pixels(&r, nullptr, scratch.data())) fail(name, png_problem(r));
    collect_png_text(r.png, r.info, text);
    collect_png_text(r.png, r.end_info, text);
    return Image();
  }
  Image img(static_cast<int>(r.width), static_cast<int>(r.height), r.channels);
  std::vector<png_bytep> rows(r.height);
  for (png_uint_32 y = 0; y < r.height; ++y) rows[y] = img.row(static_cast<int>(y));
  if (!png_phase_pixels(&r, rows.data(), nullptr)) fail(name, png_problem(r));

  std::vector<uint8_t> exif;
  collect_png_exif(r.png, r.info, &exif);
  collect_png_exif(r.png, r.end_info, &exif);
  if (!exif.empty()) img = apply_exif_orientation(img, exif_orientation(exif.data(), exif.size()));
  return img;
}

// ---------------------------------------------------------------------------------------------------------
// JPEG reading

struct JpegErr {
  jpeg_error_mgr mgr;
  std::jmp_buf jmp;
  char message[JMSG_LENGTH_MAX + 64];
};

struct JpegRead {
  jpeg_decompress_struct cinfo{};
  JpegErr err{};
  jpeg_progress_mgr progress{};
  bool created = false;

  JpegRead() = default;
  JpegRead(const JpegRead&) = delete;
  JpegRead& operator=(const JpegRead&) = delete;
  ~JpegRead() {
    if (created) jpeg_destroy_decompress(&cinfo);
  }
};

void jpeg_error_exit_cb(j_common_ptr cinfo) {
  auto* err = reinterpret_cast<JpegErr*>(cinfo->err);
  char buf[JMSG_LENGTH_MAX] = {};
  (*cinfo->err->format_message)(cinfo, buf);
  std::snprintf(err->message, sizeof err->message, "%s", buf);
  std::longjmp(err->jmp, 1);
}

// Warnings are silent, except running out of data: libjpeg would pad a truncated file with grey and carry on;
// like PIL, we call that an error.
void jpeg_emit_message_cb(j_common_ptr cinfo, int level) {
  if (level < 0 && cinfo->err->msg_code == JWRN_JPEG_EOF) {
    auto* err = reinterpret_cast<JpegErr*>(cinfo->err);
    std::snprintf(err->message, sizeof err->message, "file is truncated (premature end of JPEG data)");
    std::longjmp(err->jmp, 1);
  }
}

void jpeg_output_message_cb(j_common_ptr) {}

// A progressive JPEG can hold thousands of tiny scans that each cost a pass over the coefficients (a known
// denial of service); real files have about 10.
constexpr int kMaxJpegScans = 1000;

void jpeg_progress_cb(j_common_ptr cinfo) {
  if (!cinfo->is_decompressor) return;
  auto* d = reinterpret_cast<j_decompress_ptr>(cinfo);
  if (d->input_scan_number > kMaxJpegScans) {
    auto* err = reinterpret_cast<JpegErr*>(cinfo->err);
    std::snprintf(err->message, sizeof err->message, "more than %d progressive scans", kMaxJpegScans);
    std::longjmp(err->jmp, 1);
  }
}

bool jpeg_phase_header(JpegRead* r, const uint8_t* data, size_t size) {
  if (setjmp(r->err.jmp)) return false;
  jpeg_create_decompress(&r->cinfo);
  r->created = true;
  r->cinfo.progress = &r->progress;
  jpeg_mem_src(&r->cinfo, data, static_cast<unsigned long>(size));
  jpeg_save_markers(&r->cinfo, JPEG_APP0 + 1, 0xFFFF);
  jpeg_read_header(&r->cinfo, TRUE);
  return true;
}

bool jpeg_phase_pixels(JpegRead* r, uint8_t* pixels, size_t row_stride) {
  if (setjmp(r->err.jmp)) return false;
  jpeg_start_decompress(&r->cinfo);
  while (r->cinfo.output_scanline < r->cinfo.output_height) {
    JSAMPROW row = pixels + r->cinfo.output_scanline * row_stride;
    jpeg_read_scanlines(&r->cinfo, &row, 1);
  }
  jpeg_finish_decompress(&r->cinfo);
  return true;
}

Image decode_jpeg(const uint8_t* data, size_t size, const std::string& name, int64_t max_pixels) {
  JpegRead r;
  r.cinfo.err = jpeg_std_error(&r.err.mgr);
  r.err.mgr.error_exit = jpeg_error_exit_cb;
  r.err.mgr.emit_message = jpeg_emit_message_cb;
  r.err.mgr.output_message = jpeg_output_message_cb;
  r.progress.progress_monitor = jpeg_progress_cb;
  if (!jpeg_phase_header(&r, data, size)) fail(name, std::string("invalid JPEG: ") + r.err.message);
  check_dimensions(name, "JPEG", r.cinfo.image_width, r.cinfo.image_height, max_pixels);

  // Saved markers live in the image pool, which jpeg_finish_decompress frees: copy the Exif payload now.
  std::vector<uint8_t> exif;
  for (jpeg_saved_marker_ptr m = r.cinfo.marker_list; m != nullptr; m = m->next) {
    if (m->marker == JPEG_APP0 + 1 && m->data_length > 6 && std::memcmp(m->data, "Exif\0\0", 6) == 0) {
      exif.assign(m->data, m->data + m->data_length);
      break;
    }
  }

  int channels = 3;
  bool cmyk = false;
  switch (r.cinfo.jpeg_color_space) {
    case JCS_GRAYSCALE:
      r.cinfo.out_color_space = JCS_GRAYSCALE;
      channels = 1;
      break;
    case JCS_CMYK:
    case JCS_YCCK:
      r.cinfo.out_color_space = JCS_CMYK;
      channels = 4;
      cmyk = true;
      break;
    default:
      r.cinfo.out_color_space = JCS_RGB;
      channels = 3;
  }
  Image img(static_cast<int>(r.cinfo.image_width), static_cast<int>(r.cinfo.image_height), channels);
  if (!jpeg_phase_pixels(&r, img.pixels.data(), static_cast<size_t>(img.width) * channels))
    fail(name, std::string("invalid JPEG: ") + r.err.message);

  if (cmyk) {
    // Adobe (Photoshop) CMYK JPEGs store inverted ink values, as PIL assumes ("CMYK;I"). Ink to RGB as PIL's
    // convert("RGB"): R = (255 - K) - MULDIV255(C, 255 - K).
    const bool inverted = r.cinfo.saw_Adobe_marker;
    Image rgb(img.width, img.height, 3);
    const size_t n = static_cast<size_t>(img.width) * img.height;
    for (size_t i = 0; i < n; ++i) {
      const uint8_t* p = &img.pixels[i * 4];
      const unsigned nk = inverted ? p[3] : 255u - p[3];
      for (int c = 0; c < 3; ++c) {
        const unsigned ink = inverted ? 255u - p[c] : p[c];
        unsigned t = ink * nk + 128;
        rgb.pixels[i * 3 + c] = static_cast<uint8_t>(nk - (((t >> 8) + t) >> 8));
      }
    }
    img = std::move(rgb);
  }
  if (!exif.empty()) img = apply_exif_orientation(img, exif_orientation(exif.data(), exif.size()));
  return img;
}

// ---------------------------------------------------------------------------------------------------------
// WebP reading

Image decode_webp(const uint8_t* data, size_t size, const std::string& name, int64_t max_pixels) {
  WebPBitstreamFeatures features;
  if (WebPGetFeatures(data, size, &features) != VP8_STATUS_OK) fail(name, "invalid or truncated WebP file");
  WebPData wd{data, size};
  struct DemuxGuard {
    WebPDemuxer* d;
    ~DemuxGuard() { WebPDemuxDelete(d); }
  } demux{WebPDemux(&wd)};
  if (demux.d == nullptr) fail(name, "invalid or truncated WebP file");
  const uint32_t canvas_w = WebPDemuxGetI(demux.d, WEBP_FF_CANVAS_WIDTH);
  const uint32_t canvas_h = WebPDemuxGetI(demux.d, WEBP_FF_CANVAS_HEIGHT);
  check_dimensions(name, "WebP", canvas_w, canvas_h, max_pixels);

  std::vector<uint8_t> exif;
  WebPChunkIterator chunk;
  if (WebPDemuxGetChunk(demux.d, "EXIF", 1, &chunk)) {
    exif.assign(chunk.chunk.bytes, chunk.chunk.bytes + chunk.chunk.size);
    WebPDemuxReleaseChunkIterator(&chunk);
  }

  Image img;
  if (features.has_animation) {
    // The first frame, composed on the canvas (frames may be smaller than it).
    WebPAnimDecoderOptions opts;
    if (!WebPAnimDecoderOptionsInit(&opts)) fail(name, "cannot initialise the WebP decoder");
    opts.color_mode = MODE_RGBA;
    opts.use_threads = 0;
    struct AnimGuard {
      WebPAnimDecoder* d;
      ~AnimGuard() { WebPAnimDecoderDelete(d); }
    } anim{WebPAnimDecoderNew(&wd, &opts)};
    if (anim.d == nullptr) fail(name, "invalid animated WebP file");
    uint8_t* frame = nullptr;
    int timestamp = 0;
    if (!WebPAnimDecoderGetNext(anim.d, &frame, &timestamp) || frame == nullptr)
      fail(name, "invalid animated WebP file: cannot decode the first frame");
    img = Image(static_cast<int>(canvas_w), static_cast<int>(canvas_h), 4);
    std::memcpy(img.pixels.data(), frame, img.pixels.size());
  } else {
    if (static_cast<uint32_t>(features.width) != canvas_w ||
        static_cast<uint32_t>(features.height) != canvas_h)
      fail(name, "invalid WebP file: image and canvas sizes differ");
    const int channels = features.has_alpha ? 4 : 3;
    img = Image(features.width, features.height, channels);
    const int stride = features.width * channels;
    const uint8_t* ok = channels == 4
                            ? WebPDecodeRGBAInto(data, size, img.pixels.data(), img.pixels.size(), stride)
                            : WebPDecodeRGBInto(data, size, img.pixels.data(), img.pixels.size(), stride);
    if (ok == nullptr) fail(name, "invalid or truncated WebP image data");
  }
  if (!exif.empty()) img = apply_exif_orientation(img, exif_orientation(exif.data(), exif.size()));
  return img;
}

// ---------------------------------------------------------------------------------------------------------

std::vector<uint8_t> read_file(const std::filesystem::path& path) {
  return RegularFile(path).read_all_bytes(size_t{1} << 31, "an image");
}

bool starts_with(const uint8_t* data, size_t size, const char* magic, size_t n, size_t offset = 0) {
  return size >= offset + n && std::memcmp(data + offset, magic, n) == 0;
}

const char kPngMagic[] = "\x89PNG\r\n\x1a\n";

const char* other_format(const uint8_t* d, size_t n) {
  if (starts_with(d, n, "GIF8", 4)) return "GIF";
  if (starts_with(d, n, "BM", 2)) return "BMP";
  if (starts_with(d, n, "II*\0", 4) || starts_with(d, n, "MM\0*", 4)) return "TIFF";
  if (starts_with(d, n, "ftyp", 4, 4)) return "HEIF/AVIF (ISO media)";
  if (starts_with(d, n, "\0\0\0\x0cjP  ", 8)) return "JPEG 2000";
  if (starts_with(d, n, "RIFF", 4)) return "RIFF (not WebP)";
  if (starts_with(d, n, "qoif", 4)) return "QOI";
  return nullptr;
}

}  // namespace

Image::Image(int w, int h, int c) : width(w), height(h), channels(c) {
  check(w > 0 && h > 0 && w <= kMaxImageSide && h <= kMaxImageSide &&
            static_cast<int64_t>(w) * h <= kMaxImagePixels,
        "image size " + std::to_string(w) + "x" + std::to_string(h) + " is empty or too large");
  check(c >= 1 && c <= 4, "image channel count " + std::to_string(c) + " is not 1, 2, 3 or 4");
  pixels.assign(static_cast<size_t>(w) * h * c, 0);
}

void validate_image(const Image& image, const std::string& what) {
  if (image.width <= 0 || image.height <= 0 || image.width > kMaxImageSide || image.height > kMaxImageSide ||
      static_cast<int64_t>(image.width) * image.height > max_image_pixels())
    throw Error(what + ": image size " + std::to_string(image.width) + "x" + std::to_string(image.height) +
                " is empty or too large");
  if (image.channels < 1 || image.channels > 4)
    throw Error(what + ": image channel count " + std::to_string(image.channels) + " is not 1, 2, 3 or 4");
  if (image.pixels.size() != static_cast<size_t>(image.width) * image.height * image.channels)
    throw Error(what + ": image holds " + std::to_string(image.pixels.size()) + " bytes, expected " +
                std::to_string(static_cast<size_t>(image.width) * image.height * image.channels));
}

int64_t max_image_pixels() {
  static const int64_t limit = pixel_limit_from_environment();
  return limit;
}

Image decode_image(const uint8_t* data, size_t size, const std::string& name) {
  return decode_image(data, size, name, 0);
}

Image decode_image(const uint8_t* data, size_t size, const std::string& name, int64_t max_pixels) {
  if (size == 0) fail(name, "file is empty");
  if (starts_with(data, size, kPngMagic, 8)) return decode_png(data, size, name, nullptr, max_pixels);
  if (starts_with(data, size, "\xff\xd8\xff", 3)) return decode_jpeg(data, size, name, max_pixels);
  if (starts_with(data, size, "RIFF", 4) && starts_with(data, size, "WEBP", 4, 8))
    return decode_webp(data, size, name, max_pixels);
  const char* other = other_format(data, size);
  if (other != nullptr)
    fail(name, std::string("unsupported image format ") + other + "; supported formats: PNG, JPEG, WebP");
  if (size < 12 && (starts_with(data, size, kPngMagic, std::min<size_t>(size, 8)) ||
                    starts_with(data, size, "\xff\xd8", std::min<size_t>(size, 2))))
    fail(name, "file is truncated");
  fail(name, "not a recognised image file (supported formats: PNG, JPEG, WebP)");
}

Image read_image(const std::filesystem::path& path) {
  std::vector<uint8_t> bytes = read_file(path);
  return decode_image(bytes.data(), bytes.size(), path.string());
}

Image apply_exif_orientation(const Image& image, int orientation) {
  if (orientation < 2 || orientation > 8) return image;
  const int w = image.width, h = image.height, c = image.channels;
  const bool swap = orientation >= 5;
  Image out(swap ? h : w, swap ? w : h, c);
  for (int y = 0; y < out.height; ++y) {
    for (int x = 0; x < out.width; ++x) {
      int sx = x, sy = y;
      switch (orientation) {
        case 2:
          sx = w - 1 - x;
          break;  // mirror left-right
        case 3:
          sx = w - 1 - x;
          sy = h - 1 - y;
          break;  // rotate 180
        case 4:
          sy = h - 1 - y;
          break;  // mirror top-bottom
        case 5:
          sx = y;
          sy = x;
          break;  // transpose
        case 6:
          sx = y;
          sy = h - 1 - x;
          break;  // rotate 90 clockwise
        case 7:
          sx = w - 1 - y;
          sy = h - 1 - x;
          break;  // transverse
        case 8:
          sx = w - 1 - y;
          sy = x;
          break;  // rotate 90 counter-clockwise
      }
      std::memcpy(out.pixel(x, y), image.pixel(sx, sy), static_cast<size_t>(c));
    }
  }
  return out;
}

bool has_alpha(const Image& image) {
  return image.channels == 2 || image.channels == 4;
}

Image to_rgb(const Image& image) {
  validate_image(image, "to_rgb");
  if (image.channels == 3) return image;
  Image out(image.width, image.height, 3);
  const size_t n = static_cast<size_t>(image.width) * image.height;
  const int c = image.channels;
  for (size_t i = 0; i < n; ++i) {
    const uint8_t* p = &image.pixels[i * c];
    uint8_t* q = &out.pixels[i * 3];
    if (c <= 2) {
      q[0] = q[1] = q[2] = p[0];
    } else {
      q[0] = p[0];
      q[1] = p[1];
      q[2] = p[2];
    }
  }
  return out;
}

Image to_rgb(const Image& image, std::array<uint8_t, 3> background) {
  if (!has_alpha(image)) return to_rgb(image);
  Image rgb = to_rgb(image);
  const size_t n = static_cast<size_t>(image.width) * image.height;
  const int c = image.channels;
  for (size_t i = 0; i < n; ++i) {
    const unsigned a = image.pixels[i * c + c - 1];
    for (int k = 0; k < 3; ++k) {
      // PIL's paste with a mask: DIV255(bg * (255 - a) + fg * a) with DIV255(v) = ((v+128) + ((v+128) >> 8))
      // >> 8.
      unsigned t = background[k] * (255 - a) + rgb.pixels[i * 3 + k] * a + 128;
      rgb.pixels[i * 3 + k] = static_cast<uint8_t>(((t >> 8) + t) >> 8);
    }
  }
  return rgb;
}

Image to_gray(const Image& image) {
  validate_image(image, "to_gray");
  if (image.channels == 1) return image;
  Image out(image.width, image.height, 1);
  const size_t n = static_cast<size_t>(image.width) * image.height;
  const int c = image.channels;
  for (size_t i = 0; i < n; ++i) {
    const uint8_t* p = &image.pixels[i * c];
    if (c <= 2)
      out.pixels[i] = p[0];
    else
      out.pixels[i] = static_cast<uint8_t>((p[0] * 19595u + p[1] * 38470u + p[2] * 7471u + 0x8000u) >> 16);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------
// PNG writing

namespace {

struct PngWrite {
  std::vector<uint8_t>* out = nullptr;
  char message[256] = {};
  png_structp png = nullptr;
  png_infop info = nullptr;

  PngWrite() = default;
  PngWrite(const PngWrite&) = delete;
  PngWrite& operator=(const PngWrite&) = delete;
  ~PngWrite() {
    if (png != nullptr) png_destroy_write_struct(&png, &info);
  }
};

void png_write_error_cb(png_structp png, png_const_charp msg) {
  auto* w = static_cast<PngWrite*>(png_get_error_ptr(png));
  std::snprintf(w->message, sizeof w->message, "%s", msg ? msg : "unknown error");
  png_longjmp(png, 1);
}

void png_write_cb(png_structp png, png_bytep data, size_t n) {
  auto* w = static_cast<PngWrite*>(png_get_io_ptr(png));
  w->out->insert(w->out->end(), data, data + n);
}

void png_flush_cb(png_structp) {}

bool png_phase_write(PngWrite* w, const Image* img, png_textp text, int num_text, png_bytepp rows) {
  if (setjmp(png_jmpbuf(w->png))) return false;
  png_set_write_fn(w->png, w, png_write_cb, png_flush_cb);
  static const int kColorType[5] = {0, PNG_COLOR_TYPE_GRAY, PNG_COLOR_TYPE_GRAY_ALPHA, PNG_COLOR_TYPE_RGB,
                                    PNG_COLOR_TYPE_RGB_ALPHA};
  png_set_IHDR(w->png, w->info, static_cast<png_uint_32>(img->width), static_cast<png_uint_32>(img->height),
               8, kColorType[img->channels], PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT,
               PNG_FILTER_TYPE_DEFAULT);
  if (num_text > 0) png_set_text(w->png, w->info, text, num_text);
  png_write_info(w->png, w->info);
  png_write_image(w->png, rows);
  png_write_end(w->png, w->info);
  return true;
}

// Decodes UTF-8 into code points; false if `s` is not valid UTF-8.
bool utf8_decode(const std::string& s, std::vector<uint32_t>* out) {
  out->clear();
  size_t i = 0;
  while (i < s.size()) {
    auto b = static_cast<unsigned char>(s[i]);
    uint32_t cp;
    int extra;
    if (b < 0x80) {
      cp = b;
      extra = 0;
    } else if ((b & 0xE0) == 0xC0) {
      cp = b & 0x1F;
      extra = 1;
    } else if ((b & 0xF0) == 0xE0) {
      cp = b & 0x0F;
      extra = 2;
    } else if ((b & 0xF8) == 0xF0) {
      cp = b & 0x07;
      extra = 3;
    } else {
      return false;
    }
    if (extra > 0 && i + extra >= s.size()) return false;
    for (int k = 1; k <= extra; ++k) {
      auto cb = static_cast<unsigned char>(s[i + k]);
      if ((cb & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (cb & 0x3F);
    }
    static const uint32_t kMin[4] = {0, 0x80, 0x800, 0x10000};
    if (cp < kMin[extra] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    out->push_back(cp);
    i += 1 + extra;
  }
  return true;
}

// Latin-1 bytes of `s` if every character is in U+0000..U+00FF.
bool to_latin1(const std::vector<uint32_t>& cps, std::string* out) {
  out->clear();
  for (uint32_t cp : cps) {
    if (cp > 0xFF) return false;
    out->push_back(static_cast<char>(cp));
  }
  return true;
}

}  // namespace

std::vector<uint8_t> encode_png(const Image& image,
                                const std::vector<std::pair<std::string, std::string>>& text,
                                const std::string& name) {
  validate_image(image, name + ": cannot write PNG");

  // Text chunks: strings owned here, png_text entries point into them.
  std::vector<std::string> keys(text.size()), values(text.size());
  std::vector<png_text> chunks(text.size());
  std::vector<uint32_t> cps;
  char empty[1] = {0};
  for (size_t i = 0; i < text.size(); ++i) {
    const auto& [key, value] = text[i];
    if (!utf8_decode(key, &cps) || !to_latin1(cps, &keys[i]))
      fail(name, "PNG text key '" + key + "' is not Latin-1 text");
    bool key_ok = !keys[i].empty() && keys[i].size() <= 79 && keys[i].front() != ' ' && keys[i].back() != ' ';
    for (char ch : keys[i]) {
      auto u = static_cast<unsigned char>(ch);
      if (!((u >= 32 && u <= 126) || u >= 161)) key_ok = false;
    }
    if (keys[i].find("  ") != std::string::npos) key_ok = false;
    if (!key_ok)
      fail(name,
           "PNG text key '" + key +
               "' is invalid (1-79 printable Latin-1 characters, no leading, trailing or double spaces)");
    if (!utf8_decode(value, &cps)) fail(name, "PNG text '" + key + "' is not valid UTF-8");
    if (value.find('\0') != std::string::npos) fail(name, "PNG text '" + key + "' contains a NUL character");
    png_text& t = chunks[i];
    std::memset(&t, 0, sizeof t);
    if (to_latin1(cps, &values[i])) {
      t.compression = PNG_TEXT_COMPRESSION_NONE;
    } else {
      values[i] = value;
      t.compression = PNG_ITXT_COMPRESSION_NONE;
      t.lang = empty;
      t.lang_key = empty;
    }
    t.key = keys[i].data();
    t.text = values[i].data();
    t.text_length = values[i].size();
  }

  std::vector<png_bytep> rows(image.height);
  for (int y = 0; y < image.height; ++y) rows[y] = const_cast<png_bytep>(image.row(y));

  std::vector<uint8_t> bytes;
  PngWrite w;
  w.out = &bytes;
  w.png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &w, png_write_error_cb, png_warning_cb);
  if (w.png == nullptr) fail(name, "cannot initialise libpng");
  w.info = png_create_info_struct(w.png);
  if (w.info == nullptr) fail(name, "cannot initialise libpng");
  if (!png_phase_write(&w, &image, chunks.data(), static_cast<int>(chunks.size()), rows.data()))
    fail(name, std::string("cannot write PNG: ") + w.message);
  return bytes;
}

void write_png(const std::filesystem::path& path, const Image& image,
               const std::vector<std::pair<std::string, std::string>>& text) {
  const std::string name = path.string();
  const std::vector<uint8_t> bytes = encode_png(image, text, name);
  TempFile tmp(path);  // removed on an error or a signal (io/temp_files.h)
  {
    const int fd = tmp.release_fd();
    FILE* file = fdopen(fd, "wb");
    if (file == nullptr) {
      ::close(fd);
      fail(name, std::string("cannot write: ") + std::strerror(errno));
    }
    const bool written = std::fwrite(bytes.data(), 1, bytes.size(), file) == bytes.size() &&
                         std::fflush(file) == 0 && fsync(fileno(file)) == 0;
    const int saved_errno = errno;
    if (std::fclose(file) != 0 || !written)
      fail(name, std::string("cannot write: ") + std::strerror(written ? errno : saved_errno));
  }
  tmp.commit();
}

std::map<std::string, std::string> read_png_text(const std::filesystem::path& path) {
  std::vector<uint8_t> bytes = read_file(path);
  return read_png_text(bytes.data(), bytes.size(), path.string());
}

std::map<std::string, std::string> read_png_text(const uint8_t* data, size_t size, const std::string& name) {
  return read_png_text(data, size, name, 0);
}

std::map<std::string, std::string> read_png_text(const uint8_t* data, size_t size, const std::string& name,
                                                 int64_t max_pixels) {
  if (size == 0) fail(name, "file is empty");
  if (!starts_with(data, size, kPngMagic, 8)) fail(name, "not a PNG file");
  std::map<std::string, std::string> text;
  decode_png(data, size, name, &text, max_pixels);
  return text;
}

}  // namespace i2i
