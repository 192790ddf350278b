// CLIP tokenizer vs tokenizer/tokenizer_cases.json (Hugging Face slow CLIPTokenizer, no ftfy): ids and BPE
// tokens must match exactly, for both the <|endoftext|>-padded and the '!'-padded tokenizers.
#include "text/tokenizer.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <optional>
#include <thread>

#include "core/error.h"
#include "support/fixtures.h"

namespace i2i {
namespace {

namespace fs = std::filesystem;

fs::path tokenizer_dir() {
  return test::fixtures_dir() / "tokenizer";
}

const nlohmann::json& tokenizer_cases() {
  static const nlohmann::json j = [] {
    std::ifstream in(tokenizer_dir() / "tokenizer_cases.json");
    if (!in) throw std::runtime_error("cannot read tokenizer_cases.json");
    return nlohmann::json::parse(in);
  }();
  return j;
}

const ClipTokenizer& clip() {
  static const ClipTokenizer t = ClipTokenizer::load(tokenizer_dir());
  return t;
}

const ClipTokenizer& clip_bang() {
  static const ClipTokenizer t =
      ClipTokenizer::load(tokenizer_dir(), ClipTokenizerOptions{.bang_is_special = true});
  return t;
}

std::string show(const std::string& text) {
  std::string out;
  for (unsigned char c : text) {
    if (c < 0x20 || c == 0x7F) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
  return out;
}

TEST(Tokenizer, LoadsClipVocabulary) {
  const ClipTokenizer& t = clip();
  EXPECT_EQ(t.vocab_size(), 49408u);
  EXPECT_EQ(t.bos_id(), tokenizer_cases().at("bos_id").get<int>());
  EXPECT_EQ(t.eos_id(), tokenizer_cases().at("eos_id").get<int>());
  EXPECT_EQ(t.pad_id(), 49407);
  EXPECT_EQ(clip_bang().pad_id(), 0);
  EXPECT_EQ(t.token(0), "!");
  EXPECT_EQ(t.id_of("a</w>"), 320);
  EXPECT_EQ(t.id_of("no such token"), -1);
  EXPECT_THROW(t.token(49408), Error);
  EXPECT_THROW(t.token(-1), Error);
}

TEST(Tokenizer, MatchesEveryFixtureCase) {
  const nlohmann::json& cases = tokenizer_cases().at("cases");
  ASSERT_EQ(cases.size(), tokenizer_cases().at("n_cases").get<size_t>());
  int checked = 0;
  for (const nlohmann::json& c : cases) {
    const std::string text = c.at("text").get<std::string>();
    SCOPED_TRACE("case " + std::to_string(c.at("id").get<int>()) + " (" + c.at("group").get<std::string>() +
                 "): \"" + show(text) + "\"");
    EXPECT_EQ(clip().encode(text), c.at("ids").get<std::vector<int>>());
    EXPECT_EQ(clip().encode_tokens(text), c.at("tokens").get<std::vector<std::string>>());
    ++checked;
  }
  EXPECT_EQ(checked, 315);
}

TEST(Tokenizer, BangPaddedTokenizerMatchesFixtures) {
  int differing = 0;
  for (const nlohmann::json& c : tokenizer_cases().at("cases")) {
    const std::string text = c.at("text").get<std::string>();
    SCOPED_TRACE("case " + std::to_string(c.at("id").get<int>()) + ": \"" + show(text) + "\"");
    // Where the fixture has no ids_pad_bang_tokenizer, both tokenizers agree.
    const nlohmann::json& want =
        c.contains("ids_pad_bang_tokenizer") ? c.at("ids_pad_bang_tokenizer") : c.at("ids");
    differing += c.contains("ids_pad_bang_tokenizer");
    EXPECT_EQ(clip_bang().encode(text), want.get<std::vector<int>>());
  }
  EXPECT_EQ(differing, tokenizer_cases().at("n_cases_where_pad_bang_tokenizer_differs").get<int>());
  EXPECT_EQ(clip_bang().encode("! !! !!!"), (std::vector<int>{49406, 0, 0, 0, 0, 0, 0, 49407}));
}

TEST(Tokenizer, TokenizeIsEncodeWithoutBosEos) {
  for (const nlohmann::json& c : tokenizer_cases().at("cases")) {
    const std::string text = c.at("text").get<std::string>();
    std::vector<int> ids = c.at("ids").get<std::vector<int>>();
    std::vector<int> inner(ids.begin() + 1, ids.end() - 1);
    EXPECT_EQ(clip().tokenize(text), inner) << show(text);
  }
  EXPECT_TRUE(clip().tokenize("").empty());
}

TEST(Tokenizer, FitToLengthTruncatesAndPadsLikeDiffusers) {
  const nlohmann::json& cases = tokenizer_cases().at("cases");
  int long_cases = 0;
  for (const nlohmann::json& c : cases) {
    std::vector<int> ids = c.at("ids").get<std::vector<int>>();
    std::vector<int> fit = fit_to_length(clip().encode(c.at("text").get<std::string>()), 77, 49407);
    ASSERT_EQ(fit.size(), 77u);
    EXPECT_EQ(fit.front(), 49406);
    if (ids.size() > 77) {
      ++long_cases;
      EXPECT_TRUE(c.at("exceeds_77").get<bool>());
      // bos + the first 75 tokens + eos
      std::vector<int> want(ids.begin(), ids.begin() + 76);
      want.push_back(49407);
      EXPECT_EQ(fit, want);
    } else {
      std::vector<int> want = ids;
      want.resize(77, 49407);
      EXPECT_EQ(fit, want);
    }
  }
  EXPECT_GT(long_cases, 0);
  std::vector<int> bang = fit_to_length(clip_bang().encode("a cat"), 77, clip_bang().pad_id());
  EXPECT_EQ(bang[0], 49406);
  EXPECT_EQ(bang[3], 49407);
  EXPECT_EQ(bang[4], 0);
  EXPECT_EQ(bang[76], 0);
  EXPECT_THROW(fit_to_length({49406}, 77, 0), Error);
}

TEST(Tokenizer, LowerCasingFollowsPythonStrLower) {
  // Beyond the fixtures: upper-case text must tokenize as its Python str.lower() form (values from
  // CPython 3.11): context-sensitive final sigma, 'İ' -> 'i' + U+0307, title-case digraphs; ligatures are not
  // decomposed.
  EXPECT_EQ(clip().encode("ΟΔΟΣ ΣΑΣ"), clip().encode("\u03bf\u03b4\u03bf\u03c2 \u03c3\u03b1\u03c2"));
  EXPECT_NE(clip().encode("\u03bf\u03b4\u03bf\u03c2"), clip().encode("\u03bf\u03b4\u03bf\u03c3"));
  EXPECT_EQ(clip().encode("İSTANBUL"), clip().encode("i\u0307stanbul"));
  EXPECT_EQ(clip().encode("\u01c5"), clip().encode("\u01c6"));
  EXPECT_NE(clip().encode("\ufb03"), clip().encode("ffi"));
  // str.split() also splits on U+2028 / U+2029, which are not removed as control characters.
  EXPECT_EQ(clip().encode("a\u2029b"), clip().encode("a b"));
}

TEST(Tokenizer, RejectsInvalidUtf8) {
  EXPECT_THROW(clip().encode("bad \xff byte"), Error);
  EXPECT_THROW(clip().encode("truncated \xe2\x82"), Error);
  EXPECT_THROW(clip().encode("surrogate \xed\xa0\x80"), Error);
}

TEST(Tokenizer, CachedResultsAreStableAcrossThreads) {
  // The BPE cache is shared; concurrent encodes must agree with single-threaded results.
  const nlohmann::json& cases = tokenizer_cases().at("cases");
  ClipTokenizer fresh = ClipTokenizer::load(tokenizer_dir());
  std::vector<std::thread> threads;
  std::vector<int> failures(4, 0);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (const nlohmann::json& c : cases)
        if (fresh.encode(c.at("text").get<std::string>()) != c.at("ids").get<std::vector<int>>())
          ++failures[t];
    });
  }
  for (auto& th : threads) th.join();
  for (int t = 0; t < 4; ++t) EXPECT_EQ(failures[t], 0) << "thread " << t;
}

TEST(Tokenizer, OptionsForFolderReadsPadToken) {
  const fs::path models = test::fixtures_dir() / "models";
  EXPECT_FALSE(ClipTokenizer::options_for_folder(models / "tiny-sd15" / "tokenizer").bang_is_special);
  EXPECT_TRUE(ClipTokenizer::options_for_folder(models / "tiny-sd2v" / "tokenizer").bang_is_special);
  EXPECT_FALSE(ClipTokenizer::options_for_folder(models / "tiny-sdxl" / "tokenizer").bang_is_special);
  EXPECT_TRUE(ClipTokenizer::options_for_folder(models / "tiny-sdxl" / "tokenizer_2").bang_is_special);
  EXPECT_FALSE(ClipTokenizer::options_for_folder(test::temp_dir("tok_no_config")).bang_is_special);
}

TEST(Tokenizer, ModelFolderTokenizersGiveTheSameIds) {
  const fs::path models = test::fixtures_dir() / "models";
  ClipTokenizer sd15 = ClipTokenizer::load(models / "tiny-sd15" / "tokenizer");
  ClipTokenizer sd2 =
      ClipTokenizer::load(models / "tiny-sd2v" / "tokenizer",
                          ClipTokenizer::options_for_folder(models / "tiny-sd2v" / "tokenizer"));
  EXPECT_EQ(sd2.pad_id(), 0);
  for (const nlohmann::json& c : tokenizer_cases().at("cases")) {
    const std::string text = c.at("text").get<std::string>();
    EXPECT_EQ(sd15.encode(text), c.at("ids").get<std::vector<int>>()) << show(text);
    const nlohmann::json& bang =
        c.contains("ids_pad_bang_tokenizer") ? c.at("ids_pad_bang_tokenizer") : c.at("ids");
    EXPECT_EQ(sd2.encode(text), bang.get<std::vector<int>>()) << show(text);
  }
}

// ---- malformed files ----

void write(const fs::path& p, const std::string& content) {
  std::ofstream out(p, std::ios::binary);
  out << content;
}

void copy_fixture(const fs::path& dir, const char* name) {
  fs::copy_file(tokenizer_dir() / name, dir / name, fs::copy_options::overwrite_existing);
}

void expect_error_mentions(const std::function<void()>& fn, const std::vector<std::string>& parts) {
  try {
    fn();
    ADD_FAILURE() << "no error thrown";
  } catch (const Error& e) {
    std::string msg = e.what();
    EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
    for (const std::string& p : parts)
      EXPECT_NE(msg.find(p), std::string::npos) << "'" << p << "' not in: " << msg;
  }
}

TEST(Tokenizer, RejectsMalformedFilesNamingThem) {
  fs::path dir = test::temp_dir("tok_malformed");
  auto load = [&] { ClipTokenizer::load(dir); };
  expect_error_mentions(load, {"vocab.json", "cannot open"});

  copy_fixture(dir, "vocab.json");
  expect_error_mentions(load, {"merges.txt", "cannot open"});

  write(dir / "merges.txt", "i n\nt h\n");
  expect_error_mentions(load, {"merges.txt", "#version"});

  write(dir / "merges.txt", "#version: 0.2\ni n\nth\n");
  expect_error_mentions(load, {"merges.txt", "line 3"});

  write(dir / "merges.txt", "#version: 0.2\ni n\nzzzq yyyq\n");
  expect_error_mentions(load, {"merges.txt", "not in vocab.json"});

  copy_fixture(dir, "merges.txt");
  write(dir / "vocab.json", "{\"a\": 0,");
  expect_error_mentions(load, {"vocab.json", "not valid JSON"});

  write(dir / "vocab.json", "[1, 2]");
  expect_error_mentions(load, {"vocab.json", "JSON object"});

  write(dir / "vocab.json", "{\"a\": 0, \"b\": 1}");
  expect_error_mentions(load, {"vocab.json", "<|startoftext|>"});

  write(dir / "vocab.json", "{\"<|startoftext|>\": 0, \"<|endoftext|>\": 5}");
  expect_error_mentions(load, {"vocab.json", "id 5"});

  write(dir / "vocab.json", "{\"<|startoftext|>\": 0, \"<|endoftext|>\": \"x\"}");
  expect_error_mentions(load, {"vocab.json", "not an integer"});

  write(dir / "vocab.json", "{\"<|startoftext|>\": 0, \"<|endoftext|>\": 1}");
  expect_error_mentions(load, {"vocab.json", "byte symbol"});

  // The structural checks the downloader uses.
  copy_fixture(dir, "vocab.json");
  EXPECT_NO_THROW(check_vocab_file(dir / "vocab.json", true));
  EXPECT_NO_THROW(check_merges_file(dir / "merges.txt", true));
  write(dir / "merges.txt", "#version: 0.2\ni n\n");
  EXPECT_NO_THROW(check_merges_file(dir / "merges.txt", false));
  expect_error_mentions([&] { check_merges_file(dir / "merges.txt", true); }, {"merges.txt", "48894"});
  write(dir / "vocab.json", "{\"<|startoftext|>\": 0, \"<|endoftext|>\": 1}");
  EXPECT_NO_THROW(check_vocab_file(dir / "vocab.json", false));
  expect_error_mentions([&] { check_vocab_file(dir / "vocab.json", true); }, {"vocab.json", "49408"});
}

// ---- lookup ----

struct EnvGuard {
  std::string name;
  std::optional<std::string> old;
  EnvGuard(const char* n, const std::optional<std::string>& value) : name(n) {
    if (const char* v = std::getenv(n)) old = v;
    if (value)
      setenv(n, value->c_str(), 1);
    else
      unsetenv(n);
  }
  ~EnvGuard() {
    if (old)
      setenv(name.c_str(), old->c_str(), 1);
    else
      unsetenv(name.c_str());
  }
};

fs::path make_tokenizer_dir(const fs::path& dir) {
  fs::create_directories(dir);
  copy_fixture(dir, "vocab.json");
  copy_fixture(dir, "merges.txt");
  return dir;
}

TEST(TokenizerLookup, DefaultCacheDirFollowsXdg) {
  {
    EnvGuard xdg("XDG_CACHE_HOME", "/some/cache");
    EXPECT_EQ(default_tokenizer_cache_dir(), fs::path("/some/cache/i2i/tokenizer/clip"));
  }
  {
    EnvGuard xdg("XDG_CACHE_HOME", std::nullopt);
    EnvGuard home("HOME", "/home/someone");
    EXPECT_EQ(default_tokenizer_cache_dir(), fs::path("/home/someone/.cache/i2i/tokenizer/clip"));
  }
  {
    EnvGuard xdg("XDG_CACHE_HOME", "relative/path");
    EnvGuard home("HOME", "/home/someone");
    EXPECT_EQ(default_tokenizer_cache_dir(), fs::path("/home/someone/.cache/i2i/tokenizer/clip"));
  }
}

TEST(TokenizerLookup, SearchOrder) {
  fs::path root = test::temp_dir("tok_lookup");
  fs::path explicit_dir = make_tokenizer_dir(root / "explicit");
  fs::path model = root / "model";
  make_tokenizer_dir(model / "tokenizer");
  make_tokenizer_dir(model / "tokenizer_2");
  fs::path env_dir = make_tokenizer_dir(root / "env");
  fs::path xdg = root / "xdg";
  fs::path cache = make_tokenizer_dir(xdg / "i2i" / "tokenizer" / "clip");
  EnvGuard xdg_env("XDG_CACHE_HOME", xdg.string());
  EnvGuard tok_env("I2I_TOKENIZER", env_dir.string());

  EXPECT_EQ(find_tokenizer_dir(explicit_dir, model), explicit_dir);
  EXPECT_EQ(find_tokenizer_dir({}, model), model / "tokenizer");
  EXPECT_EQ(find_tokenizer_dir({}, model, "tokenizer_2"), model / "tokenizer_2");
  EXPECT_EQ(find_tokenizer_dir({}, root / "single_file_model_has_no_folder"), env_dir);
  EXPECT_EQ(find_tokenizer_dir(), env_dir);
  {
    EnvGuard unset("I2I_TOKENIZER", std::nullopt);
    EXPECT_EQ(find_tokenizer_dir(), cache);
    EXPECT_EQ(find_tokenizer_dir({}, root / "nothing"), cache);
  }
  // A folder given explicitly (option or variable) must hold the files.
  expect_error_mentions([&] { find_tokenizer_dir(root / "missing"); }, {"missing", "vocab.json"});
  {
    EnvGuard bad("I2I_TOKENIZER", (root / "missing").string());
    expect_error_mentions([&] { find_tokenizer_dir(); }, {"I2I_TOKENIZER", "merges.txt"});
  }
  // Nothing anywhere: the message says how to get the tokenizer.
  {
    EnvGuard unset("I2I_TOKENIZER", std::nullopt);
    EnvGuard empty_xdg("XDG_CACHE_HOME", (root / "empty_xdg").string());
    expect_error_mentions([&] { find_tokenizer_dir({}, model / "nothing_here"); },
                          {"openai/clip-vit-large-patch14", "i2i pull tokenizer"});
  }
}

}  // namespace
}  // namespace i2i
