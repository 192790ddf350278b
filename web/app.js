// The page's controller: reads the settings, sends A1111's img2img (or txt2img without a source) request,
// polls /sdapi/v1/progress for the bar and the live preview while it runs, and shows the result beside the
// source and in the gallery. Every request shape is A1111 1.10's (see api.js).

import * as api from './api.js';
import { CompareView } from './compare.js';
import { Gallery, fileName, pngBlob, summary } from './gallery.js';
import { defaultSize, loadImageFile } from './image_source.js';
import { MaskPainter } from './mask_painter.js';
import { stepsRun, strengthWords } from './strength.js';

const $ = (id) => document.getElementById(id);
const el = {
  form: $('settings'),
  model: $('model'),
  prompt: $('prompt'),
  negative: $('negative-prompt'),
  strength: $('strength'),
  strengthValue: $('strength-value'),
  strengthWords: $('strength-words'),
  sampler: $('sampler'),
  steps: $('steps'),
  cfg: $('cfg-scale'),
  seed: $('seed'),
  seedRandom: $('seed-random'),
  seedReuse: $('seed-reuse'),
  width: $('width'),
  height: $('height'),
  controlnet: $('controlnet'),
  controlnetModel: $('controlnet-model'),
  controlnetWeight: $('controlnet-weight'),
  controlnetHint: $('controlnet-hint'),
  generate: $('generate'),
  interrupt: $('interrupt'),
  progress: $('progress'),
  status: $('status'),
  file: $('file'),
  choose: $('choose'),
  dropzone: $('dropzone'),
  dropHint: $('dropzone-hint'),
  stage: document.querySelector('#dropzone .stage'),
  source: $('source'),
  mask: $('mask'),
  brushCursor: $('brush-cursor'),
  maskTools: $('mask-tools'),
  brushSize: $('brush-size'),
  maskInvert: $('mask-invert'),
  maskClear: $('mask-clear'),
  maskState: $('mask-state'),
  maskBlur: $('mask-blur'),
  inpaintingFill: $('inpainting-fill'),
  inpaintArea: $('inpaint-area'),
  download: $('download'),
  resultEmpty: $('result-empty'),
  previewBox: $('preview-box'),
  preview: $('preview'),
  compare: $('compare'),
  resultInfo: $('result-info'),
  gallery: $('gallery'),
  galleryEmpty: $('gallery-empty'),
};

const state = {
  source: null, // {dataUrl, width, height, name}
  job: 0, // the running generation's number; 0 while idle
  interruptRequested: false,
  lastSeed: null,
  loadedModel: null,
};

const compare = new CompareView(el.compare, $('compare-before'), $('compare-after'), $('compare-slider'));
const gallery = new Gallery(el.gallery, el.galleryEmpty, showEntry);
const painter = new MaskPainter(el.mask, el.brushCursor, updateMaskState);

function setStatus(text, { error = false } = {}) {
  el.status.textContent = text;
  el.status.classList.toggle('error', error);
}

const intValue = (input) => Math.trunc(Number(input.value));

// ---- Strength ----------------------------------------------------------------------------------------

function updateStrength() {
  const s = Number(el.strength.value);
  el.strengthValue.textContent = s.toFixed(2);
  if (!state.source) {
    el.strengthWords.textContent = 'Text to image (no source): strength is not used.';
    return;
  }
  const steps = Math.max(1, intValue(el.steps) || 1);
  const n = stepsRun(steps, s);
  el.strengthWords.textContent = `${strengthWords(s)}. Runs ${n} of ${steps} steps.`;
}

// ---- Source and mask ---------------------------------------------------------------------------------

async function setSource(file) {
  if (state.job) return;
  let src;
  try {
    src = await loadImageFile(file);
  } catch (err) {
    setStatus(err.message, { error: true });
    return;
  }
  state.source = src;
  el.source.src = src.dataUrl;
  el.stage.hidden = false;
  el.dropHint.hidden = true;
  el.dropzone.classList.remove('empty');
  el.maskTools.disabled = false;
  painter.reset(src.width, src.height);
  const size = defaultSize(src.width, src.height);
  el.width.value = size.width;
  el.height.value = size.height;
  updateControlnet();
  updateStrength();
  setStatus(`Source: ${src.name}, ${src.width}×${src.height}.`);
}

function updateMaskState() {
  if (painter.isEmpty()) {
    el.maskState.textContent = 'No mask: the whole picture is redrawn.';
  } else {
    const pct = Math.max(1, Math.round(painter.coverage() * 100));
    el.maskState.textContent = `Mask covers ${pct}%: only the painted part is redrawn (inpainting).`;
  }
}

function setupSource() {
  el.choose.addEventListener('click', () => el.file.click());
  el.file.addEventListener('change', () => {
    if (el.file.files.length) setSource(el.file.files[0]);
    el.file.value = '';
  });
  const zone = el.dropzone;
  for (const type of ['dragenter', 'dragover']) {
    zone.addEventListener(type, (e) => {
      e.preventDefault();
      zone.classList.add('over');
    });
  }
  zone.addEventListener('dragleave', (e) => {
    if (!zone.contains(e.relatedTarget)) zone.classList.remove('over');
  });
  zone.addEventListener('drop', (e) => {
    e.preventDefault();
    zone.classList.remove('over');
    const file = [...(e.dataTransfer?.files ?? [])].find((f) => !f.type || f.type.startsWith('image/'));
    if (file) setSource(file);
    else setStatus('Drop an image file.', { error: true });
  });
  document.addEventListener('paste', (e) => {
    const file = [...(e.clipboardData?.files ?? [])].find((f) => f.type.startsWith('image/'));
    if (file) {
      e.preventDefault();
      setSource(file);
    }
  });
  for (const radio of document.querySelectorAll('input[name="mask-tool"]')) {
    radio.addEventListener('change', () => (painter.tool = radio.value));
  }
  const size = () => (painter.size = Number(el.brushSize.value));
  el.brushSize.addEventListener('input', size);
  size();
  el.maskInvert.addEventListener('click', () => painter.invert());
  el.maskClear.addEventListener('click', () => painter.clear());
}

// ---- Server lists: models, samplers, ControlNet models -----------------------------------------------

async function loadLists() {
  const [samplers, models, options, cn] = await Promise.allSettled([
    api.samplers(),
    api.sdModels(),
    api.options(),
    api.controlnetModels(),
  ]);
  if (samplers.status === 'fulfilled' && Array.isArray(samplers.value) && samplers.value.length) {
    const previous = el.sampler.value;
    el.sampler.replaceChildren(...samplers.value.map((s) => new Option(s.name, s.name)));
    const names = samplers.value.map((s) => s.name);
    el.sampler.value = names.includes(previous) ? previous : names[0];
  } else if (samplers.status === 'rejected') {
    setStatus(`Samplers: ${samplers.reason.message}`, { error: true });
  }

  const list = models.status === 'fulfilled' && Array.isArray(models.value) ? models.value : [];
  const current = options.status === 'fulfilled' ? options.value?.sd_model_checkpoint : undefined;
  if (list.length) {
    el.model.replaceChildren(...list.map((m) => new Option(m.model_name || m.title, m.title)));
    const match = list.find((m) => m.title === current || m.model_name === current || m.hash === current);
    el.model.value = match ? match.title : list[0].title;
    state.loadedModel = el.model.value;
    el.model.disabled = list.length < 2;
  } else {
    el.model.replaceChildren(new Option(current || 'the server\'s model'));
  }

  const cnModels = cn.status === 'fulfilled' && Array.isArray(cn.value?.model_list) ? cn.value.model_list : [];
  el.controlnetModel.replaceChildren(...cnModels.map((m) => new Option(m, m)));
  el.controlnet.dataset.available = cnModels.length ? 'yes' : '';
  updateControlnet();
}

function updateControlnet() {
  const available = Boolean(el.controlnet.dataset.available);
  el.controlnet.disabled = !available || !state.source;
  el.controlnetModel.disabled = el.controlnet.disabled || !el.controlnet.checked;
  el.controlnetWeight.disabled = el.controlnetModel.disabled;
  if (!available) el.controlnetHint.textContent = 'No ControlNet model on the server (its ControlNet folder is empty).';
  else if (!state.source) el.controlnetHint.textContent = 'Needs a source image: its Canny edges steer the picture.';
  else el.controlnetHint.textContent = 'The Canny edges of the source (thresholds 100, 200) steer the picture.';
}

async function switchModel() {
  const title = el.model.value;
  if (title === state.loadedModel) return;
  el.model.disabled = true;
  setStatus(`Loading ${title}…`);
  try {
    await api.setOptions({ sd_model_checkpoint: title });
    state.loadedModel = title;
    setStatus(`Model: ${title}.`);
  } catch (err) {
    el.model.value = state.loadedModel;
    setStatus(`Model: ${err.message}`, { error: true });
  } finally {
    el.model.disabled = false;
  }
}

// ---- Generation --------------------------------------------------------------------------------------

function requestBody() {
  const body = {
    prompt: el.prompt.value,
    negative_prompt: el.negative.value,
    seed: intValue(el.seed),
    sampler_name: el.sampler.value,
    steps: intValue(el.steps),
    cfg_scale: Number(el.cfg.value),
    width: intValue(el.width),
    height: intValue(el.height),
    batch_size: 1,
    n_iter: 1,
    send_images: true,
    save_images: false,
  };
  if (!state.source) return { mode: 'txt2img', body };
  body.init_images = [state.source.dataUrl];
  body.denoising_strength = Number(el.strength.value);
  body.resize_mode = 0;
  if (!painter.isEmpty()) {
    body.mask = painter.toDataUrl();
    body.mask_blur = intValue(el.maskBlur);
    body.inpainting_fill = intValue(el.inpaintingFill);
    body.inpaint_full_res = el.inpaintArea.value === 'masked';
    body.inpaint_full_res_padding = 32;
    body.inpainting_mask_invert = 0;
  }
  if (el.controlnet.checked && !el.controlnet.disabled) {
    body.alwayson_scripts = {
      controlnet: {
        args: [
          {
            enabled: true,
            module: 'canny',
            model: el.controlnetModel.value,
            weight: Number(el.controlnetWeight.value),
            image: state.source.dataUrl,
            threshold_a: 100,
            threshold_b: 200,
            guidance_start: 0,
            guidance_end: 1,
            pixel_perfect: false,
            control_mode: 'Balanced',
          },
        ],
      },
    };
  }
  return { mode: 'img2img', body };
}

// A check of what the server would refuse anyway, said in the page's words.
function checkSettings(mode, body) {
  if (!(body.steps >= 1)) return 'Steps must be 1 or more.';
  if (!(body.width >= 8 && body.height >= 8)) return 'Width and height must be 8 or more.';
  if (body.width % 8 || body.height % 8) return 'Width and height must be multiples of 8.';
  if (mode === 'img2img' && stepsRun(body.steps, body.denoising_strength) === 0) {
    const { denoising_strength: strength, steps } = body;
    return `At strength ${strength} no step of ${steps} would run: raise the steps or the strength.`;
  }
  return null;
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function pollProgress(job, started) {
  while (state.job === job) {
    try {
      const p = await api.progress(false);
      if (state.job !== job) return;
      showProgress(p, started);
    } catch {
      // a missed poll is not an error of the job
    }
    await sleep(250);
  }
}

function showProgress(p, started) {
  const s = p.state ?? {};
  if (typeof p.progress === 'number') el.progress.value = Math.min(1, Math.max(0, p.progress));
  if (p.current_image) {
    el.preview.src = api.imageUrl(p.current_image);
    el.previewBox.hidden = false;
    el.compare.hidden = true;
    el.resultEmpty.hidden = true;
  }
  if (state.interruptRequested) return;
  const elapsed = ((performance.now() - started) / 1000).toFixed(1);
  if (s.sampling_steps > 0) {
    const eta = p.eta_relative > 0 ? ` · about ${Math.ceil(p.eta_relative)} s left` : '';
    setStatus(`Step ${s.sampling_step} of ${s.sampling_steps}${eta} · ${elapsed} s`);
  } else if (p.textinfo) {
    setStatus(`${p.textinfo} · ${elapsed} s`);
  }
}

function setBusy(busy) {
  el.generate.disabled = busy;
  el.interrupt.disabled = !busy;
  el.file.disabled = busy;
  el.choose.disabled = busy;
  el.form.setAttribute('aria-busy', busy ? 'true' : 'false');
}

async function generate() {
  if (state.job) return;
  const { mode, body } = requestBody();
  const problem = checkSettings(mode, body);
  if (problem) {
    setStatus(problem, { error: true });
    return;
  }
  const job = Date.now();
  state.job = job;
  state.interruptRequested = false;
  const sourceUrl = state.source?.dataUrl ?? null;
  const started = performance.now();
  setBusy(true);
  el.progress.removeAttribute('value'); // indeterminate until the first poll
  setStatus(mode === 'img2img' && body.mask ? 'Inpainting…' : 'Generating…');
  pollProgress(job, started);
  try {
    const response = await api.generate(mode, body);
    const interrupted = state.interruptRequested;
    state.job = 0;
    const images = Array.isArray(response?.images) ? response.images : [];
    if (!images.length && interrupted) {
      // A server that keeps only finished pictures has none to send back after an early interrupt.
      restoreResultView();
      el.progress.value = 0;
      setStatus('Interrupted before a picture was finished.');
      return;
    }
    if (!images.length) throw new Error('the server sent no image');
    const info = api.parseInfo(response.info);
    const seeds = Array.isArray(info.all_seeds) ? info.all_seeds : [];
    // A1111's ControlNet appends its detected maps after the generated pictures: take the generated ones.
    const count = seeds.length ? Math.min(seeds.length, images.length) : images.length;
    let first = null;
    for (let i = 0; i < count; ++i) {
      const seed = seeds[i] ?? info.seed;
      const entry = {
        url: api.imageUrl(images[i]),
        blobUrl: URL.createObjectURL(pngBlob(images[i])),
        fileName: fileName(info, seed),
        seed,
        info,
        infotext: Array.isArray(info.infotexts) ? info.infotexts[i] : undefined,
        mode,
        extras: [body.mask && 'inpainted', body.alwayson_scripts && 'ControlNet canny'].filter(Boolean),
        sourceUrl,
        interrupted,
      };
      gallery.add(entry);
      first ??= entry;
    }
    state.lastSeed = first.seed;
    el.seedReuse.disabled = state.lastSeed === undefined || state.lastSeed === null;
    showEntry(first);
    // On a phone the result is below the settings: bring it into view unless some of it shows already.
    const box = el.compare.getBoundingClientRect();
    if (box.bottom < 0 || box.top > window.innerHeight) {
      el.compare.scrollIntoView({ block: 'nearest', behavior: 'smooth' });
    }
    el.progress.value = 1;
    const secs = ((performance.now() - started) / 1000).toFixed(1);
    setStatus(`${interrupted ? 'Interrupted' : 'Done'} in ${secs} s · seed ${first.seed}.`);
  } catch (err) {
    state.job = 0;
    el.progress.value = 0;
    restoreResultView();
    setStatus(err.message, { error: true });
  } finally {
    state.job = 0;
    setBusy(false);
  }
}

// Back to what the result panel showed before the run (the live preview goes).
function restoreResultView() {
  el.previewBox.hidden = true;
  if (el.compare.dataset.shown) el.compare.hidden = false;
  else el.resultEmpty.hidden = false;
}

async function interrupt() {
  if (!state.job) return;
  state.interruptRequested = true;
  el.interrupt.disabled = true;
  setStatus('Interrupting: the picture comes back after the current step…');
  try {
    await api.interrupt();
  } catch (err) {
    setStatus(`Interrupt: ${err.message}`, { error: true });
  }
}

function showEntry(entry) {
  el.previewBox.hidden = true;
  el.resultEmpty.hidden = true;
  compare.show(entry.url, entry.sourceUrl, entry.info.width, entry.info.height);
  el.compare.dataset.shown = 'yes';
  el.download.href = entry.blobUrl;
  el.download.download = entry.fileName;
  el.download.hidden = false;
  // i2i's notices: request fields it could not honour, said rather than silently dropped.
  const notices = Array.isArray(entry.info.i2i_notices) ? entry.info.i2i_notices : [];
  const words = [entry.mode, summary({ ...entry.info, seed: entry.seed }, entry.mode), ...entry.extras];
  if (entry.interrupted) words.push('interrupted');
  el.resultInfo.textContent = words.join(' · ') + notices.map((n) => `\nNote: ${n}`).join('');
  gallery.markCurrent(entry);
}

// ---- Wiring ------------------------------------------------------------------------------------------

function setup() {
  setupSource();
  el.strength.addEventListener('input', updateStrength);
  el.steps.addEventListener('input', updateStrength);
  updateStrength();
  el.controlnet.addEventListener('change', updateControlnet);
  el.model.addEventListener('change', switchModel);
  el.seedRandom.addEventListener('click', () => (el.seed.value = -1));
  el.seedReuse.addEventListener('click', () => {
    if (state.lastSeed !== null && state.lastSeed !== undefined) el.seed.value = state.lastSeed;
  });
  for (const input of [el.width, el.height]) {
    input.addEventListener('change', () => {
      const v = intValue(input);
      if (v > 0) input.value = Math.max(8, Math.round(v / 8) * 8);
    });
  }
  el.form.addEventListener('submit', (e) => {
    e.preventDefault();
    generate();
  });
  el.interrupt.addEventListener('click', interrupt);
  document.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) {
      e.preventDefault();
      generate();
    }
  });
  loadLists().catch((err) => setStatus(err.message, { error: true }));
}

setup();
