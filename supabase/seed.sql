-- Local seed: a small library of fallback tracks, three per emotion.
--
-- A request that fails for good is given one of these (or an instrumental
-- track generated earlier) so the user still hears something that fits.
-- The URLs are placeholders for local runs; a real project uploads its own
-- library to Storage and inserts it the same way (source 'library',
-- fallback_eligible, no expiry). Idempotent: fixed ids, existing rows kept.

insert into public.music_tracks
  (id, emotion, title, audio_url, image_url, duration_seconds, tags, source, fallback_eligible)
select md5('fallback-library:' || e.emotion || ':' || n)::uuid,
       e.emotion,
       initcap(e.emotion) || ' ' || e.mood || ' ' || n,
       'https://example.com/music/fallback/' || e.emotion || '-' || n || '.mp3',
       'https://example.com/music/fallback/' || e.emotion || '-' || n || '.jpg',
       120 + 15 * n,
       e.tags,
       'library',
       true
  from (values
    ('joy', 'Sunrise', 'upbeat, major key, acoustic guitar, claps'),
    ('calm', 'Still Water', 'ambient, soft piano, slow, warm pads'),
    ('sad', 'Rain Letters', 'melancholic, minor key, strings, slow piano'),
    ('anger', 'Static Storm', 'aggressive, distorted guitar, heavy drums'),
    ('anxious', 'Night Drive', 'tense, pulsing synth, minimal, dark'),
    ('energetic', 'Run Lights', 'high tempo, electronic, driving bass'),
    ('neutral', 'Open Room', 'lo-fi, mellow, steady beat, light keys')
  ) as e (emotion, mood, tags)
 cross join generate_series(1, 3) as n
    on conflict (id) do nothing;
