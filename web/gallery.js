// The results made since the page was opened, newest first, each with its parameters (read from the
// response's `info`, A1111's keys) and a download of the PNG exactly as the server sent it: the file
// carries its `parameters` text, so A1111's PNG Info and `i2i img2img --from-png` read it back.

/** A base64 PNG as a Blob (downloads of large pictures as data URLs are slow or refused). */
export function pngBlob(base64) {
  const bare = base64.startsWith('data:') ? base64.slice(base64.indexOf(',') + 1) : base64;
  const bytes = Uint8Array.from(atob(bare), (c) => c.charCodeAt(0));
  return new Blob([bytes], { type: 'image/png' });
}

/** A file name for a result: i2i-<timestamp>-<seed>.png. */
export function fileName(info, seed) {
  const stamp = typeof info.job_timestamp === 'string' && /^\d+$/.test(info.job_timestamp)
    ? info.job_timestamp
    : new Date().toISOString().replace(/\D/g, '').slice(0, 14);
  return `i2i-${stamp}-${seed ?? 'unknown'}.png`;
}

/** One line of the settings that made a picture. */
export function summary(info, mode) {
  const parts = [];
  if (info.seed !== undefined) parts.push(`seed ${info.seed}`);
  if (info.sampler_name) parts.push(info.sampler_name);
  if (info.steps !== undefined) parts.push(`${info.steps} steps`);
  if (info.cfg_scale !== undefined) parts.push(`CFG ${info.cfg_scale}`);
  if (mode === 'img2img' && info.denoising_strength !== undefined && info.denoising_strength !== null) {
    parts.push(`strength ${info.denoising_strength}`);
  }
  if (info.width && info.height) parts.push(`${info.width}×${info.height}`);
  return parts.join(' · ');
}

export class Gallery {
  /**
   * @param {HTMLOListElement} list
   * @param {HTMLElement} emptyNote shown while the gallery is empty
   * @param {(entry) => void} onSelect called when a picture is chosen to be shown large
   */
  constructor(list, emptyNote, onSelect) {
    Object.assign(this, { list, emptyNote, onSelect });
    this.entries = [];
  }

  /**
   * Adds a result. `entry`: {url, blobUrl, fileName, seed, info, infotext, mode, extras (words such as
   * "inpainted"), sourceUrl, interrupted}.
   */
  add(entry) {
    this.entries.push(entry);
    const li = document.createElement('li');
    entry.element = li;
    const title = `Result ${this.entries.length}`;

    const thumb = document.createElement('button');
    thumb.type = 'button';
    thumb.className = 'thumb';
    thumb.setAttribute('aria-label', `${title}: show it beside its source`);
    const img = document.createElement('img');
    img.src = entry.url;
    img.alt = entry.info.prompt ? `${title}: ${entry.info.prompt}` : title;
    img.loading = 'lazy';
    thumb.append(img);
    thumb.addEventListener('click', () => this.onSelect(entry));

    const prompt = document.createElement('p');
    prompt.className = 'prompt';
    prompt.textContent = entry.info.prompt || '(no prompt)';

    const params = document.createElement('p');
    params.className = 'params';
    params.textContent = [entry.mode, summary({ ...entry.info, seed: entry.seed }, entry.mode), ...entry.extras]
      .join(' · ');
    if (entry.interrupted) {
      const badge = document.createElement('span');
      badge.className = 'badge';
      badge.textContent = ' · interrupted';
      params.append(badge);
    }

    const actions = document.createElement('div');
    actions.className = 'item-actions';
    const download = document.createElement('a');
    download.className = 'button';
    download.href = entry.blobUrl;
    download.download = entry.fileName;
    download.textContent = 'Download PNG';
    download.setAttribute('aria-label', `Download ${title} as PNG`);
    actions.append(download);

    li.append(thumb, prompt, params, actions);
    if (entry.infotext) {
      const details = document.createElement('details');
      const s = document.createElement('summary');
      s.textContent = 'Parameters';
      const pre = document.createElement('pre');
      pre.textContent = entry.infotext;
      details.append(s, pre);
      li.append(details);
    }
    this.list.prepend(li);
    this.emptyNote.hidden = true;
  }

  /** Marks the entry shown large. */
  markCurrent(entry) {
    for (const e of this.entries) e.element.classList.toggle('current', e === entry);
  }
}
