// generate()'s IP-Adapter side: from a request's IP-Adapter units (IpAdapterParams and their pictures) to
// the tensor-level IpAdapterUnits of the denoising loop, as diffusers 0.27's load_ip_adapter +
// prepare_ip_adapter_image_embeds do, with AUTOMATIC1111 ControlNet-extension-style units: each unit has its
// adapter file, reference picture, scale and InstantStyle layer choice; several units add up.
#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "models/ip_adapter.h"
#include "pipelines/ip_adapter_units.h"

namespace i2i {

class ModelSet;
struct GenerationRequest;

struct LoadedIpAdapter {
  std::shared_ptr<const IpAdapter> adapter;  // keeps unit.adapter alive
  IpAdapterUnit unit;
};

// For every unit of req.params.ip_adapters (its picture in req.images.ip_adapters): the adapter and its
// image encoder through the ModelSet's cache (the encoder folder as given, or find_image_encoder's), the
// encoder checked against the adapter's projection, the picture's image tokens (the encoder runs once per
// picture and generation, and not again for a picture seen recently) and the layer scales of its mode or
// layers. Records in req.params what it resolved (each unit's encoder folder and module name) so that the
// parameters text can re-run it. Throws ParameterError for a missing picture or encoder folder, i2i::Error
// naming the file for bad adapters, encoders or mismatches.
std::vector<LoadedIpAdapter> load_ip_adapters(ModelSet& models, GenerationRequest& req);

// The image encoder folder for an adapter file when none is given (h94/IP-Adapter's layout:
// models/ip-adapter_sd15.safetensors beside models/image_encoder/): `image_encoder/` beside the file, then
// one folder up; for SDXL "vit-h" adapters (sdxl_models/*vit-h*), which use the SD 1.5 ViT-H encoder,
// models/image_encoder/ one folder up comes first. A folder counts when it holds config.json. Throws
// ParameterError ({image_encoder}) naming the folders searched when there is none.
std::filesystem::path find_image_encoder(const std::filesystem::path& adapter_file);

}  // namespace i2i
