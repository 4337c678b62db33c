//! Element types and byte grouping.
