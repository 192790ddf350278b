// The page of `i2i serve` in a real browser (Debian's chromium through playwright-core), used as a person
// uses it, against the real server on the tiny fixture model: open the page, make a picture from the
// prompt alone, drop an image, move the strength slider (the words change), generate with Ctrl+Enter, see
// the result beside the source and compare them, download the PNG (it carries its parameters), paint a
// mask and inpaint (outside the mask the source stays), interrupt a long run after its live preview shows,
// and look at the page on a phone-sized screen. Screenshots of the finished page go to I2I_WEB_OUT.
//
// Environment (scripts/test_web.sh sets it):
//   I2I_BINARY        the i2i program; the test starts `i2i serve --port 0` on the tiny model and stops it
//   I2I_FIXTURES_DIR  the fixtures folder (models/, tokenizer/, images/)
//   I2I_WEB_OUT       where the screenshots go
//   CHROMIUM          the browser (default /usr/bin/chromium)
//   I2I_WEB_URL       instead of starting a server, test the one at this URL

import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { chromium } from 'playwright-core';

import { pngSize, pngTextChunks } from './png_chunks.mjs';
import { startServer } from './serve.mjs';

const fixtures = process.env.I2I_FIXTURES_DIR;
const outDir = process.env.I2I_WEB_OUT || fs.mkdtempSync(path.join(os.tmpdir(), 'i2i-web-'));
const sourcePng = fs.readFileSync(path.join(fixtures, 'images/astronaut_64.png'));

let server; // {url, stop(), output()}
let browser;
let page;
const pageErrors = [];

before(async () => {
  fs.mkdirSync(outDir, { recursive: true });
  server = process.env.I2I_WEB_URL
    ? { url: process.env.I2I_WEB_URL, stop: async () => {}, output: () => '' }
    : await startServer(process.env.I2I_BINARY, fixtures);
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu'],
  });
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, acceptDownloads: true });
  page = await context.newPage();
  page.setDefaultTimeout(20000);
  page.on('pageerror', (err) => pageErrors.push(`page error: ${err.message}`));
  page.on('console', (msg) => {
    // the refusal that a test asks for on purpose is logged as a failed load too
    const refused = msg.location()?.url?.endsWith('/sdapi/v1/img2img') && /status of 4\d\d/.test(msg.text());
    if (msg.type() === 'error' && !refused) pageErrors.push(`console: ${msg.text()} (${msg.location()?.url})`);
  });
  await page.goto(server.url);
});

let finished = false; // the last test got to its end: otherwise the page is kept as it was for a look

after(async () => {
  if (page && !finished) {
    await page.screenshot({ path: path.join(outDir, 'web_page_failed.png'), fullPage: true }).catch(() => {});
  }
  await browser?.close();
  await server?.stop();
});

// ---- helpers -----------------------------------------------------------------------------------------

async function get(pathname) {
  const response = await fetch(new URL(pathname, server.url));
  assert.equal(response.status, 200, `GET ${pathname}`);
  return response.json();
}

const statusText = () => page.locator('#status').textContent();
const galleryCount = () => page.locator('#gallery > li').count();

/** Waits until the gallery holds `n` results (or the status shows an error). */
async function waitForResults(n, timeout = 30000) {
  await page.waitForFunction(
    (want) =>
      document.querySelectorAll('#gallery > li').length >= want ||
      document.querySelector('#status').classList.contains('error'),
    n,
    { timeout },
  );
  const status = await statusText();
  assert.equal(await galleryCount(), n, `gallery after the run (status: ${status})`);
  assert.doesNotMatch(await page.locator('#status').getAttribute('class'), /error/, status);
}

/** Waits until the page says that the model it asked the server for is loaded. */
const modelLoaded = (title) =>
  page.waitForFunction((t) => document.querySelector('#status').textContent === `Model: ${t}.`, title);

/** The mask's painted share, read from the page's own text ("Mask covers N%"). */
async function maskPercent() {
  const text = await page.locator('#mask-state').textContent();
  const m = /covers (\d+)%/.exec(text);
  return m ? Number(m[1]) : 0;
}

/** Drags the brush across the mask canvas between two points given as fractions of its box. */
async function paintStroke(x0, y0, x1, y1) {
  const box = await page.locator('#mask').boundingBox();
  const at = (fx, fy) => [box.x + fx * box.width, box.y + fy * box.height];
  await page.mouse.move(...at(x0, y0));
  await page.mouse.down();
  for (let k = 1; k <= 8; ++k) await page.mouse.move(...at(x0 + ((x1 - x0) * k) / 8, y0 + ((y1 - y0) * k) / 8));
  await page.mouse.up();
}

/** RGBA pixels of two same-sized images on the page (by selector), compared where `keep(x, y)` holds. */
async function compareImages(selA, selB, region) {
  return page.evaluate(
    ([a, b, r]) => {
      const read = (img) => {
        const c = document.createElement('canvas');
        c.width = img.naturalWidth;
        c.height = img.naturalHeight;
        const ctx = c.getContext('2d');
        ctx.drawImage(img, 0, 0);
        return ctx.getImageData(0, 0, c.width, c.height);
      };
      const A = read(document.querySelector(a));
      const B = read(document.querySelector(b));
      if (A.width !== B.width || A.height !== B.height) {
        return { sizeA: [A.width, A.height], sizeB: [B.width, B.height] };
      }
      let inside = 0, outsideMax = 0, insideChanged = 0;
      for (let y = 0; y < A.height; ++y) {
        for (let x = 0; x < A.width; ++x) {
          const i = 4 * (y * A.width + x);
          const d = Math.max(...[0, 1, 2].map((k) => Math.abs(A.data[i + k] - B.data[i + k])));
          if (x / A.width < r.maskedBelow) {
            ++inside;
            if (d > 1) ++insideChanged;
          } else if (x / A.width >= r.keptFrom) {
            outsideMax = Math.max(outsideMax, d);
          }
        }
      }
      return { inside, insideChanged, outsideMax };
    },
    [selA, selB, region],
  );
}

// ---- the page ----------------------------------------------------------------------------------------

test('the page loads with the server\'s samplers and every control labelled', async () => {
  const samplers = (await get('sdapi/v1/samplers')).map((s) => s.name);
  await page.waitForFunction((n) => document.querySelectorAll('#sampler option').length === n, samplers.length);
  assert.deepEqual(await page.locator('#sampler option').allTextContents(), samplers);
  const unlabelled = await page.evaluate(() =>
    [...document.querySelectorAll('input, select, textarea, button, canvas')]
      .filter((e) => !(e.labels?.length || e.getAttribute('aria-label') || e.getAttribute('aria-labelledby') ||
        (e.tagName === 'BUTTON' && e.textContent.trim())))
      .map((e) => e.id || e.outerHTML.slice(0, 60)),
  );
  assert.deepEqual(unlabelled, [], 'controls without an accessible name');
});

test('without a source, Generate makes a picture from the prompt (txt2img)', async () => {
  await page.getByLabel('Prompt', { exact: true }).fill('a lighthouse at dusk');
  await page.getByLabel('Steps').fill('4');
  await page.getByLabel('Width').fill('64');
  await page.getByLabel('Height').fill('64');
  await page.getByLabel('Seed').fill('7');
  await page.getByRole('button', { name: /Generate/ }).click();
  await waitForResults(1);
  assert.match(await page.locator('#gallery li .params').first().textContent(), /^txt2img · seed 7 /);
  assert.equal(await page.locator('#compare-after').evaluate((img) => img.naturalWidth), 64);
  assert.equal(await page.locator('#compare-slider').isHidden(), true, 'no before/after without a source');
});

test('picking or dropping an image makes it the source and sets the size', async () => {
  const choosing = page.waitForEvent('filechooser');
  await page.getByRole('button', { name: 'Choose image…' }).click();
  await (await choosing).setFiles(path.join(fixtures, 'images/coffee_512.png'));
  await page.waitForFunction(() => document.querySelector('#source').naturalWidth === 512);
  assert.equal(await page.getByLabel('Width').inputValue(), '512');
  assert.match(await statusText(), /coffee_512\.png, 512×512/);

  const handle = await page.evaluateHandle((bytes) => {
    const dt = new DataTransfer();
    dt.items.add(new File([new Uint8Array(bytes)], 'astronaut_64.png', { type: 'image/png' }));
    return dt;
  }, [...sourcePng]);
  await page.locator('#dropzone').dispatchEvent('dragenter', { dataTransfer: handle });
  await page.locator('#dropzone').dispatchEvent('drop', { dataTransfer: handle });
  await page.waitForFunction(() => document.querySelector('#source').naturalWidth > 0);
  assert.equal(await page.locator('#source').evaluate((img) => img.naturalWidth), 64);
  assert.equal(await page.getByLabel('Width').inputValue(), '64');
  assert.equal(await page.getByLabel('Height').inputValue(), '64');
  assert.equal(await page.locator('#mask-tools').isDisabled(), false, 'the mask tools are enabled');
});

test('the strength slider says in words what it keeps', async () => {
  const slider = page.getByLabel('Strength');
  const words = page.locator('#strength-words');
  await page.getByLabel('Steps').fill('10');
  await slider.fill('0.3');
  assert.match(await words.textContent(), /keeps shapes and colours.*Runs 3 of 10 steps/);
  await slider.fill('0.9');
  assert.match(await words.textContent(), /layout of light and dark.*Runs 9 of 10 steps/);
  // by keyboard, as a person moves it: 0.9 -> 0.55 in seven steps of 0.05
  await slider.focus();
  for (let k = 0; k < 7; ++k) await page.keyboard.press('ArrowLeft');
  assert.equal(await page.locator('#strength-value').textContent(), '0.55');
  assert.match(await words.textContent(), /keeps the composition; changes the content.*Runs 5 of 10 steps/);
});

test('Ctrl+Enter generates img2img; the result shows beside the source, with a before/after slider', async () => {
  await page.getByLabel('Prompt', { exact: true }).fill('an oil painting of an astronaut');
  await page.getByLabel('Negative prompt').fill('blurry');
  await page.getByLabel('Strength').fill('0.6');
  await page.getByLabel('Steps').fill('10');
  await page.getByLabel('Seed').fill('1');
  const request = page.waitForRequest((r) => r.url().endsWith('/sdapi/v1/img2img'));
  await page.getByLabel('Prompt', { exact: true }).press('Control+Enter');
  const body = (await request).postDataJSON();
  assert.equal(body.denoising_strength, 0.6);
  assert.match(body.init_images[0], /^data:image\/png;base64,/);
  assert.equal(body.mask, undefined, 'no mask painted: plain img2img');
  await waitForResults(2);
  assert.match(await statusText(), /Done in .* seed 1\./);
  assert.match(await page.locator('#gallery li .params').first().textContent(),
    /^img2img · seed 1 · .* · 10 steps · .* · strength 0.6 · 64×64/);
  assert.equal(await page.locator('#compare').isVisible(), true);
  assert.equal(await page.locator('#compare-after').evaluate((img) => img.naturalWidth), 64);
  const diff = await compareImages('#compare-after', '#source', { maskedBelow: 1, keptFrom: 2 });
  assert.ok(diff.insideChanged > 0, 'the result differs from the source');
  // before/after: the source covers the slider's share of the width
  await page.locator('#compare-slider').fill('20');
  assert.equal(await page.locator('#compare').evaluate((e) => e.style.getPropertyValue('--split')), '20%');
  // reuse last seed
  await page.getByRole('button', { name: 'Random' }).click();
  assert.equal(await page.getByLabel('Seed').inputValue(), '-1');
  await page.getByRole('button', { name: 'Reuse last seed' }).click();
  assert.equal(await page.getByLabel('Seed').inputValue(), '1');
});

test('Download PNG saves the picture with its parameters text', async () => {
  const downloading = page.waitForEvent('download');
  await page.locator('#download').click();
  const download = await downloading;
  assert.match(download.suggestedFilename(), /^i2i-\d+-1\.png$/);
  const file = path.join(outDir, 'web_download.png');
  await download.saveAs(file);
  const bytes = fs.readFileSync(file);
  assert.deepEqual(pngSize(bytes), { width: 64, height: 64 });
  const params = pngTextChunks(bytes).parameters;
  assert.ok(params, 'a parameters text chunk');
  assert.match(params, /^an oil painting of an astronaut\nNegative prompt: blurry\n/);
  assert.match(params, /Steps: 10, .*Seed: 1,.*Denoising strength: 0.6/s);
});

test('the ControlNet toggle sends a canny unit with a model from the server\'s list', async () => {
  const { model_list: models } = await get('controlnet/model_list');
  assert.ok(models.length > 0, 'the test server has a ControlNet model');
  assert.deepEqual(await page.locator('#controlnet-model option').allTextContents(), models);
  await page.getByLabel('Keep the source\'s edges (canny)').check();
  await page.getByLabel('Weight').fill('0.8');
  const request = page.waitForRequest((r) => r.url().endsWith('/sdapi/v1/img2img'));
  await page.getByRole('button', { name: /Generate/ }).click();
  const unit = (await request).postDataJSON().alwayson_scripts.controlnet.args[0];
  assert.equal(unit.module, 'canny');
  assert.equal(unit.model, models[0]);
  assert.equal(unit.weight, 0.8);
  assert.match(unit.image, /^data:image\/png;base64,/);
  await waitForResults(3);
  assert.match(await page.locator('#gallery li .params').first().textContent(), / · ControlNet canny$/);
  const infotext = await page.locator('#gallery li pre').first().textContent();
  assert.match(infotext, /ControlNet \d: "Module: canny, Model: tiny-controlnet-sd15 \[[0-9a-f]{8}\], Weight: 0.8/);
  await page.getByLabel('Keep the source\'s edges (canny)').uncheck();
});

test('a painted mask inpaints: outside it the source stays', async () => {
  // paint the left third, erase a bit, invert twice (back to the same), clear, paint again
  await page.getByLabel('Size', { exact: true }).fill('60');
  await paintStroke(0.15, 0.02, 0.15, 0.98);
  const painted = await maskPercent();
  assert.ok(painted > 10, `the stroke painted (${painted}%)`);
  await page.getByText('Eraser', { exact: true }).click();
  await paintStroke(0.15, 0.4, 0.15, 0.6);
  const erased = await maskPercent();
  assert.ok(erased < painted, `the eraser removed some (${painted}% -> ${erased}%)`);
  await page.getByRole('button', { name: 'Invert' }).click();
  const inverted = await maskPercent();
  assert.ok(Math.abs(inverted - (100 - erased)) <= 1, `invert: ${erased}% -> ${inverted}%`);
  await page.getByRole('button', { name: 'Clear' }).click();
  assert.match(await page.locator('#mask-state').textContent(), /No mask/);
  await page.getByText('Brush', { exact: true }).click();
  await page.getByLabel('Size', { exact: true }).fill('120');
  for (const x of [0.05, 0.2]) await paintStroke(x, 0.0, x, 1.0);
  assert.ok((await maskPercent()) >= 25);

  // an inpainting model, chosen in the page: the server loads it (POST /sdapi/v1/options)
  const models = await get('sdapi/v1/sd-models');
  const inpaintModel = models.find((m) => m.model_name.includes('inpaint'));
  assert.ok(inpaintModel, 'the test server lists the inpainting model');
  await page.getByLabel('Model', { exact: true }).selectOption(inpaintModel.title);
  await modelLoaded(inpaintModel.title);
  assert.equal((await get('sdapi/v1/options')).sd_model_checkpoint, inpaintModel.title);

  await page.getByLabel('Strength').fill('0.75');
  await page.getByLabel('Prompt', { exact: true }).fill('a red helmet');
  const request = page.waitForRequest((r) => r.url().endsWith('/sdapi/v1/img2img'));
  await page.getByRole('button', { name: /Generate/ }).click();
  const body = (await request).postDataJSON();
  assert.match(body.mask, /^data:image\/png;base64,/);
  const mask = Buffer.from(body.mask.split(',')[1], 'base64');
  assert.deepEqual(pngSize(mask), { width: 64, height: 64 }, 'the mask has the source\'s size');
  assert.equal(body.inpainting_fill, 1);
  assert.equal(body.inpaint_full_res, false);
  await waitForResults(4);
  assert.match(await page.locator('#gallery li .params').first().textContent(), / · inpainted$/);
  assert.match(await page.locator('#gallery li pre').first().textContent(), /Model: tiny-sd15-inpaint\.fp16,/);
  // the painted strip is redrawn; the right half (well clear of the 4 px mask blur) is the source's
  const diff = await compareImages('#compare-after', '#source', { maskedBelow: 0.25, keptFrom: 0.5 });
  assert.ok(diff.insideChanged > diff.inside / 4, `inside the mask the picture changed (${JSON.stringify(diff)})`);
  assert.ok(diff.outsideMax <= 1, `outside the mask the source stays (${JSON.stringify(diff)})`);
  await page.getByRole('button', { name: 'Clear' }).click();
  await page.getByLabel('Model', { exact: true }).selectOption(models[0].title);
  await modelLoaded(models[0].title);
});

test('a long run shows progress and a live preview, and Interrupt stops it', async () => {
  await page.getByLabel('Strength').fill('1');
  await page.getByLabel('Steps').fill('1000');
  await page.getByLabel('Width').fill('128');
  await page.getByLabel('Height').fill('128');
  await page.getByLabel('Sampler').selectOption('Euler a');
  const started = Date.now();
  await page.getByRole('button', { name: /Generate/ }).click();
  await page.waitForFunction(() => {
    const img = document.querySelector('#preview');
    return !document.querySelector('#preview-box').hidden && img.src.startsWith('data:image/') && img.naturalWidth > 0;
  });
  const firstPreview = Date.now() - started;
  await page.waitForFunction(() => document.querySelector('#progress').value > 0);
  assert.match(await statusText(), /^Step \d+ of \d+/);
  assert.equal(await page.getByRole('button', { name: 'Generate' }).isDisabled(), true, 'one job at a time');
  const interrupting = Date.now();
  const answered = page.waitForResponse((r) => r.url().endsWith('/sdapi/v1/img2img'));
  await page.getByRole('button', { name: 'Interrupt' }).click();
  const response = await (await answered).json();
  await page.waitForFunction(() => !document.querySelector('#generate').disabled);
  const stoppedIn = Date.now() - interrupting;
  assert.ok(stoppedIn < 5000, `the run stopped ${stoppedIn} ms after Interrupt`);
  assert.equal(JSON.parse(response.info).i2i_interrupted, true, 'the server says the job was interrupted');
  // what the run had when it stopped: A1111 sends the partly denoised picture, and so does i2i
  assert.equal(response.images.length, 1, 'the interrupted run answers its picture so far');
  await waitForResults(5);
  assert.match(await statusText(), /^Interrupted in /);
  assert.match(await page.locator('#gallery li .params').first().textContent(), /interrupted/);
  assert.equal(await page.locator('#compare-after').evaluate((img) => img.naturalWidth), 128);
  assert.equal(await page.locator('#preview-box').isHidden(), true, 'the live preview gives way to the result');
  console.log(`# long run (128x128): first preview ${firstPreview} ms after Generate, interrupted after ` +
    `${interrupting - started} ms, result ${stoppedIn} ms later`);
});

test('settings the page or the server refuses are said in one line, and the next run works', async () => {
  await page.getByLabel('Steps').fill('0');
  await page.getByRole('button', { name: /Generate/ }).click();
  assert.equal(await statusText(), 'Steps must be 1 or more.');
  await page.getByLabel('Steps').fill('10');
  await page.getByLabel('Strength').fill('0.05');
  await page.getByRole('button', { name: /Generate/ }).click();
  assert.match(await statusText(), /^At strength 0.05 no step of 10 would run/);
  // larger than the server's --max-pixels (4 megapixels by default): its 4xx message shows
  await page.getByLabel('Strength').fill('0.5');
  await page.getByLabel('Width').fill('4096');
  await page.getByLabel('Height').fill('4096');
  const answered = page.waitForResponse((r) => r.url().endsWith('/sdapi/v1/img2img'));
  await page.getByRole('button', { name: /Generate/ }).click();
  const response = await answered;
  assert.ok(response.status() >= 400 && response.status() < 500, `the server refused (${response.status()})`);
  await page.waitForFunction(() => document.querySelector('#status').classList.contains('error'));
  const message = await statusText();
  assert.doesNotMatch(message, /\n/);
  assert.match(message, /width|height|pixels/i);
  console.log(`# the server's refusal, as the page shows it: ${message}`);
  const count = await galleryCount();
  await page.getByLabel('Width').fill('64');
  await page.getByLabel('Height').fill('64');
  await page.getByLabel('Steps').fill('4');
  await page.getByRole('button', { name: /Generate/ }).click();
  await waitForResults(count + 1);
});

test('a gallery picture shows again beside its source; the finished page, wide and phone-sized', async () => {
  const item = page.locator('#gallery > li').filter({ hasText: 'an oil painting of an astronaut' }).last();
  await item.getByRole('button').first().click();
  assert.equal(await page.locator('#compare-after').getAttribute('src'), await item.locator('img').getAttribute('src'));
  assert.match(await page.locator('#result-info').textContent(), /seed 1 · .* · 10 steps · .* · strength 0.6/);
  assert.equal(await item.evaluate((li) => li.classList.contains('current')), true);
  await page.locator('#compare-slider').fill('50');
  await page.getByLabel('Size', { exact: true }).fill('24');
  await paintStroke(0.3, 0.25, 0.7, 0.3);
  await page.evaluate(() => window.scrollTo(0, 0));
  await page.screenshot({ path: path.join(outDir, 'web_page.png'), fullPage: true });
  await page.setViewportSize({ width: 390, height: 844 });
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 0, `no sideways scrolling on a phone (${overflow} px too wide)`);
  // one column in the order of use: source, settings (Generate), result, gallery
  const tops = [];
  for (const sel of ['#source-panel', '#generate', '#result-panel', '.gallery-section']) {
    const box = await page.locator(sel).boundingBox();
    assert.ok(box.x >= 0 && box.x + box.width <= 390, `${sel} fits the width`);
    tops.push(box.y);
  }
  assert.deepEqual([...tops].sort((a, b) => a - b), tops, 'source, Generate, result, gallery from top to bottom');
  await page.screenshot({ path: path.join(outDir, 'web_page_phone.png'), fullPage: true });
  await page.setViewportSize({ width: 1280, height: 900 });
  assert.deepEqual(pageErrors, [], 'no errors in the page');
  finished = true;
});
