// Finding the model file a picture names again - by the name and short hash its parameters text records
// (model_hash.h), in the folders a front end knows - so that a picture made without paths in its text can
// be made again (`i2i img2img --from-png`). A1111 does the same when it reads an infotext: it picks the
// checkpoint whose name or hash matches among those it has listed.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace i2i {

// A model file as a picture records it.
struct ModelRef {
  std::string name;  // a checkpoint's or ControlNet's name (model_stem), a VAE's file name; "" unknown
  std::string hash;  // the recorded short hash (10 hex: SHA-256, 8 hex: A1111's old hash); "" unknown
  bool empty() const { return name.empty() && hash.empty(); }
  // "tiny-sd15 (hash 1a2b3c4d5e)" / "tiny-sd15" / "hash 1a2b3c4d5e", for messages.
  std::string describe() const;
};

struct ModelSearch {
  std::optional<std::filesystem::path> found;
  // When nothing was found but a file of the recorded name has another hash: that file and its hash (for
  // the message; such a file is never used, since it would not make the same picture).
  std::string mismatch;
};

// Looks in `folders`, in order, (not their subfolders) for the model `ref` names:
//   1. by name: `<name>.safetensors`, a folder `<name>` holding weights, or an entry named exactly `name`
//      (a VAE's file name); with a recorded hash, only one whose hash matches it;
//   2. when none matched by name and a hash is recorded: any .safetensors file or weights folder there
//      whose hash matches (a renamed file). Whole-file hashes are cached (io/file_hash.h), so this reads
//      each unknown file of those folders once, ever.
// Entries that cannot be read are skipped; a folder that does not exist is skipped.
ModelSearch find_model(const ModelRef& ref, const std::vector<std::filesystem::path>& folders);

}  // namespace i2i
