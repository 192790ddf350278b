// Starts `i2i serve --port 0` on the tiny fixture model for the browser test and reads the address it
// bound from its output; stop() ends it (SIGTERM, then SIGKILL after 5 s).
import { spawn } from 'node:child_process';
import path from 'node:path';

export function startServer(binary, fixtures, { timeoutMs = 30000 } = {}) {
  if (!binary) throw new Error('I2I_BINARY is not set');
  const args = [
    'serve',
    '--model', path.join(fixtures, 'models/tiny-sd15.safetensors'),
    '--tokenizer', path.join(fixtures, 'tokenizer'),
    '--models-dir', path.join(fixtures, 'models'),
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
    if (exited) return;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
    await exitedPromise;
    clearTimeout(timer);
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
