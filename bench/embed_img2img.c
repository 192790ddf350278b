/* The embedding side of bench/cli_vs_embedded.sh: one img2img through the installed library's C API, as a
 * program that embeds i2i would run it (no CLI code involved), timed inside the process.
 *
 *   embed_img2img MODEL TOKENIZER INIT WIDTH HEIGHT STEPS STRENGTH SEED OUT.png
 *
 * Prints "load S generate S" (seconds) on stdout. */
#define _POSIX_C_SOURCE 199309L
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <i2i/i2i.h>

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

int main(int argc, char** argv) {
  if (argc != 10) {
    fprintf(stderr, "usage: %s MODEL TOKENIZER INIT WIDTH HEIGHT STEPS STRENGTH SEED OUT.png\n", argv[0]);
    return 2;
  }
  char* err = NULL;
  i2i_model_params mp;
  i2i_model_defaults(&mp);
  mp.tokenizer_dir = argv[2];
  const double t0 = now();
  i2i_model* model = i2i_model_load_with(argv[1], &mp, &err);
  if (!model) {
    fprintf(stderr, "error: %s\n", err);
    return 1;
  }
  const double t1 = now();
  i2i_generation_params p;
  i2i_generation_defaults(&p);
  p.prompt = "a photograph of an astronaut riding a horse, highly detailed";
  p.negative_prompt = "blurry, low quality, watermark";
  p.init_path = argv[3];
  p.width = atoi(argv[4]);
  p.height = atoi(argv[5]);
  p.steps = atoi(argv[6]);
  p.strength = atof(argv[7]);
  p.seed = atoll(argv[8]);
  p.sampler = "DPM++ 2M Karras";
  i2i_result* r = NULL;
  if (i2i_generate(model, &p, &r, &err) != I2I_OK || i2i_write_png(argv[9], &r->images[0], &err) != I2I_OK) {
    fprintf(stderr, "error: %s\n", err);
    return 1;
  }
  const double t2 = now();
  printf("load %.3f generate %.3f\n", t1 - t0, t2 - t1);
  i2i_result_free(r);
  i2i_model_free(model);
  return 0;
}
