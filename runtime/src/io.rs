//! Array files: CSV with headers, numpy .npz.
