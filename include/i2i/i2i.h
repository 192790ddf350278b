/* i2i: image-to-image diffusion (Stable Diffusion 1.x / 2.x) — the library's small public C interface.
 *
 *   char* err = NULL;
 *   i2i_model* m = i2i_model_load("v1-5-pruned-emaonly.safetensors", NULL, &err);
 *   i2i_img2img_params p; i2i_img2img_defaults(&p);
 *   p.prompt = "a watercolour lighthouse"; p.strength = 0.6; p.seed = 42;
 *   uint8_t* out = malloc((size_t)w * h * 3);
 *   if (i2i_img2img(m, rgb, w, h, &p, out, &err) != 0) { fprintf(stderr, "%s\n", err); i2i_free_error(err); }
 *   i2i_model_free(m);
 *
 * Images are 8-bit RGB, rows top to bottom, 3 bytes per pixel; width and height multiples of 8.
 * Functions that can fail return NULL / non-zero and, when `error` is not NULL, set *error to a
 * one-line message the caller releases with i2i_free_error. */
#ifndef I2I_I2I_H
#define I2I_I2I_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct i2i_model i2i_model;

typedef struct {
  const char* prompt;
  const char* negative_prompt; /* may be NULL */
  double strength;             /* 0..1, default 0.75 */
  int steps;                   /* default 20 */
  double cfg_scale;            /* default 7 */
  const char* sampler;         /* AUTOMATIC1111 name, default "Euler a" */
  int64_t seed;                /* torch CPU generator seed (diffusers-compatible), default 0 */
  int clip_skip;               /* default 1 */
} i2i_img2img_params;

const char* i2i_version(void);

/* `tokenizer_dir` may be NULL: the model's own folder, $I2I_TOKENIZER or the user cache are searched.
 * The first load tunes glibc's malloc for the process (mmap threshold 32 MiB, trim threshold 256 MiB: large
 * activation buffers are reused instead of mapped and zeroed every step); set I2I_NO_MALLOPT=1 in the
 * environment to leave malloc's settings alone. */
i2i_model* i2i_model_load(const char* path, const char* tokenizer_dir, char** error);
void i2i_model_free(i2i_model* model);

void i2i_img2img_defaults(i2i_img2img_params* params);
/* Writes width * height * 3 bytes to `out_rgb`. Returns 0 on success. */
int i2i_img2img(const i2i_model* model, const uint8_t* rgb, int width, int height,
                const i2i_img2img_params* params, uint8_t* out_rgb, char** error);

void i2i_free_error(char* error);

#ifdef __cplusplus
}
#endif

#endif /* I2I_I2I_H */
