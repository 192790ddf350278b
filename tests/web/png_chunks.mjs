// Reads what the browser test needs from a PNG file: its size (IHDR) and its text chunks (tEXt, zTXt,
// iTXt; A1111 and i2i keep the `parameters` text in one of them).
import zlib from 'node:zlib';

const signature = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

function* chunks(bytes) {
  if (bytes.length < 8 || !bytes.subarray(0, 8).equals(signature)) throw new Error('not a PNG file');
  for (let at = 8; at + 12 <= bytes.length;) {
    const length = bytes.readUInt32BE(at);
    const type = bytes.toString('latin1', at + 4, at + 8);
    if (at + 12 + length > bytes.length) throw new Error(`PNG chunk ${type} runs past the end`);
    yield { type, data: bytes.subarray(at + 8, at + 8 + length) };
    if (type === 'IEND') return;
    at += 12 + length;
  }
}

export function pngSize(bytes) {
  const first = chunks(bytes).next().value;
  if (first.type !== 'IHDR') throw new Error('PNG without IHDR first');
  return { width: first.data.readUInt32BE(0), height: first.data.readUInt32BE(4) };
}

/** {keyword: text} of every text chunk. */
export function pngTextChunks(bytes) {
  const out = {};
  for (const { type, data } of chunks(bytes)) {
    const nul = data.indexOf(0);
    if (nul < 0) continue;
    const key = data.toString('latin1', 0, nul);
    if (type === 'tEXt') {
      out[key] = data.toString('latin1', nul + 1);
    } else if (type === 'zTXt') {
      out[key] = zlib.inflateSync(data.subarray(nul + 2)).toString('latin1');
    } else if (type === 'iTXt') {
      const compressed = data[nul + 1] === 1;
      const langEnd = data.indexOf(0, nul + 3);
      const transEnd = data.indexOf(0, langEnd + 1);
      const text = data.subarray(transEnd + 1);
      out[key] = (compressed ? zlib.inflateSync(text) : text).toString('utf8');
    }
  }
  return out;
}
