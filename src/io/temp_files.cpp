#include "io/temp_files.h"

#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <random>

#include "core/error.h"

namespace i2i {
namespace fs = std::filesystem;
namespace {

// The registry: fixed slots a signal handler can read without locks or allocation. A slot's path is
// written while it is Filling and read by the handler only once it is Registered.
enum SlotState : int { Free = 0, Filling = 1, Registered = 2 };
constexpr int kSlots = 64;
struct Slot {
  std::atomic<int> state{Free};
  char path[PATH_MAX];
};
Slot g_slots[kSlots];

int register_path(const std::string& path) {
  if (path.size() >= PATH_MAX) return -1;
  for (int i = 0; i < kSlots; ++i) {
    int expected = Free;
    if (g_slots[i].state.compare_exchange_strong(expected, Filling)) {
      std::memcpy(g_slots[i].path, path.c_str(), path.size() + 1);
      g_slots[i].state.store(Registered, std::memory_order_release);
      return i;
    }
  }
  return -1;  // more than kSlots at once: still removed on scope exit, not on a signal
}

void unregister_slot(int slot) {
  if (slot >= 0) g_slots[slot].state.store(Free, std::memory_order_release);
}

constexpr int kSignals[] = {SIGINT, SIGTERM, SIGHUP};

extern "C" void on_fatal_signal(int sig) {
  remove_temp_files_now();
  // Die of the signal as without the handler (the shell reports 130 for Ctrl-C).
  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;
  sigemptyset(&dfl.sa_mask);
  sigaction(sig, &dfl, nullptr);
  raise(sig);
}

extern "C" void at_exit_cleanup() {
  remove_temp_files_now();
}

// ".out.png.tmp-" + 6 random letters, the base shortened so that the whole name fits `name_max`.
std::string temp_name(const std::string& base, long name_max, std::mt19937_64& rng) {
  static const char kLetters[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
  std::string suffix = ".tmp-";
  for (int i = 0; i < 6; ++i) suffix += kLetters[rng() % (sizeof kLetters - 1)];
  std::string head = base;
  const size_t room = static_cast<size_t>(name_max) - 1 - suffix.size();
  if (head.size() > room) head.resize(room);
  return "." + head + suffix;
}

}  // namespace

TempFile::TempFile(const fs::path& final_path) : final_path_(final_path) {
  fs::path dir = final_path.parent_path();
  if (dir.empty()) dir = ".";
  long name_max = pathconf(dir.c_str(), _PC_NAME_MAX);
  if (name_max <= 32) name_max = NAME_MAX;
  std::mt19937_64 rng(std::random_device{}() ^ static_cast<uint64_t>(getpid()) << 32);
  int err = 0;
  for (int attempt = 0; attempt < 100; ++attempt) {
    path_ = dir / temp_name(final_path.filename().string(), name_max, rng);
    // Registered before it exists: a signal at any moment after the file appears removes it.
    slot_ = register_path(path_.string());
    fd_ = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd_ >= 0) return;
    err = errno;
    unregister_slot(slot_);
    slot_ = -1;
    if (err != EEXIST) break;
  }
  throw Error(final_path.string() + ": cannot create a temporary file in " + dir.string() + ": " +
              std::strerror(err));
}

TempFile::~TempFile() {
  if (fd_ >= 0) ::close(fd_);
  if (!committed_) ::unlink(path_.c_str());
  unregister_slot(slot_);
}

void TempFile::write(const void* data, size_t size) {
  const char* p = static_cast<const char*>(data);
  while (size > 0) {
    const ssize_t n = ::write(fd_, p, size);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0)
      throw Error(final_path_.string() + ": cannot write: " + std::strerror(n < 0 ? errno : ENOSPC));
    p += n;
    size -= static_cast<size_t>(n);
  }
}

int TempFile::release_fd() {
  const int fd = fd_;
  fd_ = -1;
  return fd;
}

void TempFile::commit() {
  if (fd_ >= 0) {
    const bool synced = ::fsync(fd_) == 0;
    const int err = errno;
    const bool closed = ::close(fd_) == 0;
    fd_ = -1;
    if (!synced || !closed)
      throw Error(final_path_.string() + ": cannot write: " + std::strerror(synced ? errno : err));
  }
  if (std::rename(path_.c_str(), final_path_.c_str()) != 0)
    throw Error(final_path_.string() +
                ": cannot write (rename of the temporary file failed): " + std::strerror(errno));
  committed_ = true;
  unregister_slot(slot_);
  slot_ = -1;
}

void install_temp_file_cleanup() {
  static std::atomic<bool> installed{false};
  if (installed.exchange(true)) return;
  for (int sig : kSignals) {
    struct sigaction old {};
    if (sigaction(sig, nullptr, &old) != 0 || old.sa_handler != SIG_DFL) continue;  // ignored or taken
    struct sigaction sa {};
    sa.sa_handler = on_fatal_signal;
    sigemptyset(&sa.sa_mask);
    for (int s : kSignals) sigaddset(&sa.sa_mask, s);
    sigaction(sig, &sa, nullptr);
  }
  std::atexit(at_exit_cleanup);
}

void remove_temp_files_now() {
  for (Slot& s : g_slots)
    if (s.state.load(std::memory_order_acquire) == Registered) ::unlink(s.path);
}

int registered_temp_files() {
  int n = 0;
  for (const Slot& s : g_slots) n += s.state.load() == Registered;
  return n;
}

}  // namespace i2i
