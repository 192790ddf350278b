// An answer other than 200, thrown by request handling and turned into a response by the routes: a status
// and a JSON body shaped as A1111 (FastAPI) shapes it - 422 {"detail": [{"loc": [...], "msg": ..., "type":
// ...}, ...]} for validation, {"detail": "message"} for the rest.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "core/error.h"

namespace i2i::server {

class HttpError : public Error {
 public:
  HttpError(int status, nlohmann::json body, const std::string& message)
      : Error(message), status_(status), body_(std::move(body)) {}
  int status() const { return status_; }
  const nlohmann::json& body() const { return body_; }

 private:
  int status_;
  nlohmann::json body_;
};

// One FastAPI validation problem: {"loc": loc, "msg": msg, "type": type}.
inline nlohmann::json field_problem(nlohmann::json loc, const std::string& msg,
                                    const std::string& type = "value_error") {
  return {{"loc", std::move(loc)}, {"msg", msg}, {"type", type}};
}
// 422 with the given problems (a non-empty array of field_problem).
inline HttpError validation_error(const nlohmann::json& problems) {
  return HttpError(422, {{"detail", problems}}, problems.at(0).value("msg", "invalid request"));
}
inline HttpError validation_error(nlohmann::json loc, const std::string& msg) {
  return validation_error(nlohmann::json::array({field_problem(std::move(loc), msg)}));
}
// {"detail": message} with `status` (404 unknown sampler or model, 429 queue full, ...).
inline HttpError http_error(int status, const std::string& message) {
  return HttpError(status, {{"detail", message}}, message);
}

}  // namespace i2i::server
