// Output files are written under a temporary name in their folder and renamed over the final name, so that
// a failed or interrupted write never leaves half a file under the name the user asked for. The temporary
// file must not outlive the process either (issue 14 item 9): TempFile removes it when it goes out of scope
// uncommitted (an exception), and every temporary file is in a process-wide registry that the SIGINT /
// SIGTERM / SIGHUP handlers of install_temp_file_cleanup() empty (Ctrl-C, kill) before the process dies as
// the signal would have killed it.
//
// Front ends that install their own handlers for these signals (a server's graceful shutdown) call
// remove_temp_files_now() from them: it is async-signal-safe.
#pragma once

#include <filesystem>
#include <string>

namespace i2i {

class TempFile {
 public:
  // A new, empty file (mode 0644) in the folder of `final_path`, named "." + its file name + ".tmp-XXXXXX"
  // (the name shortened where that would pass the file system's name length), registered for removal on a
  // signal. Throws i2i::Error "<final_path>: cannot create a temporary file in <folder>: <reason>".
  explicit TempFile(const std::filesystem::path& final_path);
  ~TempFile();  // closes and removes the file unless committed
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;

  int fd() const { return fd_; }
  const std::filesystem::path& path() const { return path_; }
  // Writes all of `size` bytes (retrying short writes). Throws i2i::Error naming the final path.
  void write(const void* data, size_t size);
  // Hands the descriptor to the caller (e.g. to fdopen; the caller then syncs and closes it); the file stays
  // registered and is still removed unless committed.
  int release_fd();
  // fsync and close (unless the descriptor was released), then rename over the final path; the file is no
  // longer removed. Throws i2i::Error naming the final path.
  void commit();

 private:
  std::filesystem::path final_path_, path_;
  int fd_ = -1;
  int slot_ = -1;
  bool committed_ = false;
};

// Installs handlers for SIGINT, SIGTERM and SIGHUP (those whose disposition is the default) that remove
// every registered temporary file, then die of the signal (exit status as without the handler); and an
// atexit hook doing the same for exit() paths that skip destructors. Idempotent.
void install_temp_file_cleanup();
// Removes every registered temporary file now (async-signal-safe).
void remove_temp_files_now();
// How many temporary files are registered (tests).
int registered_temp_files();

}  // namespace i2i
