#include "models/unet_conditioning.h"

#include "core/error.h"

namespace i2i {

void check_text_conditioning(const UNetConditioning& cond, const std::string& who, int64_t batch,
                             int64_t cross_attention_dim, bool has_added_conditions) {
  const Tensor& context = cond.context;
  check(context.ndim() == 3 && context.dim(0) == batch && context.dim(2) == cross_attention_dim &&
            context.dtype() == DType::F32,
        who + ": encoder_hidden_states must be float32 [" + std::to_string(batch) + ", S, " +
            std::to_string(cross_attention_dim) + "], got " + shape_str(context.shape()));
  if (has_added_conditions) return;
  check(!cond.text_embeds.defined() && !cond.time_ids.defined(),
        who + ": text_embeds / time_ids given, but this " + who +
            " has no added-embedding layers (SDXL add_embedding, addition_embed_type \"text_time\")");
}

}  // namespace i2i
