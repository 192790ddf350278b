#include "kernels/cpu/kernel_choice.h"

#include <cpuid.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdlib>
#include <mutex>

#include "core/error.h"
#include "kernels/precision.h"

namespace i2i::cpu {
namespace {

constexpr const char* kAttentionNames[] = {"portable", "avx512", "avx512bf16", "amx"};

std::once_flag g_env_once;
KernelOverrides g_overrides;

bool avx512_base() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
         __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl");
}

}  // namespace

const char* kernel_name(AttentionKernel k) {
  return kAttentionNames[static_cast<int>(k)];
}

KernelOverrides parse_kernel_overrides(const std::string& value) {
  KernelOverrides out;
  const auto bad = [&](const std::string& why) {
    return Error("I2I_KERNELS: " + why + " (expected op:kernel[,op:kernel], e.g. attention:amx,linear:dnnl)");
  };
  if (value.empty()) return out;
  for (unsigned char ch : value)
    if (ch < 0x20 || ch >= 0x7f) throw bad("contains a byte that is not printable ASCII");
  size_t start = 0;
  while (start <= value.size()) {
    size_t end = value.find(',', start);
    if (end == std::string::npos) end = value.size();
    const std::string item = value.substr(start, end - start);
    start = end + 1;
    if (item.empty()) throw bad("empty entry");
    const size_t colon = item.find(':');
    if (colon == std::string::npos) throw bad("'" + item + "' has no ':'");
    const std::string op = item.substr(0, colon), kernel = item.substr(colon + 1);
    if (op == "attention" || op == "lora") {
      std::optional<AttentionKernel>& slot = op == "lora" ? out.lora : out.attention;
      if (slot) throw bad(op + " given twice");
      for (int i = 0; i < 4; ++i)
        if (kernel == kAttentionNames[i]) slot = static_cast<AttentionKernel>(i);
      if (!slot)
        throw bad("unknown " + op + " kernel '" + kernel + "' (portable, avx512, avx512bf16 or amx)");
    } else if (op == "linear") {
      if (out.linear) throw bad("linear given twice");
      if (kernel != "dnnl") throw bad("unknown linear kernel '" + kernel + "' (dnnl)");
      out.linear = LinearKernel::Dnnl;
    } else {
      throw bad("unknown op '" + op + "' (attention, lora or linear)");
    }
  }
  return out;
}

const KernelOverrides& kernel_overrides() {
  std::call_once(g_env_once, [] {
    const char* env = std::getenv("I2I_KERNELS");
    if (env && *env) g_overrides = parse_kernel_overrides(env);
  });
  return g_overrides;
}

void set_kernel_overrides(const KernelOverrides& overrides) {
  std::call_once(g_env_once, [] {});
  g_overrides = overrides;
  forget_timed_choices();
}

bool cpu_has_amx_bf16() {
  static const bool usable = [] {
    unsigned a = 0, b = 0, c = 0, d = 0;
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return false;
    const bool amx_tile = (d >> 24) & 1u, amx_bf16 = (d >> 22) & 1u;
    if (!amx_tile || !amx_bf16 || !avx512_base()) return false;
    // OSXSAVE, then XCR0: XTILECFG (bit 17) and XTILEDATA (bit 18) enabled by the OS.
    if (!__get_cpuid(1, &a, &b, &c, &d) || !((c >> 27) & 1u)) return false;
    unsigned lo = 0, hi = 0;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    if (((lo >> 17) & 3u) != 3u) return false;
#if defined(__linux__)
    // Linux hands out the tile data state only on request (ARCH_REQ_XCOMP_PERM = 0x1023, for
    // XFEATURE_XTILEDATA = 18); a process that uses tiles without it is killed.
    return syscall(SYS_arch_prctl, 0x1023, 18) == 0;
#else
    return false;
#endif
  }();
  return usable;
}

bool kernel_available(AttentionKernel k) {
  static const bool avx512 = avx512_base();
  switch (k) {
    case AttentionKernel::Portable:
      return true;
    case AttentionKernel::Avx512:
      return avx512;
    case AttentionKernel::Avx512Bf16:
      return avx512 && cpu_has_bf16();
    case AttentionKernel::Amx:
      return cpu_has_amx_bf16();
  }
  return false;
}

}  // namespace i2i::cpu
