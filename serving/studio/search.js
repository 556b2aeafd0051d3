// "Find sounds like this": a dropped sound goes to the model's search signature; every match can be
// varied (latent vectors near it) or become the interpolation's end B.
import { clipCard, framesFromWav } from "./sound.js";

// a dropped or chosen file -> [samples][channels] at the model's rate, cut to its clip length
async function readTarget(file, sampleRate, sliceLen) {
  const decoded = await new OfflineAudioContext(1, 1, sampleRate).decodeAudioData(await file.arrayBuffer());
  const length = Math.min(decoded.length, sliceLen);
  const chans = Array.from({ length: decoded.numberOfChannels }, (_, c) => decoded.getChannelData(c));
  return { frames: Array.from({ length }, (_, i) => chans.map((ch) => ch[i])), cropped: decoded.length > sliceLen };
}

const gaussian = () => Math.sqrt(-2 * Math.log(1 - Math.random())) * Math.cos(2 * Math.PI * Math.random());

export function setupSearch({ api, state, busy, label, className, interpolateTo, $ }) {
  async function vary(z, c) {
    const around = Array.from({ length: 4 }, () => z.map((v) => Math.max(-1, Math.min(1, v + 0.2 * gaussian()))));
    const inputs = { z: around };
    if (c !== null) inputs.label = around.map(() => c);
    const { outputs } = await api.predict(state.model, state.where, { signature_name: "serving_wav", inputs });
    $("variations").replaceChildren(...outputs.map((clip, i) => card(`variation #${i}${className(c)}`,
      framesFromWav(clip.b64), around[i], c, `wavegan_variation_${i}.wav`)));
  }

  function card(title, frames, z, c, fileName) {
    const element = clipCard(title, frames, state.sampleRate, fileName);
    const buttons = [["Vary", () => busy("varying…", () => vary(z, c))],
      ["Interpolate to", () => busy("interpolating…", () => interpolateTo(z, c))]];
    element.append(...buttons.map(([text, action]) => Object.assign(document.createElement("button"),
      { textContent: text, className: text === "Vary" ? "vary" : "interpolate-to", onclick: action })));
    return element;
  }

  // A model exported with its judge says what each part of the distance is.
  const parts = (outputs, i) => (outputs.judge_distance === undefined ? "" :
    ` (sound ${outputs.spectral_distance[i].toFixed(2)}, judge ${outputs.judge_distance[i].toFixed(2)})`);

  async function find(file) {
    const c = label();
    const { frames, cropped } = await readTarget(file, state.sampleRate, state.sliceLen);
    const inputs = { target: [frames], count: 8, seed: 0 };
    if (c !== null) inputs.label = c;
    const { outputs } = await api.predict(state.model, state.where, { signature_name: "search", inputs });
    $("matches").replaceChildren(...outputs.audio.map((clip, i) => card(
      `match #${i} · distance ${outputs.distance[i].toFixed(3)}${parts(outputs, i)}${className(c)}`, clip,
      outputs.z[i], c,
      `wavegan_match_${i}.wav`)));
    $("search-note").textContent = cropped ? `matched the first ${state.sliceLen} samples of ${file.name}` : "";
  }

  const start = (file) => file && busy(`searching for sounds like ${file.name}…`, () => find(file));
  $("target-file").addEventListener("change", () => start($("target-file").files[0]));
  $("drop").addEventListener("dragover", (event) => event.preventDefault());
  $("drop").addEventListener("drop", (event) => { event.preventDefault(); start(event.dataTransfer.files[0]); });
}
