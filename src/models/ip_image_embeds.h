// The image side of an IP-Adapter generation, as diffusers 0.27.2's prepare_ip_adapter_image_embeds /
// encode_image build it for one adapter and one picture:
//   base: positive = image_embeds of the picture [1, E]; negative = zeros_like(positive) (a zero vector
//         before the projection, so its tokens are LayerNorm(proj.bias), not zero);
//   plus: positive = hidden_states[-2] of the picture [1, T, W]; negative = hidden_states[-2] of the encoder
//         applied to zeros_like(pixel_values) (zeros in normalised space, not a black picture). Both run
//         through the encoder as one batch of two.
// The encoder runs once per picture; the tokens do not depend on the timestep, so a pipeline computes them
// once per generation (ip_image_tokens) and repeats them for CFG / several images per prompt.
#pragma once

#include "core/tensor.h"
#include "io/image.h"
#include "models/clip_vision.h"
#include "models/ip_image_projection.h"

namespace i2i {

struct IpImageEmbeds {
  Tensor negative;  // base [1, E], plus [1, T, W]
  Tensor positive;
};

// From the processor's pixel_values, float32 NHWC [1, S, S, 3] (clip_image_pixels). i2i::Error when the
// encoder does not give what `variant` needs (base: a visual projection).
IpImageEmbeds encode_ip_image(const ClipVisionEncoder& encoder, IpAdapterVariant variant,
                              const Tensor& pixel_values);
// From a picture: clip_image_pixels(image, encoder image size), then as above.
IpImageEmbeds encode_ip_image(const ClipVisionEncoder& encoder, IpAdapterVariant variant, const Image& image);

// The projection of both halves in one batch: [negative, positive] tokens [2, N, D].
Tensor ip_image_tokens(const IpImageProjection& projection, const IpImageEmbeds& embeds);

}  // namespace i2i
