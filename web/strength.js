// What a denoising strength keeps of the source, in words: the README's guidance ("Using i2i",
// Strength): 0.2-0.4 keeps shapes and colours and changes texture and detail, 0.5-0.7 keeps the
// composition and changes content, 0.8-1.0 keeps little more than the layout of light and dark. The
// values between two bands (0.45, 0.75) go to the nearer band.

const bands = [
  { below: 0.15, words: 'keeps nearly everything: only fine grain and noise change' },
  { below: 0.45, words: 'keeps shapes and colours; changes texture and detail (a photo becomes a painting)' },
  { below: 0.75, words: 'keeps the composition; changes the content' },
  { below: Infinity, words: 'keeps little more than the layout of light and dark' },
];

/** The words for a strength in [0, 1]. */
export function strengthWords(strength) {
  return bands.find((b) => strength < b.below).words;
}

/**
 * How many of `steps` sampling steps img2img runs at `strength`: min(int(steps x strength), steps), as i2i
 * and diffusers compute it (the same double product, so the same count).
 */
export function stepsRun(steps, strength) {
  return Math.min(Math.floor(steps * strength), steps);
}
