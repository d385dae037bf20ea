"""Audio files in and out (:mod:`audiogen.audio.io`) and the spectral front end
(:mod:`audiogen.audio.spectral`)."""
