// One IP-Adapter file (h94/IP-Adapter, original key layout) with both of its halves: the image projection
// (`image_proj.*`, ip_image_projection.h: image encoder output -> image tokens; base or plus, recognised
// from the keys) and the UNet attention layers (`ip_adapter.N.to_{k,v}_ip`, ip_adapter_attention.h),
// checked against the UNet it is loaded for. Kept beside the UNet, never merged into it.
#pragma once

#include <filesystem>
#include <string>

#include "models/ip_adapter_attention.h"
#include "models/ip_image_projection.h"

namespace i2i {

class UNet2DCondition;

struct IpAdapter {
  IpImageProjection projection;
  IpAdapterAttention attention;
};

// Reads `file` (.safetensors) for `unet` at `precision`; `model` names the UNet's model in messages. Throws
// a one-line i2i::Error naming the file: missing, truncated or not safetensors, not an IP-Adapter, for
// another model family or UNet (ip_adapter_attention.h), or a projection whose token width is not the
// UNet's cross-attention width.
IpAdapter load_ip_adapter(const std::filesystem::path& file, const UNet2DCondition& unet,
                          const std::string& model, Precision precision);

}  // namespace i2i
