// The page's client of the AUTOMATIC1111 HTTP API that `i2i serve` answers (A1111 1.10's
// modules/api/models.py and api.py are the reference for every shape below). Same origin only: the page
// is served by the server it talks to, so every URL is relative and nothing else is ever fetched.

/** An API error with a one-line message made from A1111's / FastAPI's error bodies. */
export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

// FastAPI answers {"detail": "text"} or {"detail": [{"loc": [...], "msg": "..."}, ...]} (422);
// A1111's own handler answers {"error": "...", "detail": "...", "errors": "..."}.
function errorMessage(status, body) {
  if (body && typeof body === 'object') {
    const { detail } = body;
    if (Array.isArray(detail) && detail.length > 0) {
      return detail
        .map((d) => {
          const loc = Array.isArray(d.loc) ? d.loc.filter((p) => p !== 'body').join('.') : '';
          return loc ? `${loc}: ${d.msg}` : String(d.msg ?? JSON.stringify(d));
        })
        .join('; ');
    }
    for (const key of ['detail', 'errors', 'message', 'error']) {
      if (typeof body[key] === 'string' && body[key]) return body[key];
    }
  }
  if (typeof body === 'string' && body.trim()) return body.trim().split('\n')[0];
  return `the server answered ${status}`;
}

async function request(method, path, body, { signal } = {}) {
  const init = { method, headers: {}, signal };
  if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch (err) {
    if (err.name === 'AbortError') throw err;
    throw new ApiError(0, `cannot reach the server (${err.message})`);
  }
  const text = await response.text();
  let parsed = text;
  try {
    parsed = text ? JSON.parse(text) : null;
  } catch {
    // not JSON: keep the text for the message
  }
  if (!response.ok) throw new ApiError(response.status, errorMessage(response.status, parsed));
  return parsed;
}

/** GET /sdapi/v1/samplers: [{name, aliases, options}]. */
export const samplers = () => request('GET', 'sdapi/v1/samplers');

/** GET /sdapi/v1/sd-models: [{title, model_name, hash, sha256, filename}]. */
export const sdModels = () => request('GET', 'sdapi/v1/sd-models');

/** GET /sdapi/v1/options: the settings, sd_model_checkpoint among them. */
export const options = () => request('GET', 'sdapi/v1/options');

/** POST /sdapi/v1/options: changes settings; sd_model_checkpoint (a title) switches the loaded model. */
export const setOptions = (settings) => request('POST', 'sdapi/v1/options', settings);

/** GET /controlnet/model_list: {model_list: ["name [hash8]", ...]}. */
export const controlnetModels = () => request('GET', 'controlnet/model_list');

/** POST /sdapi/v1/img2img or /txt2img: {images: [base64 PNG], parameters: {...}, info: "JSON string"}. */
export const generate = (mode, body) => request('POST', `sdapi/v1/${mode}`, body);

/** GET /sdapi/v1/progress: {progress, eta_relative, state: {...}, current_image, textinfo}. */
export const progress = (skipCurrentImage = false) =>
  request('GET', `sdapi/v1/progress?skip_current_image=${skipCurrentImage ? 'true' : 'false'}`);

/** POST /sdapi/v1/interrupt: the running job stops within a step and returns what it has. */
export const interrupt = () => request('POST', 'sdapi/v1/interrupt');

/** A response's `info` (a JSON string, as A1111 sends it) as an object; {} when it cannot be read. */
export function parseInfo(info) {
  if (info && typeof info === 'object') return info;
  try {
    const parsed = JSON.parse(info);
    return parsed && typeof parsed === 'object' ? parsed : {};
  } catch {
    return {};
  }
}

/** A base64 image from the API (bare, as A1111 sends it, or already a data URL) as a data URL. */
export function imageUrl(base64) {
  return base64.startsWith('data:') ? base64 : `data:image/png;base64,${base64}`;
}
