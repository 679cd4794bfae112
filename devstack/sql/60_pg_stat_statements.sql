-- pg_stat_statements is on for every hosted project (in `extensions`, with
-- utility statements tracked): its normalized statement texts are what the
-- dashboard's "Query performance" page shows, so whatever a statement keeps
-- verbatim there (a DO block, a SET) is readable by the project's admins.

create extension if not exists pg_stat_statements with schema extensions;
