// pull_tokenizer() against a tiny HTTP/1.1 server inside the test process (127.0.0.1, ephemeral port, one
// thread, a bounded number of connections) serving the fixture tokenizer files: full download, resume after
// an interrupted transfer (Range), a server that ignores Range, HTTP 404, a refused connection and corrupt
// files. Never contacts the internet.
#include "text/tokenizer_fetch.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <mutex>
#include <optional>
#include <sstream>
#include <thread>

#include "core/error.h"
#include "support/fixtures.h"
#include "text/tokenizer.h"

namespace i2i {
namespace {

namespace fs = std::filesystem;

std::string read_all(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

const std::string& fixture_file(const std::string& name) {
  static const std::string vocab = read_all(test::fixtures_dir() / "tokenizer" / "vocab.json");
  static const std::string merges = read_all(test::fixtures_dir() / "tokenizer" / "merges.txt");
  return name == "vocab.json" ? vocab : merges;
}

constexpr const char* kPathPrefix = "/openai/clip-vit-large-patch14/resolve/main/";

struct Request {
  std::string method, path;
  std::optional<int64_t> range_start;  // from "Range: bytes=N-"
  std::string file() const {
    std::string prefix = kPathPrefix;
    return path.rfind(prefix, 0) == 0 ? path.substr(prefix.size()) : std::string();
  }
};

void send_all(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n <= 0) return;
    data.remove_prefix(static_cast<size_t>(n));
  }
}

// Serves at most `max_connections` connections (one request each, "Connection: close"), then stops; the
// thread also stops after a deadline or when the server is destroyed, so a broken client can never hang the
// test.
class TinyHttpServer {
 public:
  // handler(fd, request, index of the request) writes the whole response; the server closes the connection.
  using Handler = std::function<void(int, const Request&, int)>;

  TinyHttpServer(int max_connections, Handler handler) : handler_(std::move(handler)) {
    listen_fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    if (listen_fd_ < 0) throw std::runtime_error("socket() failed");
    int one = 1;
    ::setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
        ::listen(listen_fd_, 8) != 0)
      throw std::runtime_error("bind/listen failed");
    socklen_t len = sizeof addr;
    ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this, max_connections] { serve(max_connections); });
  }
  ~TinyHttpServer() {
    stop_ = true;
    thread_.join();
    ::close(listen_fd_);
  }

  std::string endpoint() const { return "http://127.0.0.1:" + std::to_string(port_); }
  std::vector<Request> requests() const {
    std::lock_guard<std::mutex> lock(mu_);
    return requests_;
  }

 private:
  void serve(int max_connections) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    for (int served = 0; served < max_connections && !stop_ && std::chrono::steady_clock::now() < deadline;) {
      pollfd p{listen_fd_, POLLIN, 0};
      if (::poll(&p, 1, 50) <= 0) continue;
      int fd = ::accept(listen_fd_, nullptr, nullptr);
      if (fd < 0) continue;
      timeval tv{5, 0};
      ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
      std::optional<Request> req = read_request(fd);
      if (req) {
        {
          std::lock_guard<std::mutex> lock(mu_);
          requests_.push_back(*req);
        }
        handler_(fd, *req, served);
      }
      ::shutdown(fd, SHUT_WR);
      ::close(fd);
      ++served;
    }
  }

  static std::optional<Request> read_request(int fd) {
    std::string buf;
    char chunk[1024];
    while (buf.find("\r\n\r\n") == std::string::npos && buf.size() < 65536) {
      ssize_t n = ::recv(fd, chunk, sizeof chunk, 0);
      if (n <= 0) return std::nullopt;
      buf.append(chunk, static_cast<size_t>(n));
    }
    Request r;
    std::istringstream in(buf);
    std::string line;
    std::getline(in, line);
    std::istringstream first(line);
    first >> r.method >> r.path;
    while (std::getline(in, line)) {
      if (!line.empty() && line.back() == '\r') line.pop_back();
      std::string lower = line;
      for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      if (lower.rfind("range: bytes=", 0) == 0) r.range_start = std::stoll(line.substr(13));
    }
    return r;
  }

  Handler handler_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
  mutable std::mutex mu_;
  std::vector<Request> requests_;
};

void send_response(int fd, int status, const std::string& reason, std::string_view body,
                   const std::string& extra_headers = "", std::optional<size_t> send_only = std::nullopt) {
  std::string head = "HTTP/1.1 " + std::to_string(status) + " " + reason +
                     "\r\nContent-Length: " + std::to_string(body.size()) + "\r\nConnection: close\r\n" +
                     extra_headers + "\r\n";
  send_all(fd, head);
  send_all(fd, body.substr(0, send_only.value_or(body.size())));
}

// A correct server: 200 for a plain GET, 206 with Content-Range for "Range: bytes=N-".
void serve_file(int fd, const Request& r, std::optional<size_t> cut_after = std::nullopt) {
  std::string name = r.file();
  if (name != "vocab.json" && name != "merges.txt")
    return send_response(fd, 404, "Not Found", "Entry not found");
  const std::string& content = fixture_file(name);
  if (r.range_start) {
    auto start = static_cast<size_t>(*r.range_start);
    if (start >= content.size()) return send_response(fd, 416, "Range Not Satisfiable", "");
    std::string range = "Content-Range: bytes " + std::to_string(start) + "-" +
                        std::to_string(content.size() - 1) + "/" + std::to_string(content.size()) + "\r\n";
    return send_response(fd, 206, "Partial Content", std::string_view(content).substr(start), range,
                         cut_after);
  }
  send_response(fd, 200, "OK", content, "", cut_after);
}

struct NoProxy {
  NoProxy() {
    // The transfers go to 127.0.0.1: keep any proxy configured in the environment out of the way.
    setenv("no_proxy", "127.0.0.1,localhost", 1);
    setenv("NO_PROXY", "127.0.0.1,localhost", 1);
  }
};
const NoProxy no_proxy;

PullTokenizerOptions options_for(const TinyHttpServer& server, const fs::path& dest) {
  PullTokenizerOptions o;
  o.endpoint = server.endpoint();
  o.dest = dest;
  o.connect_timeout_s = 10;
  o.stall_timeout_s = 10;
  return o;
}

void expect_same_as_fixture(const fs::path& dest) {
  EXPECT_TRUE(read_all(dest / "vocab.json") == fixture_file("vocab.json"));
  EXPECT_TRUE(read_all(dest / "merges.txt") == fixture_file("merges.txt"));
  EXPECT_FALSE(fs::exists(dest / "vocab.json.part"));
  EXPECT_FALSE(fs::exists(dest / "merges.txt.part"));
}

std::vector<std::string> listing(const fs::path& dir) {
  std::vector<std::string> names;
  if (!fs::exists(dir)) return names;
  for (const auto& e : fs::directory_iterator(dir)) names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

std::string error_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const Error& e) {
    std::printf("error: %s\n", e.what());
    return e.what();
  }
  return "";
}

TEST(TokenizerFetch, UrlLayout) {
  EXPECT_EQ(tokenizer_file_url("https://huggingface.co", "vocab.json"),
            "https://huggingface.co/openai/clip-vit-large-patch14/resolve/main/vocab.json");
  EXPECT_EQ(tokenizer_file_url("http://h:1/", "merges.txt"),
            "http://h:1/openai/clip-vit-large-patch14/resolve/main/merges.txt");
}

TEST(TokenizerFetch, DownloadsValidatesAndReportsProgress) {
  TinyHttpServer server(2, [](int fd, const Request& r, int) { serve_file(fd, r); });
  fs::path dest = test::temp_dir("fetch_full") / "cache" / "i2i" / "tokenizer" / "clip";
  PullTokenizerOptions o = options_for(server, dest);
  std::vector<PullProgress> events;
  o.progress = [&](const PullProgress& p) { events.push_back(p); };
  PullResult r = pull_tokenizer(o);
  EXPECT_TRUE(r.downloaded);
  EXPECT_EQ(r.dir, dest);
  expect_same_as_fixture(dest);

  std::vector<Request> reqs = server.requests();
  ASSERT_EQ(reqs.size(), 2u);
  EXPECT_EQ(reqs[0].path, std::string(kPathPrefix) + "vocab.json");
  EXPECT_EQ(reqs[1].path, std::string(kPathPrefix) + "merges.txt");
  EXPECT_FALSE(reqs[0].range_start);

  // Progress: each file ends with a finished event at its full size; received never decreases within a file.
  int finished = 0;
  int64_t last = -1;
  std::string file;
  for (const PullProgress& p : events) {
    if (p.file != file) file = p.file, last = -1;
    EXPECT_GE(p.received, last);
    last = p.received;
    if (p.finished) {
      ++finished;
      EXPECT_EQ(p.received, static_cast<int64_t>(fixture_file(p.file).size()));
      EXPECT_EQ(p.total, p.received);
    }
  }
  EXPECT_EQ(finished, 2);

  // The result is usable by the tokenizer and by the lookup.
  ClipTokenizer t = ClipTokenizer::load(dest);
  EXPECT_EQ(t.encode("a photograph of an astronaut riding a horse"),
            (std::vector<int>{49406, 320, 8853, 539, 550, 18376, 6765, 320, 4558, 49407}));
}

TEST(TokenizerFetch, SkipsValidExistingFilesUnlessForced) {
  fs::path dest = test::temp_dir("fetch_existing");
  {
    TinyHttpServer server(2, [](int fd, const Request& r, int) { serve_file(fd, r); });
    ASSERT_TRUE(pull_tokenizer(options_for(server, dest)).downloaded);
  }
  {
    TinyHttpServer server(2, [](int fd, const Request& r, int) { serve_file(fd, r); });
    EXPECT_FALSE(pull_tokenizer(options_for(server, dest)).downloaded);
    EXPECT_TRUE(server.requests().empty());
    PullTokenizerOptions o = options_for(server, dest);
    o.force = true;
    EXPECT_TRUE(pull_tokenizer(o).downloaded);
    EXPECT_EQ(server.requests().size(), 2u);
    expect_same_as_fixture(dest);
  }
}

TEST(TokenizerFetch, ResumesAnInterruptedTransferOnTheNextCall) {
  const size_t half = fixture_file("vocab.json").size() / 2;
  // Request 0: vocab.json, cut after half of the body. Then: normal service (Range honoured).
  TinyHttpServer server(3, [&](int fd, const Request& r, int index) {
    if (index == 0)
      serve_file(fd, r, half);
    else
      serve_file(fd, r);
  });
  fs::path dest = test::temp_dir("fetch_resume");
  PullTokenizerOptions o = options_for(server, dest);
  o.max_attempts = 1;
  std::string err = error_of([&] { pull_tokenizer(o); });
  ASSERT_FALSE(err.empty());
  EXPECT_NE(err.find(std::string(kPathPrefix) + "vocab.json"), std::string::npos) << err;
  EXPECT_NE(err.find("resume"), std::string::npos) << err;
  EXPECT_EQ(err.find('\n'), std::string::npos) << err;
  // Only the partial file, holding exactly the bytes that were sent.
  EXPECT_EQ(listing(dest), std::vector<std::string>{"vocab.json.part"});
  EXPECT_EQ(read_all(dest / "vocab.json.part"), fixture_file("vocab.json").substr(0, half));

  std::vector<PullProgress> events;
  o.progress = [&](const PullProgress& p) { events.push_back(p); };
  ASSERT_TRUE(pull_tokenizer(o).downloaded);
  expect_same_as_fixture(dest);
  std::vector<Request> reqs = server.requests();
  ASSERT_EQ(reqs.size(), 3u);
  EXPECT_EQ(reqs[1].file(), "vocab.json");
  ASSERT_TRUE(reqs[1].range_start.has_value());
  EXPECT_EQ(*reqs[1].range_start, static_cast<int64_t>(half));
  EXPECT_EQ(reqs[2].file(), "merges.txt");
  EXPECT_FALSE(reqs[2].range_start);
  ASSERT_FALSE(events.empty());
  EXPECT_EQ(events.front().file, "vocab.json");
  EXPECT_EQ(events.front().resumed_from, static_cast<int64_t>(half));
}

TEST(TokenizerFetch, RetriesWithinOneCallByResuming) {
  const size_t cut = fixture_file("merges.txt").size() / 3;
  // vocab.json whole; merges.txt cut twice (the second time on the resumed range), then served.
  TinyHttpServer server(4, [&](int fd, const Request& r, int index) {
    if (index == 1 || index == 2)
      serve_file(fd, r, cut);
    else
      serve_file(fd, r);
  });
  fs::path dest = test::temp_dir("fetch_retry");
  ASSERT_TRUE(pull_tokenizer(options_for(server, dest)).downloaded);  // max_attempts 3
  expect_same_as_fixture(dest);
  std::vector<Request> reqs = server.requests();
  ASSERT_EQ(reqs.size(), 4u);
  EXPECT_EQ(reqs[2].range_start.value_or(-1), static_cast<int64_t>(cut));
  EXPECT_EQ(reqs[3].range_start.value_or(-1), static_cast<int64_t>(2 * cut));
}

TEST(TokenizerFetch, RestartsWhenTheServerIgnoresRange) {
  fs::path dest = test::temp_dir("fetch_no_range");
  // A stale partial file with the wrong content: a server that answers 200 to the Range request replaces it.
  { std::ofstream(dest / "vocab.json.part") << "{\"stale\": "; }
  TinyHttpServer server(2, [](int fd, const Request& r, int) {
    Request plain = r;
    plain.range_start.reset();
    serve_file(fd, plain);
  });
  ASSERT_TRUE(pull_tokenizer(options_for(server, dest)).downloaded);
  expect_same_as_fixture(dest);
  ASSERT_GE(server.requests().size(), 1u);
  EXPECT_EQ(server.requests()[0].range_start.value_or(-1), 10);
}

TEST(TokenizerFetch, Http404NamesUrlAndStatusAndLeavesNoFiles) {
  TinyHttpServer server(
      1, [](int fd, const Request&, int) { send_response(fd, 404, "Not Found", "Entry not found"); });
  fs::path dest = test::temp_dir("fetch_404");
  PullTokenizerOptions o = options_for(server, dest);
  std::string err = error_of([&] { pull_tokenizer(o); });
  EXPECT_NE(err.find(server.endpoint() + kPathPrefix + "vocab.json"), std::string::npos) << err;
  EXPECT_NE(err.find("HTTP 404"), std::string::npos) << err;
  EXPECT_EQ(err.find('\n'), std::string::npos) << err;
  EXPECT_TRUE(listing(dest).empty());
  EXPECT_EQ(server.requests().size(), 1u);  // a 4xx is not retried
}

TEST(TokenizerFetch, NetworkFailureIsOneLineNamingUrl) {
  int port;
  {
    // Take an ephemeral port and free it again: nothing listens there.
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    socklen_t len = sizeof addr;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
    port = ntohs(addr.sin_port);
    ::close(fd);
  }
  fs::path dest = test::temp_dir("fetch_refused");
  PullTokenizerOptions o;
  o.dest = dest;
  o.endpoint = "http://127.0.0.1:" + std::to_string(port);
  o.max_attempts = 2;
  std::string err = error_of([&] { pull_tokenizer(o); });
  EXPECT_NE(err.find(o.endpoint + kPathPrefix + "vocab.json"), std::string::npos) << err;
  EXPECT_NE(err.find("2 attempts"), std::string::npos) << err;
  EXPECT_EQ(err.find('\n'), std::string::npos) << err;
  EXPECT_TRUE(listing(dest).empty());
}

TEST(TokenizerFetch, CorruptFilesAreRejectedAndDeleted) {
  fs::path dest = test::temp_dir("fetch_corrupt");
  {
    TinyHttpServer server(2, [](int fd, const Request& r, int) {
      if (r.file() == "vocab.json")
        send_response(fd, 200, "OK", "<html>garbage, not a vocabulary</html>");
      else
        serve_file(fd, r);
    });
    std::string err = error_of([&] { pull_tokenizer(options_for(server, dest)); });
    EXPECT_NE(err.find("vocab.json"), std::string::npos) << err;
    EXPECT_NE(err.find("validation"), std::string::npos) << err;
    EXPECT_EQ(err.find('\n'), std::string::npos) << err;
    EXPECT_TRUE(listing(dest).empty());
  }
  {
    // A truncated merges.txt (a valid prefix, so only the count check can catch it).
    TinyHttpServer server(2, [](int fd, const Request& r, int) {
      if (r.file() == "merges.txt")
        send_response(fd, 200, "OK",
                      fixture_file("merges.txt").substr(0, fixture_file("merges.txt").find('\n', 1000) + 1));
      else
        serve_file(fd, r);
    });
    std::string err = error_of([&] { pull_tokenizer(options_for(server, dest)); });
    EXPECT_NE(err.find("merges.txt"), std::string::npos) << err;
    EXPECT_NE(err.find("48894"), std::string::npos) << err;
    EXPECT_TRUE(listing(dest).empty());
  }
  {
    // A well-formed JSON vocabulary of the wrong size.
    TinyHttpServer server(2, [](int fd, const Request& r, int) {
      if (r.file() == "vocab.json")
        send_response(fd, 200, "OK", "{\"<|startoftext|>\": 0, \"<|endoftext|>\": 1}");
      else
        serve_file(fd, r);
    });
    std::string err = error_of([&] { pull_tokenizer(options_for(server, dest)); });
    EXPECT_NE(err.find("49408"), std::string::npos) << err;
    EXPECT_TRUE(listing(dest).empty());
  }
  // An earlier good tokenizer is not replaced by a corrupt download.
  {
    TinyHttpServer server(2, [](int fd, const Request& r, int) { serve_file(fd, r); });
    ASSERT_TRUE(pull_tokenizer(options_for(server, dest)).downloaded);
  }
  {
    TinyHttpServer server(2, [](int fd, const Request& r, int) {
      send_response(fd, 200, "OK", r.file() == "vocab.json" ? "{}" : "#version: 0.2\n");
    });
    PullTokenizerOptions o = options_for(server, dest);
    o.force = true;
    EXPECT_FALSE(error_of([&] { pull_tokenizer(o); }).empty());
    expect_same_as_fixture(dest);
  }
}

// Issue 14, item 11: a server sending a huge "vocab.json" (announced, or not announced and streamed) is cut
// off at the tokenizer size limit, with nothing of it left on disk.
TEST(TokenizerFetch, OversizedFilesAreCutOffWhileDownloading) {
  for (const bool announce : {true, false}) {
    SCOPED_TRACE(announce ? "with Content-Length" : "without Content-Length");
    TinyHttpServer server(1, [announce](int fd, const Request&, int) {
      const std::string block(1 << 20, ' ');
      send_all(fd, "HTTP/1.1 200 OK\r\nConnection: close\r\n" +
                       (announce ? "Content-Length: " + std::to_string(int64_t{400} << 20) + "\r\n"
                                 : std::string()) +
                       "\r\n");
      // 40 MiB at most: the client must stop reading long before.
      for (int i = 0; i < 40; ++i) send_all(fd, block);
    });
    const fs::path dest = test::temp_dir(announce ? "fetch_big_announced" : "fetch_big_streamed");
    PullTokenizerOptions o = options_for(server, dest);
    o.max_attempts = 1;
    const std::string err = error_of([&] { pull_tokenizer(o); });
    EXPECT_NE(err.find("larger than 16777216 bytes"), std::string::npos) << err;
    EXPECT_NE(err.find("vocab.json"), std::string::npos) << err;
    EXPECT_TRUE(listing(dest).empty()) << ::testing::PrintToString(listing(dest));
  }
}

TEST(TokenizerFetch, EndpointFromEnvironment) {
  TinyHttpServer server(2, [](int fd, const Request& r, int) { serve_file(fd, r); });
  const char* old = std::getenv("I2I_HF_ENDPOINT");
  std::optional<std::string> saved = old ? std::optional<std::string>(old) : std::nullopt;
  setenv("I2I_HF_ENDPOINT", (server.endpoint() + "/").c_str(), 1);
  fs::path dest = test::temp_dir("fetch_env");
  PullTokenizerOptions o;
  o.dest = dest;
  std::string err = error_of([&] { pull_tokenizer(o); });
  if (saved)
    setenv("I2I_HF_ENDPOINT", saved->c_str(), 1);
  else
    unsetenv("I2I_HF_ENDPOINT");
  EXPECT_EQ(err, "");
  expect_same_as_fixture(dest);
  EXPECT_EQ(server.requests().size(), 2u);
}

}  // namespace
}  // namespace i2i
