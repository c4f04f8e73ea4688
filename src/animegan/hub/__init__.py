"""Model zoo as data, cache dir, downloads, safetensors I/O and importers of foreign formats."""
