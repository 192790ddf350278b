// A picture made for an inpainting request outside generate() - e.g. latents a front end decoded itself when
// the run was interrupted (the server answers those, as A1111 does) - put back into the source as generate()
// puts back its own (defined in generation.cpp, beside it).
#pragma once

#include "io/image.h"

namespace i2i {

struct GenerationRequest;

// `generated` (at the work size) pasted into the work area (only masked) and overlaid on the source
// (params.composite), with the request's pictures in memory; without a mask, `generated` as it is. Throws
// i2i::Error as generate() would for the request's pictures.
Image finish_inpaint_picture(const GenerationRequest& request, const Image& generated);

}  // namespace i2i
