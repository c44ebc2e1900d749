"""Where the project reads and writes: local folders and gs:// buckets behind one path layer.

  paths.py       what a path is: local (made absolute) or a gs:// URL (etils.epath); malformed URLs rejected
  bucket.py      the bucket behind a URL: reachable, existing, readable or writable, else one clear error
  atomic.py      whole files and folders written so a reader never sees half of one, locally or in a bucket
  staging.py     remote files copied once to a local cache, verified by size and MD5 (shards, weights)
  mirror.py      a run's growing logs (JSON lines, TensorBoard events) kept locally, uploaded as whole files
  file_modes.py  the permissions a plain write would give, for files made through `tempfile`
  full.py        a full disk or quota during training: one error that names the intact checkpoint
"""
