#include "models/ip_image_embeds.h"

#include <cstring>

#include "core/error.h"
#include "preprocess/clip_image_processor.h"

namespace i2i {

namespace {

// [1, ...] and [1, ...] of the same shape -> [2, ...].
Tensor stack2(const Tensor& a, const Tensor& b) {
  Shape s = a.shape();
  s[0] = 2;
  Tensor out = Tensor::empty(s);
  std::memcpy(out.data<float>(), a.data<float>(), a.nbytes());
  std::memcpy(out.data<float>() + a.numel(), b.data<float>(), b.nbytes());
  return out;
}

}  // namespace

IpImageEmbeds encode_ip_image(const ClipVisionEncoder& encoder, IpAdapterVariant variant,
                              const Tensor& pixel_values) {
  check(pixel_values.ndim() == 4 && pixel_values.dim(0) == 1,
        "IP-Adapter image: expected the pixel values of one picture [1, H, W, 3], got " +
            shape_str(pixel_values.shape()));
  IpImageEmbeds r;
  if (variant == IpAdapterVariant::Base) {
    check(encoder.has_projection(), "IP-Adapter base needs image embeds, but the image encoder " +
                                        encoder.origin() + " has no visual projection");
    r.positive = encoder.forward(pixel_values).image_embeds;
    r.negative = Tensor::zeros(r.positive.shape());
    return r;
  }
  const Tensor batch = stack2(Tensor::zeros(pixel_values.shape()), pixel_values.to(DType::F32));
  ClipVisionOptions options;
  options.penultimate_only = true;
  const Tensor h = encoder.forward(batch, options).penultimate;
  r.negative = h.slice0(0, 1).clone();
  r.positive = h.slice0(1, 2).clone();
  return r;
}

IpImageEmbeds encode_ip_image(const ClipVisionEncoder& encoder, IpAdapterVariant variant,
                              const Image& image) {
  return encode_ip_image(encoder, variant,
                         clip_image_pixels(image, static_cast<int>(encoder.config().image_size)));
}

Tensor ip_image_tokens(const IpImageProjection& projection, const IpImageEmbeds& embeds) {
  check(
      embeds.negative.defined() && embeds.positive.defined() &&
          embeds.negative.shape() == embeds.positive.shape() && embeds.positive.ndim() >= 2 &&
          embeds.positive.dim(0) == 1 && embeds.positive.dtype() == DType::F32 &&
          embeds.negative.dtype() == DType::F32,
      "IP-Adapter image tokens: the negative and positive embeds must be float32 of the same shape [1, ...]");
  return projection(stack2(embeds.negative, embeds.positive));
}

}  // namespace i2i
