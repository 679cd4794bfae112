-- The claim keeps one good plan instead of planning itself on every call.
--
-- PL/pgSQL caches a statement's plan, but the claim's best plan depends on
-- its arguments, so PL/pgSQL planned every claim afresh (a quarter of a
-- millisecond each). Its generic plan, made once, was worse: with the limit
-- unknown, PostgreSQL assumes a tenth of the waiting rows are wanted, so it
-- reads them all and sorts them (17 ms at 10k waiting), and joins them to the
-- table with a hash of the whole table. The plan a claim wants is the same
-- whatever its arguments: walk the claim index in claim order, stop after
-- `limit` unlocked rows, and reach each claimed row by its key. Without sorts,
-- hash joins and merge joins that is what the generic plan is; forcing it
-- plans the claim once per connection.
--
-- (Disabling sequential scans instead would price the status row's scan past
-- `jit_above_cost`, and every claim would be compiled.)
alter function public.claim_music_requests(text, integer, integer, text)
  set plan_cache_mode = force_generic_plan;
alter function public.claim_music_requests(text, integer, integer, text)
  set enable_sort = off;
alter function public.claim_music_requests(text, integer, integer, text)
  set enable_hashjoin = off;
alter function public.claim_music_requests(text, integer, integer, text)
  set enable_mergejoin = off;
