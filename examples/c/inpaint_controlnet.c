/* An inpainting run steered by a ControlNet unit through the installed i2i library, with a progress
 * line per step; then a second run that its progress callback cancels.
 *
 *   cc -std=c99 -Wall -Werror inpaint_controlnet.c $(pkg-config --cflags --libs i2i) -o inpaint_controlnet
 *   ./inpaint_controlnet ../shared/fixtures out.png
 *
 * FIXTURES is the folder of i2i's test fixtures (tiny random-weight models: the picture is coloured noise,
 * but every stage runs as with a real model). Exit status 0 when the first run wrote OUT.png and the
 * second returned I2I_CANCELLED. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <i2i/i2i.h>

static int print_progress(const i2i_progress* p, void* user_data) {
  (void)user_data;
  fprintf(stderr, "step %d/%d\n", p->step, p->steps);
  return 1; /* go on */
}

static int cancel_at_step_2(const i2i_progress* p, void* user_data) {
  int* calls = (int*)user_data;
  ++*calls;
  fprintf(stderr, "step %d/%d%s\n", p->step, p->steps, p->step == 2 ? ": cancelling" : "");
  return p->step < 2; /* 0 stops the run */
}

static char* path(const char* dir, const char* rel) {
  size_t n = strlen(dir) + strlen(rel) + 2;
  char* s = malloc(n);
  if (s) snprintf(s, n, "%s/%s", dir, rel);
  return s;
}

int main(int argc, char** argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: %s FIXTURES OUT.png\n", argv[0]);
    return 2;
  }
  const char* fx = argv[1];
  char* model_path = path(fx, "models/tiny-sd15.safetensors");
  char* tokenizer = path(fx, "tokenizer");
  char* init = path(fx, "cases/inputs/astronaut_64.png");
  char* mask = path(fx, "cases/inputs/mask_64.png");
  char* controlnet = path(fx, "models/tiny-controlnet-sd15.safetensors");
  int status = 1;
  char* err = NULL;
  i2i_result* result = NULL;
  printf("i2i %s\n", i2i_version());

  i2i_model_params mp;
  i2i_model_defaults(&mp);
  mp.tokenizer_dir = tokenizer;
  mp.precision = "fp32";
  i2i_model* model = i2i_model_load_with(model_path, &mp, &err);
  if (!model) goto done;

  i2i_control_unit unit;
  i2i_control_unit_defaults(&unit);
  unit.model_path = controlnet;
  unit.image_path = init;
  unit.preprocess = "canny";
  unit.weight = 0.8;

  i2i_generation_params p;
  i2i_generation_defaults(&p);
  p.prompt = "a photograph of an astronaut riding a horse, highly detailed";
  p.negative_prompt = "blurry, low quality, watermark";
  p.init_path = init;
  p.mask_path = mask;
  p.steps = 10;
  p.cfg_scale = 7.5;
  p.seed = 1234;
  p.controls = &unit;
  p.n_controls = 1;
  p.progress = print_progress;
  if (i2i_generate(model, &p, &result, &err) != I2I_OK) goto done;
  if (i2i_write_png(argv[2], &result->images[0], &err) != I2I_OK) goto done;
  printf("%s (seed %lld)\n", argv[2], (long long)result->images[0].seed);

  int calls = 0;
  p.progress = cancel_at_step_2;
  p.progress_user_data = &calls;
  i2i_result* cancelled = NULL;
  i2i_status s = i2i_generate(model, &p, &cancelled, &err);
  if (s != I2I_CANCELLED || cancelled != NULL || calls != 2) {
    fprintf(stderr, "expected a cancelled run after 2 steps, got status %d after %d steps\n", (int)s, calls);
    i2i_result_free(cancelled);
    goto done;
  }
  i2i_free_error(err); /* "cancelled" */
  err = NULL;
  printf("second run: cancelled after %d steps\n", calls);
  status = 0;

done:
  if (err) {
    fprintf(stderr, "error: %s\n", err);
    i2i_free_error(err);
  }
  i2i_result_free(result);
  i2i_model_free(model);
  free(model_path);
  free(tokenizer);
  free(init);
  free(mask);
  free(controlnet);
  return status;
}
