// `i2i pull tokenizer`: fetch the CLIP vocabulary into the user cache (single-file checkpoints carry none).
#include <unistd.h>

#include <chrono>
#include <cstdio>

#include "args.h"
#include "commands.h"
#include "core/error.h"
#include "text/tokenizer_fetch.h"

namespace i2i::cli {

int cmd_pull(int argc, char** argv) {
  std::vector<OptionSpec> specs = {
      {"dest", true, "where to put it (default: $XDG_CACHE_HOME/i2i/tokenizer/clip)", "DIR"},
      {"endpoint", true, "Hugging Face endpoint (default: $I2I_HF_ENDPOINT or https://huggingface.co)",
       "URL"},
      {"force", false, "download again even when a valid copy is there"},
      {"quiet", false, "no progress output"},
      {"help", false, "this text"}};
  Args a(argc, argv, 2, specs);
  if (a.has("help") || a.positional().size() != 1 || a.positional()[0] != "tokenizer") {
    std::printf(
        "usage: i2i pull tokenizer [options]\n\nDownloads the CLIP tokenizer (vocab.json, merges.txt of %s) "
        "that "
        "single-file checkpoints need.\n\n%s",
        kTokenizerRepo, format_options(specs).c_str());
    if (a.has("help")) return 0;
    if (!a.positional().empty() && a.positional()[0] != "tokenizer")
      throw Error("unknown item '" + a.positional()[0] + "' (i2i pull knows: tokenizer)");
    return 2;
  }
  PullTokenizerOptions o;
  o.dest = a.get_or("dest", "");
  o.endpoint = a.get_or("endpoint", "");
  o.force = a.has("force");
  const bool show = !a.has("quiet") && isatty(STDERR_FILENO);
  auto last = std::chrono::steady_clock::now() - std::chrono::seconds(1);
  o.progress = [&](const PullProgress& p) {
    if (!show) return;
    auto now = std::chrono::steady_clock::now();
    if (!p.finished && now - last < std::chrono::milliseconds(100)) return;
    last = now;
    if (p.total > 0)
      std::fprintf(stderr, "\r%-12s %6.1f / %.1f MB%s", p.file.c_str(), p.received / 1e6, p.total / 1e6,
                   p.finished ? "\n" : "");
    else
      std::fprintf(stderr, "\r%-12s %6.1f MB%s", p.file.c_str(), p.received / 1e6, p.finished ? "\n" : "");
  };
  PullResult r = pull_tokenizer(o);
  std::printf("%s tokenizer in %s\n", r.downloaded ? "downloaded" : "already have the", r.dir.c_str());
  return 0;
}

}  // namespace i2i::cli
