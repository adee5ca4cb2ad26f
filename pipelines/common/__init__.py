"""What more than one job uses, written once.

  settings       UpscaleConfig and its parts (model, engine, pipeline settings) for upscale, segments and bench
  notices        Notices: what the user should know, printed and kept for the report
  config         one loader for every job: a YAML preset, then dotted overrides, into a dataclass tree
  engine_factory model_from_settings, build_engine (the one Engine factory), resolve_batch
  device_colour  where YUV <-> RGB runs and where decoding runs (NVDEC or the CPU)
  stages         Stage and StagePipeline: threads between bounded queues, stopped and joined by their owner
  progress       the one tqdm setup (frames on stderr)
  stop           Interrupted, StopFlag: a signal stops a job at once or at its next safe point
  shutdown       Shutdown: the CLI's one shutdown path (signals, grace period, hard exit, joining threads)
  held           hold_signals: the entry points block the stop signals before anything else loads
  parsing        small text parsers for settings ("WxH")
"""
