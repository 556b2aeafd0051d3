// Clips as the studio shows them: waveform, spectrogram, an <audio> player and a WAV file.

// [samples][channels] from the API -> one Float32Array per channel
export function channels(frames) {
  const count = frames[0].length;
  const out = Array.from({ length: count }, () => new Float32Array(frames.length));
  frames.forEach((frame, i) => { for (let c = 0; c < count; c++) out[c][i] = frame[c]; });
  return out;
}

// a base64 16-bit PCM WAV file (the serving_wav signature's {"b64": ...}) -> [samples][channels] floats
export function framesFromWav(b64) {
  const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0)), view = new DataView(bytes.buffer);
  const tag = (offset) => String.fromCharCode(...bytes.subarray(offset, offset + 4));
  let offset = 12, ch = 1;
  while (offset + 8 <= bytes.length) {  // walk the RIFF chunks to "fmt " and "data"
    const size = view.getUint32(offset + 4, true);
    if (tag(offset) === "fmt ") ch = view.getUint16(offset + 10, true);
    if (tag(offset) === "data") {
      const n = Math.floor(size / (2 * ch)), frames = new Array(n);
      for (let i = 0, p = offset + 8; i < n; i++) {
        frames[i] = new Array(ch);
        for (let c = 0; c < ch; c++, p += 2) frames[i][c] = view.getInt16(p, true) / 32768;
      }
      return frames;
    }
    offset += 8 + size + (size % 2);
  }
  throw new Error("the server's WAV has no data chunk");
}

// 16-bit PCM WAV bytes
export function wavBlob(chans, sampleRate) {
  const n = chans[0].length, ch = chans.length, bytes = 44 + n * ch * 2;
  const view = new DataView(new ArrayBuffer(bytes));
  const text = (offset, s) => [...s].forEach((c, i) => view.setUint8(offset + i, c.charCodeAt(0)));
  text(0, "RIFF"); view.setUint32(4, bytes - 8, true); text(8, "WAVE"); text(12, "fmt ");
  view.setUint32(16, 16, true); view.setUint16(20, 1, true); view.setUint16(22, ch, true);
  view.setUint32(24, sampleRate, true); view.setUint32(28, sampleRate * ch * 2, true);
  view.setUint16(32, ch * 2, true); view.setUint16(34, 16, true); text(36, "data"); view.setUint32(40, n * ch * 2, true);
  for (let i = 0, p = 44; i < n; i++) {
    for (let c = 0; c < ch; c++, p += 2) view.setInt16(p, Math.max(-1, Math.min(1, chans[c][i])) * 32767, true);
  }
  return new Blob([view], { type: "audio/wav" });
}

export function drawWaveform(canvas, samples) {
  const g = canvas.getContext("2d"), w = canvas.width, h = canvas.height, per = samples.length / w;
  g.fillStyle = "#000"; g.fillRect(0, 0, w, h);
  g.strokeStyle = "#4fb3bf"; g.beginPath();
  for (let x = 0; x < w; x++) {
    let lo = 1, hi = -1;
    for (let i = Math.floor(x * per); i < Math.floor((x + 1) * per); i++) { lo = Math.min(lo, samples[i]); hi = Math.max(hi, samples[i]); }
    g.moveTo(x + 0.5, (1 - hi) * h / 2); g.lineTo(x + 0.5, (1 - lo) * h / 2 + 1);
  }
  g.stroke();
}

// in-place radix-2 FFT of (re, im), length a power of two
function fft(re, im) {
  const n = re.length;
  for (let i = 1, j = 0; i < n; i++) {
    let bit = n >> 1;
    for (; j & bit; bit >>= 1) j ^= bit;
    j ^= bit;
    if (i < j) { [re[i], re[j]] = [re[j], re[i]]; [im[i], im[j]] = [im[j], im[i]]; }
  }
  for (let len = 2; len <= n; len <<= 1) {
    const angle = -2 * Math.PI / len;
    for (let i = 0; i < n; i += len) {
      for (let k = 0; k < len / 2; k++) {
        const wr = Math.cos(angle * k), wi = Math.sin(angle * k);
        const a = i + k, b = a + len / 2, tr = re[b] * wr - im[b] * wi, ti = re[b] * wi + im[b] * wr;
        re[b] = re[a] - tr; im[b] = im[a] - ti; re[a] += tr; im[a] += ti;
      }
    }
  }
}

// a dark-to-bright ramp (black, purple, orange, pale yellow) for t in [0, 1]
function color(t) {
  const stops = [[0, 0, 4], [80, 18, 123], [221, 81, 58], [252, 253, 191]];
  const x = Math.max(0, Math.min(1, t)) * (stops.length - 1), i = Math.min(Math.floor(x), stops.length - 2), f = x - i;
  return stops[i].map((v, k) => v + (stops[i + 1][k] - v) * f);
}

export function drawSpectrogram(canvas, samples, size = 256) {
  const hop = size / 4, frames = Math.max(1, Math.floor((samples.length - size) / hop) + 1), bins = size / 2;
  const db = new Float32Array(frames * bins);
  let top = -Infinity;
  for (let f = 0; f < frames; f++) {
    const re = new Float32Array(size), im = new Float32Array(size);
    for (let i = 0; i < size; i++) re[i] = (samples[f * hop + i] || 0) * (0.5 - 0.5 * Math.cos(2 * Math.PI * i / size));
    fft(re, im);
    for (let b = 0; b < bins; b++) {
      const v = 10 * Math.log10(re[b] * re[b] + im[b] * im[b] + 1e-10);
      db[f * bins + b] = v; top = Math.max(top, v);
    }
  }
  const g = canvas.getContext("2d"), w = canvas.width, h = canvas.height, image = g.createImageData(w, h);
  for (let x = 0; x < w; x++) {
    const f = Math.min(frames - 1, Math.floor(x * frames / w));
    for (let y = 0; y < h; y++) {
      const b = Math.min(bins - 1, Math.floor((h - 1 - y) * bins / h));
      const [r, gr, bl] = color((db[f * bins + b] - top + 80) / 80);  // 80 dB below the loudest bin is black
      const p = (y * w + x) * 4;
      image.data[p] = r; image.data[p + 1] = gr; image.data[p + 2] = bl; image.data[p + 3] = 255;
    }
  }
  g.putImageData(image, 0, 0);
}

// a card with both pictures, a player and a download link; returns the card element
export function clipCard(title, frames, sampleRate, fileName) {
  const chans = channels(frames);
  const card = document.createElement("div");
  card.className = "card";
  const heading = document.createElement("h3");
  heading.textContent = title;
  const wave = Object.assign(document.createElement("canvas"), { width: 248, height: 48, className: "waveform" });
  const spec = Object.assign(document.createElement("canvas"), { width: 248, height: 96, className: "spectrogram" });
  drawWaveform(wave, chans[0]);
  drawSpectrogram(spec, chans[0]);
  const url = URL.createObjectURL(wavBlob(chans, sampleRate));
  const audio = Object.assign(document.createElement("audio"), { controls: true, src: url, preload: "auto" });
  const link = Object.assign(document.createElement("a"), { href: url, download: fileName, textContent: `Download ${fileName}` });
  card.append(heading, wave, spec, audio, link);
  return card;
}
