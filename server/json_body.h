// A request body read as JSON the way FastAPI answers one that is not: 422 with the byte it failed at.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

namespace i2i::server {

// Throws HttpError 422 (as FastAPI for a body that is not JSON) unless `body` parses as JSON nested at
// most `max_depth` deep (deeper nesting is refused before parsing: nlohmann's parser recurses).
nlohmann::json parse_json_body(const std::string& body, int max_depth = 64);

}  // namespace i2i::server
