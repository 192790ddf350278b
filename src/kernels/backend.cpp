#include "kernels/backend.h"

#include "core/error.h"
#include "kernels/cpu/cpu_backend.h"

namespace i2i {

Backend& backend_for(Device device) {
  switch (device) {
    case Device::CPU:
      return cpu::cpu_backend();
  }
  throw Error("no compute backend for this device");
}

}  // namespace i2i
