#include "pipelines/prompt_embedding.h"

#include <algorithm>
#include <cstring>

#include "core/error.h"
#include "kernels/ops.h"
#include "text/prompt_chunks.h"

namespace i2i {
namespace {

Tensor concat_tokens(const Tensor& a, const Tensor& b) {
  if (!a.defined()) return b;
  Tensor out = Tensor::empty({1, a.dim(1) + b.dim(1), a.dim(2)});
  std::memcpy(out.raw(), a.raw(), a.nbytes());
  std::memcpy(static_cast<char*>(out.raw()) + a.nbytes(), b.raw(), b.nbytes());
  return out;
}

ChunkSpec chunk_spec(const ClipTokenizer& tokenizer) {
  ChunkSpec spec;
  spec.bos = tokenizer.bos_id();
  spec.eos = tokenizer.eos_id();
  spec.pad = tokenizer.pad_id();
  spec.comma = tokenizer.id_of(",</w>");
  return spec;
}

}  // namespace

PromptTokens tokenize_prompt(const ClipTokenizer& tokenizer, int64_t width, const std::string& prompt,
                             const PromptOptions& options) {
  std::vector<ChunkEmbedding> lookup;
  for (const auto& e : options.embeddings)
    lookup.push_back({tokenizer.tokenize(e->name), static_cast<int>(e->vectors)});
  const std::vector<PromptChunk> chunks = build_prompt_chunks(
      parse_prompt_weights(prompt, options.emphasis),
      [&](const std::string& s) { return tokenizer.tokenize(s); }, chunk_spec(tokenizer), lookup);
  const int64_t k = static_cast<int64_t>(chunks.size()), T = static_cast<int64_t>(chunks[0].ids.size());
  PromptTokens out;
  out.ids = Tensor::empty({k, T}, DType::I64);
  for (int64_t c = 0; c < k; ++c) {
    const PromptChunk& chunk = chunks[static_cast<size_t>(c)];
    for (int64_t t = 0; t < T; ++t) out.ids.data<int64_t>()[c * T + t] = chunk.ids[static_cast<size_t>(t)];
    out.multipliers.push_back(chunk.multipliers);
    for (const ChunkEmbeddingUse& u : chunk.embeddings) {
      const TextualInversion& e = *options.embeddings[static_cast<size_t>(u.embedding)];
      const Tensor* vectors = e.vectors_for(width);
      if (!vectors)
        throw Error(e.file.filename().string() + ": embedding '" + e.name + "' has vectors " +
                    e.widths_text() + " wide, none for a text encoder " + std::to_string(width) + " wide");
      out.vectors.push_back({c, u.position, *vectors});
      out.vector_names.push_back(e.name);
      if (std::find(out.embeddings_used.begin(), out.embeddings_used.end(), e.name) ==
          out.embeddings_used.end())
        out.embeddings_used.push_back(e.name);
    }
  }
  return out;
}

void apply_emphasis(Tensor& z, const PromptTokens& tokens) {
  const int64_t k = z.dim(0), T = z.dim(1), D = z.dim(2);
  check(static_cast<int64_t>(tokens.multipliers.size()) == k, "apply_emphasis: chunk count differs");
  // Scale each token's features by its weight, then restore the chunk's mean (A1111).
  for (int64_t c = 0; c < k; ++c) {
    const auto& mult = tokens.multipliers[static_cast<size_t>(c)];
    bool weighted = false;
    for (float m : mult) weighted |= m != 1.0f;
    if (!weighted) continue;
    float* p = z.data<float>() + c * T * D;
    double before = 0, after = 0;
    for (int64_t i = 0; i < T * D; ++i) before += p[i];
    for (int64_t t = 0; t < T; ++t)
      for (int64_t d = 0; d < D; ++d) p[t * D + d] *= mult[static_cast<size_t>(t)];
    for (int64_t i = 0; i < T * D; ++i) after += p[i];
    float ratio = static_cast<float>((before / (T * D)) / (after / (T * D)));
    for (int64_t i = 0; i < T * D; ++i) p[i] *= ratio;
  }
}

std::vector<std::string> embeddings_in_prompt(const ClipTokenizer& tokenizer,
                                              const std::vector<std::string>& names,
                                              const std::string& prompt, bool emphasis) {
  std::vector<ChunkEmbedding> lookup;
  for (const std::string& n : names) lookup.push_back({tokenizer.tokenize(n), 1});
  std::vector<std::string> used;
  for (const WeightedText& part : parse_prompt_weights(prompt, emphasis)) {
    if (part.is_break) continue;
    const std::vector<int> tokens = tokenizer.tokenize(part.text);
    for (size_t position = 0; position < tokens.size();) {
      const int e = find_embedding_at(tokens, position, lookup);
      if (e < 0) {
        ++position;
        continue;
      }
      const std::string& name = names[static_cast<size_t>(e)];
      if (std::find(used.begin(), used.end(), name) == used.end()) used.push_back(name);
      position += lookup[static_cast<size_t>(e)].name_ids.size();
    }
  }
  return used;
}

Tensor encode_prompt(const ClipTokenizer& tokenizer, const ClipTextEncoder& encoder,
                     const std::string& prompt, const PromptOptions& options, Tensor* pooled) {
  const int layers = encoder.config().num_layers;
  if (options.clip_skip < 1 || options.clip_skip > layers)
    throw ParameterError("{clip_skip} " + std::to_string(options.clip_skip) +
                         " is out of range for a text encoder of " + std::to_string(layers) + " layers");
  PromptTokens tokens = tokenize_prompt(tokenizer, encoder.config().hidden_size, prompt, options);
  ClipTextOptions opts;
  opts.skip = options.sdxl_penultimate ? 1 : options.clip_skip - 1;
  opts.token_vectors = tokens.vectors;
  ClipTextOutput out = encoder.forward(tokens.ids, opts);
  Tensor z = options.sdxl_penultimate ? out.skipped
             : options.clip_skip == 1 ? out.last_hidden_state
                                      : out.skipped_final_ln;  // [k, T, D]
  if (pooled) {
    check(out.text_embeds.defined(), "the text encoder has no projection for a pooled embedding");
    *pooled = out.text_embeds.slice0(0, 1).clone();
  }
  apply_emphasis(z, tokens);
  return z.reshape({1, z.dim(0) * z.dim(1), z.dim(2)});
}

PromptPair encode_prompt_pair(const ClipTokenizer& tokenizer, const ClipTextEncoder& encoder,
                              const std::string& prompt, const std::string& negative_prompt,
                              const PromptOptions& options) {
  PromptPair p{encode_prompt(tokenizer, encoder, prompt, options),
               encode_prompt(tokenizer, encoder, negative_prompt, options)};
  if (p.cond.dim(1) != p.uncond.dim(1)) {
    Tensor empty = encode_prompt(tokenizer, encoder, "", options);
    while (p.cond.dim(1) < p.uncond.dim(1)) p.cond = concat_tokens(p.cond, empty);
    while (p.uncond.dim(1) < p.cond.dim(1)) p.uncond = concat_tokens(p.uncond, empty);
  }
  return p;
}

XlPromptEmbedding encode_prompt_xl(const XlTextEncoders& e, const std::string& prompt,
                                   const PromptOptions& options) {
  check(e.tokenizer2 && e.encoder2, "SDXL prompt encoding needs text encoder 2 and its tokenizer");
  check(!e.encoder1 == !e.tokenizer1, "SDXL prompt encoding: text encoder 1 without its tokenizer");
  PromptOptions o = options;
  o.sdxl_penultimate = true;
  XlPromptEmbedding r;
  Tensor z2 = encode_prompt(*e.tokenizer2, *e.encoder2, prompt, o, &r.pooled);
  if (!e.encoder1) {
    r.embeds = z2;
    return r;
  }
  Tensor z1 = encode_prompt(*e.tokenizer1, *e.encoder1, prompt, o);
  // The tokenizers differ only in `!` (tokenizer 2 reads each as the pad token), which can change the chunk
  // count: the shorter one is completed with its encoder's empty-prompt chunk, as encode_prompt_pair does.
  if (z1.dim(1) != z2.dim(1)) {
    Tensor& shorter = z1.dim(1) < z2.dim(1) ? z1 : z2;
    const bool first = z1.dim(1) < z2.dim(1);
    const Tensor empty = first ? encode_prompt(*e.tokenizer1, *e.encoder1, "", o)
                               : encode_prompt(*e.tokenizer2, *e.encoder2, "", o);
    while (shorter.dim(1) < std::max(z1.dim(1), z2.dim(1))) shorter = concat_tokens(shorter, empty);
  }
  r.embeds = ops::concat_channels(z1, z2);
  return r;
}

XlPromptPair encode_prompt_pair_xl(const XlTextEncoders& encoders, const std::string& prompt,
                                   const std::string& negative_prompt, bool zero_empty_negative,
                                   const PromptOptions& options) {
  XlPromptPair p;
  p.cond = encode_prompt_xl(encoders, prompt, options);
  if (zero_empty_negative && negative_prompt.empty()) {
    p.uncond.embeds = Tensor::zeros(p.cond.embeds.shape());
    p.uncond.pooled = Tensor::zeros(p.cond.pooled.shape());
    return p;
  }
  p.uncond = encode_prompt_xl(encoders, negative_prompt, options);
  if (p.cond.embeds.dim(1) != p.uncond.embeds.dim(1)) {
    const Tensor empty = encode_prompt_xl(encoders, "", options).embeds;
    while (p.cond.embeds.dim(1) < p.uncond.embeds.dim(1)) p.cond.embeds = concat_tokens(p.cond.embeds, empty);
    while (p.uncond.embeds.dim(1) < p.cond.embeds.dim(1))
      p.uncond.embeds = concat_tokens(p.uncond.embeds, empty);
  }
  return p;
}

}  // namespace i2i
