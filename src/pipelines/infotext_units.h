// Units of AUTOMATIC1111's ControlNet extension other than ControlNets in the parameters text: the extension
// writes every unit as `ControlNet N: "Module: <preprocessor>, Model: <model>, Weight: <w>, ..."`, and its
// IP-Adapter units are such units with an ip-adapter preprocessor ("ip-adapter_clip_sd15", ...) and the
// adapter as the model. i2i numbers the --control units first, then the IP-Adapter units, and adds its own
// keys for what a re-run needs (`ControlNet N image`, `ControlNet N model path`, `ControlNet N image
// encoder`, `ControlNet N IP-Adapter mode`, `ControlNet N IP-Adapter layers`). infotext.cpp dispatches the
// units it reads on their Module. Internal to src/pipelines.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "io/parameters.h"
#include "pipelines/generation_params.h"

namespace i2i {

// The "Key: value" items of a unit's text, in order ("Module: canny, Model: x, ..." split at ", ").
std::vector<std::pair<std::string, std::string>> controlnet_unit_items(const std::string& text);
// The unit's Module ("" when it has none).
std::string controlnet_unit_module(const std::string& text);

// Whether a unit with this Module is an IP-Adapter unit (the extension's "ip-adapter..." preprocessors).
bool is_ip_adapter_module(const std::string& module);

// The unit texts `ControlNet <first + i>` of p.ip_adapters (`resize` is the extension's resize-mode name).
void write_ip_adapter_units(const GenerationParams& p, size_t first, const std::string& resize,
                            GenerationParameters& g);
// i2i's keys of those units: mode and layers when not the defaults; with p.infotext_paths also the picture,
// adapter and encoder paths (absolute).
void write_ip_adapter_keys(const GenerationParams& p, size_t first, GenerationParameters& g);

// One IP-Adapter unit from its text and i2i's keys of the same number (`extras`: "image", "model path",
// "image encoder", "IP-Adapter mode", "IP-Adapter layers"). `number` reads a numeric value (throwing an
// i2i::Error naming the key); `key` is "ControlNet N".
using InfotextNumber = std::function<double(const std::string& key, const std::string& value)>;
IpAdapterParams read_ip_adapter_unit(const std::string& key, const std::string& text,
                                     const std::map<std::string, std::string>& extras,
                                     const InfotextNumber& number);

}  // namespace i2i
