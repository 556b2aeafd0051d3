// A 16-step drum sequencer over generated one-shots, scheduled ahead on the Web Audio clock.

const STEPS = 16, LOOKAHEAD_S = 0.1, TICK_MS = 25;
// a starting groove: row 0 on the beats, row 1 on the backbeat, row 2 on the off-beats, the rest sparse
const PATTERNS = [[0, 4, 8, 12], [4, 12], [2, 6, 10, 14], [3, 11], [7, 15], [1, 9], [5, 13], [14]];

export class Sequencer {
  constructor(grid, position) {
    this.grid = grid; this.position = position;
    this.rows = []; this.context = null; this.timer = null; this.played = 0;
  }

  // rows: [{name, chans: [Float32Array per channel], sampleRate}]
  setKit(rows) {
    this.stop();
    this.grid.replaceChildren();
    this.rows = rows.map((row, r) => {
      const name = Object.assign(document.createElement("div"), { className: "row-name", textContent: row.name, title: row.name });
      this.grid.append(name);
      const steps = Array.from({ length: STEPS }, (_, s) => {
        const button = Object.assign(document.createElement("button"), { className: "step" + (s % 4 === 0 ? " beat" : "") });
        button.setAttribute("aria-label", `${row.name} step ${s + 1}`);
        if ((PATTERNS[r] || []).includes(s)) button.classList.add("on");
        button.addEventListener("click", () => button.classList.toggle("on"));
        this.grid.append(button);
        return button;
      });
      return { ...row, steps, buffer: null };
    });
  }

  get playing() { return this.timer !== null; }

  async start(tempo) {
    if (!this.rows.length || this.playing) return;
    this.context = this.context || new AudioContext();
    await this.context.resume();
    for (const row of this.rows) {
      const buffer = this.context.createBuffer(row.chans.length, row.chans[0].length, row.sampleRate);
      row.chans.forEach((samples, c) => buffer.copyToChannel(samples, c));
      row.buffer = buffer;
    }
    this.tempo = tempo; this.step = 0; this.played = 0; this.queue = [];
    this.nextTime = this.context.currentTime + 0.05;
    this.timer = setInterval(() => this.tick(), TICK_MS);
  }

  stop() {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    this.grid.querySelectorAll(".now").forEach((b) => b.classList.remove("now"));
    this.position.textContent = "stopped";
  }

  tick() {
    const now = this.context.currentTime, stepSeconds = 60 / this.tempo / 4;
    while (this.nextTime < now + LOOKAHEAD_S) {  // schedule what falls inside the look-ahead window
      for (const row of this.rows) {
        if (!row.steps[this.step].classList.contains("on")) continue;
        const source = this.context.createBufferSource();
        source.buffer = row.buffer;
        source.connect(this.context.destination);
        source.start(this.nextTime);
      }
      this.queue.push({ step: this.step, time: this.nextTime });
      this.nextTime += stepSeconds;
      this.step = (this.step + 1) % STEPS;
    }
    while (this.queue.length && this.queue[0].time <= now) this.show(this.queue.shift().step);
  }

  show(step) {  // called when the audio clock reaches a step: move the cursor
    this.played += 1;
    this.grid.dataset.stepsPlayed = String(this.played);
    this.grid.querySelectorAll(".now").forEach((b) => b.classList.remove("now"));
    for (const row of this.rows) row.steps[step].classList.add("now");
    this.position.textContent = `bar ${Math.floor((this.played - 1) / STEPS) + 1} · step ${step + 1}`;
  }
}
