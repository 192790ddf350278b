// The before/after view of a result: the result underneath, the source on top clipped to the left of a
// split line that a range input moves (keyboard and touch included: the input covers the whole view).

export class CompareView {
  /**
   * @param {HTMLElement} box the .compare element (its --split custom property places the line)
   * @param {HTMLImageElement} before the source
   * @param {HTMLImageElement} after the result
   * @param {HTMLInputElement} slider 0..100, the share of the width that shows the source
   */
  constructor(box, before, after, slider) {
    Object.assign(this, { box, before, after, slider });
    slider.addEventListener('input', () => this.split(Number(slider.value)));
    this.split(Number(slider.value));
  }

  split(percent) {
    this.box.style.setProperty('--split', `${percent}%`);
    this.slider.setAttribute('aria-valuetext', `${Math.round(percent)}% source, ${Math.round(100 - percent)}% result`);
  }

  /**
   * Shows a result against its source; the view takes the result's shape (a source of another shape is
   * stretched over it, as "just resize" does). Without a source (txt2img) only the result shows.
   */
  show(resultUrl, sourceUrl, width, height) {
    this.after.src = resultUrl;
    this.box.style.aspectRatio = width && height ? `${width} / ${height}` : '';
    const hasSource = Boolean(sourceUrl);
    this.before.hidden = !hasSource;
    this.slider.hidden = !hasSource;
    this.box.classList.toggle('single', !hasSource);
    if (hasSource) this.before.src = sourceUrl;
    this.box.hidden = false;
  }
}
