"""Image discovery, naming and atomic saving; video decode/encode with PyAV."""
