#include "models/ip_adapter.h"

#include "core/error.h"
#include "io/safetensors.h"
#include "models/ldm_keys.h"
#include "models/unet.h"

namespace i2i {

IpAdapter load_ip_adapter(const std::filesystem::path& file, const UNet2DCondition& unet,
                          const std::string& model, Precision precision) {
  const SafeTensors st = SafeTensors::open(file);
  const Weights w = weights_from_safetensors(st);
  IpAdapter a;
  a.attention = IpAdapterAttention(w, unet, model, precision);  // the family check comes first
  a.projection = IpImageProjection(w, precision);
  const int64_t dim = a.projection.info().cross_attention_dim;
  check(dim == a.attention.cross_attention_dim(),
        file.filename().string() + ": the image projection makes tokens of width " + std::to_string(dim) +
            ", the attention layers take " + std::to_string(a.attention.cross_attention_dim()));
  return a;
}

}  // namespace i2i
