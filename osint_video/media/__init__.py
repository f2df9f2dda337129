"""Everything that reads media bytes: ffmpeg/ffprobe, PyAV decoding, metadata readers."""
