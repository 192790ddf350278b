// The answers of A1111's generation API built from a finished job: {"images": [base64 PNG carrying its
// `parameters` text], "parameters": the request with defaults (init images and mask cleared unless
// include_init_images), "info": a JSON *string* with the keys of A1111's processing.Processed.js()}, and
// the /sdapi/v1/progress answer for the running job. i2i's additions to info: "i2i_ignored" (the fields set
// that i2i did not honour), "i2i_notices", "i2i_interrupted".
#pragma once

#include <nlohmann/json.hpp>

#include "server/job.h"

namespace i2i::server {

// The finished job's info object (before it is serialised into the response's string).
nlohmann::json a1111_info(const Job& job);
// The finished job's 200 answer (call with the job finished; it is locked here).
nlohmann::json a1111_generation_response(const Job& job);
// GET /sdapi/v1/progress for `running` (null: idle) and `waiting` jobs queued behind it.
// (state also carries i2i's "queue_waiting" and "jobs_completed".)
nlohmann::json a1111_progress(const Job* running, size_t waiting, uint64_t completed,
                              bool skip_current_image);
// A picture as base64 PNG with an optional `parameters` text.
std::string png_base64(const Image& image, const std::string& parameters);

}  // namespace i2i::server
