"""Sound: each audio track's facts and Chromaprint fingerprint, with quiet left out.

tracks (what the container declares) -> fingerprint (ffmpeg decodes one track to 11,025 Hz
mono, streamed through `fpcalc -raw` and our own level/information measure at once) ->
informative (which sub-fingerprints carry information) -> anomalies (what a verifier should
look at in the sound). Pure work: nothing here knows the pipeline or the case store.
"""
