#include "models/clip_prompt.h"

#include "core/error.h"
#include "kernels/ops.h"

namespace i2i {

Tensor encode_prompt_sd(const ClipTextEncoder& encoder, const Tensor& ids, int clip_skip) {
  check(clip_skip >= 0, "clip_skip must be >= 0, got " + std::to_string(clip_skip));
  ClipTextOptions options;
  options.skip = clip_skip;
  return encoder.forward(ids, options).skipped_final_ln;
}

SdxlPromptEmbeddings encode_prompt_sdxl(const ClipTextEncoder& encoder1, const Tensor& ids1,
                                        const ClipTextEncoder& encoder2, const Tensor& ids2, int clip_skip) {
  check(clip_skip >= 0, "clip_skip must be >= 0, got " + std::to_string(clip_skip));
  check(encoder2.config().projection_dim > 0,
        "SDXL prompt encoding needs a text encoder 2 with a projection (CLIPTextModelWithProjection)");
  check(ids1.shape() == ids2.shape(),
        "SDXL prompt encoding: token ids of the two encoders differ in shape (" + shape_str(ids1.shape()) +
            " vs " + shape_str(ids2.shape()) + ")");
  ClipTextOptions options;
  options.skip = clip_skip + 1;
  ClipTextOutput a = encoder1.forward(ids1, options);
  ClipTextOutput b = encoder2.forward(ids2, options);
  return {ops::concat_channels(a.skipped, b.skipped), b.text_embeds};
}

SdPromptPair encode_prompt_pair_sd(const ClipTextEncoder& encoder, const Tensor& ids,
                                   const Tensor& negative_ids, int clip_skip, NegativeClipSkip mode) {
  const int negative_skip = mode == NegativeClipSkip::SameAsPrompt ? clip_skip : 0;
  return {encode_prompt_sd(encoder, ids, clip_skip), encode_prompt_sd(encoder, negative_ids, negative_skip)};
}

SdxlPromptPair encode_prompt_pair_sdxl(const ClipTextEncoder& encoder1, const ClipTextEncoder& encoder2,
                                       const Tensor& ids1, const Tensor& ids2, const Tensor& negative_ids1,
                                       const Tensor& negative_ids2, int clip_skip, NegativeClipSkip mode) {
  const int negative_skip = mode == NegativeClipSkip::SameAsPrompt ? clip_skip : 0;
  return {encode_prompt_sdxl(encoder1, ids1, encoder2, ids2, clip_skip),
          encode_prompt_sdxl(encoder1, negative_ids1, encoder2, negative_ids2, negative_skip)};
}

}  // namespace i2i
