//! Unit tests of the asset tracker, on hand-built events.
