"""WaveGAN training: compiled critic/generator steps, checkpoints, TensorBoard.

`Trainer.fit(dataset)` runs until cfg.steps generator steps are done. Each
generator step is cfg.d_updates critic updates (each on a fresh real batch) and one
generator update, as in the reference. Checkpoints are written every N steps, every
T seconds, on SIGINT/SIGTERM and at the end; re-running resumes from the last one.
"""
from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import tempfile
import time

import numpy as np
import tensorflow as tf

from models.config import SIGNED_LOSSES, ConfigError, WaveGANConfig
from models.distribute import Agreement, is_chief, task_name
from models.errors import PathError
from models.augment import AdaptiveProbability, augment
from models.losses import discriminator_loss, generator_loss, gradient_penalty, r1_penalty, spectral_r1_penalty
from models.wavegan import Discriminator, Generator

log = logging.getLogger(__name__)

CONFIG_FILE = "config.json"
CHECKPOINT_DIR = "checkpoints"
EXPORT_DIR = "export"
PREVIEW_COUNT = 8
# What each keyed random draw is for (folded into the seed, so no two draws share numbers).
(Z_CRITIC, ALPHA, PHASE_REAL, PHASE_FAKE, PHASE_PENALTY, Z_GENERATOR, LABEL_GENERATOR, PHASE_GENERATOR,
 AUGMENT_REAL, AUGMENT_FAKE, AUGMENT_GENERATOR) = range(11)
EMA_WARMUP = 10  # the average's decay ramps up as min(decay, (1 + step) / (EMA_WARMUP + step))


def preview_latents(cfg: WaveGANConfig, count: int = PREVIEW_COUNT):
    """The fixed latent vectors (and labels) used for audio summaries and previews."""
    rng = np.random.RandomState(cfg.seed)
    z = rng.uniform(-1.0, 1.0, [count, cfg.latent_dim]).astype(np.float32)
    labels = (np.arange(count) % cfg.num_classes).astype(np.int32) if cfg.conditional else None
    return z, labels


def make_optimizer(cfg: WaveGANConfig, lr: float, beta1: float, beta2: float):
    """Keras's optimizer, clipping (grad_clip_norm) and, for float16, dynamic loss scaling."""
    import keras
    clip = {"global_clipnorm": cfg.grad_clip_norm} if cfg.grad_clip_norm > 0 else {}
    if cfg.optimizer == "rmsprop":
        optimizer = keras.optimizers.RMSprop(lr, **clip)
    else:
        optimizer = keras.optimizers.Adam(lr, beta_1=beta1, beta_2=beta2, **clip)
    if cfg.precision == "mixed_float16":  # bfloat16 has float32's range: no scaling needed
        optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
    return optimizer


def fake_class(cfg: WaveGANConfig, label):
    """The class head's target for generated audio asked to be `label` (cfg.aux_fakes): the one
    class of generated audio after the real classes, or the label's own generated twin."""
    return tf.fill(tf.shape(label), cfg.num_classes) if cfg.aux_fakes == "class" else label + cfg.num_classes


def real_class_targets(cfg: WaveGANConfig, label, dtype=tf.float32):
    """The class head's target distribution for real audio of `label`: one-hot over the head's logits,
    with cfg.aux_label_smoothing of it spread evenly over the real classes (one-sided: never over
    aux_fakes' classes of generated audio)."""
    smoothing = cfg.aux_label_smoothing
    one_hot = tf.one_hot(label, cfg.class_head_size, dtype=dtype)
    spread = tf.concat([tf.fill([cfg.num_classes], 1.0 / cfg.num_classes),
                        tf.zeros([cfg.class_head_size - cfg.num_classes])], axis=0)
    return (1.0 - smoothing) * one_hot + smoothing * tf.cast(spread, dtype)


def use_xla(cfg: WaveGANConfig) -> bool:
    """cfg.xla, or when unset: on with a GPU (1.5x faster on an H100), off on CPU (1.3x slower)."""
    return cfg.xla if cfg.xla is not None else bool(tf.config.list_physical_devices("GPU"))


class _StopRequested(Exception):
    pass


class Trainer:
    """Owns the models, optimizers and checkpoint of one run directory."""

    def __init__(self, cfg: WaveGANConfig, run_dir: str, strategy: tf.distribute.Strategy = None):
        self.cfg, self.run_dir = cfg, run_dir
        self.strategy = strategy or tf.distribute.get_strategy()
        # Only the chief writes the run directory; other workers write a private scratch folder.
        self.is_chief = is_chief(self.strategy)
        self.write_dir = run_dir if self.is_chief else tempfile.mkdtemp(prefix=f"wavegan-{task_name(self.strategy)}-")
        self.agree = Agreement(self.strategy)
        os.makedirs(run_dir, exist_ok=True)
        self._check_config_matches_run()
        tf.random.set_seed(cfg.seed)
        with self.strategy.scope():
            self.generator = Generator(cfg)
            # The averaged generator (cfg.g_ema_decay): what evaluation, selection and the export use.
            self.generator_ema = Generator(cfg, name="generator_ema") if cfg.g_ema_decay else None
            self.discriminator = Discriminator(cfg, xla=use_xla(cfg))
            self.g_opt = make_optimizer(cfg, cfg.g_lr, cfg.g_beta1, cfg.g_beta2)
            self.d_opt = make_optimizer(cfg, cfg.d_lr, cfg.d_beta1, cfg.d_beta2)
            self.g_opt.build(self.generator.trainable_variables)
            self.d_opt.build(self.discriminator.trainable_variables)
            self.step = tf.Variable(0, dtype=tf.int64, trainable=False, name="step")
            self.critic_updates = tf.Variable(0, dtype=tf.int64, trainable=False)  # in this process (not saved)
            # How often each augmentation applies; adjusted (and saved) with adaptive augmentation.
            self.augment_p = tf.Variable(cfg.augment_p, dtype=tf.float32, trainable=False, name="augment_p")
        self.adaptive = (AdaptiveProbability(self.augment_p, cfg.augment_target, cfg.batch_size, cfg.augment_speed)
                         if cfg.augment_target else None)
        averaged = {"generator_ema": self.generator_ema} if self.generator_ema is not None else {}
        adaptive = {"augment_p": self.augment_p} if self.adaptive else {}
        self.checkpoint = tf.train.Checkpoint(generator=self.generator, discriminator=self.discriminator,
                                              g_opt=self.g_opt, d_opt=self.d_opt, step=self.step, **averaged,
                                              **adaptive)
        self.manager = tf.train.CheckpointManager(self.checkpoint, os.path.join(self.write_dir, CHECKPOINT_DIR),
                                                  max_to_keep=5 if self.is_chief else 1, step_counter=self.step)
        # Every worker resumes from the chief's checkpoints.
        self.resumed_from = tf.train.latest_checkpoint(os.path.join(run_dir, CHECKPOINT_DIR))
        self.reset_average()
        if self.resumed_from:
            self.checkpoint.restore(self.resumed_from).assert_existing_objects_matched()
            log.info("resumed from %s at step %d", self.resumed_from, self.current_step)
            if averaged and not _has_variables(self.resumed_from, "generator_ema"):
                self.reset_average()  # a checkpoint from before the average: it starts from G
        self._stop_signal = False
        self._train_step = self._build_train_step()

    @property
    def current_step(self) -> int:
        return int(self.step.numpy())

    @property
    def sampler(self):
        """The generator whose audio counts: the average when there is one, else G itself."""
        return self.generator_ema if self.generator_ema is not None else self.generator

    def reset_average(self) -> None:
        """Sets the averaged generator to G's weights (a new run, an old checkpoint, a warm start)."""
        if self.generator_ema is not None:
            for average, weight in zip(self.generator_ema.variables, self.generator.variables):
                average.assign(weight)

    def _update_average(self):
        decay = tf.minimum(self.cfg.g_ema_decay, tf.cast(1 + self.step, tf.float32) /
                           tf.cast(EMA_WARMUP + self.step, tf.float32))
        for average, weight in zip(self.generator_ema.variables, self.generator.variables):
            average.assign(decay * average + (1.0 - decay) * weight)

    def _check_config_matches_run(self):
        path = os.path.join(self.run_dir, CONFIG_FILE)
        if os.path.exists(path):
            saved = WaveGANConfig.from_file(path)
            # Only run-control options may change between restarts of a run.
            free = {"steps", "checkpoint_every_steps", "checkpoint_every_secs", "summary_every_steps",
                    "audio_summary_every_steps", "xla", "shuffle_buffer", "eval_every_steps", "train_eval_clips",
                    "select_by", "early_stop_patience", "time_budget_secs"}
            # A run from before class names were kept gets them on restart.
            changed = [k for k, v in vars(saved).items()
                       if k not in free and getattr(self.cfg, k) != v and not (k == "label_names" and not v)]
            if changed:
                raise ConfigError(f"{self.run_dir} was trained with different options ({', '.join(changed)});"
                                 " use a new run directory")
        if self.is_chief:
            write_text(path, self.cfg.to_json())

    # ----- the compiled step -----
    def _average(self, per_example):
        return tf.nn.compute_average_loss(per_example, global_batch_size=self.cfg.batch_size)

    @staticmethod
    def _apply_gradients(optimizer, grads, variables):
        """Applies gradients of the optimizer's scaled loss (float16: it unscales and skips overflows)."""
        # Label tables' gradients (tf.gather) are IndexedSlices; dense ones all-reduce with the rest,
        # where sparse ones need an all-gather that MirroredStrategy mixes up with the reduce (TF 2.16).
        grads = [tf.convert_to_tensor(g) if isinstance(g, tf.IndexedSlices) else g for g in grads]
        optimizer.apply_gradients(zip(grads, variables))

    def _draw(self, counter, kind: int, shape=(), minval=0.0, maxval=1.0, dtype=tf.float32):
        """This replica's rows of one global-batch draw, keyed by (seed, update counter, kind).

        Stateless and keyed, so a run draws the same numbers on 1 or N replicas and
        workers (each takes its rows of the global batch) and again when resumed.
        """
        cfg = self.cfg
        full = tf.random.stateless_uniform([cfg.batch_size, *shape], self._seed(counter, kind), minval, maxval,
                                           dtype=dtype)
        per_replica = cfg.batch_size // self.strategy.num_replicas_in_sync
        start = tf.distribute.get_replica_context().replica_id_in_sync_group * per_replica
        return full[start:start + per_replica]

    def _seed(self, counter, kind: int):
        """The stateless seed of one draw; a D call's phase seed is the same on every replica."""
        return tf.random.experimental.stateless_fold_in(
            tf.stack([tf.constant(self.cfg.seed, tf.int64), counter]), kind)

    def _augmented(self, audio, counter, kind: int):
        """The critic's view of a batch: cfg.augment's transforms, keyed like every other draw."""
        cfg = self.cfg
        if not cfg.augment_list:
            return audio
        p = self.augment_p if cfg.augment_target or cfg.augment_p < 1 else 1.0  # 1: every clip, no draw
        return augment(audio, cfg.augment_list, self._seed(counter, kind), p)

    def _critic_update(self, real, label, counter, with_r1: bool = False):
        """One critic (D) update on a real batch and as many generated clips; per replica.
        with_r1: this update carries the (lazy) R1 penalty, weighted by r1_every."""
        cfg, G, D = self.cfg, self.generator, self.discriminator
        label = label if cfg.conditional else None
        z = self._draw(counter, Z_CRITIC, [cfg.latent_dim], -1.0, 1.0)
        metrics = {}
        with tf.GradientTape() as tape:
            real = self._augmented(real, counter, AUGMENT_REAL)
            fake = self._augmented(G(z, label, training=True), counter, AUGMENT_FAKE)
            d_real, class_logits = D.critique(real, label, training=True, phase_seed=self._seed(counter, PHASE_REAL))
            d_fake, fake_logits = D.critique(fake, label, training=True, phase_seed=self._seed(counter, PHASE_FAKE))
            per_example = tf.reduce_sum(discriminator_loss(cfg.loss, d_real, d_fake), axis=1)
            if cfg.loss in SIGNED_LOSSES:  # ADA's overfitting heuristic r_t (Karras et al. 2020)
                metrics["d_real_sign"] = self._average(tf.sign(tf.reduce_sum(d_real, axis=1)))
            if class_logits is not None:  # the class head learns real audio's classes ...
                class_loss = tf.nn.softmax_cross_entropy_with_logits(
                    real_class_targets(cfg, label, class_logits.dtype), class_logits)
                metrics["d_class_loss"] = self._average(class_loss)
                if cfg.aux_fakes:  # ... and, with aux_fakes, to tell generated audio from them
                    fake_loss = tf.nn.sparse_softmax_cross_entropy_with_logits(fake_class(cfg, label), fake_logits)
                    metrics["d_fake_class_loss"] = self._average(fake_loss)
                    class_loss += fake_loss
                per_example += cfg.aux_classifier * class_loss
            if cfg.loss == "wgan-gp":
                penalty = gradient_penalty(D.waveform, real, fake, label, alpha=self._draw(counter, ALPHA, [1, 1]),
                                           phase_seed=self._seed(counter, PHASE_PENALTY))
                metrics["gradient_penalty"] = self._average(penalty)
                per_example += cfg.gp_lambda * penalty
            if with_r1:
                penalty = r1_penalty(D.waveform, real, label, phase_seed=self._seed(counter, PHASE_PENALTY))
                metrics["r1_penalty"] = self._average(penalty)
                if D.spectral:
                    spectral = tf.add_n([spectral_r1_penalty(branch, real, label) for branch in D.spectral])
                    metrics["r1_penalty_spectral"] = self._average(spectral)
                    penalty += spectral
                per_example += 0.5 * cfg.r1_gamma * cfg.r1_every * penalty
            loss = self._average(per_example)
            scaled = self.d_opt.scale_loss(loss)
        variables = D.trainable_variables
        self._apply_gradients(self.d_opt, tape.gradient(scaled, variables), variables)
        if cfg.loss == "wgan":
            for v in variables:
                v.assign(tf.clip_by_value(v, -cfg.wgan_clip, cfg.wgan_clip))
        return {"d_loss": loss, "d_real_minus_fake": self._average(tf.reduce_sum(d_real - d_fake, axis=1)),
                **metrics}

    def _generator_update(self, counter):
        """One generator (G) update on generated clips (random labels when conditional); per replica."""
        cfg, G, D = self.cfg, self.generator, self.discriminator
        label = (self._draw(counter, LABEL_GENERATOR, (), 0, cfg.num_classes, tf.int32)
                 if cfg.conditional else None)
        z = self._draw(counter, Z_GENERATOR, [cfg.latent_dim], -1.0, 1.0)
        with tf.GradientTape() as tape:
            fake = self._augmented(G(z, label, training=True), counter, AUGMENT_GENERATOR)
            scores, class_logits = D.critique(fake, label, training=True,
                                              phase_seed=self._seed(counter, PHASE_GENERATOR))
            per_example = tf.reduce_sum(generator_loss(cfg.loss, scores), axis=1)
            metrics = {}
            if class_logits is not None:  # rewarded when the critic names the class G was asked for
                if cfg.aux_g_classes_only:  # among the real classes only (aux_fakes' logits follow them)
                    class_logits = class_logits[:, :cfg.num_classes]
                class_loss = tf.nn.sparse_softmax_cross_entropy_with_logits(label, class_logits)
                metrics["g_class_loss"] = self._average(class_loss)
                per_example += cfg.aux_classifier * class_loss
            loss = self._average(per_example)
            scaled = self.g_opt.scale_loss(loss)
        variables = G.trainable_variables
        self._apply_gradients(self.g_opt, tape.gradient(scaled, variables), variables)
        return {"g_loss": loss, **metrics}

    def _build_train_step(self):
        """One generator step: d_updates critic updates, then one generator update, each compiled."""
        cfg, strategy = self.cfg, self.strategy
        critic_update, generator_update = self._critic_update, self._generator_update
        if use_xla(cfg):
            critic_update = tf.function(critic_update, jit_compile=True)
            generator_update = tf.function(generator_update, jit_compile=True)

        def total(values):
            return strategy.reduce(tf.distribute.ReduceOp.SUM, values, axis=None)

        def counter(update):  # which update of the run this is: keys its random draws
            return self.step * (cfg.d_updates + 1) + update

        @tf.function
        def critic_step(iterator, update, with_r1):
            real, label = next(iterator)
            metrics = strategy.run(critic_update, args=(real, label, counter(update), with_r1))
            self.critic_updates.assign_add(1)
            return {k: total(v) for k, v in metrics.items()}

        @tf.function
        def generator_step():
            metrics = {k: total(v) for k, v in strategy.run(generator_update, args=(counter(cfg.d_updates),)).items()}
            if self.generator_ema is not None:
                self._update_average()
            self.step.assign_add(1)
            return metrics

        def train_step(iterator):
            # Each update returns to Python, where a SIGTERM has set self._stop_signal: a pod's stop
            # request is answered after the current critic update, not after the whole step (minutes at
            # d=64 on a CPU), well inside a 30 s grace period; all workers agree to stop at the same
            # update. Measured at d=16, batch 16: no slower than one compiled call for the whole step.
            metrics = {}
            first_update = self.current_step * cfg.d_updates if cfg.r1_gamma else 0
            for update in range(cfg.d_updates):
                with_r1 = bool(cfg.r1_gamma) and (first_update + update) % cfg.r1_every == 0
                metrics.update(critic_step(iterator, tf.constant(update, tf.int64), with_r1))
                if self.adaptive:
                    self.adaptive.observe(metrics["d_real_sign"])
                    metrics["augment_p"] = self.augment_p.value()
                if self.agree.any(self._stop_signal):
                    raise _StopRequested()
            return {**metrics, **generator_step()}

        return train_step

    # ----- the loop -----
    def fit(self, dataset: tf.data.Dataset, export: bool = True, reference=None) -> dict:
        """Trains to cfg.steps (or an early stop); returns the last metrics. Safe to interrupt and re-run.

        With a models.quality.QualityReference and cfg.eval_every_steps, the generator is
        scored every N steps, the best checkpoint is kept (self.best says which) and the
        export comes from it.
        """
        from models.selection import BestCheckpoint
        cfg = self.cfg
        if self.cfg.batch_size % self.strategy.num_replicas_in_sync:
            raise ConfigError(f"batch_size {cfg.batch_size} is not divisible by "
                             f"{self.strategy.num_replicas_in_sync} replicas")
        iterator = iter(self.strategy.experimental_distribute_dataset(dataset))
        writer = (tf.summary.create_file_writer(os.path.join(self.run_dir, "logs")) if self.is_chief
                  else tf.summary.create_noop_writer())
        preview_z, preview_labels = preview_latents(cfg)
        start_step = self.current_step
        saved_step = start_step if self.resumed_from else -1  # the same on every worker
        metrics, last_save, last_log = {}, time.time(), 0.0
        t0 = time.time()
        previous_handlers = self._install_stop_handlers()
        selector = (BestCheckpoint(cfg, self.run_dir, reference, self.sampler, self.discriminator,
                                   write_dir=self.write_dir, agree=self.agree.chief_says)
                    if reference is not None and cfg.eval_every_steps else None)
        self.stop_reason = ""
        try:
            if selector is not None and not selector.history:
                selector.evaluate(start_step, writer)  # where the run starts from (step 0 or warm start)
            while self.current_step < cfg.steps and not self.stop_reason:
                metrics = {k: float(v) for k, v in self._train_step(iterator).items()}
                step = self.current_step
                if not all(np.isfinite(list(metrics.values()))):
                    raise FloatingPointError(f"non-finite loss at step {step}: {metrics}")
                self._write_summaries(step, metrics, writer, preview_z, preview_labels)
                now = time.time()
                self.stop_reason = self._judge_and_check_budget(selector, step, writer, now - t0)
                if step % cfg.checkpoint_every_steps == 0 or self.agree.any(
                        now - last_save >= cfg.checkpoint_every_secs):  # every worker saves, at the same step
                    self.manager.save(checkpoint_number=step)
                    last_save, saved_step = now, step
                if now - last_log >= 10 or step == cfg.steps or step == start_step + 1:
                    self._log_progress(step, start_step, now - t0, metrics)
                    last_log = now
        except (KeyboardInterrupt, _StopRequested):
            path = self.manager.save(checkpoint_number=self.current_step)
            log.warning("interrupted: saved %s at step %d; re-run the same command to resume", path,
                        self.current_step)
            raise KeyboardInterrupt from None
        finally:
            self._restore_handlers(previous_handlers)
            writer.flush()
        self._finish(saved_step, selector is not None, export, getattr(reference, "judge", None))
        return metrics

    def _log_progress(self, step: int, start_step: int, elapsed: float, metrics: dict) -> None:
        """The periodic progress line: rate, ETA (or the time budget's end) and the losses."""
        cfg = self.cfg
        rate = (step - start_step) / max(elapsed, 1e-9)
        eta = (cfg.steps - step) / rate if rate > 0 else float("inf")
        budget_left = cfg.time_budget_secs - elapsed if cfg.time_budget_secs else float("inf")
        eta_text = _hms(eta) if eta <= budget_left else f"{_hms(budget_left)} (time budget)"
        log.info("step %d/%d  %.2f step/s  ETA %s  %s", step, cfg.steps, rate, eta_text,
                 "  ".join(f"{k}={v:.4g}" for k, v in metrics.items()))

    def _finish(self, saved_step: int, selecting: bool, export: bool, judge=None) -> None:
        """The last checkpoint, the best one restored (when selecting) and the export (which carries
        the judge, when there is one, for search by example)."""
        from models.selection import restore_best
        if self.current_step != saved_step:
            self.manager.save(checkpoint_number=self.current_step)
        self.best = restore_best(self.write_dir, self.sampler, self.discriminator) if selecting else None
        if self.best and self.is_chief:
            log.info("the export is the best checkpoint: step %d, %s", self.best["step"], self.best["reason"])
        if export:
            from models.export import export_generator
            export_generator(self.sampler, self.cfg, os.path.join(self.write_dir, EXPORT_DIR), judge=judge)
            self.close()

    def close(self) -> None:
        """Removes a non-chief worker's scratch folder (the chief's run directory stays)."""
        if not self.is_chief:
            shutil.rmtree(self.write_dir, ignore_errors=True)

    def _write_summaries(self, step, metrics, writer, preview_z, preview_labels):
        cfg = self.cfg
        if step % cfg.summary_every_steps == 0 or step == cfg.steps:
            with writer.as_default(step=step):
                for name, value in metrics.items():
                    tf.summary.scalar(name, value)
        if step % cfg.audio_summary_every_steps == 0 or step == cfg.steps:
            audio = self.sampler(preview_z, preview_labels, training=False)
            with writer.as_default(step=step):
                tf.summary.audio("preview", audio, cfg.sample_rate, max_outputs=PREVIEW_COUNT)

    def _judge_and_check_budget(self, selector, step: int, writer, elapsed: float) -> str:
        """Evaluates when due; returns why training stops now ('' = go on)."""
        cfg, reason = self.cfg, ""
        if selector is not None and (step % cfg.eval_every_steps == 0 or step == cfg.steps):
            selector.evaluate(step, writer)
            if selector.should_stop():
                reason = (f"early stop at step {step}: no better {cfg.select_by} in "
                          f"{cfg.early_stop_patience} evaluations")
        if not reason and cfg.time_budget_secs and step < cfg.steps and self.agree.any(
                elapsed >= cfg.time_budget_secs):
            reason = (f"time budget of {cfg.time_budget_secs:.0f} s used at step {step}: "
                      "re-run the same command to continue")
            if selector is not None and selector.history[-1]["step"] != step:
                selector.evaluate(step, writer)  # the stop point is judged too
        if reason:
            log.info(reason)
        return reason

    def _install_stop_handlers(self):
        def stop(signum, frame):
            self._stop_signal = True  # acted on after the current update (see train_step)
        self._stop_signal = False
        try:
            return {signal.SIGTERM: signal.signal(signal.SIGTERM, stop)}
        except ValueError:  # not the main thread (e.g. inside a worker): no handler
            return {}

    @staticmethod
    def _restore_handlers(previous):
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _hms(seconds: float) -> str:
    if not np.isfinite(seconds):
        return "?"
    seconds = int(seconds)
    return f"{seconds // 3600}h{seconds // 60 % 60:02d}m{seconds % 60:02d}s"


def _has_variables(checkpoint_path: str, prefix: str) -> bool:
    return any(name.startswith(prefix + "/") for name, _ in tf.train.list_variables(checkpoint_path))


def load_run_config(run_dir: str) -> WaveGANConfig:
    path = os.path.join(run_dir, CONFIG_FILE)
    if not os.path.exists(path):
        raise PathError(f"{run_dir} is not a training run directory (no {CONFIG_FILE})")
    return WaveGANConfig.from_file(path)


def write_json(path: str, value) -> None:
    write_text(path, json.dumps(value, indent=2))


def write_text(path: str, text: str) -> None:
    """Writes atomically: another worker reading the file never sees half of it."""
    staging = f"{path}.tmp{os.getpid()}"
    with open(staging, "w") as f:
        f.write(text)
    os.replace(staging, path)
