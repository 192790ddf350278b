/* i2i: image-to-image diffusion (Stable Diffusion 1.x / 2.x) - the library's public C interface.
 *
 * A model is loaded once and serves many generations: txt2img, img2img, inpainting (AUTOMATIC1111's mask
 * options) and ControlNet units, in batches, with seeds that reproduce diffusers (RNG "cpu") or
 * AUTOMATIC1111's default GPU noise (RNG "gpu"), a per-step progress callback that can cancel, and a cheap
 * preview of the current latents.
 *
 *   char* err = NULL;
 *   i2i_model_params mp; i2i_model_defaults(&mp);
 *   i2i_model* m = i2i_model_load_with("v1-5-pruned-emaonly.safetensors", &mp, &err);
 *   i2i_generation_params p; i2i_generation_defaults(&p);
 *   p.prompt = "a watercolour lighthouse"; p.init_path = "photo.jpg"; p.strength = 0.6; p.seed = 42;
 *   i2i_result* r = NULL;
 *   if (i2i_generate(m, &p, &r, &err) != I2I_OK) { fprintf(stderr, "%s\n", err); i2i_free_error(err); }
 *   else { i2i_write_png("out.png", &r->images[0], &err); i2i_result_free(r); }
 *   i2i_model_free(m);
 *
 * Conventions. Images are 8-bit, rows top to bottom, interleaved channels (1 grey, 3 RGB or 4 RGBA). Every
 * picture a request uses may be given in memory (an i2i_image with pixels) or as a file path (PNG, JPEG,
 * WebP); memory wins when both are set. Functions that can fail return NULL or a non-zero i2i_status and,
 * when `error` is not NULL, set *error to a one-line message the caller releases with i2i_free_error. The
 * library copies what it needs from the caller's structs and strings during the call and keeps nothing.
 *
 * Threads. An i2i_model may be shared by any number of threads: i2i_generate calls on the same model run
 * one at a time (a second call waits; each already uses every core), calls on different models run
 * concurrently. A progress callback runs on the thread that called i2i_generate. i2i_model_free must not
 * race with a call using that model. Everything else is thread-safe. */
#ifndef I2I_I2I_H
#define I2I_I2I_H

#include <stddef.h>
#include <stdint.h>

#include "i2i/i2i_version.h"

/* I2I_API marks the functions the library exports: libi2i.so is built with hidden visibility and
 * exports these alone. Define I2I_STATIC when linking libi2i.a on Windows. */
#if defined(I2I_BUILDING_LIBRARY) && defined(_WIN32)
#define I2I_API __declspec(dllexport)
#elif defined(I2I_BUILDING_LIBRARY) && defined(__GNUC__)
#define I2I_API __attribute__((visibility("default")))
#elif defined(_WIN32) && !defined(I2I_STATIC)
#define I2I_API __declspec(dllimport)
#else
#define I2I_API
#endif

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
  I2I_OK = 0,
  I2I_ERROR = 1,     /* bad parameter, unreadable file, a model that does not fit, ... (see *error) */
  I2I_CANCELLED = 2, /* the progress callback returned 0: nothing is returned, everything is freed */
} i2i_status;

typedef struct i2i_model i2i_model;

/* A picture the caller owns; `pixels` NULL means "not given". */
typedef struct {
  const uint8_t* pixels;
  int width, height;
  int channels; /* 1, 3 or 4 */
} i2i_image;

/* ---- Models ---------------------------------------------------------------------------------------- */

typedef struct {
  const char* tokenizer_dir; /* CLIP vocab.json + merges.txt; NULL: the model's own folder, $I2I_TOKENIZER or
                                the user cache */
  const char* vae;           /* a VAE replacing the checkpoint's (file or diffusers folder); NULL: none */
  const char* model_config;  /* diffusers JSON or LDM YAML config for a bare single file; NULL: inferred */
  const char* precision;     /* "auto" (default), "fp32" or "bf16" */
} i2i_model_params;

I2I_API void i2i_model_defaults(i2i_model_params* params);
/* A Stable Diffusion 1.x / 2.x checkpoint (.safetensors) or diffusers folder. NULL on error. The first load
 * tunes glibc's malloc for the process (mmap threshold 32 MiB, trim threshold 256 MiB: large activation
 * buffers are reused instead of mapped and zeroed every step); set I2I_NO_MALLOPT=1 in the environment to
 * leave malloc's settings alone. */
I2I_API i2i_model* i2i_model_load_with(const char* path, const i2i_model_params* params, char** error);
/* The same with default parameters and a tokenizer folder (may be NULL). */
I2I_API i2i_model* i2i_model_load(const char* path, const char* tokenizer_dir, char** error);

/* Options added after i2i_model_params: that struct's size is part of the ABI (i2i_model_defaults writes
 * all of it), so it takes no new fields; these come in a struct that says its own size. */
typedef struct {
  size_t size; /* sizeof(i2i_model_options) as the caller was compiled (set by the defaults) */
  /* The models folder in AUTOMATIC1111's or ComfyUI's layout (NULL: $I2I_MODELS_DIR, else
   * ~/.local/share/i2i/models), as the CLI's --models-dir. A model or params->vae given as a bare name
   * ("v1-5-pruned-emaonly", "sdxl/juggernaut", with or without .safetensors) is looked up in its
   * Stable-diffusion/ / checkpoints/ and VAE/ / vae/ folders; "org/name[@revision]" names a repository in
   * the Hugging Face cache ($HF_HUB_CACHE, $HF_HOME/hub or ~/.cache/huggingface/hub). A path that exists
   * always wins. It is also the models folder of this model's generations whose options give none
   * (ControlNets, IP-Adapters, LoRAs, embeddings and annotators by name). */
  const char* models_dir;
} i2i_model_options;

I2I_API void i2i_model_options_defaults(i2i_model_options* options);
/* i2i_model_load_with with options (NULL: the defaults). Fields past options->size are taken as their
 * defaults. `name_or_path`: a checkpoint file or diffusers folder, or a name (see models_dir). */
I2I_API i2i_model* i2i_model_load_with_options(const char* name_or_path, const i2i_model_params* params,
                                               const i2i_model_options* options, char** error);
I2I_API void i2i_model_free(i2i_model* model);

/* ---- Generation ------------------------------------------------------------------------------------ */

/* One ControlNet unit. The model is loaded on first use and kept with the i2i_model (by path). */
typedef struct {
  const char* model_path; /* ControlNet file or diffusers folder (required) */
  i2i_image image;        /* the control image, or: */
  const char* image_path;
  /* "none" (default: the image is the map), "canny", or an annotator network by the A1111 ControlNet
   * extension's module name ("depth_anything_v2", ...) */
  const char* preprocess;
  int canny_low, canny_high;           /* default 100, 200 */
  double weight;                       /* default 1 */
  double guidance_start, guidance_end; /* fractions of the steps, default 0 and 1 */
} i2i_control_unit;

/* Where a run is. `latents` previews: when the request asked for previews, `preview` is AUTOMATIC1111's
 * "Approx cheap" RGB picture of the first image of the batch at 1/8 of the output size (valid during the
 * call only); otherwise its pixels are NULL. */
typedef struct {
  int step, steps;    /* 1-based step within this batch, steps per batch */
  int batch, batches; /* 0-based batch, batch count */
  i2i_image preview;
} i2i_progress;

/* Called after every denoising step. Return non-zero to go on, 0 to cancel (i2i_generate then returns
 * I2I_CANCELLED before the next model evaluation). */
typedef int (*i2i_progress_callback)(const i2i_progress* progress, void* user_data);

typedef enum { I2I_RNG_CPU = 0, I2I_RNG_GPU = 1 } i2i_rng;
typedef enum { I2I_RESIZE_JUST = 0, I2I_RESIZE_CROP = 1, I2I_RESIZE_FILL = 2 } i2i_resize_mode;
typedef enum {
  I2I_MASKED_ORIGINAL = 0,
  I2I_MASKED_FILL = 1,
  I2I_MASKED_LATENT_NOISE = 2,
  I2I_MASKED_LATENT_NOTHING = 3
} i2i_masked_content;

typedef struct {
  const char* prompt;          /* AUTOMATIC1111 syntax: (word:1.3), [word], BREAK */
  const char* negative_prompt; /* may be NULL */
  /* The source picture: none (pixels and path NULL) makes this txt2img. */
  i2i_image init;
  const char* init_path;
  double strength;      /* img2img: 0..1, default 0.75 */
  int steps;            /* default 20 */
  double cfg_scale;     /* default 7; <= 1 runs one model pass per step and ignores the negative prompt */
  const char* sampler;  /* AUTOMATIC1111's name, default "Euler a" (see i2i_sampler_name) */
  const char* schedule; /* NULL / "automatic", "karras", "normal" or "trailing" */
  int64_t seed;         /* -1 (default): a random one (reported in each image's seed) */
  i2i_rng rng;          /* default I2I_RNG_CPU (diffusers' torch CPU generator) */
  int width, height;    /* 0: the init image's size rounded down to 8 (txt2img: required); multiples of 8 */
  i2i_resize_mode resize_mode;
  int clip_skip;               /* default 1 */
  int emphasis;                /* default 1: (word:1.3) weights; 0 reads brackets literally */
  int batch_size, batch_count; /* default 1, 1: batch_size x batch_count images, seeds seed, seed + 1, ... */
  /* Inpainting: a mask (white = repaint) turns it on. */
  i2i_image mask;
  const char* mask_path;
  int mask_blur;   /* default 4 */
  int invert_mask; /* default 0 */
  i2i_masked_content masked_content;
  int only_masked; /* default 0: work on the masked area only and paste it back */
  int padding;     /* default 32 */
  int composite;   /* default 1: pixels outside the mask stay the source's */
  const i2i_control_unit* controls;
  int n_controls;
  i2i_progress_callback progress; /* may be NULL */
  void* progress_user_data;
  int preview; /* default 0; non-zero fills i2i_progress.preview */
} i2i_generation_params;

typedef struct {
  uint8_t* pixels; /* width * height * 3 bytes, RGB */
  int width, height;
  int64_t seed;     /* the seed that makes this image alone */
  char* parameters; /* AUTOMATIC1111's PNG "parameters" text: models by name and short hash, no paths (see
                       i2i_generation_options.infotext_paths) */
} i2i_output_image;

typedef struct {
  i2i_output_image* images; /* batch_size x batch_count, in seed order */
  int n_images;
  int nothing_to_repaint; /* inpainting with an empty mask: the one image is the source, unchanged */
} i2i_result;

I2I_API void i2i_control_unit_defaults(i2i_control_unit* unit);
I2I_API void i2i_generation_defaults(i2i_generation_params* params);
/* Runs the request; on I2I_OK *result holds the images (release with i2i_result_free). */
I2I_API i2i_status i2i_generate(i2i_model* model, const i2i_generation_params* params, i2i_result** result,
                                char** error);
I2I_API void i2i_result_free(i2i_result* result);

/* The annotator network of a ControlNet unit whose preprocessor runs one (depth_anything_v2, openpose,
 * lineart_realistic, ...). i2i_control_unit's size is part of the ABI, so these come in the options. A unit
 * without one (or with model NULL) uses its preprocessor's usual file (depth_anything_v2_vitl.safetensors,
 * body_pose_model.safetensors, ...) found in the models folder's annotators/ (or the A1111 / ComfyUI
 * annotator downloads beside it). */
typedef struct {
  const char* model; /* the annotator's .safetensors file, or its name in annotators/ */
  int resolution;    /* A1111's Processor Res; 0: the default, 512 */
} i2i_control_annotator;

/* One LoRA given by file: a .safetensors file in the kohya/A1111, LoCon, diffusers or PEFT layout, or a
 * diffusers LoRA folder; multipliers for its text-encoder and UNet parts (A1111's <lora:NAME:TE:UNET>). */
typedef struct {
  const char* path;
  double te_multiplier, unet_multiplier;
} i2i_lora;

/* Options added after i2i_generation_params: that struct's size is part of the ABI (i2i_generation_defaults
 * writes all of it), so it takes no new fields; these come in a struct that says its own size. */
typedef struct {
  size_t size;        /* sizeof(i2i_generation_options) as the caller was compiled (set by the defaults) */
  int infotext_paths; /* default 0: the parameters text names models by name and hash and records no path
                         of this machine; non-zero also records the absolute paths (Init image, Model path,
                         Mask image, ControlNet N image / model path) */
  /* Where files named rather than given by path are looked up (NULL: the defaults): the models folder
   * (the model's i2i_model_options.models_dir, else $I2I_MODELS_DIR or ~/.local/share/i2i/models), its
   * LoRA folder (Lora/) and its textual-inversion embeddings folder (embeddings/), as the CLI's
   * --models-dir, --lora-dir and --embeddings-dir. */
  const char* models_dir;
  const char* lora_dir;
  const char* embeddings_dir;
  /* LoRAs by file (the CLI's --lora FILE:TE:UNET), applied before those the prompt names with
   * <lora:NAME:MULT> tags. */
  const i2i_lora* loras;
  int n_loras;
  /* SDXL size conditioning (diffusers' original_size, crops_coords_top_left, target_size and their
   * negative_ variants; the CLI's --original-size W,H ...). A size of 0 x 0 is the default: the output
   * size, and for the negative sizes the positive ones; crops default to 0, 0. */
  int original_width, original_height;
  int crops_left, crops_top;
  int target_width, target_height;
  int negative_original_width, negative_original_height;
  int negative_crops_left, negative_crops_top;
  int negative_target_width, negative_target_height;
  /* SDXL refiner time ids: default 6 and 2.5. */
  double aesthetic_score, negative_aesthetic_score;
  /* A1111's refiner hand-off: an SDXL refiner checkpoint (NULL: none) that takes over once that fraction
   * of the steps is done (default 0.8). */
  const char* refiner;
  double refiner_switch_at;
  /* The annotators of params.controls, by index (n_control_annotators <= n_controls; units past it have
   * none, which preprocessors that run a network refuse). */
  const i2i_control_annotator* control_annotators;
  int n_control_annotators;
} i2i_generation_options;

I2I_API void i2i_generation_options_defaults(i2i_generation_options* options);
/* i2i_generate with options (NULL: the defaults). Fields past options->size are taken as their defaults. */
I2I_API i2i_status i2i_generate_with(i2i_model* model, const i2i_generation_params* params,
                                     const i2i_generation_options* options, i2i_result** result,
                                     char** error);
/* Writes an output image as PNG with its parameters text. Returns I2I_OK or I2I_ERROR. */
I2I_API i2i_status i2i_write_png(const char* path, const i2i_output_image* image, char** error);
/* The index-th sampler name (AUTOMATIC1111's), NULL past the last. */
I2I_API const char* i2i_sampler_name(int index);

/* ---- The first API (kept): plain img2img into a caller buffer ---------------------------------------- */

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

I2I_API void i2i_img2img_defaults(i2i_img2img_params* params);
/* `rgb`: width * height * 3 bytes, width and height multiples of 8. Writes width * height * 3 bytes to
 * `out_rgb`. Returns 0 on success. */
I2I_API int i2i_img2img(const i2i_model* model, const uint8_t* rgb, int width, int height,
                        const i2i_img2img_params* params, uint8_t* out_rgb, char** error);

/* ---- Misc ------------------------------------------------------------------------------------------ */

/* The library's version (I2I_VERSION_STRING of the build, which may differ from the header's). */
I2I_API const char* i2i_version(void);
I2I_API void i2i_free_error(char* error);

#ifdef __cplusplus
}
#endif

#endif /* I2I_I2I_H */
