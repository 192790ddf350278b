// Starts `i2i serve --port 0` on the tiny fixture model for the browser test and reads the address it
// bound from its output; stop() ends it (SIGTERM, then SIGKILL after 5 s) and removes its models folder.
// The models folder is A1111's layout made of links to the fixtures (read in place, never copied):
// Stable-diffusion/ with the tiny SD 1.5 inpainting model, ControlNet/ with the tiny canny ControlNet, each
// with its architecture sidecar (NAME.json beside the file).
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

function modelsFolder(fixtures) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'i2i-web-models-'));
  const link = (sub, ...files) => {
    fs.mkdirSync(path.join(dir, sub), { recursive: true });
    for (const file of files) fs.symlinkSync(path.join(fixtures, 'models', file), path.join(dir, sub, file));
  };
  link('Stable-diffusion', 'tiny-sd15-inpaint.fp16.safetensors', 'tiny-sd15-inpaint.json');
  link('ControlNet', 'tiny-controlnet-sd15.safetensors', 'tiny-controlnet-sd15.json');
  return dir;
}

export function startServer(binary, fixtures, { timeoutMs = 30000 } = {}) {
  if (!binary) throw new Error('I2I_BINARY is not set');
  const models = modelsFolder(fixtures);
  const args = [
    'serve',
    '--model', path.join(fixtures, 'models/tiny-sd15.safetensors'),
    '--tokenizer', path.join(fixtures, 'tokenizer'),
    '--models-dir', models,
    '--host', '127.0.0.1',
    '--port', '0',
  ];
  const child = spawn(binary, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  let exited = null;
  const exitedPromise = new Promise((resolve) => child.on('exit', (code, signal) => {
    exited = { code, signal };
    resolve();
  }));
  const stop = async () => {
    if (!exited) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exitedPromise;
      clearTimeout(timer);
    }
    fs.rmSync(models, { recursive: true, force: true });
  };
  return new Promise((resolve, reject) => {
    const fail = (why) => {
      clearTimeout(timer);
      stop().then(() => reject(new Error(`i2i ${args.join(' ')}: ${why}\n${output}`)));
    };
    const timer = setTimeout(() => fail(`no address printed within ${timeoutMs} ms`), timeoutMs);
    const onData = (data) => {
      output += data;
      const m = /https?:\/\/(127\.0\.0\.1|localhost|\[::1\]):(\d+)/.exec(output);
      if (m && Number(m[2]) > 0) {
        clearTimeout(timer);
        resolve({ url: `http://${m[1]}:${m[2]}/`, stop, output: () => output });
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('exit', (code, signal) => fail(`exited (${signal ?? code}) before it listened`));
    child.on('error', (err) => fail(err.message));
  });
}
