// The REST calls the studio makes: TF Serving's JSON API, nothing private.
import { framesFromWav } from "./sound.js";

export class ApiError extends Error {}

export class Api {
  constructor(tokenInput) { this.tokenInput = tokenInput; }

  async request(method, path, body) {
    const headers = {};
    const token = this.tokenInput.value.trim();
    if (token) headers.Authorization = `Bearer ${token}`;
    if (body !== undefined) headers["Content-Type"] = "application/json";
    const response = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    const data = await response.json().catch(() => ({ error: `HTTP ${response.status}` }));
    if (!response.ok) throw new ApiError(`${response.status}: ${data.error || response.statusText}`);
    return data;
  }

  // Paths are relative to the page, so the studio also works behind a reverse proxy at a path prefix.
  models() { return this.request("GET", "v1/models"); }

  metadata(model, where) { return this.request("GET", `v1/models/${model}${where}/metadata`); }

  predict(model, where, body) { return this.request("POST", `v1/models/${model}${where}:predict`, body); }

  // count clips drawn by the server from a seed: {audio, z, sample_rate, num_classes}
  async sample(model, where, count, seed, label) {
    const inputs = { count, seed };
    if (label !== null) inputs.label = label;
    return (await this.predict(model, where, { signature_name: "sample", inputs })).outputs;
  }

  // audio for one latent vector z (and label), through a batched signature: serving_wav (a base64 WAV
  // file, 4x smaller than JSON numbers) when the model has it, else serving_default
  async synthesize(model, where, z, label, wav) {
    const inputs = { z: [z] };
    if (label !== null) inputs.label = [label];
    const { outputs } = await this.predict(model, where, wav ? { signature_name: "serving_wav", inputs } : { inputs });
    if (wav) return framesFromWav(outputs[0].b64);
    return outputs.audio ? outputs.audio[0] : outputs[0];
  }
}
