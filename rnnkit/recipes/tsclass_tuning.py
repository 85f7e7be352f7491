"""What was tried for the ``tsclass`` defaults, and what the battery measured (kept as ``sentiment.TUNING`` is)."""

TUNING = """
What was tried for the defaults (2026-12-03), on the battery of ``benchmarks/tsbattery.py``: the nine
UCR/UEA data sets sktime bundles, official train/test splits, test accuracy (%), one seed each, on a
2-core machine shared with other jobs (so few runs; single-seed differences of a few points are noise).
"CLI" = ``rnnkit train tsclass`` defaults through the battery; "tune" = ``benchmarks/tstune.py`` (the
recipe's model, normalisation and cosine schedule in a plain loop).

before (JV-tuned: 20% validation split, early stopping on it, no front end, per-channel scaling;
issue 13's table): GunPoint 49.3 (one class for all; epoch 1 chosen by 10 validation series),
ArrowHead 26.9 (below chance), BasicMotions 82.5, ItalyPowerDemand 96.8.

protocol: no validation split, fixed schedule (~1500 AdamW steps, cosine decay, 40-400 epochs),
last epoch kept (--val-fraction 0). All rows below use it.

                       ACSF1 Arrow BasicM GunPt Italy  JV  OSULf PLAID UnitT
CLI v1: channel, mean    72.0  61.1 100.0  92.7  96.6  98.1  74.8  44.1  90.9   (mean 81.1)
tune: series, mean       69.0  68.0     -     -     -  76.5     -  82.3     -
tune: series, mean, +noise 0.1     70.9 (Arrow)  94.7 (GunPoint)
tune: series, last, noise 0.1
                         71.0  77.7     -  98.0  96.8     -  71.9  81.2     -
tune (Arrow / GunPoint, series, mean, noise 0.1): rnn_steps 32 68.6 / 96.7; GRU 70.9 / 96.7
1-NN ED                  54.0  80.0  60.0  91.3  95.5  95.1  52.1  73.0  86.4   (mean 76.4)
1-NN DTW (10% band)      63.0  72.0  97.5  94.0  95.4  94.9  59.1  92.9  95.5   (mean 85.0)

-> normalisation: per-series z-score is needed for PLAID (raw current waveforms of very different
   amplitudes: 44 -> 82) and wrong for JapaneseVowels (LPC levels carry the speaker: 98 -> 77), so
   --normalize auto: series for univariate data (the UCR convention), channel for multivariate (UEA).
-> pooling: the last state (each direction's, at each series' own end) beat the mean of the outputs
   on ArrowHead (+7) and GunPoint (+3), about equal elsewhere: --pool last.
-> Gaussian input noise 0.1 (the former default) helped ArrowHead by ~3: kept.
-> front end: a strided Conv1d(k=7) + Conv1d(k=3), 64 filters, so the LSTM reads <= 64 steps
   (ACSF1 1460 -> 64, PLAID up to 1344 -> 64); with it ACSF1 and OSULeaf beat 1-NN DTW by 9-16 points.
   Not compared against the LSTM alone on raw long series (1460-step batches were too slow for this
   machine's budget).
Not tried (time): hidden size, layers, learning rate.

protocol, round 2 (2026-12-03 12:14-13:17 UTC, same machine under heavier load): the epoch count chosen by
stratified 3-fold cross-validation, then a refit on all training data (``--folds 3``, rnnkit.train.kfold),
against the fixed schedule with the same seed, and the fixed schedule with another seed. E* and the folds'
epochs on the row below. "loss" = ``--fold-metric loss`` on the same folds, run as its refit (``--epochs E*
--train-steps 0``, which is what the refit trains; on ACSF1 a real k-fold run choosing by loss, the first
version of ``--folds``, gave the same 52.0). * = below 1-NN ED. Result files: benchmarks/tsbattery_variants/.

                       ACSF1 Arrow BasicM GunPt Italy  JV  OSULf PLAID UnitT
fixed (default), seed 0  71.0  81.7 100.0  99.3  97.0  98.6  68.2  81.6  90.9   (mean 87.6)
fixed, --seed 1          76.0  69.7* 100.0 97.3  97.3  97.3  66.9  80.8  90.9   (mean 86.3)
--folds 3 (acc)          73.0  54.3* 100.0  98.7  96.6  98.1  62.8  81.8  90.9   (mean 84.0)
   E* / fold epochs      128/215 151/400 400/400 291/375 8/300 12/89 43/116 30/45 267/400
--folds 3 --fold-metric loss
                         52.0* 53.7* 100.0  98.7  96.5  98.4  49.6* 80.6  90.9   (mean 80.0)
   E* / fold epochs      29/215 105/400 400/400 291/375 19/300 19/89 16/116 22/45 267/400
1-NN ED                  54.0  80.0  60.0  91.3  95.5  95.1  52.1  73.0  86.4   (mean 76.4)

-> the fixed schedule stays the default: k-fold lost on the mean (84.0 and 80.0 vs 87.6, below 1-NN DTW's
   84.9) and put ArrowHead (and, choosing by loss, ACSF1 and OSULeaf) below 1-NN ED. With 24 training
   series per fold and 12 held out, ArrowHead's averaged accuracy curve still moves in steps of 1/36 and peaked by chance at epoch 151 (0.83; 0.78 at the end);
   the refit trained 151 of 400 epochs and reached 54.3. The validation loss is worse as a criterion:
   it rises once the model grows confident while the accuracy still climbs (ACSF1: loss lowest at
   epoch 29, accuracy highest at 128; the refits give 52.0 and 73.0). Where the curves are flat
   (BasicMotions, GunPoint, ItalyPowerDemand, JapaneseVowels, PLAID, UnitTest) k-fold matches the fixed
   schedule within a point, at about 3x the cost; it stops early on OSULeaf (43 of 116 epochs: 62.8 vs 68.2).
-> one seed is not enough on ArrowHead (36 training series): the fixed schedule gives 81.7, 69.7, 73.7 and
   78.9 with seeds 0-3 (mean 76.0, below 1-NN ED's 80.0), --folds 3 with seed 1 gives 65.1 (E* 158/400);
   the other data sets move by at most 5 points between seeds 0 and 1 (ACSF1). The "at least 1-NN ED on
   every data set" target holds for seed 0 only: ArrowHead needs work beyond the protocol.
After the input noise became per-batch (another random stream, 2026-12-03 afternoon), the same defaults
re-run on the idle machine: ACSF1 70.0, ArrowHead 80.0 (= 1-NN ED), BasicMotions 100.0, GunPoint 97.3,
Italy 97.0, JV 98.6, OSULeaf 70.7, PLAID 81.0, UnitTest 90.9 (mean 87.3).
The final battery with these defaults: benchmarks/README.md, "tsbattery.py".
"""
