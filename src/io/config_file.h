// Reading model and configuration files: diffusers' config.json / scheduler_config.json / model_index.json,
// the fixtures' `<model>.json` sidecars, --model-config files and tokenizer configs all go through
// read_config_json, so every one accepts what Python's json module writes (NaN, Infinity, -Infinity, see
// parse_python_json) and every failure is one i2i::Error line naming the file: missing, a directory or
// other non-regular file, larger than the cap, malformed, nested too deeply, or not a JSON object.
// (Safetensors headers are strict JSON and read by io/safetensors; LDM .yaml configs by read_ldm_yaml.)
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

namespace i2i {

// The largest JSON config file read (real ones are a few KiB; a trained_betas list is ~25 KiB).
constexpr size_t kMaxConfigJsonBytes = size_t{4} << 20;

// The bytes of the regular file `path` (symlinks followed). i2i::Error naming it when it does not exist,
// is a directory or another non-regular file (a FIFO or device could block or never end), cannot be
// read, or holds more than `max_bytes`.
std::string read_small_file(const std::filesystem::path& path, size_t max_bytes);

// A JSON object from `path` (at most kMaxConfigJsonBytes), parsed as parse_python_json does. i2i::Error
// naming the file on any failure, including a top-level value that is not an object.
nlohmann::json read_config_json(const std::filesystem::path& path);

// `text` made fit to quote in a one-line error: printable ASCII only (other bytes, newlines included, become
// '?'), cut to `max_chars` with "..." appended. For parser messages, which quote the (maybe binary) input.
std::string printable_excerpt(std::string_view text, size_t max_chars = 200);

// The integer field `key` of a config object, or `fallback` when absent or null; i2i::Error naming `where`
// when it is not an integer.
int64_t config_int(const nlohmann::json& cfg, const char* key, int64_t fallback, const std::string& where);
// Checks that the config's `key`, when present, equals what the weights give (`from_shapes`); i2i::Error
// naming `where`, the key and both values otherwise.
void expect_config_matches(const nlohmann::json& cfg, const char* key, int64_t from_shapes,
                           const std::string& where);

}  // namespace i2i
