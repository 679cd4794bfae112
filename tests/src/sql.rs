//! Helpers for the SQL tests of the queue (owned by the queue tests).
