//! Pure domain logic of the music generation queue.
