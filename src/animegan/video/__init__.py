"""Video: decode, stylize frame by frame, encode, keep the sound, resume interrupted runs."""
