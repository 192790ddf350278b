// The source picture: a dropped, pasted or chosen file, decoded by the browser (any format it reads, EXIF
// orientation applied) and sent on as a PNG of the same pixels, so the server gets one format it reads and
// the mask has the same size.

/** Pictures larger than this are refused here rather than sent (the server has its own --max-pixels). */
export const maxSourcePixels = 40e6;

/**
 * Decodes an image File into {dataUrl (PNG), width, height, name}. Throws an Error with a one-line
 * message for files that are not pictures the browser can read.
 */
export async function loadImageFile(file) {
  if (!file) throw new Error('no file');
  if (file.type && !file.type.startsWith('image/')) {
    throw new Error(`${file.name || 'the file'} is not an image (${file.type})`);
  }
  let bitmap;
  try {
    bitmap = await createImageBitmap(file, { imageOrientation: 'from-image' });
  } catch {
    throw new Error(`${file.name || 'the file'}: this browser cannot read it as an image`);
  }
  try {
    const { width, height } = bitmap;
    if (width * height > maxSourcePixels) {
      const name = file.name || 'the image';
      throw new Error(`${name} is ${width}×${height}: too large for the page (40 megapixels at most)`);
    }
    const canvas = document.createElement('canvas');
    canvas.width = width;
    canvas.height = height;
    canvas.getContext('2d').drawImage(bitmap, 0, 0);
    return { dataUrl: canvas.toDataURL('image/png'), width, height, name: file.name || 'pasted image' };
  } finally {
    bitmap.close();
  }
}

/**
 * The default output size for a source: its own size rounded down to multiples of 8 (what `i2i img2img`
 * does without --width/--height), scaled down first to fit `maxSide` so a phone photo does not start a
 * 12-megapixel job; at least 64.
 */
export function defaultSize(width, height, maxSide = 1024) {
  const scale = Math.min(1, maxSide / Math.max(width, height));
  const round = (v) => Math.max(64, Math.floor((v * scale) / 8) * 8);
  return { width: round(width), height: round(height) };
}
