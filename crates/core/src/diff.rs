//! diff (being written)
