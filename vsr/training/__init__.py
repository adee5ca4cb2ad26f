"""Training SAFMN: data (pairs made on the fly), the L1 + FFT loss, EMA, schedule, checkpoints, the loop."""
