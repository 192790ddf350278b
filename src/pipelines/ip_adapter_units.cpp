#include "pipelines/ip_adapter_units.h"

#include <cmath>
#include <cstdlib>

#include "core/error.h"
#include "pipelines/infotext.h"
#include "pipelines/latent_ops.h"

namespace i2i {

void validate_ip_adapter_unit(const IpAdapterUnit& u, bool cfg) {
  const std::string who = "IP-Adapter " + (u.name.empty() ? std::string("unit") : u.name);
  check(u.adapter != nullptr, who + ": no adapter");
  check(std::isfinite(u.scale), who + ": the scale must be a finite number");
  for (float s : u.layer_scales) check(std::isfinite(s), who + ": the layer scales must be finite numbers");
  const Tensor& p = u.positive;
  check(p.defined() && p.ndim() == 3 && p.dim(0) == 1 && p.dtype() == DType::F32,
        who + ": the image tokens must be float32 [1, N, D], got " + shape_str(p.shape()));
  if (cfg)
    check(u.negative.defined() && u.negative.shape() == p.shape() && u.negative.dtype() == DType::F32,
          who + ": the unconditional image tokens must have the shape of the image's, " +
              shape_str(p.shape()) + ", got " + shape_str(u.negative.shape()));
}

namespace {

std::string trim(const std::string& s) {
  const size_t a = s.find_first_not_of(" \t"), b = s.find_last_not_of(" \t");
  return a == std::string::npos ? "" : s.substr(a, b - a + 1);
}

}  // namespace

std::vector<IpAdapterLayerScale> parse_ip_adapter_layers(const std::string& text) {
  std::vector<IpAdapterLayerScale> out;
  size_t pos = 0;
  while (pos <= text.size()) {
    size_t end = text.find(',', pos);
    if (end == std::string::npos) end = text.size();
    const std::string item = trim(text.substr(pos, end - pos));
    pos = end + 1;
    const size_t eq = item.find('=');
    const std::string name = trim(item.substr(0, eq));
    if (eq == std::string::npos || name.empty())
      throw ParameterError(
          "{ip_adapter_layers} expects NAME=SCALE items separated by commas (e.g. "
          "up_blocks.1.attentions.1=1), got '" +
          Error::literal(item) + "'");
    const std::string value = trim(item.substr(eq + 1));
    char* stop = nullptr;
    const double d = value.empty() ? NAN : std::strtod(value.c_str(), &stop);
    if (value.empty() || *stop != '\0' || !std::isfinite(d))
      throw ParameterError("{ip_adapter_layers}: the scale of " + Error::literal(name) +
                           " must be a number, got '" + Error::literal(value) + "'");
    for (const IpAdapterLayerScale& l : out)
      if (l.name == name)
        throw ParameterError("{ip_adapter_layers}: " + Error::literal(name) + " is given twice");
    out.push_back({name, d});
  }
  return out;
}

std::string format_ip_adapter_layers(const std::vector<IpAdapterLayerScale>& layers) {
  std::string out;
  for (const IpAdapterLayerScale& l : layers)
    out += (out.empty() ? "" : ",") + l.name + "=" + format_number(l.scale);
  return out;
}

std::vector<float> ip_adapter_layer_scales(const std::vector<IpAdapterLayerScale>& layers,
                                           const std::vector<std::string>& block_names) {
  std::vector<float> out(block_names.size(), 0.f);
  std::vector<size_t> specificity(block_names.size(), 0);
  for (const IpAdapterLayerScale& l : layers) {
    if (!std::isfinite(l.scale))
      throw ParameterError("{ip_adapter_layers}: the scale of " + Error::literal(l.name) +
                           " is not a number");
    bool covers = false;
    for (size_t i = 0; i < block_names.size(); ++i) {
      const std::string& b = block_names[i];
      if (l.name.empty() || b.compare(0, l.name.size(), l.name) != 0 ||
          !(b.size() == l.name.size() || b[l.name.size()] == '.'))
        continue;
      covers = true;
      if (l.name.size() < specificity[i]) continue;
      specificity[i] = l.name.size();
      out[i] = static_cast<float>(l.scale);
    }
    if (!covers) {
      std::string known;
      for (const std::string& b : block_names) {
        const std::string attention = b.substr(0, b.find(".transformer_blocks"));
        if (known.find(attention) == std::string::npos) known += (known.empty() ? "" : ", ") + attention;
      }
      throw ParameterError("{ip_adapter_layers}: " + Error::literal(l.name) +
                           " names no attention layer of the model (it has " + known + ")");
    }
  }
  return out;
}

std::vector<IpAdapterLayerScale> ip_adapter_mode_layers(const std::string& mode, bool sdxl) {
  if (mode == "all") return {};
  const std::string style = sdxl ? "up_blocks.0.attentions.1" : "up_blocks.1";
  const std::string composition = sdxl ? "down_blocks.2.attentions.1" : "down_blocks.2";
  if (mode == "style") return {{style, 1.0}};
  if (mode == "composition") return {{composition, 1.0}};
  if (mode == "style+composition") {
    if (sdxl) return {{style, 1.0}, {composition, 1.0}};
    return {{style, 1.0}, {composition, 1.0}, {"mid_block", 1.0}};
  }
  throw ParameterError("{ip_adapter_mode} must be all, style, composition or style+composition, got " +
                       Error::literal(mode));
}

std::vector<ImagePrompt> image_prompts(const std::vector<IpAdapterUnit>& units, int64_t batch, bool cfg) {
  std::vector<ImagePrompt> out;
  for (const IpAdapterUnit& u : units) {
    ImagePrompt ip;
    ip.adapter = u.adapter;
    ip.tokens = cfg ? concat_batch({repeat_batch(u.negative, batch), repeat_batch(u.positive, batch)})
                    : repeat_batch(u.positive, batch);
    ip.scale = u.scale;
    ip.layer_scales = u.layer_scales;
    out.push_back(std::move(ip));
  }
  return out;
}

}  // namespace i2i
