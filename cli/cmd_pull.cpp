// `i2i pull`: a Hugging Face repository (or files of it) into the hub cache (io/hf_pull.h), and
// `i2i pull tokenizer`, the CLIP tokenizer that single-file checkpoints need, through the same pull
// (text/tokenizer_fetch.h).
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <functional>
#include <memory>

#include "args.h"
#include "commands.h"
#include "core/error.h"
#include "io/hf_cache.h"
#include "io/hf_pull.h"
#include "text/tokenizer_fetch.h"

namespace i2i::cli {
namespace {

// Redraws at most every 100 ms (and at each file's end) when stderr is a terminal.
class ProgressLine {
 public:
  explicit ProgressLine(bool show) : show_(show && isatty(STDERR_FILENO)) {}
  bool due(bool finished) {
    if (!show_) return false;
    const auto now = std::chrono::steady_clock::now();
    if (!finished && now - last_ < std::chrono::milliseconds(100)) return false;
    last_ = now;
    return true;
  }

 private:
  bool show_;
  std::chrono::steady_clock::time_point last_ = std::chrono::steady_clock::now() - std::chrono::seconds(1);
};

// The progress line of both kinds of pull: per file and overall.
std::function<void(const HfPullProgress&)> progress_printer(const Args& a) {
  auto line = std::make_shared<ProgressLine>(!a.has("quiet"));
  return [line](const HfPullProgress& p) {
    if (!line->due(p.finished)) return;
    std::string overall;
    if (p.all_bytes > 0)
      overall = "  total " +
                std::to_string((p.done_bytes + std::max<int64_t>(p.received, 0)) * 100 /
                               std::max<int64_t>(p.all_bytes, 1)) +
                "%";
    if (p.total > 0)
      std::fprintf(stderr, "\r\033[K[%d/%d] %s %.1f / %.1f MB%s%s", p.index, p.count, p.file.c_str(),
                   p.received / 1e6, p.total / 1e6, overall.c_str(), p.finished ? "\n" : "");
    else
      std::fprintf(stderr, "\r\033[K[%d/%d] %s %.1f MB%s%s", p.index, p.count, p.file.c_str(),
                   p.received / 1e6, overall.c_str(), p.finished ? "\n" : "");
  };
}

// Another pull holds a file's lock: say so once (even with --quiet: the command waits).
void print_wait(const std::string& message) {
  std::fprintf(stderr, "%s\n", message.c_str());
}

int pull_tokenizer_command(const Args& a) {
  PullTokenizerOptions o;
  o.dest = a.get_or("dest", "");
  o.cache = a.get_or("cache-dir", "");
  o.endpoint = a.get_or("endpoint", "");
  o.force = a.has("force");
  o.progress = progress_printer(a);
  o.on_wait = print_wait;
  PullResult r = pull_tokenizer(o);
  std::printf("%s tokenizer in %s\n", r.downloaded ? "downloaded" : "already have the", r.dir.c_str());
  return 0;
}

int pull_repository(const Args& a) {
  const auto& pos = a.positional();
  const auto ref = parse_hf_repo_ref(pos[0]);
  if (!ref) throw Error("'" + pos[0] + "' is not a repository name (org/name[@revision]) nor 'tokenizer'");
  HfPullOptions o;
  o.repo_id = ref->repo_id;
  o.revision = a.get_or("revision", ref->revision);
  o.files.assign(pos.begin() + 1, pos.end());
  o.include = a.all("include");
  o.exclude = a.all("exclude");
  o.variant = a.get_or("variant", "");
  o.cache = a.get_or("cache-dir", "");
  o.endpoint = a.get_or("endpoint", "");
  o.force_download = a.has("force");
  if (!o.files.empty() && (!o.include.empty() || !o.exclude.empty() || !o.variant.empty()))
    throw Error(
        "--include, --exclude and --variant choose among a repository's files: not with FILE arguments");
  o.progress = progress_printer(a);
  o.on_wait = print_wait;
  const HfPullResult r = hf_pull(o);
  std::printf("%s@%s: %zu file%s downloaded, %zu already there, in %s\n", o.repo_id.c_str(), r.commit.c_str(),
              r.downloaded.size(), r.downloaded.size() == 1 ? "" : "s", r.present.size(), r.snapshot.c_str());
  return 0;
}

}  // namespace

int cmd_pull(int argc, char** argv) {
  std::vector<OptionSpec> specs = {
      {"revision", true, "branch, tag or commit (default main, or org/name@REVISION)", "R"},
      {"include", true, "only files matching this glob ('*' crosses folders); repeatable", "GLOB"},
      {"exclude", true, "leave out files matching this glob; repeatable", "GLOB"},
      {"variant", true, "prefer X.VARIANT.safetensors (e.g. fp16) over X.safetensors", "V"},
      {"cache-dir", true, "the hub cache (default $HF_HUB_CACHE, $HF_HOME/hub or ~/.cache/huggingface/hub)",
       "DIR"},
      {"endpoint", true, "Hugging Face endpoint (default $HF_ENDPOINT or https://huggingface.co)", "URL"},
      {"dest", true, "tokenizer: where to put it (default: $XDG_CACHE_HOME/i2i/tokenizer/clip)", "DIR"},
      {"force", false, "download again even when the files (or a valid tokenizer) are there"},
      {"quiet", false, "no progress output"},
      {"help", false, "this text"}};
  Args a(argc, argv, 2, specs);
  if (a.has("help") || a.positional().empty()) {
    std::printf(
        "usage: i2i pull org/name[@revision] [FILE ...] [options]\n"
        "       i2i pull tokenizer [--dest DIR] [--force]\n\n"
        "Downloads a Hugging Face repository (or the FILEs named) into the hub cache, where diffusers and\n"
        "`--model org/name` find it: resumable, SHA-256 verified, HF_TOKEN for gated repositories. Without\n"
        "--include, a diffusers repository's root-level single files and .bin/.ckpt files beside\n"
        ".safetensors are skipped. Two pulls into one cache take turns per file (a lock in .locks/), and\n"
        "a file is not started without the disk space for it. `pull tokenizer` pulls the CLIP tokenizer\n"
        "(vocab.json, merges.txt of %s) the same way and copies it to where single-file\n"
        "checkpoints find it (--dest).\n\n%s",
        kTokenizerRepo, format_options(specs).c_str());
    return a.has("help") ? 0 : 2;
  }
  if (a.positional()[0] == "tokenizer") {
    if (a.positional().size() != 1) throw Error("unexpected argument '" + a.positional()[1] + "'");
    return pull_tokenizer_command(a);
  }
  return pull_repository(a);
}

}  // namespace i2i::cli
