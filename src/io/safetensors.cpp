#include "io/safetensors.h"

#include <algorithm>
#include <cstring>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>

#include "core/error.h"

namespace i2i {
namespace {

// Headers of real checkpoints are well under 1 MiB; the reference implementation caps them at 100 MB.
constexpr uint64_t kMaxHeaderBytes = 100u * 1000u * 1000u;
// Real files hold a few thousand tensors (an SDXL checkpoint about 2,500); each parsed header entry costs
// about 1 KB, so a header of a million empty tensors would cost a gigabyte before any check.
constexpr size_t kMaxTensors = 65536;

// Counts the top-level keys of a JSON object in one streaming pass (no document is built) and stops once
// there are more than `limit`; invalid JSON counts as not exceeding (the real parse reports it).
class TopLevelKeyCounter : public nlohmann::json_sax<nlohmann::json> {
 public:
  explicit TopLevelKeyCounter(size_t limit) : limit_(limit) {}
  bool exceeded() const { return keys_ > limit_; }
  bool null() override { return true; }
  bool boolean(bool) override { return true; }
  bool number_integer(number_integer_t) override { return true; }
  bool number_unsigned(number_unsigned_t) override { return true; }
  bool number_float(number_float_t, const string_t&) override { return true; }
  bool string(string_t&) override { return true; }
  bool binary(binary_t&) override { return true; }
  bool start_object(std::size_t) override { return ++depth_, true; }
  bool end_object() override { return --depth_, true; }
  bool start_array(std::size_t) override { return ++depth_, true; }
  bool end_array() override { return --depth_, true; }
  bool key(string_t&) override { return depth_ != 1 || ++keys_ <= limit_; }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception&) override {
    return false;
  }

 private:
  size_t limit_, keys_ = 0;
  int64_t depth_ = 0;
};

bool header_entries_exceed(const unsigned char* first, const unsigned char* last, size_t limit) {
  TopLevelKeyCounter counter(limit);
  nlohmann::json::sax_parse(first, last, &counter);
  return counter.exceeded();
}

[[noreturn]] void fail(const std::filesystem::path& path, const std::string& what) {
  throw Error(path.string() + ": invalid safetensors file: " + what);
}

uint64_t read_u64_le(const unsigned char* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

uint64_t checked_uint(const std::filesystem::path& path, const std::string& tensor, const nlohmann::json& j,
                      const char* field) {
  if (!j.is_number_unsigned() && !(j.is_number_integer() && j.get<int64_t>() >= 0))
    fail(path, "tensor '" + tensor + "': " + field + " must hold non-negative integers");
  return j.get<uint64_t>();
}

}  // namespace

SafeTensors SafeTensors::open(const std::filesystem::path& path) {
  SafeTensors st;
  st.file_ = MappedFile::open(path);
  const size_t size = st.file_->size();
  const unsigned char* base = st.file_->data();
  if (size < 8)
    fail(path, "file is " + std::to_string(size) + " bytes, shorter than the 8-byte header length");
  uint64_t header_len = read_u64_le(base);
  if (header_len > kMaxHeaderBytes)
    fail(path, "header length " + std::to_string(header_len) + " is too large (not a safetensors file?)");
  if (header_len > size - 8)
    fail(path, "header length " + std::to_string(header_len) + " is larger than the file (" +
                   std::to_string(size) + " bytes; truncated?)");
  st.data_start_ = 8 + header_len;
  const size_t data_size = size - st.data_start_;

  nlohmann::json header;
  try {
    if (header_entries_exceed(base + 8, base + 8 + header_len, kMaxTensors + 1))
      fail(path, "header lists more than " + std::to_string(kMaxTensors) + " tensors");
    header = nlohmann::json::parse(base + 8, base + 8 + header_len);
  } catch (const nlohmann::json::exception& e) {
    fail(path, std::string("header is not valid JSON (") + e.what() + ")");
  }
  if (!header.is_object()) fail(path, "header is not a JSON object");

  std::vector<std::pair<size_t, std::string>> order;
  for (auto it = header.begin(); it != header.end(); ++it) {
    const std::string& name = it.key();
    const nlohmann::json& v = it.value();
    if (name == "__metadata__") {
      if (!v.is_object()) fail(path, "__metadata__ is not an object");
      for (auto m = v.begin(); m != v.end(); ++m) {
        if (!m.value().is_string()) fail(path, "__metadata__ value '" + m.key() + "' is not a string");
        st.metadata_[m.key()] = m.value().get<std::string>();
      }
      continue;
    }
    if (!v.is_object()) fail(path, "tensor '" + name + "': entry is not an object");
    auto dt = v.find("dtype");
    auto sh = v.find("shape");
    auto off = v.find("data_offsets");
    if (dt == v.end() || !dt->is_string()) fail(path, "tensor '" + name + "': missing or non-string dtype");
    if (sh == v.end() || !sh->is_array()) fail(path, "tensor '" + name + "': missing or non-array shape");
    if (off == v.end() || !off->is_array() || off->size() != 2)
      fail(path, "tensor '" + name + "': data_offsets must be [begin, end]");
    auto dtype = dtype_from_name(dt->get<std::string>());
    if (!dtype) fail(path, "tensor '" + name + "': unknown dtype '" + dt->get<std::string>() + "'");
    if (sh->size() > 16) fail(path, "tensor '" + name + "': too many dimensions");
    TensorInfo info;
    info.dtype = *dtype;
    uint64_t numel = 1;
    bool overflow = false;
    for (const auto& d : *sh) {
      uint64_t dim = checked_uint(path, name, d, "shape");
      if (dim > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) overflow = true;
      if (dim != 0 && numel > std::numeric_limits<uint64_t>::max() / dim) overflow = true;
      if (!overflow) numel *= dim;
      info.shape.push_back(
          static_cast<int64_t>(std::min<uint64_t>(dim, std::numeric_limits<int64_t>::max())));
    }
    uint64_t esize = dtype_size(info.dtype);
    if (overflow || numel > std::numeric_limits<uint64_t>::max() / esize ||
        numel > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
      fail(path, "tensor '" + name + "': shape " + shape_str(info.shape) + " overflows");
    uint64_t begin = checked_uint(path, name, (*off)[0], "data_offsets");
    uint64_t end = checked_uint(path, name, (*off)[1], "data_offsets");
    if (begin > end) fail(path, "tensor '" + name + "': data_offsets begin > end");
    if (end > data_size)
      fail(path, "tensor '" + name + "': data ends at byte " + std::to_string(end) +
                     " but the data section has " + std::to_string(data_size) + " bytes (truncated file?)");
    if (end - begin != numel * esize)
      fail(path, "tensor '" + name + "': " + std::to_string(end - begin) + " bytes of data for shape " +
                     shape_str(info.shape) + " of " + std::string(dtype_name(info.dtype)) + " (expected " +
                     std::to_string(numel * esize) + ")");
    info.begin = begin;
    info.end = end;
    st.infos_.emplace(name, info);
    order.emplace_back(begin, name);
  }
  std::sort(order.begin(), order.end());
  for (size_t i = 0; i + 1 < order.size(); ++i) {
    const auto& a = st.infos_.at(order[i].second);
    const auto& b = st.infos_.at(order[i + 1].second);
    if (a.end > b.begin && a.end != a.begin && b.end != b.begin)
      fail(path, "tensors '" + order[i].second + "' and '" + order[i + 1].second + "' overlap");
  }
  for (auto& o : order) st.names_.push_back(std::move(o.second));
  return st;
}

const TensorInfo& SafeTensors::info(const std::string& name) const {
  auto it = infos_.find(name);
  if (it == infos_.end()) throw Error(path().string() + ": no tensor named '" + name + "'");
  return it->second;
}

Tensor SafeTensors::get(const std::string& name) const {
  const TensorInfo& i = info(name);
  const unsigned char* p = file_->data() + data_start_ + i.begin;
  auto* data = const_cast<unsigned char*>(p);
  if (reinterpret_cast<uintptr_t>(p) % dtype_size(i.dtype) != 0) {
    Tensor t = Tensor::empty(i.shape, i.dtype);
    std::memcpy(t.raw(), p, i.end - i.begin);
    return t;
  }
  // The data section of a file whose length is 0 still needs a non-null pointer.
  static unsigned char empty_storage[8];
  if (i.end == i.begin) data = empty_storage;
  return Tensor::borrow_mapped(data, i.shape, i.dtype, file_);
}

Tensor SafeTensors::get_f32(const std::string& name) const {
  Tensor t = get(name);
  if (t.dtype() == DType::F32) return t;
  try {
    return t.to(DType::F32);
  } catch (const Error& e) {
    throw Error(path().string() + ": tensor '" + name + "': " + e.what());
  }
}

SafeTensors SafeTensors::renamed(const std::function<std::string(const std::string&)>& rename) const {
  SafeTensors r;
  r.file_ = file_;
  r.data_start_ = data_start_;
  r.metadata_ = metadata_;
  for (const std::string& name : names_) {
    std::string to = rename(name);
    if (!r.infos_.emplace(to, infos_.at(name)).second)
      throw Error(path().string() + ": two tensors are read as '" + to + "' (one is '" + name + "')");
    r.names_.push_back(std::move(to));
  }
  return r;
}

void write_safetensors(const std::filesystem::path& path,
                       const std::vector<std::pair<std::string, Tensor>>& tensors,
                       const std::map<std::string, std::string>& metadata) {
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  size_t offset = 0;
  for (const auto& [name, t] : tensors) {
    header[name] = {{"dtype", std::string(dtype_name(t.dtype()))},
                    {"shape", t.shape()},
                    {"data_offsets", {offset, offset + t.nbytes()}}};
    offset += t.nbytes();
  }
  std::string h = header.dump();
  while ((h.size() + 8) % 8 != 0) h.push_back(' ');
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) throw Error(path.string() + ": cannot write");
  uint64_t len = h.size();
  unsigned char lenbuf[8];
  for (int i = 0; i < 8; ++i) lenbuf[i] = static_cast<unsigned char>(len >> (8 * i));
  out.write(reinterpret_cast<const char*>(lenbuf), 8);
  out.write(h.data(), static_cast<std::streamsize>(h.size()));
  for (const auto& [name, t] : tensors)
    out.write(static_cast<const char*>(t.raw()), static_cast<std::streamsize>(t.nbytes()));
  if (!out) throw Error(path.string() + ": write failed");
}

}  // namespace i2i
