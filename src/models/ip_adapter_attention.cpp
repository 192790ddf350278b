#include "models/ip_adapter_attention.h"

#include <filesystem>
#include <set>

#include "core/error.h"
#include "models/unet.h"

namespace i2i {
namespace {

bool starts_with(const std::string& s, const std::string& prefix) {
  return s.rfind(prefix, 0) == 0;
}

// "ip_adapter.N.to_k_ip.weight" -> N (-1 for other keys).
int key_id(const std::string& key) {
  const std::string prefix = "ip_adapter.";
  if (!starts_with(key, prefix)) return -1;
  const size_t dot = key.find('.', prefix.size());
  if (dot == std::string::npos || dot == prefix.size()) return -1;
  int n = 0;
  for (size_t i = prefix.size(); i < dot; ++i) {
    if (key[i] < '0' || key[i] > '9' || n > 100000) return -1;
    n = n * 10 + (key[i] - '0');
  }
  return n;
}

std::string with_family(int64_t dim) {
  const std::string family = family_of_cross_attention_dim(dim);
  return std::to_string(dim) + (family.empty() ? "" : " (" + family + ")");
}

}  // namespace

std::string family_of_cross_attention_dim(int64_t dim) {
  switch (dim) {
    case 768:
      return "SD 1.x";
    case 1024:
      return "SD 2.x";
    case 2048:
      return "SDXL";
    default:
      return "";
  }
}

std::vector<int> ip_adapter_key_ids(const std::vector<std::string>& names) {
  std::vector<int> ids(names.size(), -1);
  int k = 0;
  for (const char* prefix : {"down_blocks.", "up_blocks.", "mid_block."})
    for (size_t i = 0; i < names.size(); ++i)
      if (starts_with(names[i], prefix)) ids[i] = 2 * k++ + 1;
  for (size_t i = 0; i < names.size(); ++i)
    check(ids[i] >= 0, "IP-Adapter: transformer block " + names[i] + " is in no down, up or mid block");
  return ids;
}

IpAdapterAttention::IpAdapterAttention(const Weights& w, const UNet2DCondition& unet,
                                       const std::string& model, Precision precision)
    : origin_(w.origin()) {
  const std::string file = std::filesystem::path(origin_).filename().string();
  std::set<int> ids;
  for (const auto& [key, tensor] : w.all())
    if (int n = key_id(key); n >= 0) ids.insert(n);
  check(!ids.empty(), file + ": not an IP-Adapter file (no ip_adapter.N.to_k_ip / to_v_ip tensors)");

  // The token width first: a family mismatch (an SDXL adapter on SD 1.5) shows there before the layer count.
  const int64_t unet_dim = unet.config().cross_attention_dim;
  const std::string first = "ip_adapter." + std::to_string(*ids.begin()) + ".to_k_ip.weight";
  const Tensor& probe = w.get(first);
  check(probe.ndim() == 2, file + ": tensor '" + first + "' has shape " + shape_str(probe.shape()) +
                               ", expected [hidden size, cross-attention width]");
  cross_attention_dim_ = probe.dim(1);
  check(cross_attention_dim_ == unet_dim, file + ": the IP-Adapter is for a cross-attention width of " +
                                              with_family(cross_attention_dim_) + ", the model " + model +
                                              " has " + with_family(unet_dim) +
                                              ": use an adapter made for this model's family");

  const std::vector<std::string>& names = unet.transformer_block_names();
  const std::vector<int64_t>& unet_widths = unet.transformer_block_widths();
  check(ids.size() == names.size(), file + ": the IP-Adapter has " + std::to_string(ids.size()) +
                                        " attention layers, the model " + model + " has " +
                                        std::to_string(names.size()) +
                                        " cross-attention layers: the adapter is for another UNet");
  const std::vector<int> key_ids = ip_adapter_key_ids(names);
  for (size_t i = 0; i < names.size(); ++i) {
    const std::string n = "ip_adapter." + std::to_string(key_ids[i]);
    check(ids.count(key_ids[i]) != 0, file + ": missing tensor '" + n + ".to_k_ip.weight' (for " + names[i] +
                                          ".attn2): the adapter is for another UNet");
    const Tensor& k = w.get(n + ".to_k_ip.weight");
    check(k.ndim() == 2 && k.dim(0) == unet_widths[i] && k.dim(1) == unet_dim,
          file + ": tensor '" + n + ".to_k_ip.weight' has shape " + shape_str(k.shape()) + ", the model " +
              model + "'s " + names[i] + ".attn2 needs [" + std::to_string(unet_widths[i]) + ", " +
              std::to_string(unet_dim) + "]: the adapter is for another UNet");
    const Tensor& v = w.get(n + ".to_v_ip.weight", {unet_widths[i], unet_dim});
    layers_.push_back({Linear(k, Tensor(), precision), Linear(v, Tensor(), precision)});
    widths_.push_back(unet_widths[i]);
  }
}

}  // namespace i2i
