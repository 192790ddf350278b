// OpenCLIP text tower (SD 2.x `cond_stage_model.model.`, SDXL `conditioner.embedders.1.model.`) to Hugging
// Face CLIPTextModel names, as diffusers converts it:
//   token_embedding.weight                      -> text_model.embeddings.token_embedding.weight
//   positional_embedding                        -> text_model.embeddings.position_embedding.weight
//   transformer.resblocks.N.ln_1 / ln_2         -> text_model.encoder.layers.N.layer_norm1 / layer_norm2
//   transformer.resblocks.N.attn.in_proj_weight [3H, H] (q, k, v stacked) and in_proj_bias [3H]
//                                               -> self_attn.{q,k,v}_proj.{weight,bias}
//   transformer.resblocks.N.attn.out_proj       -> self_attn.out_proj
//   transformer.resblocks.N.mlp.c_fc / c_proj   -> mlp.fc1 / mlp.fc2
//   ln_final                                    -> text_model.final_layer_norm
//   text_projection [H, P] (applied as x @ P)   -> text_projection.weight [P, H] (transposed copy)
// Other entries (logit_scale, attn_mask, ...) are ignored.
#pragma once

#include "models/weights.h"

namespace i2i {

// Number of `transformer.resblocks.N.` blocks in an OpenCLIP text tower.
int count_openclip_blocks(const Weights& openclip);

// Converts the first `blocks` residual blocks (-1: all) and the embeddings, final norm and (when
// `with_projection`) the projection. Every source tensor is checked by name and shape, so errors name the
// tensor as stored in the file. Views share storage with `openclip` except the transposed projection.
Weights openclip_text_to_hf(const Weights& openclip, int blocks = -1, bool with_projection = false);

}  // namespace i2i
