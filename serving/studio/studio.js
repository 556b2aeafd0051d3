// The studio page: wires the controls to the REST API, the clip cards and the sequencer.
import { Api } from "./api.js";
import { channels, clipCard } from "./sound.js";
import { setupSearch } from "./search.js";
import { Sequencer } from "./sequencer.js";

const $ = (id) => document.getElementById(id);
const api = new Api($("token"));
const sequencer = new Sequencer($("grid"), $("seq-position"));
const state = { model: "", where: "", conditional: false, sampleRate: 16000, numClasses: 0, ends: null };

function say(message, isError = false) {
  $("status").textContent = message;
  $("status").classList.toggle("error", isError);
}

// runs an action with the buttons of the page disabled, reporting errors in the status line
async function busy(message, action) {
  const buttons = [...document.querySelectorAll("section button:not(.step)")];
  const was = buttons.map((b) => b.disabled);
  buttons.forEach((b) => { b.disabled = true; });
  say(message);
  try {
    await action();
    say("ready");
  } catch (error) {
    say(error.message, true);
    if (error.message.startsWith("401")) $("auth").open = true;
  } finally {
    buttons.forEach((b, i) => { b.disabled = was[i]; });
    $("play").disabled = !sequencer.rows.length;
  }
}

const label = () => (state.conditional ? Number($("class").value) : null);
const intValue = (id) => Math.max(0, Math.floor(Number($(id).value) || 0));
const className = (c) => (state.conditional ? ` · ${state.classNames[c]}` : "");

async function loadModels() {
  const { models } = await api.models();
  $("model").replaceChildren(...models.map((m) => new Option(m.name, m.name)));
  if (!models.length) throw new Error("the server lists no models");
  state.models = Object.fromEntries(models.map((m) => [m.name, m]));
  await pickModel();
}

async function pickModel() {
  const model = state.models[$("model").value];
  const available = model.model_version_status.filter((s) => s.state === "AVAILABLE").map((s) => s.version);
  const options = [new Option(`latest${available.length ? "" : " (none available)"}`, "")];
  available.forEach((v) => options.push(new Option(`version ${v}`, `/versions/${v}`)));
  Object.entries(model.version_labels).forEach(([l, v]) => options.push(new Option(`${l} (version ${v})`, `/labels/${l}`)));
  $("version").replaceChildren(...options);
  await pickVersion();
}

async function pickVersion() {
  state.model = $("model").value; state.where = $("version").value; state.ends = null;
  $("mix").disabled = true;
  const metadata = await api.metadata(state.model, state.where);
  const sample = metadata.metadata.signature_def.signature_def.sample;
  if (!sample) throw new Error(`model ${state.model} has no 'sample' signature`);
  state.conditional = "label" in sample.inputs;
  state.wav = "serving_wav" in metadata.metadata.signature_def.signature_def;
  const facts = await api.sample(state.model, state.where, 1, 0, state.conditional ? 0 : null);
  state.sampleRate = facts.sample_rate ?? 16000;
  state.sliceLen = facts.audio[0].length;
  state.numClasses = facts.num_classes ?? (state.conditional ? 10 : 0);
  // Class names come from folder names: untrusted text, so only ever set as text (Option, textContent).
  state.classNames = Array.from({ length: state.numClasses }, (_, c) => facts.label_names?.[c] ?? `class ${c}`);
  const classes = state.classNames.map((name, c) => new Option(name, String(c)));
  $("class").replaceChildren(...classes);
  $("class-field").hidden = !state.conditional;
  $("model-facts").textContent = `version ${metadata.model_spec.version} · ${state.sampleRate} Hz · `
    + `${facts.audio[0].length} samples · ${state.conditional ? `${state.numClasses} classes` : "unconditional"}`;
}

async function generate() {
  const seed = intValue("seed"), count = Math.min(16, Math.max(1, intValue("count"))), c = label();
  const { audio } = await api.sample(state.model, state.where, count, seed, c);
  $("clips").replaceChildren(...audio.map((frames, i) => clipCard(
    `seed ${seed} · #${i}${className(c)}`, frames, state.sampleRate, `wavegan_seed${seed}_${i}.wav`)));
}

async function loadEnds() {
  const c = label();
  const [a, b] = await Promise.all([intValue("seed-a"), intValue("seed-b")].map(
    (seed) => api.sample(state.model, state.where, 1, seed, c)));
  state.ends = { a: a.z[0], b: b.z[0], label: c };
  $("mix").disabled = false;
  await renderMix();
}

async function renderMix() {
  const t = Number($("mix").value), { a, b, label: c } = state.ends;
  $("mix-value").textContent = t.toFixed(3);
  const frames = await api.synthesize(state.model, state.where, a.map((v, i) => (1 - t) * v + t * b[i]), c, state.wav);
  $("interp").replaceChildren(clipCard(`seed ${intValue("seed-a")} → ${intValue("seed-b")} at ${t.toFixed(3)}${className(c)}`,
    frames, state.sampleRate, `wavegan_interp_${t.toFixed(3)}.wav`));
}

async function loadKit() {
  const seed = intValue("seed");
  const rows = state.conditional
    ? Array.from({ length: Math.min(state.numClasses, 8) }, (_, c) => ({ name: state.classNames[c], seed, label: c }))
    : Array.from({ length: 4 }, (_, r) => ({ name: `seed ${seed + r}`, seed: seed + r, label: null }));
  const clips = await Promise.all(rows.map((row) => api.sample(state.model, state.where, 1, row.seed, row.label)));
  sequencer.setKit(rows.map((row, r) => ({ name: row.name, chans: channels(clips[r].audio[0]), sampleRate: state.sampleRate })));
  $("play").textContent = "Play";
}

async function togglePlay() {
  if (sequencer.playing) {
    sequencer.stop();
    $("play").textContent = "Play";
  } else {
    await sequencer.start(Math.min(240, Math.max(40, Number($("tempo").value) || 120)));
    $("play").textContent = "Stop";
  }
}

$("model").addEventListener("change", () => busy("loading model…", pickModel));
$("version").addEventListener("change", () => busy("loading version…", pickVersion));
$("generate").addEventListener("click", () => busy("generating…", generate));
$("random").addEventListener("click", () => {
  $("seed").value = String(Math.floor(Math.random() * 1e9));
  busy("generating…", generate);
});
$("load-ends").addEventListener("click", () => busy("loading seeds A and B…", loadEnds));
$("mix").addEventListener("input", () => { $("mix-value").textContent = Number($("mix").value).toFixed(3); });
$("mix").addEventListener("change", () => busy("interpolating…", renderMix));
$("load-kit").addEventListener("click", () => busy("loading kit…", loadKit));
$("play").addEventListener("click", togglePlay);
$("tempo").addEventListener("change", () => { if (sequencer.playing) sequencer.tempo = Number($("tempo").value) || 120; });
$("token").addEventListener("change", () => busy("loading models…", loadModels));
setupSearch({ api, state, busy, label, className, $, interpolateTo: async (z, c) => {
  state.ends = { a: state.ends?.a ?? z, b: z, label: c };
  $("mix").disabled = false;
  $("mix").value = "1";
  await renderMix();
} });

busy("loading models…", async () => {
  await loadModels();
  await generate();
});
