//! persistence (being written)
