// Error answers name no path of the server's machine (probe13 L6): the library's messages name files by
// their full path ("LoRA 'x' not found in /home/me/models/Lora"), which is right on a command line but
// tells an HTTP client about the server's folders. Every absolute path in an answer's text - a run of
// non-space characters from '/' whose first folder exists on this machine - is cut to its last part
// ("Lora"), so that the message still says which file or folder it is about.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

namespace i2i::server {

std::string without_server_paths(const std::string& text);
// Every string inside `value` (keys too) through without_server_paths.
nlohmann::json json_without_server_paths(const nlohmann::json& value);

}  // namespace i2i::server
